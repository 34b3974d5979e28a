"""One wikiHow page (HTML bytes) -> one plain record, or the reason it is not an article.

HTML parsing is inherently one document at a time, so this module is the only per-page Python
in the wikiHow source; everything after it (ids, categories, dates, rendering) is columnar
Polars in ``curation.sources.wikihow``. Parsing is plain ``lxml.etree`` plus one pruning pass
(~5 ms for a ~300 KB page; ``benchmarks/wikihow_extract.py`` compares it with BeautifulSoup).

The markup handled is wikiHow's MediaWiki skin as served to anonymous visitors (2020 era):
``mw.config`` (ids, namespace, categories), ``<link rel=canonical>``, JSON-LD (dates, breadcrumbs),
``#breadcrumb``, ``h1#section_0``, ``#intro``, ``div.section.steps`` (one per method or part,
``<ol>`` of ``<li>`` steps with a ``b.whb`` headline), and sections ``#tips``, ``#warnings``,
``#thingsyoullneed``, ``#ingredients``, ``#video``, Q&A (``li.qa_aq``) and references.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lxml import etree

#: LIMA's 19 top-level wikiHow categories, spelled exactly as in LIMA.md (the ``group`` values).
TOP_CATEGORIES: tuple[str, ...] = (
    "Arts and Entertainment",
    "Cars & Other Vehicles",
    "Computers and Electronics",
    "Education and Communications",
    "Family Life",
    "Finance and Business",
    "Food and Entertaining",
    "Health",
    "Hobbies and Crafts",
    "Holidays and Traditions",
    "Home and Garden",
    "Personal Care and Style",
    "Pets and Animals",
    "Philosophy and Religion",
    "Relationships",
    "Sports and Fitness",
    "Travel",
    "Work World",
    "Youth",
)


def category_key(name: str) -> str:
    """Spelling-insensitive key: case, "&"/"and", hyphens and underscores of URL forms ignored."""
    return " ".join(re.sub(r"[-_\s]+", " ", name.replace("&", " and ")).lower().split())


#: category_key -> canonical top-level name.
TOP_CATEGORY_KEYS: dict[str, str] = {category_key(name): name for name in TOP_CATEGORIES}


def top_category_of(name: str) -> str | None:
    """The canonical top-level category ``name`` spells, or None if it is not one of the 19."""
    return TOP_CATEGORY_KEYS.get(category_key(name))


def is_wikihow_url(url: str | None) -> bool:
    """True for any wikiHow site (www., m., es., wikihow.it, ...); the URL's host decides."""
    host = (urlsplit(url).hostname or "").lower() if url else ""
    return bool(_WIKIHOW_HOST.search(host))


class UnreadablePage(ValueError):
    """The bytes are not a readable wikiHow HTML page (empty, wrong encoding, truncated, no body)."""


@dataclass(frozen=True)
class Skipped:
    """A readable page that is not an article (category, search, user or main page; no steps)."""

    reason: str  # "not_wikihow" | "not_article" | "no_steps"
    detail: str


#: Elements whose text never belongs in the answer: scripts, media (and their alt-text captions),
#: ads, vote widgets, forms, reference markers, step numbers, bylines and the table of contents.
_NOISE_TAGS = (
    "script style noscript iframe video audio img picture svg canvas input button textarea "
    "select form"
).split()
_NOISE_CLASSES = (
    "mwimg wh_ad_inner al_method step_num stepanchor wh_vote_container ts_popup image_details "
    "addTipElement addTipThanks clearall m-video-controls m-video-wm qa_user_area "
    "qa_answer_footer qa_divider qa_question_tab reference"
).split()
_NOISE_IDS = "coauthor_byline byline_hover method_toc large_pdf_link summary_last_sentence".split()
_NOISE_TAG_SET = frozenset(_NOISE_TAGS)
_NOISE_CLASS_SET = frozenset(_NOISE_CLASSES)
_NOISE_ID_SET = frozenset(_NOISE_IDS)
#: Block elements: their text is separated by a space so neighbours never run together.
_BLOCK_TAGS = frozenset("p div br li ul ol h2 h3 h4 tr".split())


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


