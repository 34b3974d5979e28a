"""Reading a dataset version for fine-tuning: a local version folder or a Hub repo at a revision.

Only the ``id`` and ``messages`` columns matter here (docs/dataset-format.md). Every random choice
(the held-out split, an arm's subsample) ranks rows by a keyed hash of their ``id`` and the seed,
so the same rows are chosen whatever the row order, the machine or the library versions.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import polars as pl

from curation.errors import CurationError

ROLES = ("system", "user", "assistant")


def resolve_arm(spec: str | Path) -> Path | Any:
    """What an arm's ``dataset`` names: a version folder (Path) or a Hub ``repo@revision`` (DatasetDict).

    A spec that is an existing path, starts with ``.``/``/`` or contains a path separator other
    than a single ``owner/name`` slash is a folder; otherwise it is a Hub repo, loaded with
    ``datasets.load_dataset(repo, revision=...)``. The lead can add recipe arms here.
    """
    text = str(spec)
    path = Path(text).expanduser()
    looks_local = path.exists() or text.startswith((".", "/", "~")) or text.count("/") != 1 or "\\" in text
    if looks_local:
        if not path.is_dir():
            raise CurationError("dataset version folder not found", path=path)
        return path
    repo, _, revision = text.partition("@")
    import datasets

    try:
        return datasets.load_dataset(repo, revision=revision or None)
    except Exception as error:  # the Hub/cache raise many types; the user needs one line
        first = (str(error).splitlines() or [""])[0]
        raise CurationError(
            f"no such local folder, and cannot load Hub dataset {repo!r} at revision {revision or 'main'}: {first}"
        ) from error


def load_split(source: Path | Any, split: str = "train", *, required: bool = True) -> pl.DataFrame | None:
    """``id`` and ``messages`` of one split, checked; ``None`` for an absent optional split."""
    if isinstance(source, Path):
        frame = _read_local(source, split, required)
        where: object = source / "data"
    else:
        if split not in source:
            if required:
                raise CurationError(f"the dataset has no {split!r} split (has {sorted(source)})")
            return None
        frame = pl.from_arrow(source[split].data.table)
        where = f"hub:{split}"
    if frame is None:
        return None
    if "messages" not in frame.columns:
        raise CurationError(f"split {split!r} has no 'messages' column (columns: {frame.columns})", path=where)
    if "id" not in frame.columns:  # not one of ours: ids from the row position, still deterministic
        frame = frame.with_row_index("id").with_columns(pl.format(f"{split}/{{}}", "id").alias("id"))
    frame = frame.select(pl.col("id").cast(pl.String), "messages")
    _check_messages(frame, where, split)
    return frame


def _read_local(folder: Path, split: str, required: bool) -> pl.DataFrame | None:
    files = sorted((folder / "data").glob(f"{split}-*.parquet"))
    if not files:
        if required:
            raise CurationError(f"no data/{split}-*.parquet in the dataset version folder", path=folder)
        return None
    frames = []
    for file in files:
        try:
            schema = pl.read_parquet_schema(file)
            columns = [c for c in ("id", "messages") if c in schema]
            frames.append(pl.read_parquet(file, columns=columns))
        except Exception as error:  # polars raises ComputeError/OSError/... for damaged files
            raise CurationError(
                f"cannot read parquet ({type(error).__name__}: {error})".splitlines()[0], path=file
            ) from error
    return pl.concat(frames, how="vertical_relaxed")


def _check_messages(frame: pl.DataFrame, where: object, split: str) -> None:
    """One clear line for the first malformed row: wrong type, empty list, unknown role, no text."""
    dtype = frame.schema["messages"]
    inner = getattr(dtype, "inner", None)
    if (
        not isinstance(dtype, pl.List)
        or not isinstance(inner, pl.Struct)
        or {"role", "content"} - {f.name for f in inner.fields}
    ):
        raise CurationError(f"column 'messages' must be list[struct{{role, content}}], got {dtype}", path=where)
    turns = frame.with_row_index("row").select("row", "id", pl.col("messages")).explode("messages")
    turns = turns.select(
        "row", "id", pl.col("messages").struct.field("role"), pl.col("messages").struct.field("content")
    )
    bad = turns.filter(pl.col("role").is_null() | ~pl.col("role").is_in(ROLES) | pl.col("content").is_null())
    empty = frame.with_row_index("row").filter(pl.col("messages").list.len().fill_null(0) == 0)
    first = None
    if bad.height:
        r = bad.row(0, named=True)
        first = (
            r["row"],
            r["id"],
            f"turn with role {r['role']!r} and content {'missing' if r['content'] is None else 'present'} "
            f"(roles must be {'/'.join(ROLES)} with text)",
        )
    if empty.height and (first is None or empty["row"][0] < first[0]):
        first = (empty["row"][0], empty["id"][0], "no messages")
    if first is not None:
        raise CurationError(first[2], path=where, position=f"{split} row {first[0]}, id {first[1]!r}")


def rank_key(ids: list[str] | pl.Series, seed: int, salt: str) -> pl.Series:
    """A 64-bit key per id from blake2b(salt, seed, id): stable across Polars versions, unlike ``pl.hash``."""
    prefix = f"{salt}:{seed}:".encode()
    keys = [int.from_bytes(hashlib.blake2b(prefix + i.encode(), digest_size=8).digest(), "big") for i in ids]
    return pl.Series("key", keys, dtype=pl.UInt64)


def subsample(frame: pl.DataFrame, n: int | None, seed: int) -> pl.DataFrame:
    """The ``n`` rows with the smallest keys, in id order; nested: the 2K sample is inside the 4K one."""
    if n is None or n >= frame.height:
        return frame.sort("id")
    return frame.with_columns(rank_key(frame["id"], seed, "sample")).sort("key").head(n).drop("key").sort("id")


def split_heldout(frame: pl.DataFrame, size: int, fraction: float, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, held-out): ``min(size, fraction * rows)`` rows chosen by id hash are held out."""
    k = min(size, int(frame.height * fraction))
    if k <= 0:
        return frame.sort("id"), frame.clear()
    keyed = frame.with_columns(rank_key(frame["id"], seed, "heldout")).sort("key")
    return keyed.slice(k).drop("key").sort("id"), keyed.head(k).drop("key").sort("id")


def conversations(frame: pl.DataFrame) -> list[list[dict[str, str]]]:
    """``messages`` as Python lists of ``{role, content}`` dicts (what chat templates take)."""
    return [[{"role": t["role"], "content": t["content"]} for t in turns] for turns in frame["messages"].to_list()]


def prompts(frame: pl.DataFrame) -> list[list[dict[str, str]]]:
    """Each conversation up to (not including) its last assistant turn: what a model is asked."""
    out = []
    for turns in conversations(frame):
        last = max((i for i, t in enumerate(turns) if t["role"] == "assistant"), default=len(turns))
        if last > 0:
            out.append(turns[:last])
    return out
