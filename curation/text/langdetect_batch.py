"""langdetect over a batch of texts at once: the same answers as ``langdetect.detect``, ~3x faster.

langdetect (seeded) spends its time in Python, per character (n-gram extraction) and per
iteration (a 55-language probability update). Over a batch, both become numpy work:

- the n-grams of every text are found with array operations on code points, through the same
  per-character normalisation (``NGram.normalize``, called once per distinct character) and the
  same state machine (a window of up to 3 characters restarted at each space; no n-grams while
  two capitals follow each other), and looked up in the profiles as packed integers;
- the trials run in lock step across the texts still iterating: each text draws from its own
  ``random.Random`` seeded as langdetect seeds it, in the same order (a Gaussian per trial, then
  one n-gram per iteration), so every text gets exactly langdetect's random choices; the updates
  and normalisations are the same float64 operations in the same order (the sum is Python's own
  ``sum`` of the row, whatever the Python version's summation).

Text preparation (URL and e-mail removal, Vietnamese normalisation, truncation, space folding and
the Latin-removal rule) uses langdetect's own regular expressions and rules. Tests compare the
result with ``langdetect.detect`` on over a thousand real and adversarial texts, and the profile
arrays with langdetect's loaded factory.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
from collections.abc import Sequence

import numpy as np

_SPACE = 32
_SPACE_RUNS = re.compile(" {2,}")
_PACK = 21  # bits per code point in a packed n-gram (code points < 2**21)


class _CodeTable:
    """A function of one code point, applied to arrays of them, computed once per distinct one.

    A lookup array covers the Basic Multilingual Plane (-1: not computed yet); the planes above,
    which are rare, go through a dict.
    """

    def __init__(self, function) -> None:
        self.function = function
        self.bmp = np.full(0x10000, -1, np.int64)
        self.high: dict[int, int] = {}

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        high = codes >= 0x10000
        bmp = np.where(high, 0, codes)
        values = self.bmp[bmp]
        missing = bmp[(values < 0) & ~high]
        if missing.size:
            missing = np.unique(missing)
            self.bmp[missing] = [int(self.function(code)) for code in missing.tolist()]
            values = self.bmp[bmp]
        if high.any():
            values[high] = [self.high.setdefault(c, int(self.function(c))) for c in codes[high].tolist()]
        return values


class _Profiles:
    """langdetect's profiles as arrays: its languages, the n-grams as packed keys (sorted), and each
    n-gram's probabilities per language.

    Read from langdetect's own profile files, as ``DetectorFactory.load_profile`` reads them: the
    languages in directory order, probability = count / the profile's n-gram count of that
    length (a test checks the arrays against langdetect's loaded factory). Reading them directly
    takes half the time of building langdetect's dict of lists, which the batches do not need.
    """

    def __init__(self) -> None:
        from langdetect.detector import Detector
        from langdetect.detector_factory import PROFILES_DIRECTORY
        from langdetect.utils.ngram import NGram
        from langdetect.utils.unicode_block import unicode_block

        self.detector = Detector
        self.ngram = NGram
        self.langs: list[str] = []
        index: dict[str, int] = {}  # n-gram -> row
        rows: list[int] = []
        columns: list[int] = []
        probs: list[float] = []
        for filename in os.listdir(PROFILES_DIRECTORY):  # langdetect's order: the directory's
            path = os.path.join(PROFILES_DIRECTORY, filename)
            if filename.startswith(".") or not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as handle:
                profile = json.load(handle)
            column = len(self.langs)
            self.langs.append(profile["name"])
            n_words = profile["n_words"]
            for word, count in profile["freq"].items():
                if 1 <= len(word) <= 3:
                    rows.append(index.setdefault(word, len(index)))
                    columns.append(column)
                    probs.append(1.0 * count / n_words[len(word) - 1])
        self.words = list(index)
        self.matrix = np.zeros((len(self.words), len(self.langs)))
        self.matrix[rows, columns] = probs
        keys = _pack_words(self.words)
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        #: langdetect's normalised code point (``NGram.normalize``)
        self.normalized = _CodeTable(lambda c: ord(NGram.normalize(chr(c))))
        self.upper = _CodeTable(lambda c: chr(c).isupper())
        #: counted as non-Latin by ``cleaning_text`` (its own test, which compares a block number with
        #: a block name, so Latin Extended Additional counts too)
        self.non_latin = _CodeTable(lambda c: c >= 0x300 and unicode_block(chr(c)) != "Latin Extended Additional")

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Word indices of packed n-grams (-1 where the profiles do not have it)."""
        if not keys.size:
            return np.empty(0, np.int64)
        at = np.searchsorted(self.keys, keys)
        at[at == self.keys.size] = 0
        found = self.keys[at] == keys
        return np.where(found, self.order[at], -1)


_LOADED: _Profiles | None = None
_LOCK = threading.Lock()


def profiles() -> _Profiles:
    """The profiles as arrays, loaded once per process (about 0.2 s)."""
    global _LOADED
    with _LOCK:
        if _LOADED is None:
            _LOADED = _Profiles()
        return _LOADED


def _pack_words(words: list[str]) -> np.ndarray:
    """Each n-gram (1 to 3 code points) as one integer: ``_PACK`` bits per code point, plus one."""
    keys = np.zeros(len(words), np.uint64)
    lengths = np.array([len(w) for w in words])
    for n in (1, 2, 3):
        at = np.flatnonzero(lengths == n)
        joined = "".join(words[i] for i in at.tolist())
        codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32).astype(np.uint64)
        packed = np.zeros(at.size, np.uint64)
        for column in codes.reshape(-1, n).T:
            packed = (packed << np.uint64(_PACK)) | (column + np.uint64(1))
        keys[at] = packed
    return keys


