"""The dataset card: Hub YAML metadata plus a body that shows exactly what was kept and why.

Everything is rendered from the version's manifest (``curation.json``, see docs/dataset-format.md)
and the rows themselves, never from wall-clock time or paths, so the same inputs give a
byte-identical ``README.md``. Text that comes from the data (titles, prompts, author names, URLs)
is escaped, so a pipe, back-tick or HTML tag in a Stack Exchange post cannot break a table or
inject markup; text the recipe author wrote (``description``, ``notes``, ``limitations``) is
Markdown on purpose and kept as is.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl
from huggingface_hub import DatasetCard
from huggingface_hub.utils import yaml_dump

from curation import __version__
from curation.cards.figures import Histogram, write_histograms
from curation.errors import CurationError

MANIFEST_NAME = "curation.json"

LIMA_BIBTEX = """@article{zhou2023lima,
  title   = {{LIMA}: Less Is More for Alignment},
  author  = {Zhou, Chunting and Liu, Pengfei and Xu, Puxin and Iyer, Srini and Sun, Jiao and
             Mao, Yuning and Ma, Xuezhe and Efrat, Avia and Yu, Ping and Yu, Lili and
             Zhang, Susan and Ghosh, Gargi and Lewis, Mike and Zettlemoyer, Luke and Levy, Omer},
  journal = {arXiv preprint arXiv:2305.11206},
  year    = {2023},
  url     = {https://arxiv.org/abs/2305.11206}
}"""

#: Licence identifiers the Hub accepts in `license:` (hub-docs, repositories-licenses.md).
#: Anything else must be `other` with `license_name` / `license_link`, or the Hub rejects the card.
HUB_LICENSES = frozenset(
    """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear
    c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
    cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0
    cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl
    ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1
    lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa
    unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 gemma unknown other""".split()
)

#: Licences that are not on the Hub list but are known by name: slug and where to read them.
_KNOWN_OTHER = {
    "reddit user agreement": (
        "reddit-user-agreement",
        "https://www.redditinc.com/policies/user-agreement",
    ),
}

_CC = re.compile(r"^cc[\s_-]*(by(?:[\s_-]+(?:nc|nd|sa))*)[\s_-]+v?(\d(?:\.\d)?)$", re.IGNORECASE)
_CC0 = re.compile(r"^cc[\s_-]*0(?:[\s_-]+v?1\.0)?$", re.IGNORECASE)

#: Hub size buckets, (upper bound exclusive, label).
_SIZE_BUCKETS = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)

#: What each source is and who wrote it: the attribution the licences ask for.
_ORIGINS = {
    "stackexchange": (
        "Questions and answers from the [Stack Exchange data dump](https://archive.org/details/stackexchange), "
        "written by Stack Exchange users. User contributions are licensed under CC BY-SA (2.5, 3.0 or 4.0 "
        "depending on when they were posted; each row keeps its own in `license`). Stack Exchange asks "
        "re-users to link each question and to name and link its authors: the table below and the `url` "
        "and author columns of every row do so."
    ),
    "reddit": (
        "Submissions and comments from Reddit, via the Pushshift dumps distributed for research. "
        "The text belongs to its authors under Reddit's [User Agreement](https://www.redditinc.com/policies/user-agreement); "
        "each row links its thread (`url`) and names its author."
    ),
    "wikihow": (
        "Articles from [wikiHow](https://www.wikihow.com), written by the wikiHow community and licensed "
        "CC BY-NC-SA 3.0 (non-commercial use only); each row links its article (`url`)."
    ),
    "kocot": (
        "Korean chain-of-thought items from [kyujinpy/KoCoT_2000](https://huggingface.co/datasets/kyujinpy/KoCoT_2000), "
        "a DeepL translation of part of [kaist-ai/CoT-Collection](https://huggingface.co/datasets/kaist-ai/CoT-Collection); "
        "cc-by-nc-4.0 (non-commercial use only)."
    ),
}

#: Hub `source_datasets` for sources derived from a Hub dataset; dumps of the web are "original".
_SOURCE_DATASETS = {"kocot": ["kyujinpy/KoCoT_2000"]}
_DEFAULT_LANGUAGE = {"kocot": "ko"}
_LANGUAGE_CREATORS = {"kocot": ["machine-generated"]}

_DEFAULT_LIMITATIONS = (
    "Rows were chosen by the automatic steps listed under *Recipe*; nobody read them before "
    "publication, whereas LIMA's authors also judged some criteria by hand.",
    "The text is written by members of an online community: it can be wrong, outdated, biased or "
    "offensive, and community scores measure popularity, not correctness.",
)

#: Data text -> Markdown that renders as that literal text, in one pass (order-independent).
_MD_ESCAPES = {
    "\\": "\\\\",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "]": "\\]",
    "|": "\\|",
    "~": "\\~",
    "#": "\\#",
    "$": "\\$",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
}
_MD_TABLE = str.maketrans(_MD_ESCAPES)
#: Characters that would end or confuse a Markdown link destination, percent-encoded.
_URL_ESCAPES = {
    " ": "%20",
    "(": "%28",
    ")": "%29",
    "<": "%3C",
    ">": "%3E",
    "|": "%7C",
    "`": "%60",
    "\\": "%5C",
    '"': "%22",
}
_URL_TABLE = str.maketrans(_URL_ESCAPES)
_WS = re.compile(r"\s+")
_ELLIPSIS = "…"

#: Author columns: `author`, `comment_author`, `question_owner_name`, `answer_owner_display_name`…
_AUTHOR_COLUMN = re.compile(r"^(?:(.+)_)?(author|owner_name|owner_display_name)$")

_SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}


# --------------------------------------------------------------------------------------------
# Markdown escaping, as plain functions (single values) and as Polars expressions (columns)


def md_text(value: object, limit: int | None = None) -> str:
    """``value`` as inline Markdown that shows the literal text: one line, escaped, cut at ``limit``."""
    text = _WS.sub(" ", "" if value is None else str(value)).strip()
    if limit is not None and len(text) > limit:
        text = text[:limit].rstrip() + _ELLIPSIS
    return text.translate(_MD_TABLE)


def _md_expr(expr: pl.Expr, limit: int | None = None) -> pl.Expr:
    """Column version of :func:`md_text` (same escapes), so table cells are built columnar."""
    text = expr.cast(pl.String).str.replace_all(r"\s+", " ").str.strip_chars()
    if limit is not None:
        text = (
            pl.when(text.str.len_chars() > limit)
            .then(text.str.slice(0, limit).str.strip_chars_end() + pl.lit(_ELLIPSIS))
            .otherwise(text)
        )
    return text.str.replace_many(list(_MD_ESCAPES), list(_MD_ESCAPES.values()))


def _safe_url(url: object) -> str | None:
    """An http(s) URL usable as a link destination, or None (no javascript: or relative links)."""
    if not isinstance(url, str) or not re.match(r"^https?://\S", url.strip(), re.IGNORECASE):
        return None
    return url.strip().translate(_URL_TABLE)


def _url_expr(expr: pl.Expr) -> pl.Expr:
    """Column version of :func:`_safe_url`: null unless http(s)."""
    url = expr.cast(pl.String).str.strip_chars()
    return (
        pl.when(url.str.contains(r"(?i)^https?://\S"))
        .then(url.str.replace_many(list(_URL_ESCAPES), list(_URL_ESCAPES.values())))
        .otherwise(None)
    )


def _link_expr(text_md: pl.Expr, url: pl.Expr) -> pl.Expr:
    """``[text](url)`` where the URL is a safe http(s) one, else the text alone."""
    safe = _url_expr(url)
    return pl.when(safe.is_not_null()).then(pl.format("[{}]({})", text_md, safe)).otherwise(text_md)


def _fence(text: str, lang: str = "text") -> list[str]:
    """A fenced block that no back-tick run inside ``text`` can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{lang}", text, fence]


def _table(
    header: list[str], rows: Iterable[Iterable[str]], right: Iterable[int] = ()
) -> list[str]:
    """A GitHub-flavoured Markdown table; cells must already be escaped; ``right`` = numeric columns."""
    right = set(right)
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _n(value: int | float | None) -> str:
    """A count with thousands separators."""
    return "" if value is None else f"{value:,}"


def _pct(part: float, whole: float) -> str:
    return "" if not whole else f"{100.0 * part / whole:.1f} %"


def _num(value: float | str) -> str:
    """A statistic: integral values without decimals, others with two; a label (e.g. ``fr``) as is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str):
        return md_text(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _json(value: object) -> str:
    """Compact, key-sorted JSON of a recipe value (strings stay bare)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


# --------------------------------------------------------------------------------------------
# Metadata


def classify_license(value: str | None) -> tuple[str, str | None, str | None]:
    """A row licence -> (Hub id or ``other``/``unknown``, slug name, link to its text).

    ``CC BY-SA 4.0`` -> ``cc-by-sa-4.0``; ``CC BY-SA 2.5`` is not on the Hub's list, so it is
    ``other`` named ``cc-by-sa-2.5``; a missing licence is ``unknown``.
    """
    text = "" if value is None else _WS.sub(" ", str(value)).strip()
    if not text:
        return "unknown", None, None
    if _CC0.match(text):
        return "cc0-1.0", None, "https://creativecommons.org/publicdomain/zero/1.0/"
    match = _CC.match(text)
    if match:
        parts = "-".join(re.split(r"[\s_-]+", match.group(1).lower()))
        version = match.group(2) if "." in match.group(2) else match.group(2) + ".0"
        slug = f"cc-{parts}-{version}"
        link = f"https://creativecommons.org/licenses/{parts}/{version}/"
        return (slug, None, link) if slug in HUB_LICENSES else ("other", slug, link)
    lowered = text.lower()
    if lowered in HUB_LICENSES:
        return lowered, None, None
    for known, (slug, link) in _KNOWN_OTHER.items():
        if lowered.startswith(known):  # "Reddit User Agreement (Pushshift research dump)"
            return "other", slug, link
    slug = re.sub(r"[^a-z0-9.]+", "-", lowered).strip("-.") or "custom"
    return "other", slug, None


def license_rollup(counts: Mapping[str | None, int]) -> dict[str, Any]:
    """Row licence -> row count, rolled up into the Hub's ``license`` (+ ``license_name``/``_link``).

    One licence gives a string, several a list, most rows first. Licences the Hub does not list
    become ``other``; the Hub takes one ``license_name``/``license_link``, so several such
    licences share a combined name and link to this card, whose Licence section lists them all.
    """
    totals: dict[str, int] = {}
    others: dict[str, str | None] = {}
    for value, n in counts.items():
        hub_id, name, link = classify_license(value)
        totals[hub_id] = totals.get(hub_id, 0) + int(n)
        if hub_id == "other":
            others[name] = link
    ids = sorted(totals, key=lambda k: (-totals[k], k)) or ["unknown"]
    out: dict[str, Any] = {"license": ids[0] if len(ids) == 1 else ids}
    if others:
        names = sorted(others)
        out["license_name"] = names[0] if len(names) == 1 else "-and-".join(names)
        single_link = others[names[0]] if len(names) == 1 else None
        out["license_link"] = single_link or "README.md"
    return out


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` rows."""
    for bound, label in _SIZE_BUCKETS:
        if n < bound:
            return label
    return "n>1T"


def _languages(manifest: Mapping[str, Any], source: str) -> list[str]:
    """ISO codes from the recipe (a ``language``/``languages`` key, top level first), else a default."""

    def valid(value: object) -> list[str]:
        items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        return [v for v in items if isinstance(v, str) and re.fullmatch(r"[a-z]{2,3}", v)]

    def search(node: object) -> list[str]:
        if isinstance(node, dict):
            for key in ("language", "languages"):
                if key in node and valid(node[key]):
                    return valid(node[key])
            for child in node.values():
                found = search(child)
                if found:
                    return found
        elif isinstance(node, list):
            for child in node:
                found = search(child)
                if found:
                    return found
        return []

    found = search(manifest.get("recipe") or {})
    return list(dict.fromkeys(found)) or [_DEFAULT_LANGUAGE.get(source, "en")]


def _splits(manifest: Mapping[str, Any], n_rows: int) -> dict[str, int]:
    splits = manifest.get("splits") or {"train": n_rows}
    return {k: int(splits[k]) for k in sorted(splits, key=lambda s: (_SPLIT_ORDER.get(s, 9), s))}


def card_metadata(
    manifest: Mapping[str, Any], kept: pl.DataFrame, *, pretty_name: str | None = None
) -> dict[str, Any]:
    """The card's YAML metadata as a plain dict, in the order it is written."""
    source = _source(manifest, kept)
    languages = _languages(manifest, source)
    splits = _splits(manifest, kept.height)
    if "license" in kept.columns:
        counts = dict(kept.group_by("license").len().iter_rows())
    else:
        counts = {None: kept.height}
    data: dict[str, Any] = {"pretty_name": pretty_name or _pretty_name(manifest)}
    data.update(license_rollup(counts))
    data["language"] = languages
    data["multilinguality"] = ["monolingual" if len(languages) == 1 else "multilingual"]
    data["task_categories"] = ["text-generation"]
    data["task_ids"] = ["dialogue-modeling"]
    data["size_categories"] = [size_category(sum(splits.values()))]
    data["source_datasets"] = _SOURCE_DATASETS.get(source, ["original"])
    data["annotations_creators"] = ["no-annotation"]
    data["language_creators"] = _LANGUAGE_CREATORS.get(source, ["found"])
    data["tags"] = ["lima", "instruction-tuning", "curation"] + ([source] if source else [])
    data["configs"] = [
        {
            "config_name": "default",
            "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits],
        }
    ]
    return data


def _pretty_name(manifest: Mapping[str, Any]) -> str:
    return f"{manifest['name']} {manifest['version']}"


def _source(manifest: Mapping[str, Any], kept: pl.DataFrame) -> str:
    source = manifest.get("source")
    if isinstance(source, str) and source:
        return source
    if "source" in kept.columns:
        values = sorted(v for v in kept.get_column("source").unique().to_list() if v)
        return "+".join(values)
    return ""


# --------------------------------------------------------------------------------------------
# Validation


def _check_manifest(manifest: object, where: Path) -> None:
    """The manifest keys the card needs, and the funnel invariant; else one clear CurationError."""
    if not isinstance(manifest, Mapping):
        raise CurationError("manifest is not a JSON object", path=where)
    for key in ("name", "version", "funnel"):
        if key not in manifest:
            raise CurationError(f"manifest lacks the key {key!r}", path=where)
    funnel = manifest["funnel"]
    if not isinstance(funnel, Mapping):
        raise CurationError("'funnel' is not an object", path=where, position="funnel")
    for key in ("candidates", "kept", "steps"):
        if key not in funnel:
            raise CurationError(f"funnel lacks the key {key!r}", path=where, position="funnel")
    for key in ("candidates", "kept"):
        if not isinstance(funnel[key], int) or isinstance(funnel[key], bool) or funnel[key] < 0:
            raise CurationError(
                f"'{key}' must be a whole number >= 0", path=where, position=f"funnel.{key}"
            )
    if not isinstance(funnel["steps"], list):
        raise CurationError("'steps' is not a list", path=where, position="funnel.steps")
    for i, step in enumerate(funnel["steps"]):
        position = f"funnel.steps[{i}]"
        if not isinstance(step, Mapping):
            raise CurationError("step is not an object", path=where, position=position)
        for key in ("name", "rows_in", "rows_out"):
            if key not in step:
                raise CurationError(f"step lacks the key {key!r}", path=where, position=position)
        dropped = step.get("dropped") or {}
        if not isinstance(dropped, Mapping):
            raise CurationError("'dropped' is not an object", path=where, position=position)
        counts = [step["rows_in"], step["rows_out"], *dropped.values()]
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise CurationError(
                "row counts must be whole numbers >= 0", path=where, position=position
            )
        if step["rows_in"] - step["rows_out"] != sum(dropped.values()):
            raise CurationError(
                f"step {step['name']!r}: rows_in - rows_out = {step['rows_in'] - step['rows_out']} "
                f"but its drops add up to {sum(dropped.values())}",
                path=where,
                position=position,
            )


# --------------------------------------------------------------------------------------------
# Body sections


def _summary(
    manifest: Mapping[str, Any], kept: pl.DataFrame, source: str, repo_id: str | None
) -> list[str]:
    funnel = manifest["funnel"]
    splits = _splits(manifest, kept.height)
    rows = [
        ("name", md_text(manifest["name"])),
        ("version", md_text(manifest["version"])),
        ("source", md_text(source)),
        (
            "rows",
            f"{_n(funnel['kept'])} kept of {_n(funnel['candidates'])} candidates "
            f"({_pct(funnel['kept'], funnel['candidates'])})",
        ),
        ("splits", ", ".join(f"{md_text(k)}: {_n(v)}" for k, v in splits.items())),
    ]
    if "created_at" in kept.columns and kept.height:
        first, last = kept.select(
            pl.col("created_at").min().alias("a"), pl.col("created_at").max().alias("b")
        ).row(0)
        if first is not None:
            rows.append(("written", f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"))
    if "seed" in manifest:
        rows.append(("seed", md_text(manifest["seed"])))
    rows.append(("recipe hash", md_text(manifest.get("recipe_hash", ""))))
    rows.append(("content hash", md_text(manifest.get("content_hash", ""))))
    if manifest.get("created_by"):
        rows.append(("built by", md_text(manifest["created_by"])))
    for key, value in sorted((manifest.get("format") or {}).items()):
        rows.append((f"format: {md_text(key)}", md_text(_json(value))))
    lines = ["## Summary", ""] + _table(["field", "value"], rows) + [""]

    if "group" in kept.columns and kept.height:
        per_group = (
            kept.group_by("group")
            .len()
            .sort(["len", "group"], descending=[True, False], nulls_last=True)
        )
        shown = per_group.head(25)
        lines += ["### Rows per group", ""]
        body = [
            (md_text(g if g is not None else "(none)"), _n(n), _pct(n, kept.height))
            for g, n in shown.iter_rows()
        ]
        if per_group.height > shown.height:
            rest = per_group.tail(per_group.height - shown.height)
            body.append(
                (
                    f"*{_n(rest.height)} other groups*",
                    _n(int(rest["len"].sum())),
                    _pct(rest["len"].sum(), kept.height),
                )
            )
        lines += _table(["group", "rows", "share"], body, right=[1, 2]) + [""]

    target = repo_id or f"<namespace>/{manifest['name']}"
    lines += ["## How to load", ""]
    lines += _fence(
        "from datasets import load_dataset\n\n"
        f"# from the Hub, at this version's tag\n"
        f'ds = load_dataset("{target}", revision="{manifest["version"]}")\n'
        "# or from the version folder on disk\n"
        f'ds = load_dataset("path/to/{manifest["name"]}/{manifest["version"]}")',
        "python",
    )
    if not repo_id:
        lines.append("")
        lines.append("Replace `<namespace>` with the Hub account or organisation it was pushed to.")
    lines.append("")
    return lines


def _authors(kept: pl.DataFrame) -> tuple[list[str], pl.Expr | None]:
    """Author columns found, and one expression giving each row's authors (linked where possible)."""
    parts: list[pl.Expr] = []
    columns: list[str] = []
    for name in kept.columns:
        match = _AUTHOR_COLUMN.match(name)
        if not match or kept.schema[name] != pl.String:
            continue
        columns.append(name)
        role = match.group(1)
        label = (role.replace("_", " ") + ": ") if role else ""
        shown = _md_expr(pl.col(name), 80)
        id_col = f"{role}_owner_id" if role else "owner_id"
        if "site" in kept.columns and id_col in kept.columns:
            columns.append(id_col)
            site = pl.col("site").cast(pl.String)
            base = pl.when(site.str.contains("://")).then(site).otherwise(pl.lit("https://") + site)
            profile = base + pl.lit("/users/") + pl.col(id_col).cast(pl.String)
            shown = (
                pl.when(pl.col(name).is_null() & pl.col(id_col).is_not_null())
                .then(pl.lit("user ") + pl.col(id_col).cast(pl.String))
                .otherwise(shown)
            )
            shown = (
                pl.when(pl.col(id_col).is_not_null())
                .then(_link_expr(shown, profile))
                .otherwise(shown)
            )
        parts.append(pl.lit(label) + shown.fill_null("(unknown)"))
    if not parts:
        return columns, None
    return columns, pl.concat_str(parts, separator="<br>", ignore_nulls=True)


def _sources(
    manifest: Mapping[str, Any], kept: pl.DataFrame, source: str, max_rows: int
) -> list[str]:
    lines = ["## Sources and attribution", ""]
    for name in source.split("+") if source else []:
        if name in _ORIGINS:
            lines += [_ORIGINS[name], ""]
    inputs = manifest.get("inputs") or []
    if inputs:
        lines += ["### Input files", ""]
        lines += _table(
            ["file", "bytes", "fingerprint"],
            (
                (md_text(i.get("name")), _n(i.get("bytes")), md_text(i.get("fingerprint")))
                for i in inputs
            ),
            right=[1],
        )
        lines.append("")

    lines += ["### Licence", ""]
    if "license" in kept.columns:
        per = (
            kept.group_by("license")
            .len()
            .sort(["len", "license"], descending=[True, False], nulls_last=True)
        )
        body = []
        for value, n in per.iter_rows():
            hub_id, name, link = classify_license(value)
            shown_id = hub_id if hub_id != "other" else f"other ({name})"
            text = f"[{md_text(value)}]({_safe_url(link)})" if link else md_text(value or "(none)")
            body.append((text, _n(n), md_text(shown_id)))
        lines += _table(["licence", "rows", "Hub id"], body, right=[1]) + [""]
        lines.append(
            "Each row keeps the licence of its original in the `license` column; "
            "share-alike (SA) licences require adaptations to be shared under the same licence, "
            "non-commercial (NC) ones forbid commercial use."
        )
    else:
        lines.append("The rows carry no `license` column: check the source's terms before reuse.")
    lines.append("")

    author_cols, authors = _authors(kept)
    lines += ["### Per-row attribution", ""]
    where = [f"`{c}`" for c in ["url", *author_cols] if c in kept.columns]
    if "url" not in kept.columns and not author_cols:
        lines += ["The rows carry no `url` or author columns.", ""]
        return lines
    cells: list[pl.Expr] = [pl.col("id").alias("_id")]
    title_col = next((c for c in ("title", "prompt") if c in kept.columns), None)
    label = _md_expr(pl.col(title_col), 90) if title_col else _md_expr(pl.col("id"))
    label = pl.when(label.is_null() | (label == "")).then(_md_expr(pl.col("id"))).otherwise(label)
    cells.append(_link_expr(label, pl.col("url")) if "url" in kept.columns else label)
    cells.append(authors if authors is not None else pl.lit(""))
    cells.append(_md_expr(pl.col("license")) if "license" in kept.columns else pl.lit(""))
    if kept.height == 0:
        return lines + ["No rows were kept.", ""]
    shown = kept.sort("id").head(max_rows)
    table = shown.select([c.fill_null("").alias(f"c{i}") for i, c in enumerate(cells)])
    rows = ((_n(i + 1), md_text(r[0]), r[1], r[2], r[3]) for i, r in enumerate(table.iter_rows()))
    lines += _table(["#", "id", "original", "authors", "licence"], rows, right=[0]) + [""]
    note = f"Full attribution for every row is in the parquet columns {', '.join(where)}."
    if kept.height > shown.height:
        note = (
            f"The table shows the first {_n(shown.height)} of {_n(kept.height)} rows by `id`. "
            + note
        )
    lines += [note, ""]
    return lines


def _recipe(manifest: Mapping[str, Any]) -> list[str]:
    recipe = manifest.get("recipe") or {}
    lines = ["## Recipe", ""]
    lines.append(
        f"Recipe hash {md_text(manifest.get('recipe_hash', ''))}"
        + (f", seed {md_text(manifest['seed'])}" if "seed" in manifest else "")
        + ". The same recipe on the same input files gives the same rows."
    )
    lines.append("")
    if not isinstance(recipe, Mapping) or not recipe:
        return lines + ["The manifest holds no recipe.", ""]

    scalars: list[tuple[str, object]] = []
    tables: list[tuple[str, list[Mapping[str, Any]]]] = []

    def flatten(prefix: str, node: object) -> None:
        if isinstance(node, Mapping) and node:
            for key, value in node.items():
                flatten(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            scalars.append((prefix, node))

    for key, value in recipe.items():
        if key == "notes":
            continue
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            tables.append((key, value))
        else:
            flatten(key, value)

    if scalars:
        lines += ["### Parameters", ""]
        lines += _table(
            ["parameter", "value"], ((md_text(k), md_text(_json(v))) for k, v in scalars)
        )
        lines.append("")
    for key, items in tables:
        lines += [f"### {md_text(key).capitalize()}", ""]
        body = []
        for i, step in enumerate(items, 1):
            name = next((step[k] for k in ("name", "step", "type", "op") if k in step), "")
            params: dict[str, object] = {}
            nested = step.get("params", step.get("parameters"))
            if isinstance(nested, Mapping):
                params.update(nested)
            for k, v in step.items():
                if k not in ("name", "step", "type", "op", "kind", "params", "parameters"):
                    params[k] = v
            cell = "<br>".join(f"{md_text(k)} = {md_text(_json(v))}" for k, v in params.items())
            body.append((str(i), md_text(name), md_text(step.get("kind", "")), cell))
        lines += _table(["#", "name", "kind", "parameters"], body, right=[0]) + [""]

    canonical = json.dumps(recipe, ensure_ascii=False, sort_keys=True, indent=2)
    lines += ["<details>", "<summary>The full recipe (canonical JSON)</summary>", ""]
    lines += _fence(canonical, "json")
    lines += ["", "</details>", ""]

    versions = manifest.get("library_versions") or {}
    if versions:
        lines += ["### Library versions", ""]
        lines += _table(
            ["package", "version"], ((md_text(k), md_text(v)) for k, v in sorted(versions.items()))
        )
        lines.append("")
    return lines


def _funnel(manifest: Mapping[str, Any]) -> list[str]:
    funnel = manifest["funnel"]
    candidates, kept = funnel["candidates"], funnel["kept"]
    lines = ["## Funnel", ""]
    lines.append(
        f"{_n(candidates)} candidates → {_n(kept)} kept ({_pct(kept, candidates)}). "
        "Steps in execution order; every dropped row is counted under the reason of the step that dropped it."
    )
    lines.append("")
    for walk in funnel.get("sampled_while_filtering") or []:
        lines += [_sampled_while_filtering(walk, [s.get("name") for s in funnel["steps"]]), ""]
    body = []
    for i, step in enumerate(funnel["steps"], 1):
        dropped = step.get("dropped") or {}
        reasons = "<br>".join(
            f"{md_text(r)}: {_n(n)}"
            for r, n in sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        body.append(
            (
                str(i),
                md_text(step["name"]),
                md_text(step.get("kind", "")),
                _n(step["rows_in"]),
                _n(step["rows_out"]),
                _n(step["rows_in"] - step["rows_out"]),
                _pct(step["rows_out"], step["rows_in"]),
                reasons,
            )
        )
    lines += _table(
        ["#", "step", "kind", "rows in", "rows out", "dropped", "share kept", "dropped by reason"],
        body,
        right=[0, 3, 4, 5, 6],
    )
    lines.append("")

    alone = funnel.get("alone") or {}
    if alone:
        step_of = {r: s["name"] for s in funnel["steps"] for r in (s.get("dropped") or {})}
        in_funnel = {r: n for s in funnel["steps"] for r, n in (s.get("dropped") or {}).items()}
        lines += ["### What each filter would drop on its own", ""]
        lines.append(
            "Each filter run alone over all candidates. A filter that drops much alone but little in "
            "the funnel mostly removes rows an earlier step already removed."
        )
        lines.append("")
        body = [
            (
                md_text(reason),
                md_text(step_of.get(reason, "")),
                _n(n),
                _pct(n, candidates),
                _n(in_funnel.get(reason, 0)),
            )
            for reason, n in sorted(alone.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        lines += _table(
            ["reason", "step", "would drop alone", "of candidates", "dropped in the funnel"],
            body,
            right=[2, 3, 4],
        )
        lines.append("")
    return lines


def _sampled_while_filtering(walk: Mapping[str, Any], order: list) -> str:
    """The sentence saying that costly checks ran only on the rows the sampler reached."""
    checked = walk.get("checked") or {}
    at = {name: i for i, name in enumerate(order)}
    names = ", ".join(md_text(n) for n in sorted(checked, key=lambda n: (at.get(n, len(at)), n))) or "none"
    most = max(checked.values(), default=0)
    eligible, reached = walk.get("eligible", 0), walk.get("reached", 0)
    return (
        f"Sampled while filtering: {md_text(walk.get('step', ''))} drew from the {_n(eligible)} rows that passed "
        f"the cheap steps, and the costly checks after it ({names}) ran only on the rows the sampler reached: "
        f"{_n(reached)} rows (with the rest of their last batches, {_n(most)} were checked). Their counts below are "
        f"over those rows; the {_n(eligible - reached)} rows never reached are counted as not\\_sampled. The rows kept "
        "are the same as checking every row first."
        + "".join(
            f" {md_text(name)} skipped {_n(n)} of them: a bound read from their input proved that the filter "
            "after it drops them whatever the output (e.g. Markdown shorter than the minimum length)."
            for name, n in sorted((walk.get("skipped") or {}).items())
        )
    )


def _figures(histograms: list[Histogram]) -> list[str]:
    if not histograms:
        return []
    lines = ["## Distributions", ""]
    for h in histograms:
        lines += [f"![{md_text(h.title)}]({h.path})", ""]
    body = [
        (
            md_text(h.title),
            md_text(h.column),
            _n(h.count),
            _num(h.minimum),
            _num(h.median),
            _num(h.mean),
            _num(h.maximum),
        )
        for h in histograms
    ]
    lines += _table(
        ["figure", "column", "kept rows", "min", "median", "mean", "max"],
        body,
        right=[2, 3, 4, 5, 6],
    )
    lines.append("")
    if any(h.rejected_count for h in histograms):
        lines += [
            "Filter scores are drawn for the rejected rows too (red outline; log scale when the "
            "counts differ a lot).",
            "",
        ]
    return lines


def _truncate(text: object, limit: int) -> str:
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return text
    return text[:limit].rstrip() + f"\n{_ELLIPSIS} [cut: {len(text):,} characters in all]"


def _kept_examples(kept: pl.DataFrame, n: int) -> list[str]:
    if n <= 0 or kept.height == 0:
        return []
    lines = ["## Examples kept", ""]
    lines.append("A few rows, one group after another, smallest ids first; long texts are cut.")
    lines.append("")
    frame = kept
    if "group" in kept.columns:
        frame = kept.with_columns(_turn=pl.col("id").rank("ordinal").over("group")).sort(
            ["_turn", "id"]
        )
    else:
        frame = kept.sort("id")
    for i, row in enumerate(frame.head(n).iter_rows(named=True), 1):
        heading = row.get("title") or row.get("prompt") or row["id"]
        lines += [f"### {i}. {md_text(heading, 100)}", ""]
        facts = [f"id {md_text(row['id'])}"]
        if row.get("group"):
            facts.append(f"group {md_text(row['group'])}")
        url = _safe_url(row.get("url"))
        if url:
            facts.append(f"[original]({url})")
        if row.get("license"):
            facts.append(md_text(row["license"]))
        lines += [" · ".join(facts), ""]
        for column in ("prompt", "response"):
            if row.get(column) is not None:
                lines += [f"**{column.capitalize()}**", ""]
                lines += _fence(_truncate(row[column], 700 if column == "prompt" else 1500))
                lines.append("")
    return lines


def _rejected_examples(
    manifest: Mapping[str, Any], rejected: pl.DataFrame | pl.LazyFrame | None, n: int
) -> list[str]:
    lines = ["## Examples rejected", ""]
    if rejected is None:
        return lines + ["Rejected rows were not kept for this build.", ""]
    schema = rejected.collect_schema()
    if "reason" not in schema or "id" not in schema:
        raise ValueError("rejected rows need an 'id' and a 'reason' column")
    funnel = manifest["funnel"]
    order: list[str] = []
    step_of: dict[str, str] = {}
    counted: dict[str, int] = {}
    for step in funnel["steps"]:
        for reason, count in (step.get("dropped") or {}).items():
            if reason not in step_of:
                order.append(reason)
                step_of[reason] = step["name"]
            counted[reason] = counted.get(reason, 0) + count

    prompt_cols = [c for c in ("prompt", "title") if c in schema]
    response_cols = [c for c in ("response", "body") if c in schema]
    score_cols = {r: f"score__{s}" for r, s in step_of.items() if f"score__{s}" in schema}
    wanted = ["id", "reason"] + [c for c in ("url",) if c in schema]
    wanted += prompt_cols + response_cols + sorted(set(score_cols.values()))
    picked = (
        rejected.lazy()
        .select(wanted)
        .filter(pl.col("reason").is_not_null())
        .filter(pl.col("id").rank("ordinal").over("reason") <= n)
        .sort(["reason", "id"])
        .collect()
    )
    given = dict(rejected.lazy().group_by("reason").len().collect().iter_rows())
    order += sorted(r for r in given if r is not None and r not in step_of)
    lines.append(
        f"Up to {n} rows per reason, smallest ids first; long texts are cut. "
        "The reason names the rule that dropped the row (see *Funnel*)."
    )
    lines.append("")
    cells = [
        (
            _link_expr(_md_expr(pl.col("id")), pl.col("url"))
            if "url" in schema
            else _md_expr(pl.col("id"))
        )
    ]
    header = ["id"]
    if prompt_cols:
        cells.append(_md_expr(pl.coalesce([pl.col(c) for c in prompt_cols]), 140))
        header.append("prompt")
    if response_cols:
        cells.append(_md_expr(pl.coalesce([pl.col(c) for c in response_cols]), 240))
        header.append("response")
    rendered = picked.select(
        pl.col("reason"), *[c.fill_null("").alias(f"c{i}") for i, c in enumerate(cells)]
    )
    for reason in order:
        rows = rendered.filter(pl.col("reason") == reason)
        total = counted.get(reason, given.get(reason, 0))
        title = f"### {md_text(reason)}"
        if reason in step_of:
            title += f" ({md_text(step_of[reason])})"
        lines += [title, "", f"{_n(total)} rows dropped for this reason.", ""]
        if rows.height == 0:
            lines += ["No example of this reason was kept aside.", ""]
            continue
        extra_header, extra = [], []
        if reason in score_cols:
            extra_header = [md_text(score_cols[reason])]
            values = (
                picked.filter(pl.col("reason") == reason).get_column(score_cols[reason]).to_list()
            )
            extra = [_num(v) if v is not None else "" for v in values]
        body = [list(r[1:]) + ([extra[i]] if extra else []) for i, r in enumerate(rows.iter_rows())]
        lines += _table(header + extra_header, body, right=[len(header)] if extra else ()) + [""]
    return lines


def _limitations(manifest: Mapping[str, Any], limitations: list[str] | None) -> list[str]:
    items = list(_DEFAULT_LIMITATIONS)
    notes = (
        (manifest.get("recipe") or {}).get("notes")
        if isinstance(manifest.get("recipe"), Mapping)
        else None
    )
    if isinstance(notes, str):
        items.append(notes)
    elif isinstance(notes, Mapping):
        items += [f"`{k}`: {v}" for k, v in notes.items()]
    elif isinstance(notes, list):
        items += [str(v) for v in notes]
    items += list(limitations or [])
    lines = ["## Limitations", ""]
    lines.append(
        "Known limits of these rows, then the defaults the recipe chose where the LIMA paper is silent."
    )
    lines.append("")
    lines += [f"- {_WS.sub(' ', item).strip()}" for item in items if str(item).strip()]
    lines.append("")
    return lines


def _citation() -> list[str]:
    lines = ["## Citation", ""]
    lines.append("The curation follows Zhou et al. (2023), *LIMA: Less Is More for Alignment*:")
    lines.append("")
    lines += _fence(LIMA_BIBTEX, "bibtex")
    lines.append("")
    return lines


# --------------------------------------------------------------------------------------------
# Entry points


def render_card(
    manifest: Mapping[str, Any],
    kept: pl.DataFrame,
    rejected: pl.DataFrame | pl.LazyFrame | None = None,
    histograms: list[Histogram] | None = None,
    *,
    pretty_name: str | None = None,
    description: str | None = None,
    limitations: list[str] | None = None,
    repo_id: str | None = None,
    max_attribution_rows: int = 1000,
    n_kept_examples: int = 3,
    n_rejected_examples: int = 3,
    dataset_info: dict | None = None,
) -> str:
    """The README.md text (YAML block + body), without touching the disk."""
    _check_manifest(manifest, Path(MANIFEST_NAME))
    if "id" not in kept.columns:
        raise ValueError("kept rows have no 'id' column")
    source = _source(manifest, kept)
    metadata = card_metadata(manifest, kept, pretty_name=pretty_name)
    if dataset_info is not None:
        metadata["dataset_info"] = dataset_info
    lines = [f"# {md_text(metadata['pretty_name'])}", ""]
    if description:
        lines += [description.strip(), ""]
    funnel = manifest["funnel"]
    lines.append(
        f"A LIMA-style curated instruction dataset: {_n(funnel['kept'])} prompt/response pairs kept "
        f"from {_n(funnel['candidates'])} candidates, with every filtering step counted below."
    )
    lines.append("")
    lines += _summary(manifest, kept, source, repo_id)
    lines += _sources(manifest, kept, source, max_attribution_rows)
    lines += _recipe(manifest)
    lines += _funnel(manifest)
    lines += _figures(histograms or [])
    lines += _kept_examples(kept, n_kept_examples)
    lines += _rejected_examples(manifest, rejected, n_rejected_examples)
    lines += _limitations(manifest, limitations)
    lines += _citation()
    lines.append(f"*This card was generated by curation {__version__} from `{MANIFEST_NAME}`.*")
    body = "\n".join(lines) + "\n"
    yaml_block = yaml_dump(metadata, sort_keys=False).strip()
    card = DatasetCard(f"---\n{yaml_block}\n---\n\n{body}")
    return str(card)


def folder_dataset_info(folder: Path, manifest: Mapping[str, Any]) -> dict | None:
    """The Hub's ``dataset_info`` block (features, split sizes) of the version's parquet files.

    Besides documenting the schema, it makes ``datasets``' cache key differ between versions:
    ``datasets`` keys the cache of a local folder by its base name (``v1``) and the YAML, not by the
    data, so two different ``v1`` folders with the same ``configs`` would share a stale cache.
    """
    import pyarrow.parquet as pq
    from datasets import Features

    splits, features, download = [], None, 0
    for split in _splits(manifest, 0):
        path = folder / "data" / f"{split}-00000-of-00001.parquet"
        if not path.is_file():
            return None
        table = pq.read_table(path)
        features = features or Features.from_arrow_schema(table.schema)._to_yaml_list()
        splits.append({"name": split, "num_bytes": int(table.nbytes), "num_examples": int(table.num_rows)})
        download += path.stat().st_size
    return {
        "features": features,
        "splits": splits,
        "download_size": download,
        "dataset_size": sum(s["num_bytes"] for s in splits),
    }


def write_card(
    folder: Path,
    manifest: dict,
    kept: pl.DataFrame,
    rejected: pl.DataFrame | pl.LazyFrame | None = None,
    *,
    pretty_name: str | None = None,
    description: str | None = None,
    limitations: list[str] | None = None,
    repo_id: str | None = None,
    max_attribution_rows: int = 1000,
    n_kept_examples: int = 3,
    n_rejected_examples: int = 3,
) -> Path:
    """Write ``folder/README.md`` and ``folder/figures/*.png`` for a dataset version; return the README.

    ``kept`` are the published rows, ``rejected`` (optional, may be lazy) the dropped ones with a
    ``reason`` column. Same inputs -> byte-identical files.
    """
    folder = Path(folder)
    if isinstance(kept, pl.LazyFrame):
        kept = kept.collect()
    _check_manifest(manifest, folder / MANIFEST_NAME)
    folder.mkdir(parents=True, exist_ok=True)
    histograms = write_histograms(folder, kept, rejected)
    text = render_card(
        manifest,
        kept,
        rejected,
        histograms,
        pretty_name=pretty_name,
        description=description,
        limitations=limitations,
        repo_id=repo_id,
        max_attribution_rows=max_attribution_rows,
        n_kept_examples=n_kept_examples,
        n_rejected_examples=n_rejected_examples,
        dataset_info=folder_dataset_info(folder, manifest),
    )
    path = folder / "README.md"
    tmp = folder / "README.md.tmp"
    tmp.write_bytes(text.encode("utf-8"))
    tmp.replace(path)
    return path


def read_manifest(folder: Path) -> dict:
    """``folder/curation.json`` as a dict; a missing or broken manifest is one clear CurationError."""
    path = Path(folder) / MANIFEST_NAME
    if not Path(folder).is_dir():
        raise CurationError("no such dataset version folder", path=folder)
    if not path.is_file():
        raise CurationError("no manifest here: not a dataset version folder", path=path)
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise CurationError(
            "manifest is not UTF-8", path=path, position=f"byte {error.start}"
        ) from None
    except json.JSONDecodeError as error:
        raise CurationError(
            f"invalid JSON: {error.msg}",
            path=path,
            position=f"line {error.lineno}, column {error.colno}",
        ) from None
    _check_manifest(manifest, path)
    return manifest


def card_from_folder(
    folder: Path,
    *,
    pretty_name: str | None = None,
    description: str | None = None,
    limitations: list[str] | None = None,
    repo_id: str | None = None,
) -> Path:
    """Re-write the card of an existing version folder from its manifest and parquet files.

    The rejected rows are not stored in a version, so this card has no rejected examples.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    files = sorted((folder / "data").glob("*.parquet"))
    if not files:
        raise CurationError("no parquet files under data/", path=folder / "data")
    frames = []
    for file in files:
        try:
            frames.append(pl.read_parquet(file))
        except Exception as error:  # polars raises several types for a damaged file
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CurationError(f"unreadable parquet file: {message}", path=file) from None
    kept = pl.concat(frames, how="diagonal_relaxed").sort("id") if len(frames) > 1 else frames[0]
    return write_card(
        folder,
        manifest,
        kept,
        None,
        pretty_name=pretty_name,
        description=description,
        limitations=limitations,
        repo_id=repo_id,
    )
