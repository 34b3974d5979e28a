"""KoCoT source: Korean chain-of-thought items, and the two ways to format them for training.

Reading. :func:`scan` reads KoCoT_2000-shaped data (``kyujinpy/KoCoT_2000``: columns ``source``
= question, ``rationale`` = reasoning, ``target`` = answer, ``task``, ``type``) from a local
parquet / JSON / JSONL file, a folder of them (a clone of the Hub repo works), a folder written by
``datasets.save_to_disk``, or a Hub dataset id through ``datasets.load_dataset`` (offline it
reads the HF cache). ``columns=`` maps KoCoT's names to another set's names, so any instruction
set of this kind (question / reasoning / answer) reads the same way.

Rows: one candidate per item, with the canonical columns and the source columns ``question``,
``rationale``, ``answer``, ``task``, ``type`` (all text; numbers in JSON become their text).

- ``id`` = ``kocot/<h>``, ``<h>`` the 8-byte BLAKE2b digest (16 hex digits) of the question's
  UTF-8 bytes as stored; the n-th repeat of the same question (n >= 2, in file order, files in sorted
  path order) gets ``-<n>``. Content-based, so ids do not move when rows are reordered or other
  rows added, and they do not depend on thread count or Polars version (Polars' own ``hash`` is
  stable only within one Polars version). ``columns={"id": ...}`` uses the data's own ids instead.
- ``group`` = ``task`` (the diversity key); a missing or empty task is ``"unknown"``.
- ``license`` = ``CC BY-NC 4.0`` (KoCoT_2000's licence; ``license=`` overrides it).
- ``url`` = ``https://huggingface.co/datasets/<id>`` for Hub data; ``file:<relative name>`` for
  local data (relative to the path given, so no machine path leaks into a dataset); ``url=``
  overrides it (recipes reading a local copy of KoCoT_2000 pass :data:`KOCOT_URL`).
- ``created_at`` null (KoCoT has no dates); ``prompt``, ``response`` null until formatted.

The frame is read eagerly (only the mapped columns) and returned lazy: ids need the whole question
column, instruction sets of this kind are small (KoCoT_2000: 2,159 rows, 1.2 MB), and a broken
file is then reported by :func:`scan` itself, naming the file and line.

Formats (the card quotes this). The two arms of the with/without chain-of-thought ablation:

- **with CoT** (``cot_prompt_response(with_cot=True)``): prompt = the question, plus the reasoning
  trigger on a new line when one is given (e.g. :data:`TRIGGER` "단계별로 생각해 봅시다.");
  response = the rationale, then a blank line and the answer line :data:`ANSWER_LINE`
  ("정답: {answer}") *unless the rationale already states the answer* at its end: its last
  sentence holds the answer as a whole token (Korean particles may follow it: "28개입니다",
  "2이다"; a number must not continue: "7" is not in "7/3" or "27"), or the whole rationale ends
  with it, compared case-insensitively after collapsing whitespace and dropping final ``.!?。…``
  (a decimal answer is compared without trailing zeros: "787.00" is stated by "787명").
  An empty rationale gives a null response (the row fails validity rather than silently joining
  the CoT arm without reasoning).
- **without CoT** (``with_cot=False``): prompt = the question; response = the answer only.

Both strip surrounding whitespace; null or empty parts give null (dropped by validity checks).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Mapping

import polars as pl

from curation.columns import CANONICAL, TIMESTAMP
from curation.errors import CurationError

#: The dataset this source is named after, and its Hub page (attribution url).
KOCOT_ID = "kyujinpy/KoCoT_2000"
KOCOT_URL = f"https://huggingface.co/datasets/{KOCOT_ID}"
#: KoCoT_2000's licence (cc-by-nc-4.0 on the Hub).
LICENSE = "CC BY-NC 4.0"
SOURCE = "kocot"
#: ``group`` when an item has no task.
UNKNOWN_TASK = "unknown"

#: KoCoT's column name (the key of ``columns=``) -> the column this source outputs.
FIELDS: dict[str, str] = {
    "source": "question",
    "rationale": "rationale",
    "target": "answer",
    "task": "task",
    "type": "type",
}
#: Source columns after the canonical ones, all text.
SOURCE_COLUMNS: dict[str, pl.DataType] = {name: pl.String() for name in FIELDS.values()}
#: Columns that cannot be mapped away (``None``): an item is a question and an answer.
REQUIRED = ("source", "target")
#: Columns that must be in the data unless mapped to ``None``; the others (``task``, ``type``)
#: are simply null when absent and not named in ``columns=``.
EXPECTED = ("source", "rationale", "target")

#: The answer line appended to a rationale that does not state its answer.
ANSWER_LINE = "정답: {answer}"
#: A reasoning trigger for the CoT prompt (off by default).
TRIGGER = "단계별로 생각해 봅시다."

_DATA_SUFFIXES = (".parquet", ".jsonl", ".ndjson", ".json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[A-Za-z0-9][\w.\-]*)?$")
_SPLIT_NAMES = ("train", "validation", "valid", "dev", "test")
_TEXTUAL = (pl.String, pl.Categorical, pl.Enum, pl.Boolean, pl.Null)


# --------------------------------------------------------------------------- reading


def scan(
    path_or_id: str | Path,
    *,
    columns: Mapping[str, str | None] | None = None,
    split: str = "train",
    license: str = LICENSE,
    url: str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
) -> pl.LazyFrame:
    """Candidates from KoCoT-shaped data at a local path or a Hub dataset id (see module doc).

    ``columns`` maps KoCoT names (``source``, ``rationale``, ``target``, ``task``, ``type``, and
    ``id``) to the data's names; unnamed ones keep KoCoT's name; ``None`` means "not in this
    data" (``rationale``, ``task``, ``type`` only). ``split`` picks the Hub split, or the files
    named for it in a folder (``train-*.parquet``, ``test.jsonl``, ``train/``). ``revision`` and
    ``cache_dir`` go to ``datasets.load_dataset``. Bad input raises :class:`CurationError`.
    """
    mapping = _mapping(columns)
    target = str(path_or_id)
    local = Path(target).expanduser()
    if local.exists():
        frame = _read_local(local, mapping, split)
        locator = None
    elif _looks_like_hub_id(target):
        frame = _read_hub(target, mapping, split, revision, cache_dir)
        locator = f"https://huggingface.co/datasets/{target}"
    else:
        raise CurationError("no such file or folder", path=target)
    if frame.height == 0:
        raise CurationError("no rows", path=target)
    return _canonical(frame, license=license, url=url or locator).lazy()


def _mapping(columns: Mapping[str, str | None] | None) -> dict[str, tuple[str | None, bool]]:
    """KoCoT name -> (the data's column name or None, named explicitly by the user)."""
    given = dict(columns or {})
    unknown = sorted(set(given) - set(FIELDS) - {"id"})
    if unknown:
        raise CurationError(
            f"unknown column mapping key(s) {', '.join(map(repr, unknown))}; "
            f"keys are KoCoT's names: {', '.join(FIELDS)}, id"
        )
    for key in REQUIRED:
        if key in given and given[key] is None:
            raise CurationError(f"column {key!r} is required and cannot be mapped to None")
    mapping = {key: (given.get(key, key), key in given) for key in FIELDS}
    mapping["id"] = (given.get("id"), "id" in given)
    return mapping


def _looks_like_hub_id(text: str) -> bool:
    return bool(_HUB_ID.match(text)) and not text.lower().endswith(_DATA_SUFFIXES)


def _read_local(path: Path, mapping: dict, split: str) -> pl.DataFrame:
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "state.json").exists()):
        return _read_saved(path, mapping, split)
    if path.is_file():
        files, base = [path], path.parent
    else:
        files, base = _data_files(path, split), path
    frames = [
        _read_file(file, mapping).with_columns(
            pl.lit("file:" + file.relative_to(base).as_posix()).alias("_locator")
        )
        for file in files
    ]
    return pl.concat(frames, how="vertical")