_BODY_CONTENT = etree.XPath("//*[@id='bodyContent']")
_ALTBLOCK = etree.XPath(f".//*[{_has_class('altblock')}]")
_MW_HEADLINE = etree.XPath(f".//*[{_has_class('mw-headline')}]")
_STEP_BODY = etree.XPath(f".//*[{_has_class('step')}]")
_STEP_ITEMS = etree.XPath(f"./div[{_has_class('section_text')}]/ol/li")
_HEADLINE = etree.XPath(f".//b[{_has_class('whb')}]")
_QA = etree.XPath(f".//li[{_has_class('qa_aq')}]")
_QA_QUESTION = etree.XPath(f".//*[{_has_class('qa_q_txt')}]")
_QA_ANSWER = etree.XPath(f".//*[{_has_class('qa_answer')}]")
_REFERENCES = etree.XPath(f".//ol[{_has_class('references')}]/li")
_REFERENCE_TEXT = etree.XPath(f".//*[{_has_class('reference-text')}]")
_RELATED_TITLES = etree.XPath(f".//a[{_has_class('related-title')}]")
_MW_CONFIG = re.compile(r"mw\.config\.set\(\s*")
_WS = re.compile(r"\s+")
_AUTONUMBER = re.compile(r"^\s*\[\d+\]\s*$")
_KIND = re.compile(r"^\s*(method|part)\b", re.I)
_WIKIHOW_HOST = re.compile(r"(^|\.)wikihow\.[a-z.]+$")
_NOT_ARTICLE_PAGES = {"Main-Page", "Main Page"}
_PARSERS: dict[str, etree.HTMLParser] = {}


def extract_page(data: bytes, *, charset: str | None = None, url: str | None = None) -> dict | Skipped:
    """Parse one page; return the article record (``wikihow.RECORD_SCHEMA`` but ``origin``) or ``Skipped``.

    ``charset`` is the HTTP header's (WARC), ``url`` the crawl's target URI, used only when the
    page names no canonical URL. Raises ``UnreadablePage`` for bytes that are not a whole page.
    """
    encoding = _encoding(charset)
    text = _decode(data, encoding)
    config = _mw_config(text)
    root = _parse(data, encoding)
    url = _canonical_url(root, config) or url
    if not is_wikihow_url(url):
        return Skipped("not_wikihow", f"canonical URL {url!r} is not on wikihow")
    if config is not None:
        why = _not_article(config)
        if why:
            return Skipped("not_article", why)
    found = _BODY_CONTENT(root)
    body = found[0] if found else None
    if body is None:
        body = root.find("body")
    if body is None or not len(body):
        raise UnreadablePage("no page body (no <body> or #bodyContent)")
    # Page metadata first: pruning below drops every <script>, JSON-LD included.
    config = config or {}
    ld = _json_ld(root)
    article = ld.get("Article") or ld.get("HowTo") or {}
    title = _title(root, config, article)
    categories = _breadcrumbs(root, ld) or _categories_from_config(config)
    last_updated = _last_updated(root)
    ids, step_sections, video = _prune(body)
    methods = [_method(section) for section in step_sections]
    methods = [m for m in methods if m["steps"]]
    if not methods:
        return Skipped("no_steps", "no method, part or step list on the page")
    return {
        "title": title,
        "url": url,
        "article_id": _int(config.get("wgArticleId")) or _app_article_id(root),
        "revision_id": _int(config.get("wgRevisionId")),
        "page_name": config.get("wgPageName"),
        "language": config.get("wgPageContentLanguage"),
        "categories": categories,
        "wg_categories": [c for c in config.get("wgCategories") or [] if isinstance(c, str)],
        "date_modified": _str(article.get("dateModified")),
        "date_published": _str(article.get("datePublished")),
        "last_updated": last_updated,
        "intro": _intro(ids),
        "summary": _text_of(ids, "summary_text"),
        "methods": methods,
        "tips": _bullets(ids, "tips"),
        "warnings": _bullets(ids, "warnings"),
        "things_youll_need": _bullets(ids, "thingsyoullneed"),
        "ingredients": _ingredients(ids),
        "references": _references(body),
        "qa": _qa(body),
        "related": _related(ids),
        "video": video,
    }


