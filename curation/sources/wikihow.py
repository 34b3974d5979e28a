"""wikiHow source: saved article pages and WARC crawls -> one candidate row per article.

``scan`` reads folders of ``.html`` pages (any names, recursive), single page files and WARC files
(``.warc``, ``.warc.gz``: HTTP responses from wikihow sites, e.g. Common Crawl). Each page is
parsed once (``wikihow_page.extract_page``, lxml); ids, the top-level category (LIMA's 19), dates
and de-duplication are Polars expressions over the extracted records. Pages that are not articles
(category, search, user and main pages, pages without steps, non-wikihow pages) are skipped and
counted in ``ScanStats``; unreadable pages raise ``CurationError`` unless ``skip_unreadable``.
With ``cache_dir`` the extracted records are kept as parquet per given path, so memory stays
flat on big crawls and a rebuild does not parse the pages again.

Rendering (``prompt_expr``, ``response_expr``, ``render``) is separate from scanning so a recipe
can change which sections it keeps without re-parsing: the prompt is the title plus "?", the
response Markdown is the intro, each method or part as a heading with numbered steps, then the
kept sections (``DEFAULT_SECTIONS``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl
from tqdm.auto import tqdm
from warcio.archiveiterator import ArchiveIterator

from curation.columns import CANONICAL, TIMESTAMP
from curation.errors import CurationError
from curation.fingerprint import fingerprint
from curation.sources.wikihow_page import (
    TOP_CATEGORIES,
    TOP_CATEGORY_KEYS,
    Skipped,
    UnreadablePage,
    extract_page,
    is_wikihow_url,
)

__all__ = [
    "DEFAULT_SECTIONS",
    "LICENSE",
    "RECORD_SCHEMA",
    "SECTIONS",
    "SOURCE",
    "SOURCE_COLUMNS",
    "TOP_CATEGORIES",
    "ScanStats",
    "prompt_expr",
    "render",
    "response_expr",
    "rewrite_opening",
    "scan",
    "scan_with_stats",
]

SOURCE = "wikihow"
#: wikiHow's text licence (https://www.wikihow.com/wikiHow:Creative-Commons).
LICENSE = "CC BY-NC-SA 3.0"

#: Optional sections a response may keep, in the order they are rendered (ingredients come
#: before the methods, as on the page; the rest after them).
SECTIONS: tuple[str, ...] = (
    "ingredients",
    "things_youll_need",
    "tips",
    "warnings",
    "qa",
    "references",
    "related",
)
#: Kept by default: what the page tells the reader to do (ingredients of a recipe, tips, warnings).
#: Pruned by default, as LIMA pruned "some sections": things you'll need (a checklist repeating
#: the steps), community Q&A (other authors, other questions), references (citations, URLs),
#: related articles (navigation); videos are never rendered (a video is a link, not text).
DEFAULT_SECTIONS: tuple[str, ...] = ("ingredients", "tips", "warnings")

_HTML_SUFFIXES = (".html", ".htm")
_WARC_SUFFIXES = (".warc", ".warc.gz")
_MAX_ERRORS_KEPT = 100
#: Bump when extraction changes, so cached records are rebuilt.
_CACHE_VERSION = 1

_STEP = pl.Struct({"headline": pl.String, "text": pl.String, "bullets": pl.List(pl.String)})
_METHOD = pl.Struct({"kind": pl.String, "title": pl.String, "steps": pl.List(_STEP)})

#: What ``extract_page`` returns per article, plus ``origin`` (input file, and WARC offset).
RECORD_SCHEMA: dict[str, pl.DataType] = {
    "title": pl.String(),
    "url": pl.String(),
    "article_id": pl.Int64(),
    "revision_id": pl.Int64(),
    "page_name": pl.String(),
    "language": pl.String(),
    "categories": pl.List(pl.String),
    "wg_categories": pl.List(pl.String),
    "date_modified": pl.String(),
    "date_published": pl.String(),
    "last_updated": pl.String(),
    "intro": pl.String(),
    "summary": pl.String(),
    "methods": pl.List(_METHOD),
    "tips": pl.List(pl.String),
    "warnings": pl.List(pl.String),
    "things_youll_need": pl.List(pl.String),
    "ingredients": pl.List(pl.Struct({"heading": pl.String, "items": pl.List(pl.String)})),
    "references": pl.List(pl.String),
    "qa": pl.List(pl.Struct({"question": pl.String, "answer": pl.String})),
    "related": pl.List(pl.String),
    "video": pl.String(),
    "origin": pl.String(),
}

#: Source columns after the canonical ones, in output order.
SOURCE_COLUMNS: tuple[str, ...] = (
    "title",
    "article_id",
    "revision_id",
    "page_name",
    "language",
    "categories",
    "top_category",
    "wg_categories",
    "published_at",
    "intro",
    "summary",
    "methods",
    "n_methods",
    "n_steps",
    "tips",
    "warnings",
    "things_youll_need",
    "ingredients",
    "references",
    "qa",
    "related",
    "video",
    "origin",
)


@dataclass
class ScanStats:
    """What a scan saw: pages read, articles kept, and pages skipped per reason.

    ``skipped`` reasons: ``not_article`` (category, search, user, special or main page),
    ``no_steps`` (an article view without a step list), ``not_wikihow`` (another site's page),
    ``not_html`` / ``http_status`` (WARC responses that are not a 200 HTML page), ``duplicate``
    (same article again; the newest revision is kept) and ``unreadable`` (only with
    ``skip_unreadable``; the messages are in ``errors``, first 100). WARC records that are not
    responses from a wikihow site are not pages: they are counted in ``warc_records_ignored``.
    ``cached`` counts the inputs whose extraction came from ``cache_dir``.
    """

    files: int = 0
    pages: int = 0
    articles: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    warc_records_ignored: int = 0
    errors: list[str] = field(default_factory=list)
    cached: int = 0
    #: (given path, its page files) per input, for ``inputs()``.
    sources: list[tuple[Path, list[Path]]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (sorted reasons, no paths) for manifests and cards."""
        return {
            "files": self.files,
            "pages": self.pages,
            "articles": self.articles,
            "skipped": dict(sorted(self.skipped.items())),
            "warc_records_ignored": self.warc_records_ignored,
            "errors": list(self.errors),
        }

    def inputs(self, cache_dir: str | Path | None = None) -> list[dict]:
        """``{name, bytes, fingerprint}`` per given path, for the manifest.

        A file is fingerprinted as is; a folder (thousands of pages) as one entry whose
        fingerprint hashes its files' relative names and content fingerprints, so the manifest
        stays small and still names the exact content. Memoised under ``cache_dir``.
        """
        found = []
        for given, files in self.sources:
            prints = [(f, fingerprint(f, Path(cache_dir) if cache_dir else None)) for f in files]
            if given.is_dir():
                digest = hashlib.blake2b(digest_size=20)
                for file, value in prints:
                    digest.update(f"{file.relative_to(given).as_posix()}\0{value}\n".encode())
                value = f"blake2b:{digest.hexdigest()}"
            else:
                value = prints[0][1]
            found.append({"name": given.name, "bytes": sum(f.stat().st_size for f in files), "fingerprint": value})
        return found


@dataclass
class _Part:
    """One given path's extraction: its records (in memory or cached parquet) and counts."""

    frames: list[pl.DataFrame]
    parquet: list[Path]
    files: int = 0
    pages: int = 0
    skipped: Counter = field(default_factory=Counter)
    warc_records_ignored: int = 0
    errors: list[str] = field(default_factory=list)
    cached: bool = False

    def frame(self) -> pl.LazyFrame:
        if self.parquet:
            return pl.scan_parquet(self.parquet, schema=RECORD_SCHEMA)
        if self.frames:
            return pl.concat(self.frames, how="vertical", rechunk=True).lazy()
        return pl.LazyFrame(schema=RECORD_SCHEMA)

    def counts(self) -> dict:
        return {"files": self.files, "pages": self.pages, "skipped": dict(self.skipped),
                "warc_records_ignored": self.warc_records_ignored, "errors": self.errors}  # fmt: skip


def scan(
    paths: str | Path | Iterable[str | Path],
    *,
    skip_unreadable: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = False,
    batch_size: int = 256,
) -> pl.LazyFrame:
    """Candidates (one row per article, sorted by ``id``); see ``scan_with_stats`` for the counts."""
    lf, _ = scan_with_stats(
        paths, skip_unreadable=skip_unreadable, cache_dir=cache_dir, progress=progress, batch_size=batch_size
    )
    return lf


def scan_with_stats(
    paths: str | Path | Iterable[str | Path],
    *,
    skip_unreadable: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = False,
    batch_size: int = 256,
) -> tuple[pl.LazyFrame, ScanStats]:
    """Parse every page once; return the candidates LazyFrame and the ``ScanStats``.

    Pages are parsed eagerly (so the counts are known and later collects are cheap) and only the
    extracted text is kept, never the HTML: in memory by default, or with ``cache_dir`` as parquet
    parts of ``batch_size`` records under ``<cache_dir>/wikihow/<key>/``, keyed by each given
    path's files (relative names, sizes, mtimes) and ``skip_unreadable``, so memory stays flat and
    a rebuild with other thresholds does not re-parse (a failed scan caches nothing).
    ``progress`` shows a page counter (tqdm) on stderr.

    Columns: the canonical ones, then ``SOURCE_COLUMNS``. ``id`` is ``wikihow/<article id>`` (or
    ``wikihow/<canonical URL path>`` without one); ``group`` = ``top_category``, one of LIMA's 19
    (from the breadcrumbs, else ``wgCategories``; null if none); ``created_at`` the revision's
    date (JSON-LD ``dateModified``, else the "Last Updated" byline; day precision);
    ``prompt``/``response`` are null until ``render``. ``methods`` is
    ``list[{kind: method|part|steps, title, steps: list[{headline, text, bullets}]}]``;
    ``ingredients`` ``list[{heading, items}]``; ``qa`` ``list[{question, answer}]``; ``video`` the
    embed URL; ``origin`` the file name relative to the given folder (``#offset`` in a WARC).

    Raises ``CurationError`` for a missing path, a folder without pages, and (unless
    ``skip_unreadable``) an unreadable page or corrupt WARC, naming the file and the offset.
    """
    inputs = _inputs(paths)
    stats = ScanStats(sources=inputs)
    counts: Counter[str] = Counter()
    frames = []
    with tqdm(unit="page", desc="wikihow pages", disable=not progress, leave=False) as bar:
        for given, files in inputs:
            part = _cached_part(given, files, skip_unreadable, cache_dir, batch_size, bar)
            frames.append(part.frame())
            stats.files += part.files
            stats.pages += part.pages
            stats.warc_records_ignored += part.warc_records_ignored
            stats.errors.extend(part.errors[: _MAX_ERRORS_KEPT - len(stats.errors)])
            stats.cached += part.cached
            counts.update(part.skipped)
    lf = _candidates(pl.concat(frames, how="vertical"))
    total, unique = lf.select(pl.len(), pl.col("id").n_unique()).collect().row(0)
    if total > unique:
        counts["duplicate"] += total - unique
    stats.articles = unique
    stats.skipped = dict(sorted(counts.items()))
    return _dedupe(lf), stats


# --- inputs ---------------------------------------------------------------------------------


def _inputs(paths: str | Path | Iterable[str | Path]) -> list[tuple[Path, list[Path]]]:
    """(given path, its page files in a stable order) per given path."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[tuple[Path, list[Path]]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(
                (p for p in path.rglob("*") if p.is_file() and _is_page_file(p)),
                key=lambda p: p.relative_to(path).as_posix(),
            )
            if not files:
                raise CurationError("no .html, .htm, .warc or .warc.gz files in this folder", path=path)
            found.append((path, files))
        elif path.is_file():
            found.append((path, [path]))
        else:
            raise CurationError("no such file or folder", path=path)
    if not found:
        raise CurationError("no input paths given")
    return found


def _cached_part(given: Path, files: list[Path], skip: bool, cache_dir, batch_size: int, bar) -> _Part:
    """One given path's part: read back from the cache when complete, else extracted (and cached).

    The cache folder is written under a temporary name and renamed into place when complete.
    """
    if cache_dir is None:
        return _extract(given, files, skip, None, batch_size, bar)
    root = Path(cache_dir) / SOURCE
    folder = root / _cache_key(given, files, skip)
    done = folder / "stats.json"
    if done.is_file():
        counts = json.loads(done.read_text(encoding="utf-8"))
        bar.update(counts["pages"])
        return _Part([], sorted(folder.glob("part-*.parquet")), files=counts["files"], pages=counts["pages"],
                     skipped=Counter(counts["skipped"]), warc_records_ignored=counts["warc_records_ignored"],
                     errors=counts["errors"], cached=True)  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp-", dir=root))
    try:
        part = _extract(given, files, skip, temp, batch_size, bar)
        (temp / "stats.json").write_text(json.dumps(part.counts(), sort_keys=True), encoding="utf-8")
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    try:
        os.replace(temp, folder)
    except OSError:  # another process cached the same input meanwhile: same key, same records
        shutil.rmtree(temp, ignore_errors=True)
    part.parquet = [folder / p.name for p in part.parquet]
    return part


def _cache_key(given: Path, files: list[Path], skip: bool) -> str:
    """Names one given path's records: its files' relative names, sizes, mtimes, and the options."""
    identity = hashlib.sha256(f"{_CACHE_VERSION}|{given.resolve()}|{skip}".encode())
    for file in files:
        status = file.stat()
        name = file.relative_to(given).as_posix() if file != given else ""
        identity.update(f"|{name}|{status.st_size}|{status.st_mtime_ns}".encode())
    return f"{given.name}-{identity.hexdigest()[:20]}"


def _extract(given: Path, files: list[Path], skip: bool, out: Path | None, batch_size: int, bar) -> _Part:
    """Parse every page of one given path into record batches (``out``: parquet parts there)."""
    part = _Part([], [])
    rows: list[dict] = []

    def flush() -> None:
        if not rows:
            return
        frame = pl.from_dicts(rows, schema=RECORD_SCHEMA)
        rows.clear()
        if out is None:
            part.frames.append(frame)
        else:
            part.parquet.append(out / f"part-{len(part.parquet):05d}.parquet")
            frame.write_parquet(part.parquet[-1])

    for path in files:
        origin = path.relative_to(given).as_posix() if path != given else path.name
        part.files += 1
        pages = _warc_pages(path, origin, part) if _is_warc(path) else [_file_page(path, origin)]
        for page in pages:
            part.pages += 1
            bar.update(1)
            result = page.outcome
            if result is None:
                try:
                    result = extract_page(page.data, charset=page.charset, url=page.url)
                except UnreadablePage as error:
                    result = error
            if isinstance(result, UnreadablePage):
                message = f"unreadable wikiHow page: {result}"
                if not skip:
                    raise CurationError(message, path=path, position=page.position) from None
                if len(part.errors) < _MAX_ERRORS_KEPT:  # relative names keep manifests portable
                    part.errors.append(str(CurationError(message, path=origin, position=page.position)))
                result = Skipped("unreadable", str(result))
            if isinstance(result, Skipped):
                part.skipped[result.reason] += 1
                continue
            result["origin"] = page.origin
            rows.append(result)
            if len(rows) >= batch_size:
                flush()
    flush()
    return part


def _is_warc(path: Path) -> bool:
    return path.name.lower().endswith(_WARC_SUFFIXES)


def _is_page_file(path: Path) -> bool:
    return path.name.lower().endswith(_HTML_SUFFIXES) or _is_warc(path)


@dataclass(frozen=True)
class _Page:
    """One page to extract, or what is already known about it (skipped, unreadable)."""

    origin: str
    position: str | None = None
    url: str | None = None
    charset: str | None = None
    data: bytes = b""
    outcome: Skipped | UnreadablePage | None = None


def _file_page(path: Path, origin: str) -> _Page:
    try:
        return _Page(origin, data=path.read_bytes())
    except OSError as error:
        return _Page(origin, outcome=UnreadablePage(f"cannot read the file: {error.strerror}"))


def _warc_pages(path: Path, origin: str, part: _Part) -> Iterator[_Page]:
    """One ``_Page`` per response record from a wikihow site (other records are only counted).

    A damaged container (bad gzip member, unparsable record, not a WARC at all) ends the file
    with one unreadable page positioned after the last good record.
    """
    offset: int | None = None
    with path.open("rb") as handle:
        records = ArchiveIterator(handle)
        iterator = iter(records)
        while True:
            try:
                record = next(iterator)
            except StopIteration:
                return
            except Exception as error:  # warcio raises many types for a damaged archive
                problem = _short(error)
            else:  # warcio's lenient ARC fallback turns any junk line into an "arc" record
                problem = None if record.format == "warc" else "no WARC record header"
            if problem is not None:
                where = "byte 0" if offset is None else f"after the record at byte {offset}"
                yield _Page(origin, where, outcome=UnreadablePage(f"corrupt or not a WARC file: {problem}"))
                return
            # The record's start offset. (``get_record_offset()`` would read the record to its end
            # first, leaving nothing for ``content_stream()``; warcio keeps the start in ``offset``.)
            offset = records.offset
            uri = record.rec_headers.get_header("WARC-Target-URI") or ""
            if record.rec_type != "response" or not is_wikihow_url(uri) or record.http_headers is None:
                part.warc_records_ignored += 1
                continue
            page = _Page(f"{origin}#{offset}", f"record at byte {offset}", uri)
            status = record.http_headers.get_statuscode()
            content_type = (record.http_headers.get_header("Content-Type") or "").lower()
            if status != "200":
                yield replace(page, outcome=Skipped("http_status", f"HTTP {status}"))
            elif "html" not in content_type:
                yield replace(page, outcome=Skipped("not_html", content_type or "no content type"))
            else:
                try:
                    data = record.content_stream().read()
                except Exception as error:  # content-encoding / chunking damage
                    yield replace(page, outcome=UnreadablePage(f"unreadable HTTP payload: {_short(error)}"))
                    continue
                yield replace(page, charset=_charset(content_type), data=data)


def _short(error: Exception, limit: int = 120) -> str:
    """One short line of a library's error text (warcio quotes whole binary lines)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key == "charset" and value:
            return value.strip("\"' ")
    return None


# --- columnar part --------------------------------------------------------------------------


def _category_key(expr: pl.Expr) -> pl.Expr:
    """Polars twin of ``wikihow_page.category_key``."""
    return (
        expr.str.replace_all("&", " and ", literal=True)
        .str.replace_all(r"[-_\s]+", " ")
        .str.to_lowercase()
        .str.strip_chars()
    )


def _top_category(column: str) -> pl.Expr:
    key = _category_key(pl.element())
    mapped = key.replace_strict(TOP_CATEGORY_KEYS, default=None, return_dtype=pl.String)
    return pl.col(column).list.eval(mapped).list.drop_nulls().list.first()


def _iso_date(column: str) -> pl.Expr:
    """JSON-LD dates ("2020-07-31", or a full ISO timestamp: its day)."""
    return pl.col(column).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def _candidates(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Canonical columns and derived source columns, all as expressions over the records."""
    slug = pl.col("url").str.extract(r"^[^:/]+://[^/]+/([^?#]+)", 1)
    top = pl.coalesce(_top_category("categories"), _top_category("wg_categories"))
    byline = pl.col("last_updated").str.to_date("%B %d, %Y", strict=False)  # "July 31, 2020"
    modified = pl.coalesce(_iso_date("date_modified"), byline)
    step_counts = pl.col("methods").list.eval(pl.element().struct.field("steps").list.len())
    return lf.with_columns(
        id=pl.concat_str(pl.lit(f"{SOURCE}/"), pl.coalesce(pl.col("article_id").cast(pl.String), slug)),
        source=pl.lit(SOURCE),
        top_category=top,
        group=top,
        prompt=pl.lit(None, pl.String),
        response=pl.lit(None, pl.String),
        license=pl.lit(LICENSE),
        created_at=modified.cast(TIMESTAMP),
        published_at=_iso_date("date_published").cast(TIMESTAMP),
        n_methods=pl.col("methods").list.len(),
        n_steps=step_counts.list.sum().cast(pl.UInt32),
    ).select(*CANONICAL, *SOURCE_COLUMNS)


def _dedupe(lf: pl.LazyFrame) -> pl.LazyFrame:
    """One row per id: the newest revision wins, then the smallest origin (stable, order-free)."""
    return (
        lf.sort(["id", "revision_id", "origin"], descending=[False, True, False], nulls_last=True)
        .unique(subset="id", keep="first", maintain_order=True)
    )


# --- rendering ------------------------------------------------------------------------------


def prompt_expr(title: str | pl.Expr = "title") -> pl.Expr:
    """The title as a question: "How to Grill Fish" -> "How to Grill Fish?"."""
    title = pl.col(title) if isinstance(title, str) else title
    title = title.str.strip_chars()
    return pl.when(title.str.ends_with("?")).then(title).otherwise(title + "?")


def rewrite_opening(text: str | pl.Expr = "intro") -> pl.Expr:
    """"This article/wikiHow ..." -> "The following answer ..." (LIMA's rewrite); "this article"
    inside a sentence becomes "the following answer"."""
    text = pl.col(text) if isinstance(text, str) else text
    subject = r"(?:wikiHow article|article|wikiHow)\b"
    return text.str.replace_all(rf"\bThis {subject}", "The following answer").str.replace_all(
        rf"\bthis {subject}", "the following answer"
    )


def _bullet_list(items: pl.Expr, marker: str = "- ") -> pl.Expr:
    return items.list.eval(pl.lit(marker) + pl.element()).list.join("\n")


def _numbered_list(items: pl.Expr) -> pl.Expr:
    return items.list.eval(pl.format("{}. {}", pl.int_range(1, pl.len() + 1), pl.element())).list.join("\n")


def _non_empty(items: pl.Expr, rendered: pl.Expr) -> pl.Expr:
    return pl.when(items.list.len() > 0).then(rendered)


def _section(column: str, heading: str, body: pl.Expr) -> pl.Expr:
    return _non_empty(pl.col(column), pl.concat_str(pl.lit(f"## {heading}\n\n"), body))


def _methods_markdown() -> pl.Expr:
    """Each method/part: "## Method 2: Fillets", then "1. **Headline** text" with sub-bullets."""
    step = pl.element()
    headline, text = step.struct.field("headline"), step.struct.field("text")
    bullets = step.struct.field("bullets")
    line = pl.concat_str(
        pl.format("{}.", pl.int_range(1, pl.len() + 1)),
        pl.when(headline != "").then(pl.concat_str(pl.lit("**"), headline, pl.lit("**"))),
        pl.when(text != "").then(text),
        separator=" ",
        ignore_nulls=True,
    )
    sub_bullets = pl.when(bullets.list.len() > 0).then(_bullet_list(bullets, "   - "))
    step_md = pl.concat_str(line, sub_bullets, separator="\n", ignore_nulls=True)
    method = pl.element()
    kind, title = method.struct.field("kind"), method.struct.field("title")
    number = pl.int_range(1, pl.len() + 1).cast(pl.String)
    label = pl.when(kind == "method").then(pl.lit("Method ")).when(kind == "part").then(pl.lit("Part "))
    titled = pl.when(title.is_not_null()).then(": " + title)
    heading = (
        pl.when(label.is_not_null())
        .then(pl.concat_str(pl.lit("## "), label, number, titled, ignore_nulls=True))
        .otherwise(pl.lit("## ") + title)  # null (no heading) for an untitled step list
    )
    steps = method.struct.field("steps").list.eval(step_md).list.join("\n")
    block = pl.concat_str(heading, steps, separator="\n\n", ignore_nulls=True)
    return pl.col("methods").list.eval(block).list.join("\n\n")


def _ingredients_markdown() -> pl.Expr:
    group = pl.element()
    heading = group.struct.field("heading")
    block = pl.concat_str(
        pl.concat_str(pl.lit("**"), heading, pl.lit("**")),
        _bullet_list(group.struct.field("items")),
        separator="\n",
        ignore_nulls=True,
    )
    return _section("ingredients", "Ingredients", pl.col("ingredients").list.eval(block).list.join("\n\n"))


def _qa_markdown() -> pl.Expr:
    pair = pl.element()
    block = pl.concat_str(
        pl.lit("**"), pair.struct.field("question"), pl.lit("**\n\n"), pair.struct.field("answer")
    )
    return _section("qa", "Questions and Answers", pl.col("qa").list.eval(block).list.join("\n\n"))


def _list_markdown(column: str, heading: str, numbered: bool = False):
    items = pl.col(column)
    return lambda: _section(column, heading, _numbered_list(items) if numbered else _bullet_list(items))


_SECTION_MARKDOWN = {
    "ingredients": _ingredients_markdown,
    "things_youll_need": _list_markdown("things_youll_need", "Things You'll Need"),
    "tips": _list_markdown("tips", "Tips"),
    "warnings": _list_markdown("warnings", "Warnings"),
    "qa": _qa_markdown,
    "references": _list_markdown("references", "References", numbered=True),
    "related": _list_markdown("related", "Related Articles"),
}


def response_expr(sections: Iterable[str] = DEFAULT_SECTIONS) -> pl.Expr:
    """The Markdown answer: intro ("This article" rewritten), ingredients, the methods with
    numbered steps, then the other kept ``sections`` (any of ``SECTIONS``) in ``SECTIONS`` order.

    The columns hold plain text already (links reduced to their words; images, captions, videos,
    scripts and ads dropped at extraction), so rendering is pure string assembly.
    """
    kept = set(sections)
    unknown = kept - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown wikiHow sections {sorted(unknown)}; choose from {list(SECTIONS)}")
    parts = [pl.when(pl.col("intro") != "").then(rewrite_opening("intro"))]
    if "ingredients" in kept:
        parts.append(_ingredients_markdown())
    parts.append(pl.when(pl.col("methods").list.len() > 0).then(_methods_markdown()))
    parts.extend(_SECTION_MARKDOWN[name]() for name in SECTIONS if name in kept and name != "ingredients")
    return pl.concat_str(parts, separator="\n\n", ignore_nulls=True).str.strip_chars()


def render(lf: pl.LazyFrame, sections: Iterable[str] = DEFAULT_SECTIONS) -> pl.LazyFrame:
    """Set ``prompt`` (title + "?") and ``response`` (Markdown of the kept ``sections``)."""
    return lf.with_columns(prompt=prompt_expr(), response=response_expr(sections))