def _data_files(folder: Path, split: str) -> list[Path]:
    """The folder's data files for ``split`` (or all of them when none is named for a split)."""
    files = sorted(
        (f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in _DATA_SUFFIXES
         and not any(part.startswith(".") for part in f.relative_to(folder).parts)),
        key=lambda f: f.relative_to(folder).as_posix(),
    )
    if not files:
        raise CurationError(
            f"no data files ({', '.join(_DATA_SUFFIXES)}) in this folder", path=folder
        )
    named = {f: _split_of(f.relative_to(folder)) for f in files}
    if not any(named.values()):
        if split != "train":
            raise CurationError(
                f"no files for split {split!r}: no file here is named for a split, "
                "so all of them are the train split", path=folder,
            )
        return files
    chosen = [f for f in files if named[f] == split]
    if not chosen:
        found = sorted({s for s in named.values() if s})
        raise CurationError(
            f"no files for split {split!r}; splits found: {', '.join(found)}", path=folder
        )
    return chosen


def _split_of(relative: Path) -> str | None:
    """The split a file is named for (``train-0000.parquet``, ``test.jsonl``, ``train/x.json``)."""
    stem = relative.name.split(".")[0].lower()
    for name in _SPLIT_NAMES:
        if stem == name or re.match(rf"{name}[-_]", stem):
            return name
    for part in relative.parts[:-1]:
        if part.lower() in _SPLIT_NAMES:
            return part.lower()
    return None