# --- decoding and page-level metadata -------------------------------------------------------


def _encoding(charset: str | None) -> str:
    """The HTTP header's charset when Python knows it, else UTF-8 (what wikiHow serves)."""
    if charset:
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass
    return "utf-8"


def _decode(data: bytes, encoding: str) -> str:
    """Strictly decode; the text is only used for quick checks and mw.config."""
    if not data.strip():
        raise UnreadablePage("empty page")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise UnreadablePage(f"not valid {encoding} text (byte {error.start})") from None
    if not re.search(r"<html[\s>]", text[:8192], re.I):
        raise UnreadablePage("not an HTML document (no <html> tag at the start)")
    if "</html" not in text[-8192:].lower():
        raise UnreadablePage("truncated page (no closing </html> tag)")
    return text


def _parse(data: bytes, encoding: str):
    """Plain ``lxml.etree`` elements: lxml.html's element classes would double the extraction time."""
    parser = _PARSERS.get(encoding)
    if parser is None:
        parser = _PARSERS[encoding] = etree.HTMLParser(encoding=encoding, remove_comments=True)
    try:
        root = etree.fromstring(data, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as error:
        raise UnreadablePage(f"HTML parser failed: {error}") from None
    if root is None:
        raise UnreadablePage("HTML parser found no document")
    return root


def _mw_config(text: str) -> dict | None:
    """The page's ``mw.config.set({...})`` object (MediaWiki's page metadata), or None."""
    match = _MW_CONFIG.search(text)
    if match is None:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text, match.end())
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _not_article(config: dict) -> str | None:
    namespace = config.get("wgNamespaceNumber")
    if namespace not in (0, None):
        return f"namespace {namespace} page {config.get('wgPageName')!r}"
    if config.get("wgCanonicalSpecialPageName"):
        return f"special page {config.get('wgCanonicalSpecialPageName')!r}"
    if config.get("wgIsMainPage") or config.get("wgPageName") in _NOT_ARTICLE_PAGES:
        return "main page"
    if config.get("wgIsArticle") is False or config.get("wgIsRedirect") is True:
        return f"not an article view of {config.get('wgPageName')!r}"
    if config.get("wgAction", "view") != "view":
        return f"action {config.get('wgAction')!r}"
    return None


def _canonical_url(root, config: dict | None) -> str | None:
    for xpath in ("//head/link[@rel='canonical']/@href", "//head/meta[@property='og:url']/@content"):
        found = root.xpath(xpath)
        if found and found[0].strip():
            return found[0].strip()
    if config and config.get("wgCDNbase") and config.get("wgPageName"):
        return f"{config['wgCDNbase']}/{config['wgPageName']}"
    return None


def _json_ld(scope) -> dict[str, dict]:
    """JSON-LD blocks by ``@type`` (Article, HowTo, BreadcrumbList); malformed blocks are ignored."""
    found: dict[str, dict] = {}
    for script in scope.xpath(".//script[@type='application/ld+json']"):
        try:
            value = json.loads(script.text or "")
        except ValueError:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("@type"), str):
                found.setdefault(item["@type"], item)
    return found


def _title(root, config: dict, article: dict) -> str | None:
    h1 = root.xpath("//h1[@id='section_0']")
    if h1 and _text(h1[0]):
        return _text(h1[0])
    for value in (article.get("headline"), *root.xpath("//head/meta[@property='og:title']/@content")):
        if isinstance(value, str) and value.strip():
            return _WS.sub(" ", value).strip()
    if config.get("wgTitle"):
        return f"How to {config['wgTitle']}"
    return None


