"""Shared helpers of the Stack Exchange benchmarks: big dumps made of real rows, measured child runs, tables.

- `write_posts` replicates the real rows of ``../shared/data/stackexchange`` (beer from its .7z,
  cardano, coffee) into a ``Posts.xml`` as large as asked, shaped like a real dump (BOM, XML
  declaration, ``<posts>``, one ``<row …/>`` per line, ``</posts>``). ``Id``, ``ParentId`` and
  ``AcceptedAnswerId`` are offset per replica and per source site, so ids stay unique and every
  answer keeps its question. On request, each answer of each replica gets one extra paragraph of
  real words (seeded local RNG), so exact dedup does not collapse the replicas into one.
- `measure` runs one function of a benchmark script in a fresh child process and returns its wall
  time, CPU time and peak RSS. The peak is the child's own ``VmHWM`` (read by the child at exit):
  on Linux the ``ru_maxrss`` that ``os.wait4`` returns for a child starts from the *parent's* peak
  at ``exec`` (an 800 MiB parent makes an idle child report 811 MiB), so ``wait4`` serves for the
  exit status only. Wall and CPU time (all threads) are the child's own, around the function call:
  imports are done before the clock starts. ``peak_private_mib`` is ``RssAnon`` sampled every 20 ms:
  the peak without file pages, which a memory-mapped cache adds to RSS (they are the page cache's).
- `table` prints aligned columns.

Generated files go under ``benchmarks/_work/`` (git-ignored) and are reused when their recorded
parameters match.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
DATA = ROOT.parent / "shared" / "data"
MB = 1_000_000
MIB = 2**20

#: The real Posts tables the dumps are made of (beer's is read from its official .7z).
SOURCE_SITES = ("beer.stackexchange.com", "cardano.stackexchange.com", "coffee.stackexchange.com")
#: Bump when the generated layout changes, so stale files are rebuilt.
FORMAT = 2

_HEADER = b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
_FOOTER = b"</posts>"
_ID_ATTR = re.compile(rb' (Id|ParentId|AcceptedAnswerId)="(\d+)"')
_BODY = b' Body="'
_ANSWER = b' PostTypeId="2"'
#: Words never used in the extra paragraphs: they would trip the style filters on their own.
_AVOID = {"mine", "myself", "edit", "update", "upvote", "downvote", "http", "https", "html", "this", "site", "quot",
          "nbsp", "amp"}  # fmt: skip


# --------------------------------------------------------------------------- real rows


def real_posts(data: Path = DATA) -> dict[str, bytes]:
    """Site -> the bytes of its real Posts.xml."""
    import py7zr

    se = data / "stackexchange"
    out = {}
    with py7zr.SevenZipFile(se / "beer.stackexchange.com.7z") as archive:
        factory = py7zr.io.BytesIOFactory(64 * MIB)
        archive.extract(targets=["Posts.xml"], factory=factory)
        out["beer.stackexchange.com"] = factory.get("Posts.xml").read()
    for site in SOURCE_SITES[1:]:
        out[site] = (se / site / "Posts.xml").read_bytes()
    return out


@dataclass
class _Template:
    """One site's rows as literal byte pieces and slots: an int is an id to offset, None an answer's body end."""

    parts: list[bytes | int | None]
    max_id: int
    rows: int


def _template(xml: bytes) -> _Template:
    parts: list[bytes | int | None] = []
    max_id = rows = 0
    for line in xml.split(b"\n"):
        if not line.lstrip().startswith(b"<row "):
            continue
        rows += 1
        line += b"\n"
        body_end = -1
        if _ANSWER in line and _BODY in line:
            start = line.index(_BODY) + len(_BODY)
            body_end = line.index(b'"', start)  # a value never holds a raw quote
        at = 0
        for match in _ID_ATTR.finditer(line):
            if at <= body_end < match.start(2):
                parts += [line[at:body_end], None]
                at = body_end
            parts += [line[at : match.start(2)], int(match[2])]
            at = match.end(2)
            max_id = max(max_id, int(match[2]))
        if at <= body_end:
            parts += [line[at:body_end], None]
            at = body_end
        parts.append(line[at:])
    return _Template(parts, max_id, rows)


def _word_pool(sources: dict[str, bytes]) -> list[str]:
    """Plain English words of the real answers, with their natural frequencies (for the extra paragraphs)."""
    words: list[str] = []
    for xml in sources.values():
        for body in re.findall(rb' PostTypeId="2".*? Body="([^"]*)"', xml):
            text = re.sub(r"<[^>]+>", " ", html.unescape(body.decode()))
            words += [w for w in re.findall(r"\b[a-z]{4,10}\b", text) if w not in _AVOID]
    return words


def write_posts(
    path: Path,
    min_bytes: int,
    *,
    sources: dict[str, bytes] | None = None,
    vary_seed: str | None = None,
) -> dict:
    """Write a replicated ``Posts.xml`` of at least ``min_bytes`` at ``path`` (reused if present); return its facts.

    ``vary_seed``: when set, each answer of each replica gets a paragraph of real words drawn
    with a local RNG seeded by ``vary_seed`` and the replica number (the same file every run).
    """
    meta_path = path.with_name(path.name + ".json")
    wanted = {"format": FORMAT, "min_bytes": min_bytes, "vary_seed": vary_seed, "sources": list(SOURCE_SITES)}
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("params") == wanted and meta.get("bytes") == path.stat().st_size:
            return meta
    sources = sources if sources is not None else real_posts()
    templates = [_template(sources[site]) for site in SOURCE_SITES]
    bases, stride = [], 0
    for t in templates:
        bases.append(stride)
        stride += t.max_id
    stride = 10 ** len(str(stride))  # a round stride: replica r's ids are r * stride + base + the real id
    pool = _word_pool(sources) if vary_seed is not None else []
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    written = rows = replica = 0
    with open(tmp, "wb") as out:
        written += out.write(_HEADER)
        while written + len(_FOOTER) < min_bytes:
            rng = random.Random(f"{vary_seed}/{replica}") if vary_seed is not None else None
            for template, base in zip(templates, bases):
                offset = replica * stride + base
                chunk = b"".join(
                    p if isinstance(p, bytes) else str(p + offset).encode() if p is not None else _paragraph(rng, pool)
                    for p in template.parts
                )
                written += out.write(chunk)
                rows += template.rows
            replica += 1
        written += out.write(_FOOTER)
    os.replace(tmp, path)
    meta = {"params": wanted, "bytes": written, "rows": rows, "replicas": replica, "id_stride": stride}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _paragraph(rng: random.Random | None, pool: list[str]) -> bytes:
    if rng is None:
        return b""
    words = rng.choices(pool, k=rng.randrange(6, 15))
    sentence = " ".join(words).capitalize() + "."
    return html.escape(f"<p>{sentence}</p>\n", quote=True).replace("\n", "&#xA;").encode()


def write_7z(xml: Path, archive: Path, *, member: str = "Posts.xml", preset: int = 1) -> dict:
    """Pack ``xml`` as ``member`` of a .7z (LZMA2, fast ``preset``), reused when already built from it."""
    import py7zr

    meta_path = archive.with_name(archive.name + ".json")
    wanted = {"format": FORMAT, "xml_bytes": xml.stat().st_size, "xml_mtime_ns": xml.stat().st_mtime_ns,
              "preset": preset, "member": member}  # fmt: skip
    if archive.is_file() and meta_path.is_file() and json.loads(meta_path.read_text()).get("params") == wanted:
        return json.loads(meta_path.read_text())
    tmp = archive.with_name(f".{archive.name}.{os.getpid()}.tmp")
    start = time.perf_counter()
    with py7zr.SevenZipFile(tmp, "w", filters=[{"id": py7zr.FILTER_LZMA2, "preset": preset}]) as z:
        z.write(xml, member)
    os.replace(tmp, archive)
    meta = {"params": wanted, "bytes": archive.stat().st_size, "seconds": time.perf_counter() - start}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


# --------------------------------------------------------------------------- measured child runs


@dataclass
class Measured:
    """One child run: wall and CPU seconds of the function alone, the child's peak RSS, its result."""

    name: str
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    value: dict
    peak_private_mib: float = 0.0  # sampled RssAnon: RSS without file pages (a memory-mapped cache's)


