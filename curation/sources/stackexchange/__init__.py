"""Stack Exchange dumps -> one candidate row per (question, answer) pair.

``scan(paths)`` accepts any mix of site archives as published (``coffee.stackexchange.com.7z``,
``stackoverflow.com-Posts.7z``), extracted site folders, bare ``Posts.xml`` files and folders
holding a whole dump, and returns a Polars ``LazyFrame`` with the canonical columns plus typed
Stack Exchange columns. Choosing *which* pair to keep (top answer, score, style…) is the recipe's
job, not the source's.

Each site is parsed once, columnar and streaming (see ``xmlrows`` and ``pairs``), into an Arrow IPC
cache keyed by the content fingerprint of its files; later scans of the same dump read the cache,
memory-mapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from curation.columns import TIMESTAMP
from curation.fingerprint import cache_root, fingerprint
from curation.sources.mapped import read_ipc_mapped
from curation.sources.stackexchange.inputs import SiteInput, discover, site_from_name
from curation.sources.stackexchange.pairs import PARSER_VERSION, build_site_cache, candidate_columns

__all__ = ["scan", "scan_with_stats", "discover", "SiteInput", "ScanStats", "site_from_name", "OLD_DUMP_LICENSE"]

#: Licence of posts in dumps that predate the per-row ``ContentLicense`` attribute (2018).
OLD_DUMP_LICENSE = "CC BY-SA 3.0"


@dataclass
class ScanStats:
    """What the scan read: per site, rows, questions, answers, malformed rows skipped, inputs."""

    sites: dict[str, dict] = field(default_factory=dict)
    inputs: list[dict] = field(default_factory=list)
    skipped_meta: list[str] = field(default_factory=list)

    @property
    def malformed(self) -> int:
        return sum(s["posts"]["malformed"] + ((s.get("users") or {}).get("malformed", 0)) for s in self.sites.values())


def scan(paths: str | Path | Sequence[str | Path], **options) -> pl.LazyFrame:
    """Candidate (question, answer) pairs of the given dumps; see `scan_with_stats` for options."""
    return scan_with_stats(paths, **options)[0]


def scan_with_stats(
    paths: str | Path | Sequence[str | Path],
    *,
    site: str | None = None,
    include_meta: bool = False,
    include_unanswered: bool = False,
    skip_malformed: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> tuple[pl.LazyFrame, ScanStats]:
    """Scan Stack Exchange dumps.

    - ``site``: the site of a bare ``Posts.xml`` whose folder name does not tell it.
    - ``include_meta``: keep meta sites (flagged ``is_meta``); they are not exchanges of their own.
    - ``include_unanswered``: one row per question without answers (answer columns null).
    - ``skip_malformed``: skip and count malformed rows instead of failing on the first.
    - ``cache_dir``: where parsed sites are kept (default ``$CURATION_CACHE_DIR`` or ~/.cache/curation).
    - ``progress``: show a progress bar while a site is parsed for the first time.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    stats = ScanStats()
    frames: list[pl.LazyFrame] = []
    for item in discover(list(paths), site=site):
        if item.is_meta and not include_meta:
            stats.skipped_meta.append(item.site)
            continue
        prints = [{"name": input_name(p), "bytes": p.stat().st_size, "fingerprint": fingerprint(p, root)}
                  for p in item.files]  # fmt: skip
        stats.inputs.extend(prints)
        folder = _site_cache(item, prints, root, skip_malformed, progress)
        meta = _read_meta(folder)
        stats.sites[item.site] = meta
        frames.append(_site_frame(folder, item.site, meta["buckets"]))
    if not frames:
        return _empty_frame(), stats
    lf = pl.concat(frames, how="vertical")
    if not include_unanswered:
        lf = lf.filter(pl.col("answer_id").is_not_null())
    return lf, stats


def input_name(path: Path) -> str:
    """How a manifest names an input file: the archive's name, else ``<site folder>/<file>``."""
    return path.name if path.suffix == ".7z" else f"{path.parent.name}/{path.name}"


def _site_cache(item: SiteInput, prints: list[dict], root: Path, skip_malformed: bool, progress: bool) -> Path:
    import hashlib

    key = hashlib.blake2b(
        "|".join([f"v{PARSER_VERSION}", item.posts.member or "", (item.users.member or "") if item.users else "",
                  *[p["fingerprint"] for p in prints], f"skip={skip_malformed}"]).encode(),
        digest_size=16,
    ).hexdigest()  # fmt: skip
    folder = root / "stackexchange" / f"{_safe(item.site)}-{key}"
    if (folder / "meta.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    bar = None
    callback = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=item.posts.size, unit="B", unit_scale=True, desc=f"parse {item.site}", leave=False)
        callback = bar.update
    try:
        build_site_cache(item, folder, skip_malformed=skip_malformed, progress=callback)
    finally:
        if bar is not None:
            bar.close()
    return folder


def _read_meta(folder: Path) -> dict:
    import json

    return json.loads((folder / "meta.json").read_text())


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in name)


def _site_frame(folder: Path, site: str, buckets: int) -> pl.LazyFrame:
    """The site's cached pairs, memory-mapped (`curation.sources.mapped`), as candidates."""
    files = [str(folder / f"pairs-{b:05d}.arrow") for b in range(buckets)]
    return read_ipc_mapped(files).lazy().select(candidate_columns(site, OLD_DUMP_LICENSE))


#: The column schema `scan` returns (used for empty results and by tests).
SCHEMA = {
    "id": pl.String, "source": pl.String, "group": pl.String, "prompt": pl.String, "response": pl.String,
    "license": pl.String, "url": pl.String, "created_at": TIMESTAMP, "site": pl.String, "is_meta": pl.Boolean,
    "question_id": pl.Int64, "answer_id": pl.Int64, "title": pl.String, "question_html": pl.String,
    "answer_html": pl.String, "question_score": pl.Int64, "answer_score": pl.Int64, "answer_rank": pl.Int32,
    "is_accepted": pl.Boolean, "answer_count": pl.Int32, "view_count": pl.Int64, "tags": pl.List(pl.String),
    "closed": pl.Boolean, "question_owner_id": pl.Int64, "question_owner_name": pl.String,
    "answer_owner_id": pl.Int64, "answer_owner_name": pl.String, "question_created_at": TIMESTAMP,
}  # fmt: skip


def _empty_frame() -> pl.LazyFrame:
    return pl.LazyFrame(schema=SCHEMA)