def _breadcrumbs(root, ld: dict) -> list[str]:
    """The page's own category path, most general first (Categories > Health > ...)."""
    names = [
        _text(a)
        for a in root.xpath("//ul[@id='breadcrumb']/li/a")
        if "Category:" in (a.get("href") or "")
    ]
    if names:
        return names
    items = (ld.get("BreadcrumbList") or {}).get("itemListElement") or []
    for item in sorted((i for i in items if isinstance(i, dict)), key=lambda i: i.get("position", 0)):
        target = item.get("item") if isinstance(item.get("item"), dict) else {}
        if "Category:" in str(target.get("@id", "")) and target.get("name"):
            names.append(str(target["name"]))
    return names


def _categories_from_config(config: dict) -> list[str]:
    """Fallback path from ``wgCategories`` when the page has no breadcrumbs.

    MediaWiki flattens every category chain leaf first ("Barbecue Fish", "Barbecue", "Food and
    Entertaining", "Outdoor Cooking", ...), so the first chain runs up to the first top-level name;
    reversed, it is most general first like the breadcrumbs.
    """
    names = [c for c in config.get("wgCategories") or [] if isinstance(c, str)]
    for i, name in enumerate(names):
        if top_category_of(name) is not None:
            return list(reversed(names[: i + 1]))
    return []


def _app_article_id(root) -> int | None:
    """``wikihow://article?id=N`` in the app-link meta tags, when mw.config is absent."""
    for content in root.xpath("//head/meta[starts-with(@content, 'wikihow://article')]/@content"):
        ids = parse_qs(urlsplit(content).query).get("id")
        if ids and ids[0].isdigit():
            return int(ids[0])
    return None


def _last_updated(root) -> str | None:
    for span in root.xpath("//*[@id='byline_info']//span"):
        text = _text(span)
        if text.startswith("Last Updated:"):
            return text.removeprefix("Last Updated:").strip()
    return None


def _prune(body) -> tuple[dict, list, str | None]:
    """One pass over the body: drop the noise, space the blocks, index ids and step sections.

    Returns (id -> element, the ``div.section.steps`` in page order, the #video embed URL, read
    before its iframe is dropped). One Python pass costs less than half the equivalent XPaths.
    """
    ids: dict = {}
    step_sections = []
    noise = []
    for element in body.iter():
        tag = element.tag
        if not isinstance(tag, str):
            continue
        element_id = element.get("id")
        if element_id:
            ids.setdefault(element_id, element)
        classes = element.get("class")
        tokens = classes.split() if classes else ()
        if tag in _NOISE_TAG_SET or element_id in _NOISE_ID_SET or not _NOISE_CLASS_SET.isdisjoint(tokens):
            noise.append(element)
            continue
        if tag in _BLOCK_TAGS:
            element.tail = " " + element.tail if element.tail else " "
            if tag == "div" and "steps" in tokens and "section" in tokens:
                step_sections.append(element)
    video = _video(ids.get("video"))
    for element in noise:
        _drop(element)
    return ids, step_sections, video


def _video(container) -> str | None:
    if container is None:
        return None
    for frame in container.iter("iframe"):
        src = frame.get("data-src") or frame.get("src")
        if src:
            return src.strip()
    return None


# --- article body ---------------------------------------------------------------------------


def _method(section) -> dict:
    heading = section.find("h3")
    if heading is None:
        heading = section.find("h2")
    altblock = _ALTBLOCK(heading) if heading is not None else []
    label = _text(altblock[0]) if altblock else ""
    kind_match = _KIND.match(label)
    title = None
    if heading is not None:
        headline = _MW_HEADLINE(heading)
        title = _text(headline[0]) if headline else None
    kind = kind_match.group(1).lower() if kind_match else "steps"
    if kind == "steps" and title == "Steps":
        title = None
    return {"kind": kind, "title": title or None, "steps": [_step(li) for li in _STEP_ITEMS(section)]}