def _prepare(text: str, p: _Profiles) -> np.ndarray:
    """``Detector.append`` then ``cleaning_text``, as code points."""
    detector = p.detector
    text = detector.URL_RE.sub(" ", text)
    text = detector.MAIL_RE.sub(" ", text)
    text = p.ngram.normalize_vi(text)
    text = _SPACE_RUNS.sub(" ", text[:10000])  # Detector.max_text_length; append folds runs of spaces
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32).astype(np.int64)
    latin = (codes >= 0x41) & (codes <= 0x7A)  # 'A' <= ch <= 'z'
    non_latin = p.non_latin(codes).astype(bool)
    if int(latin.sum()) * 2 < int(non_latin.sum()):
        codes = codes[~latin]
    return codes


def _ngram_words(codes: np.ndarray, p: _Profiles) -> np.ndarray:
    """``Detector._extract_ngrams`` as word indices into ``p.words``, in langdetect's order."""
    if not codes.size:
        return np.empty(0, np.int64)
    norm = p.normalized(codes)
    s = np.concatenate(([_SPACE, _SPACE], norm))  # NGram starts as " "; one more for the 3-gram's reach
    cur, prev, prev2 = s[2:], s[1:-1], s[:-2]
    upper = p.upper(s).astype(bool)
    is_space = cur == _SPACE
    prev_word = prev != _SPACE
    capital = upper[2:] & upper[1:-1]  # two capitals in a row: no n-grams at this character
    emit1 = ~is_space & ~capital
    emit2 = np.where(is_space, prev_word, ~capital)  # a space ends a word: its 2- and 3-gram end with " "
    emit3 = np.where(is_space, prev_word, ~capital & prev_word)
    one = cur + 1
    two = ((prev + 1) << _PACK) | one
    three = ((prev2 + 1) << (2 * _PACK)) | two
    keys = np.stack([one, two, three], axis=1).astype(np.uint64)  # position-major, then n = 1, 2, 3
    emit = np.stack([emit1, emit2, emit3], axis=1)
    words = p.lookup(keys[emit])
    return words[words >= 0]


def detect_languages(texts: Sequence[str | None], max_chars: int = 2000) -> list[str | None]:
    """``curation.filters.language.detect_language`` of each text (same results), for a whole batch."""
    p = profiles()
    k = len(p.langs)
    out: list[str | None] = [None] * len(texts)
    grams: list[np.ndarray] = []
    rows: list[int] = []
    for index, text in enumerate(texts):
        if not text or not text.strip():
            continue
        words = _ngram_words(_prepare(text[:max_chars], p), p)
        if words.size:  # else langdetect raises "No features in text": None
            grams.append(words)
            rows.append(index)
    if not rows:
        return out
    present = np.zeros(len(p.words), bool)
    for words in grams:
        present[words] = True
    unique = np.flatnonzero(present)  # the profiles' rows this batch uses
    remap = np.zeros(len(p.words), np.int64)
    remap[unique] = np.arange(unique.size)
    matrix = p.matrix[unique]
    local = [remap[words].tolist() for words in grams]
    for row, probs in zip(rows, _trials(local, matrix, k)):
        best = int(np.argmax(probs))  # the first of equal maxima, as langdetect's stable sort
        out[row] = p.langs[best] if probs[best] > 0.1 else "unknown"  # Detector.PROB_THRESHOLD
    return out


def _trials(choices: list[list[int]], matrix: np.ndarray, k: int) -> np.ndarray:
    """``Detector._detect_block``'s seven trials for every text at once; the final ``langprob`` rows.

    The arrays hold the texts still iterating, compacted when some finish, so each step is plain
    array arithmetic; each text draws from its own generator, exactly as langdetect would.
    """
    n = len(choices)
    trials, alpha0, alpha_width, base_freq = 7, 0.5, 0.05, 10000  # Detector's constants
    limit, threshold = 1000, 0.99999
    draws = []
    gauss = []
    for seq in choices:
        rng = random.Random()
        rng.seed(0)  # DetectorFactory.seed = 0, as detect_language sets it
        # ``rng.choice(seq)`` is ``seq[rng._randbelow(len(seq))]``: the same draw, without the call's overhead
        draws.append((rng._randbelow, len(seq), seq))
        gauss.append(rng.gauss)
    langprob = np.zeros((n, k))
    rows = np.arange(n)  # the texts still iterating, by original position
    prob = np.full((n, k), 1.0 / k)
    weight = np.array([(alpha0 + g(0.0, 1.0) * alpha_width) / base_freq for g in gauss])
    step = np.zeros(n, np.int64)
    trial = np.zeros(n, np.int64)
    order = list(range(n))  # ``rows`` as a list, for the draws
    while rows.size:
        picks = [seq[below(size)] for below, size, seq in map(draws.__getitem__, order)]
        prob *= weight[:, None] + matrix[picks]
        check = np.flatnonzero(step % 5 == 0)
        step += 1
        if not check.size:
            continue
        sums = np.array([sum(values) for values in prob[check].tolist()])  # Python's sum, as langdetect
        prob[check] /= sums[:, None]
        done = check[(prob[check].max(axis=1) > threshold) | (step[check] - 1 >= limit)]
        if not done.size:
            continue
        langprob[rows[done]] += prob[done] / trials
        trial[done] += 1
        for i in done.tolist():
            if trial[i] < trials:  # the next trial: a fresh alpha, uniform probabilities
                weight[i] = (alpha0 + gauss[rows[i]](0.0, 1.0) * alpha_width) / base_freq
                prob[i] = 1.0 / k
                step[i] = 0
        keep = trial < trials
        if not keep.all():
            rows, prob, weight, step, trial = rows[keep], prob[keep], weight[keep], step[keep], trial[keep]
            order = rows.tolist()
    return langprob
