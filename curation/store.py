"""Versioned dataset folders laid out like Hub dataset repos (see docs/dataset-format.md).

A version is written to a temporary sibling folder and renamed into place, so a failed build
leaves nothing behind, and an existing version is never overwritten. Parquet is written with
fixed settings and no timestamps, so the same rows give the same bytes and the same content hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import polars as pl

from curation.errors import CurationError

MANIFEST = "curation.json"
ROW_GROUP_ROWS = 100_000
_VERSION = re.compile(r"^v(\d+)$")


def data_file(split: str) -> str:
    return f"data/{split}-00000-of-00001.parquet"


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Deterministic parquet: zstd level 3, fixed row groups, statistics, no wall-clock metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="zstd", compression_level=3, row_group_size=ROW_GROUP_ROWS, statistics=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def content_hash(files: dict[str, str]) -> str:
    """Hash over the sorted (path, file hash) pairs of the data files: identifies the rows."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path}\t{files[path]}\n".encode())
    return "sha256:" + digest.hexdigest()


def canonical_json(data: dict) -> str:
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def library_versions() -> dict[str, str]:
    names = ["curation", "polars", "pyarrow", "datasets", "huggingface_hub", "markdownify", "beautifulsoup4",
             "lxml", "ftfy", "langdetect", "py7zr", "zstandard"]  # fmt: skip
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def existing_versions(dataset_dir: Path) -> list[str]:
    if not dataset_dir.is_dir():
        return []
    found = [p.name for p in dataset_dir.iterdir() if p.is_dir() and _VERSION.match(p.name)]
    return sorted(found, key=lambda v: int(_VERSION.match(v)[1]))


def next_version(dataset_dir: Path) -> str:
    versions = existing_versions(dataset_dir)
    return f"v{int(_VERSION.match(versions[-1])[1]) + 1}" if versions else "v1"


def check_version_name(version: str) -> None:
    if not _VERSION.match(version):
        raise CurationError(f"a version is v<number> (v1, v2, …), got {version!r}")


def write_version(
    root: Path,
    name: str,
    version: str | None,
    splits: dict[str, pl.DataFrame],
    manifest: dict,
    *,
    extra_files: dict[str, pl.DataFrame] | None = None,
    write_card: Callable[[Path, dict], None] | None = None,
) -> tuple[Path, dict]:
    """Write a new version folder atomically and return (its path, its manifest).

    ``splits`` are published as ``data/<split>-00000-of-00001.parquet``; ``extra_files`` (e.g.
    rejected rows) are written beside them but are not part of the content hash.
    """
    dataset_dir = Path(root) / name
    version = version or next_version(dataset_dir)
    check_version_name(version)
    target = dataset_dir / version
    if target.exists():
        raise CurationError(f"version {version} of {name} exists already; versions are never overwritten "
                            f"(choose another --version, or leave it out for {next_version(dataset_dir)})",
                            path=target)  # fmt: skip
    dataset_dir.mkdir(parents=True, exist_ok=True)
    tmp = dataset_dir / f".{version}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        files = {}
        for split in sorted(splits):
            relative = data_file(split)
            write_parquet(splits[split], tmp / relative)
            files[relative] = sha256_file(tmp / relative)
        for relative, frame in sorted((extra_files or {}).items()):
            write_parquet(frame, tmp / relative)
        manifest = {
            **manifest,
            "name": name,
            "version": version,
            "splits": {split: splits[split].height for split in sorted(splits)},
            "files": files,
            "content_hash": content_hash(files),
            "library_versions": library_versions(),
            "created_by": f"curation {metadata.version('curation')}",
        }
        (tmp / MANIFEST).write_text(canonical_json(manifest), encoding="utf-8")
        if write_card is not None:
            write_card(tmp, manifest)
        try:
            os.rename(tmp, target)
        except OSError as exc:
            raise CurationError(f"cannot create the version folder: {exc.strerror}", path=target) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target, manifest


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise CurationError(f"not a dataset version: no {MANIFEST}", path=folder)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CurationError(f"unreadable {MANIFEST}: {exc}", path=path) from None


def verify(folder: str | Path) -> dict:
    """Re-hash a version's data files against its manifest; raise on any difference."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    for relative, expected in manifest["files"].items():
        path = folder / relative
        if not path.is_file() or sha256_file(path) != expected:
            raise CurationError("data file differs from the manifest", path=path)
    if content_hash(manifest["files"]) != manifest["content_hash"]:
        raise CurationError("content hash differs from the manifest", path=folder)
    return manifest
