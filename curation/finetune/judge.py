"""An LLM judge through any OpenAI-compatible ``/chat/completions`` endpoint (URL and model in the
config): helpfulness on LIMA's 1-6 scale with mean and 95% confidence interval, and pairwise
preference with both presentation orders (a judge's position bias then shows up as a tie).

The six levels are our own wording of the ones LIMA's Appendix D describes. The API key, if
any, is read from the environment variable the config names, never from the config itself.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from statistics import mean, stdev

from curation.errors import CurationError

RUBRIC = """You grade how helpful an AI assistant's answer is to the user's request, on a scale of 1 to 6:
1 - Useless or harmful: it ignores the request, is off topic, or is unsafe or false throughout.
2 - Barely helpful: it touches the topic but misses what was asked or is mostly wrong.
3 - Somewhat helpful: part of the request is answered, with notable gaps or errors.
4 - Helpful: it answers the request correctly, but is incomplete, unclear or poorly organised in places.
5 - Very helpful: correct, complete and clear; only small improvements are possible.
6 - Excellent: as good as a thoughtful expert would write, accurate, well organised and engaging.
Think briefly, then end your reply with a last line of the form "Score: N"."""

PAIRWISE = """You compare two answers, A and B, by an AI assistant to the same user request, and decide which
is more helpful (correct, complete, clear, safe). If neither is clearly better, say tie.
Think briefly, then end your reply with a last line of the form "Preference: A", "Preference: B"
or "Preference: tie"."""

_SCORE = re.compile(r"score\s*[:=]?\s*\**\s*([1-6])\b", re.IGNORECASE)
_PREFERENCE = re.compile(r"preference\s*[:=]?\s*\**\s*(A|B|tie)\b", re.IGNORECASE)

# two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom
_T975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t975(df: int) -> float:
    """Student's t 97.5% quantile: a table to 30 df, then the Cornish-Fisher series (error < 1e-4)."""
    if df < 1:
        raise ValueError("need at least 1 degree of freedom")
    if df <= 30:
        return _T975[df - 1]
    z = 1.959963985
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


def mean_ci(values: list[float]) -> dict[str, float | int | None]:
    """Mean and 95% t-interval (LIMA reports helpfulness this way); no interval below 2 values."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "ci95_low": None, "ci95_high": None}
    m = mean(values)
    if n < 2:
        return {"n": n, "mean": m, "ci95_low": None, "ci95_high": None}
    half = t975(n - 1) * stdev(values) / math.sqrt(n)
    return {"n": n, "mean": m, "ci95_low": m - half, "ci95_high": m + half}


@dataclass(frozen=True)
class Judge:
    """One OpenAI-compatible endpoint and model; ``url`` is the API base (…/v1)."""

    url: str
    model: str
    api_key_env: str | None = None
    timeout: float = 120.0
    retries: int = 2
    temperature: float = 0.0

    def ask(self, system: str, user: str) -> str:
        """The assistant text of one chat completion (retries on 5xx/connection errors, bounded)."""
        body = json.dumps(
            {
                "model": self.model,
                "temperature": self.temperature,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if self.api_key_env and not key:
            raise CurationError(f"judge API key variable {self.api_key_env} is not set")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        endpoint = self.url.rstrip("/") + "/chat/completions"
        last = ""
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = json.loads(response.read().decode("utf-8"))
                return payload["choices"][0]["message"]["content"]
            except urllib.error.HTTPError as error:
                last = f"HTTP {error.code}"
                if error.code < 500 and error.code != 429:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                last = f"unreachable ({getattr(error, 'reason', error)})"
            except (ValueError, KeyError, IndexError, TypeError):
                raise CurationError("judge reply is not an OpenAI chat completion", path=endpoint) from None
            if attempt < self.retries:
                time.sleep(0.5 * 2**attempt)
        raise CurationError(f"judge request failed: {last}", path=endpoint)

    def grade(self, prompt: str, answer: str) -> int:
        """Helpfulness 1-6 of ``answer`` to ``prompt``."""
        reply = self.ask(RUBRIC, f"User request:\n{prompt}\n\nAssistant answer:\n{answer}")
        found = _SCORE.findall(reply) or re.findall(r"^\s*([1-6])\s*$", reply)
        if not found:
            raise CurationError(f"judge reply has no 'Score: 1-6' line: {reply[-120:]!r}", path=self.url)
        return int(found[-1])

    def prefer(self, prompt: str, first: str, second: str) -> str:
        """``"first"``, ``"second"`` or ``"tie"``: asked in both orders, a split verdict is a tie."""
        verdicts = []
        for a, b in ((first, second), (second, first)):
            reply = self.ask(PAIRWISE, f"User request:\n{prompt}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}")
            found = _PREFERENCE.findall(reply)
            if not found:
                raise CurationError(f"judge reply has no 'Preference: A/B/tie' line: {reply[-120:]!r}", path=self.url)
            verdicts.append(found[-1].lower())
        as_first = {"a": "first", "b": "second", "tie": "tie"}[verdicts[0]]
        as_second = {"a": "second", "b": "first", "tie": "tie"}[verdicts[1]]
        return as_first if as_first == as_second else "tie"


def grade_all(judge: Judge, prompts: list[str], answers: list[list[str]]) -> dict:
    """Every sampled answer graded; ``mean_ci`` over all grades plus the grades per prompt."""
    grades = [[judge.grade(p, a) for a in group] for p, group in zip(prompts, answers)]
    return {"grades": grades, **mean_ci([g for group in grades for g in group])}


def compare_all(judge: Judge, prompts: list[str], ours: list[list[str]], theirs: list[list[str]]) -> dict:
    """Pairwise wins/ties/losses of ``ours`` against ``theirs`` (first sample of each prompt)."""
    verdicts = [judge.prefer(p, a[0], b[0]) for p, a, b in zip(prompts, ours, theirs) if a and b]
    n = len(verdicts)
    counts = {k: verdicts.count(v) for k, v in (("wins", "first"), ("ties", "tie"), ("losses", "second"))}
    return {"n": n, **counts, "win_rate": counts["wins"] / n if n else None, "verdicts": verdicts}
