"""Dataset version folders for the hub tests, written the way docs/dataset-format.md lays them out.

The store (curation/store.py) will build these for real; until the hub tests switch to it, this
helper writes the same layout: a deterministic zstd parquet of canonical columns + ``messages``
under data/, a README.md card made with huggingface_hub.DatasetCard, a PNG figure, and a
canonical-JSON curation.json whose content_hash is computed as the document says. Rows come from
code (synthetic) or from a real Stack Exchange dump in ../shared/data.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
from huggingface_hub import DatasetCard, DatasetCardData
from lxml import etree

from curation.columns import CANONICAL, TIMESTAMP

TRAIN_FILE = "data/train-00000-of-00001.parquet"
MESSAGE = pl.Struct({"role": pl.String(), "content": pl.String()})


def synthetic_rows(n: int, *, tag: str) -> pl.DataFrame:
    """``n`` Stack-Exchange-like rows whose text depends on ``tag`` (so versions differ), built by code."""
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    index = pl.int_range(0, n, eager=True)
    frame = pl.DataFrame({"i": index}).with_columns(
        id=pl.format("stackexchange/example.stackexchange.com/{}", pl.col("i") * 7 + 1),
        source=pl.lit("stackexchange"),
        group=pl.lit("example.stackexchange.com"),
        prompt=pl.format("[{}] How do I brew cup {} — «ünïcödé» ☕ and 한국어?", pl.lit(tag), pl.col("i")),
        response=pl.format("Answer {} for {}:\n\n* grind finer\n* ```code {}```", pl.col("i"), pl.lit(tag), pl.col("i")),
        license=pl.lit("CC BY-SA 4.0"),
        url=pl.format("https://example.stackexchange.com/a/{}", pl.col("i") * 7 + 1),
        created_at=pl.lit(start) + pl.duration(hours=pl.col("i") * 5),
        answer_score=pl.col("i") * 3 + 10,
    )
    return frame.drop("i")


def stackexchange_rows(posts_xml: Path, *, site: str, limit: int, skip: int = 0) -> pl.DataFrame:
    """Question/top-answer pairs from a real Posts.xml (raw HTML bodies), sorted by answer id."""
    posts = []
    for _, row in etree.iterparse(str(posts_xml), tag="row"):
        posts.append({k: row.get(k) for k in ("Id", "PostTypeId", "ParentId", "Title", "Body", "Score", "CreationDate")})
        row.clear()
    frame = pl.DataFrame(posts, schema={k: pl.String() for k in posts[0]})
    questions = frame.filter(pl.col("PostTypeId") == "1").select(
        question_id=pl.col("Id"), prompt=pl.col("Title"))
    answers = frame.filter(pl.col("PostTypeId") == "2").select(
        answer_id=pl.col("Id"), question_id=pl.col("ParentId"), response=pl.col("Body"),
        answer_score=pl.col("Score").cast(pl.Int64),
        created_at=pl.col("CreationDate").str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_zone="UTC").cast(TIMESTAMP),
    )
    pairs = (
        answers.join(questions, on="question_id")
        .sort(["question_id", "answer_score", "answer_id"], descending=[False, True, False])
        .unique("question_id", keep="first", maintain_order=True)
        .sort(pl.col("answer_id").cast(pl.Int64))
        .slice(skip, limit)
    )
    return pairs.select(
        id=pl.format("stackexchange/{}/{}", pl.lit(site), pl.col("answer_id")),
        source=pl.lit("stackexchange"),
        group=pl.lit(site),
        prompt=pl.col("prompt"),
        response=pl.col("response"),
        license=pl.lit("CC BY-SA 3.0"),
        url=pl.format("https://{}/a/{}", pl.lit(site), pl.col("answer_id")),
        created_at=pl.col("created_at"),
        answer_score=pl.col("answer_score"),
    )


def with_messages(rows: pl.DataFrame) -> pl.DataFrame:
    """Canonical columns (typed, in order), ``messages``, then the rest; sorted by id."""
    canonical = [pl.col(name).cast(dtype) for name, dtype in CANONICAL.items()]
    messages = pl.concat_list(
        pl.struct(role=pl.lit("user"), content=pl.col("prompt")),
        pl.struct(role=pl.lit("assistant"), content=pl.col("response")),
    ).cast(pl.List(MESSAGE)).alias("messages")
    extra = [c for c in rows.columns if c not in CANONICAL]
    return rows.select(*canonical, messages, *extra).sort("id")


def tiny_png(width: int = 8, height: int = 8) -> bytes:
    """A valid grayscale PNG gradient, so the figure is a real binary file."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    raw = b"".join(b"\0" + bytes((x * 255 // max(1, width - 1)) for x in range(width)) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def content_hash_of(files: dict[str, str]) -> str:
    """docs/dataset-format.md: sha256 over the sorted ``files`` entries, one ``path<TAB>hash`` line each."""
    return "sha256:" + hashlib.sha256(
        "".join(f"{path}\t{digest}\n" for path, digest in sorted(files.items())).encode()
    ).hexdigest()


def canonical_json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, indent=2) + "\n"


def card_text(name: str, version: str, n_rows: int, **metadata: object) -> str:
    """The dataset card, made with DatasetCard; ``metadata`` overrides YAML fields (e.g. to break them)."""
    fields = dict(
        license="cc-by-sa-4.0",
        language=["en"],
        task_categories=["text-generation", "question-answering"],
        size_categories=["n<1K" if n_rows < 1000 else "1K<n<10K"],
        pretty_name=f"{name} {version}",
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
    )
    fields.update(metadata)
    data = DatasetCardData(**fields)
    body = (f"# {name} {version}\n\n{n_rows} prompt/response pairs curated LIMA-style.\n\n"
            "![answer length](figures/length.png)\n")
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


def write_version(root: Path, rows: pl.DataFrame, *, name: str, version: str, seed: int = 0,
                  card_metadata: dict | None = None, figures: tuple[str, ...] = ("length",)) -> Path:
    """Write ``root/name/version`` as a complete version folder (one PNG per figure name) and return it."""
    folder = root / name / version
    (folder / "data").mkdir(parents=True)
    (folder / "figures").mkdir()
    table = with_messages(rows)
    table.write_parquet(folder / TRAIN_FILE, compression="zstd", compression_level=3, row_group_size=100_000)
    for index, figure in enumerate(figures):
        (folder / "figures" / f"{figure}.png").write_bytes(tiny_png(8 + index, 8))
    (folder / "README.md").write_text(card_text(name, version, table.height, **(card_metadata or {})),
                                      encoding="utf-8")
    recipe = {"name": name, "source": "stackexchange", "seed": seed, "steps": [{"name": "answer_score", "min": 10}]}
    files = {TRAIN_FILE: sha256_file(folder / TRAIN_FILE)}
    manifest = {
        "name": name,
        "version": version,
        "source": "stackexchange",
        "recipe": recipe,
        "recipe_hash": "sha256:" + hashlib.sha256(canonical_json(recipe).encode()).hexdigest(),
        "seed": seed,
        "inputs": [{"name": "Posts.xml", "bytes": 1, "fingerprint": "blake2b:00"}],
        "funnel": {"candidates": table.height, "kept": table.height, "steps": [], "alone": {}},
        "splits": {"train": table.height},
        "files": files,
        "content_hash": content_hash_of(files),
        "library_versions": {"polars": pl.__version__},
        "created_by": "curation 0.1.0",
    }
    (folder / "curation.json").write_text(canonical_json(manifest), encoding="utf-8")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), to prove a folder was left untouched."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