def measure(name: str, script: str | Path, function: str, **kwargs) -> Measured:
    """Run ``function(**kwargs)`` of ``script`` in a fresh Python process; its stderr goes to ours."""
    out = WORK / "runs" / f"{Path(script).stem}.{name.replace('/', '_')}.{os.getpid()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--child", str(script), function, json.dumps(kwargs), str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, _ = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode or not out.is_file():
        raise SystemExit(f"{name}: {function} failed in its child process (exit {proc.returncode})")
    result = json.loads(out.read_text())
    out.unlink()
    return Measured(name, result["seconds"], result["cpu_seconds"], result["peak_rss_mib"], result["value"],
                    result["peak_private_mib"])  # fmt: skip


class _PrivatePeak:
    """The highest ``RssAnon`` seen, sampled every 20 ms on a thread (the kernel keeps no such peak)."""

    def __init__(self):
        import threading

        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.sample()

    def sample(self) -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                self.peak = max(self.peak, int(line.split()[1]) / 1024)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.sample()
        return self.peak


def _peak_rss_mib() -> float:
    """This process's own peak resident set (VmHWM), which ``exec`` resets."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(script: str, function: str, kwargs: str, out: str) -> None:
    sys.path[:0] = [str(ROOT), str(Path(script).parent)]
    spec = importlib.util.spec_from_file_location(f"_bench_{Path(script).stem}", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)  # imports (polars, curation…) happen here, before the clock starts
    fn = getattr(module, function)
    private = _PrivatePeak()
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    value = fn(**json.loads(kwargs))
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    private_peak = private.stop()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = _peak_rss_mib()
    if "curation.rowmap" in sys.modules:  # helper processes (per-row Python steps): reap them, count them
        sys.modules["curation.rowmap"].shutdown()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu += children.ru_utime + children.ru_stime
        peak += children.ru_maxrss / 1024  # plus the largest helper's peak: a bound on the total
    result = {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mib": peak, "value": value,
              "peak_private_mib": private_peak}  # fmt: skip
    Path(out).write_text(json.dumps(result))


# --------------------------------------------------------------------------- output


def table(headers: Sequence[str], rows: Sequence[Sequence], *, file=None) -> str:
    """Aligned text table (first column left, the others right); printed and returned."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] + [""] * (len(headers) - len(row)) for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text, file=file or sys.stdout, flush=True)
    return text


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine_note() -> str:
    """Cores and load, printed with every result: the machine is shared and numbers are noisy."""
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine)"


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        _child(*sys.argv[2:])
    else:
        raise SystemExit("usage: _common.py --child SCRIPT FUNCTION KWARGS_JSON OUT_JSON (used by the benchmarks)")