def _step(li) -> dict:
    """Headline (bold first sentence), text, and the step's sub-bullets as their own list."""
    step = _STEP_BODY(li)
    step = step[0] if step else li
    bullets: list[str] = []
    for sub in [e for e in step.iter("ul", "ol") if _nearest_list(e, step) is None]:
        bullets.extend(t for t in (_text(item) for item in sub.iterchildren("li")) if t)
        _drop(sub)
    headline = ""
    bold = _HEADLINE(step)
    if bold:
        headline = _text(bold[0])
        _drop(bold[0])
    return {"headline": headline, "text": _text(step), "bullets": bullets}


def _nearest_list(element, stop):
    parent = element.getparent()
    while parent is not None and parent is not stop:
        if parent.tag in ("ul", "ol"):
            return parent
        parent = parent.getparent()
    return None


def _intro(ids: dict) -> str | None:
    intro = ids.get("intro")
    if intro is None:
        return None
    section = ids.get("mf-section-0")
    paragraphs = [t for t in (_text(p) for p in (section if section is not None else intro).iter("p")) if t]
    return "\n\n".join(paragraphs) or None


def _text_of(ids: dict, element_id: str) -> str | None:
    element = ids.get(element_id)
    return (_text(element) or None) if element is not None else None


def _bullets(ids: dict, element_id: str) -> list[str]:
    container = ids.get(element_id)
    if container is None:
        return []
    items = container.xpath("./ul/li | ./ol/li | ./div/ul/li")
    return [t for t in (_text(li) for li in items) if t]


def _ingredients(ids: dict) -> list[dict]:
    """Groups in page order: the unnamed first list, then one per sub-heading (marinade, rub...)."""
    container = ids.get("ingredients")
    if container is None:
        return []
    groups: list[dict] = []
    heading = None
    for child in container:
        if child.tag in ("h3", "h4"):
            heading = _text(child) or None
        elif child.tag in ("ul", "ol"):
            items = [t for t in (_text(li) for li in child.iterchildren("li")) if t]
            if items:
                groups.append({"heading": heading, "items": items})
            heading = None
    return groups


def _related(ids: dict) -> list[str]:
    container = ids.get("relatedwikihows")
    if container is None:
        return []
    return [t for t in (_text(a) for a in _RELATED_TITLES(container)) if t]


def _references(body) -> list[str]:
    """Citation texts; a bare "[3]" link (MediaWiki's ``autonumber``) is replaced by its URL."""
    found = []
    for li in _REFERENCES(body):
        for link in li.iter("a"):
            if _AUTONUMBER.match(_text(link)) and link.get("href", "").startswith("http"):
                link.text = link.get("href")
                for child in list(link):
                    link.remove(child)
        inner = _REFERENCE_TEXT(li)
        text = _text(inner[0] if inner else li).lstrip("↑ ").strip()
        if text:
            found.append(text)
    return found


def _qa(body) -> list[dict]:
    pairs = []
    for li in _QA(body):
        question, answer = _QA_QUESTION(li), _QA_ANSWER(li)
        if question and answer and _text(question[0]) and _text(answer[0]):
            pairs.append({"question": _text(question[0]), "answer": _text(answer[0])})
    return pairs


# --- small helpers --------------------------------------------------------------------------


def _text(element) -> str:
    """Visible text with links reduced to their words and whitespace collapsed."""
    return _WS.sub(" ", "".join(element.itertext())).strip() if element is not None else ""


def _drop(element) -> None:
    """Remove ``element`` and its subtree but keep the text that follows it (its tail)."""
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:
        previous = element.getprevious()
        if previous is None:
            parent.text = (parent.text or "") + element.tail
        else:
            previous.tail = (previous.tail or "") + element.tail
    parent.remove(element)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