def _read_file(path: Path, mapping: dict) -> pl.DataFrame:
    """The mapped columns of one data file, as text, with one clear error when it is broken."""
    if path.stat().st_size == 0:
        raise CurationError("empty file", path=path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pl.scan_parquet(path)
            schema = frame.collect_schema()
        elif suffix == ".json" and _first_byte(path) == b"[":
            frame = pl.read_json(path).lazy()
            schema = frame.collect_schema()
        else:
            # Polars' NDJSON reader rejects a byte-order mark; Windows tools often write one.
            source = path.read_bytes()[3:] if _has_bom(path) else path
            schema = pl.scan_ndjson(source).collect_schema()
            if _missing(schema, mapping):
                schema = pl.scan_ndjson(source, infer_schema_length=None).collect_schema()
            wanted = [name for name in _wanted(mapping) if name in schema]
            frame = pl.scan_ndjson(source, schema={name: pl.String() for name in wanted})
        selected = _select(frame, schema, mapping, path)
        return selected.collect()
    except CurationError:
        raise
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as error:
        raise _broken(path, suffix, error) from error


def _read_saved(path: Path, mapping: dict, split: str) -> pl.DataFrame:
    """A folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as error:
        raise CurationError(f"unreadable saved dataset: {_one_line(error)}", path=path) from error
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise CurationError(
                f"no split {split!r}; splits found: {', '.join(loaded)}", path=path
            )
        loaded = loaded[split]
    frame = _arrow_frame(loaded)
    out = _select(frame.lazy(), frame.schema, mapping, path).collect()
    return out.with_columns(pl.lit("file:" + path.name).alias("_locator"))


def _read_hub(repo: str, mapping: dict, split: str, revision, cache_dir) -> pl.DataFrame:
    """A Hub dataset through ``datasets.load_dataset``: online, or offline from the HF cache."""
    import datasets

    try:
        loaded = datasets.load_dataset(
            repo, split=split, revision=revision,
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
    except ValueError as error:
        if "split" in str(error).lower():
            raise CurationError(f"no split {split!r}: {_one_line(error)}", path=repo) from error
        raise CurationError(f"cannot load Hub dataset: {_one_line(error)}", path=repo) from error
    except (OSError, datasets.exceptions.DatasetsError) as error:
        where = "the HF cache" if cache_dir is None else f"the cache {cache_dir}"
        if datasets.config.HF_HUB_OFFLINE:
            reason = (
                f"is not in {where} (offline: HF_HUB_OFFLINE=1); "
                "load it once online or pass a local path"
            )
        else:
            reason = f"could not be loaded from the Hub or {where}"
        raise CurationError(
            f"not a local file or folder, and Hub dataset {repo!r} {reason} "
            f"({type(error).__name__}: {_one_line(error)})",
            path=repo,
        ) from error
    frame = _arrow_frame(loaded)
    out = _select(frame.lazy(), frame.schema, mapping, repo).collect()
    return out.with_columns(pl.lit(None, pl.String).alias("_locator"))


def _arrow_frame(dataset) -> pl.DataFrame:
    return pl.from_arrow(dataset.with_format("arrow")[:])


def _wanted(mapping: dict) -> list[str]:
    return [name for name, _ in mapping.values() if name is not None]


def _missing(schema: Mapping, mapping: dict) -> list[str]:
    """Mapped names absent from ``schema`` that matter: required or named by the user."""
    return [
        key for key, (name, explicit) in mapping.items()
        if name is not None and name not in schema and (explicit or key in EXPECTED)
    ]


def _select(frame: pl.LazyFrame, schema: Mapping, mapping: dict, path) -> pl.LazyFrame:
    """The source columns (and ``_id`` when mapped) as text; one error naming what is missing."""
    missing = _missing(schema, mapping)
    if missing:
        names = ", ".join(
            f"{mapping[key][0]!r}" + ("" if mapping[key][0] == key else f" (for {key})")
            for key in missing
        )
        have = ", ".join(schema) or "none"
        raise CurationError(
            f"missing column(s) {names}; columns present: {have} (map them with the column mapping)",
            path=path,
        )
    exprs = []
    for key, (name, _) in mapping.items():
        out = "_id" if key == "id" else FIELDS[key]
        if key == "id" and name is None:
            continue
        if name is None or name not in schema:
            exprs.append(pl.lit(None, pl.String).alias(out))
            continue
        dtype = schema[name]
        if not (dtype.is_numeric() or isinstance(dtype, _TEXTUAL)):
            raise CurationError(f"column {name!r} holds {dtype}, expected text", path=path)
        exprs.append(pl.col(name).cast(pl.String).alias(out))
    return frame.select(exprs)


def _canonical(frame: pl.DataFrame, *, license: str, url: str | None) -> pl.DataFrame:
    ids = _ids(frame)
    task = pl.col("task").str.strip_chars()
    return frame.with_columns(
        id=ids,
        source=pl.lit(SOURCE),
        group=pl.when(task.is_null() | (task == "")).then(pl.lit(UNKNOWN_TASK)).otherwise(task),
        prompt=pl.lit(None, pl.String),
        response=pl.lit(None, pl.String),
        license=pl.lit(license, pl.String),
        url=pl.lit(url, pl.String) if url else pl.col("_locator"),
        created_at=pl.lit(None, TIMESTAMP),
    ).select(
        [pl.col(name).cast(dtype) for name, dtype in CANONICAL.items()]
        + [pl.col(name).cast(dtype) for name, dtype in SOURCE_COLUMNS.items()]
    )


def _ids(frame: pl.DataFrame) -> pl.Series:
    """``kocot/<id>``: the data's own ids when mapped, else a question hash (module doc)."""
    if "_id" in frame.columns:
        own = frame["_id"]
        if own.null_count() or own.is_duplicated().any():
            raise CurationError("the mapped id column has null or repeated values")
        return (SOURCE + "/" + own).alias("id")
    # No stable hash expression exists in Polars (``Expr.hash`` changes across versions), so
    # this one step hashes in Python: ~1 µs a row, and these sets have thousands of rows.
    digests = pl.Series(
        "digest",
        [hashlib.blake2b((q or "").encode("utf-8"), digest_size=8).hexdigest()
         for q in frame["question"].to_list()],
        dtype=pl.String,
    )
    repeat = pl.col("digest").cum_count().over("digest")
    suffix = pl.when(repeat > 1).then(pl.lit("-") + repeat.cast(pl.String)).otherwise(pl.lit(""))
    return pl.DataFrame({"digest": digests}).select(
        pl.concat_str([pl.lit(SOURCE + "/"), pl.col("digest"), suffix]).alias("id")
    )["id"]


# --------------------------------------------------------------------------- broken files


def _has_bom(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(3) == b"\xef\xbb\xbf"


def _first_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1]


def _broken(path: Path, suffix: str, error: Exception) -> CurationError:
    """One line naming the file, where it breaks and why (the slow search runs only on error)."""
    with open(path, "rb") as handle:
        head = handle.read(200)
    if head.startswith(b"version https://git-lfs"):
        return CurationError("a Git LFS pointer, not the data (run `git lfs pull`)", path=path)
    if suffix == ".parquet":
        return CurationError(
            f"not a readable parquet file (truncated or corrupt): {_one_line(error)}", path=path
        )
    if suffix == ".json" and _first_byte(path) == b"[":
        try:
            json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as bad:
            return CurationError(f"not UTF-8 text ({bad.reason})", path=path, position=f"byte {bad.start}")
        except json.JSONDecodeError as bad:
            return CurationError(
                f"invalid JSON ({bad.msg})", path=path, position=f"line {bad.lineno}, column {bad.colno}"
            )
        return CurationError(f"unreadable JSON array: {_one_line(error)}", path=path)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
            except UnicodeDecodeError as bad:
                return CurationError(f"not UTF-8 text ({bad.reason})", path=path, position=f"line {number}")
            except json.JSONDecodeError as bad:
                what = "truncated JSON" if not raw.endswith(b"\n") else f"invalid JSON ({bad.msg})"
                return CurationError(what, path=path, position=f"line {number}")
            if not isinstance(value, dict):
                return CurationError(
                    f"expected one JSON object per line, found {type(value).__name__}",
                    path=path, position=f"line {number}",
                )
    return CurationError(f"unreadable JSON lines: {_one_line(error)}", path=path)


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# --------------------------------------------------------------------------- formatting


def _clean(name: str) -> pl.Expr:
    """Stripped text; empty becomes null so a missing part nulls the pair."""
    text = pl.col(name).str.strip_chars()
    return pl.when(text.str.len_chars() > 0).then(text).otherwise(None)


def _norm(expr: pl.Expr) -> pl.Expr:
    """Whitespace collapsed, ends stripped, final sentence punctuation dropped."""
    return expr.str.replace_all(r"\s+", " ").str.strip_chars().str.strip_chars_end(".!?。… ")


def _norm_answer(expr: pl.Expr) -> pl.Expr:
    """:func:`_norm`, and a decimal answer without trailing zeros ("787.00" -> "787")."""
    text = _norm(expr)
    decimal = text.str.contains(r"^[-+]?\d+\.\d+$")
    trimmed = text.str.replace(r"0+$", "").str.strip_chars_end(".")
    return pl.when(decimal).then(trimmed).otherwise(text)


def last_sentence(expr: pl.Expr | str) -> pl.Expr:
    """The text's last sentence or line (sentences end at ``.!?。…`` before a space or a newline)."""
    text = (pl.col(expr) if isinstance(expr, str) else expr).str.strip_chars()
    lines = text.str.replace_all(r"[ \t]*\r?\n\s*", "\n").str.replace_all(r"([.!?。…])[ \t]+", "${1}\n")
    return lines.str.extract(r"([^\n]*)$")


def _answer_pattern(answer: pl.Expr, *, at_end: bool = False) -> pl.Expr:
    """A per-row regex finding ``answer`` as a whole token (numbers must not continue)."""
    starts_digit = answer.str.contains(r"^\p{N}")
    ends_digit = answer.str.contains(r"\p{N}$")
    before = pl.when(starts_digit).then(pl.lit(r"(?:^|[^\p{N}.,/\-])")).otherwise(
        pl.lit(r"(?:^|[^\p{L}\p{N}])")
    )
    after = pl.when(ends_digit).then(pl.lit(r"(?:$|[^\p{N}.,/]|[.,](?:$|[^\p{N}]))")).otherwise(
        pl.lit(r"(?:$|[^\p{Latin}\p{N}])")
    )
    if at_end:
        after = pl.lit("$")
    return pl.concat_str([pl.lit("(?i)"), before, answer.str.escape_regex(), after])


def mentions_answer(text: pl.Expr | str = "rationale", answer: pl.Expr | str = "answer") -> pl.Expr:
    """The text holds the answer as a whole token anywhere (a rationale/answer agreement score).

    Null when either side is null or the answer is empty.
    """
    text_e = pl.col(text) if isinstance(text, str) else text
    answer_n = _norm_answer(pl.col(answer) if isinstance(answer, str) else answer)
    found = _norm(text_e).str.contains(_answer_pattern(answer_n))
    return pl.when(answer_n.str.len_chars() > 0).then(found).otherwise(None)


def states_answer(rationale: pl.Expr | str = "rationale", answer: pl.Expr | str = "answer") -> pl.Expr:
    """The rationale already ends with its answer (the rule for adding the answer line; module doc).

    Null when either side is null or the answer is empty.
    """
    rationale_e = pl.col(rationale) if isinstance(rationale, str) else rationale
    answer_n = _norm_answer(pl.col(answer) if isinstance(answer, str) else answer)
    in_last = _norm(last_sentence(rationale_e)).str.contains(_answer_pattern(answer_n))
    at_end = _norm(rationale_e).str.contains(_answer_pattern(answer_n, at_end=True))
    return pl.when(answer_n.str.len_chars() > 0).then(in_last | at_end).otherwise(None)


def _answer_line(template: str, answer: pl.Expr) -> pl.Expr:
    if template.count("{answer}") != 1:
        raise ValueError(f"answer_line must hold '{{answer}}' once, got {template!r}")
    before, after = template.split("{answer}")
    return pl.concat_str([pl.lit(before), answer, pl.lit(after)])


def cot_prompt_response(
    with_cot: bool = True,
    trigger: str | None = None,
    answer_line: str = ANSWER_LINE,
    *,
    question: str = "question",
    rationale: str = "rationale",
    answer: str = "answer",
) -> dict[str, pl.Expr]:
    """``{"prompt": expr, "response": expr}`` for ``LazyFrame.with_columns(**...)`` (module doc)."""
    prompt = _clean(question)
    if trigger:
        if not with_cot:
            raise ValueError("a reasoning trigger only makes sense with chain of thought")
        prompt = pl.concat_str([prompt, pl.lit("\n" + trigger.strip())])
    answer_e = _clean(answer)
    if not with_cot:
        return {"prompt": prompt.alias("prompt"), "response": answer_e.alias("response")}
    reasoning = _clean(rationale)
    line = _answer_line(answer_line, answer_e)
    needs_line = answer_e.is_not_null() & ~states_answer(reasoning, answer_e).fill_null(True)
    response = pl.when(needs_line).then(pl.concat_str([reasoning, pl.lit("\n\n"), line])).otherwise(reasoning)
    return {"prompt": prompt.alias("prompt"), "response": response.alias("response")}


def cot_format(with_cot: bool = True, trigger: str | None = None, answer_line: str = ANSWER_LINE) -> dict:
    """The format as plain data for the manifest's ``format`` and the card (canonical JSON)."""
    if trigger and not with_cot:
        raise ValueError("a reasoning trigger only makes sense with chain of thought")
    prompt = "question" + (f" + newline + {trigger.strip()!r}" if trigger else "")
    if with_cot:
        response = (
            f"rationale + blank line + {answer_line!r} unless the rationale already ends with the answer"
        )
    else:
        response = "answer"
    return {
        "cot": with_cot,
        "trigger": trigger.strip() if trigger else None,
        "answer_line": answer_line if with_cot else None,
        "prompt": prompt,
        "response": response,
    }
