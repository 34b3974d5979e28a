"""Content fingerprints of input files, and the on-disk cache folder they key.

A fingerprint hashes a file's bytes (blake2b), so it names the content, not the path or the time:
the manifest of a dataset built on another machine from the same dumps carries the same
fingerprints. Hashing a large archive takes a while, so results are memoised per (path, size,
mtime) in the cache folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_BLOCK = 8 * 1024 * 1024


def cache_root() -> Path:
    """``$CURATION_CACHE_DIR``, else ``$XDG_CACHE_HOME/curation``, else ``~/.cache/curation``."""
    env = os.environ.get("CURATION_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "curation"


def fingerprint(path: Path, cache_dir: str | Path | None = None) -> str:
    """``blake2b:<hex>`` of the file's content (memoised by path, size and mtime)."""
    path = Path(path)
    stat = path.stat()
    memo_dir = (Path(cache_dir) if cache_dir is not None else cache_root()) / "fingerprints"
    key = hashlib.blake2b(
        f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode(), digest_size=16
    ).hexdigest()
    memo = memo_dir / f"{key}.json"
    try:
        return json.loads(memo.read_text())["fingerprint"]
    except (OSError, ValueError, KeyError):
        pass
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    value = f"blake2b:{digest.hexdigest()}"
    try:
        memo_dir.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fingerprint": value}))
        os.replace(tmp, memo)
    except OSError:
        pass  # a read-only cache only costs time
    return value
