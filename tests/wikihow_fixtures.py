"""Small synthetic wikiHow pages in the real 2020 markup, and WARC files of pages, made by code.

The markup mirrors the real pages in ../shared/data/wikihow (mw.config, canonical link, JSON-LD,
breadcrumbs, byline, intro image, method sections, steps with images/videos/scripts/reference
markers, ads, vote widgets, tips/warnings/things/ingredients, Q&A, references, related
articles) including the noise that must never reach a response. Noise strings are collected in
``NOISE`` so tests can assert none of them leaks.
"""

from __future__ import annotations

import gzip as gzip_module
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

#: Text that sits in a page's markup but is not article text (captions, scripts, ads, widgets).
NOISE = (
    "Image titled",
    "Image by: Uploader",
    "WH.shared.addScrollLoadItem",
    "WH.video.add",
    "Advertisement",
    "Helpful",
    "Not Helpful",
    "Research source",
    "Submit a Tip",
    "Co-authored by",
    "This article was co-authored by",
    "Explore this Article",
    "console.log",
    "Thanks!",
)


@dataclass
class Step:
    headline: str
    text: str
    bullets: list[str] = field(default_factory=list)


@dataclass
class Method:
    title: str | None
    steps: list[Step]
    kind: str | None = "Method"  # "Method", "Part" or None (a single unlabelled step list)


def _config(**values) -> str:
    base = {
        "wgCanonicalNamespace": "",
        "wgCanonicalSpecialPageName": False,
        "wgNamespaceNumber": 0,
        "wgIsArticle": True,
        "wgIsRedirect": False,
        "wgAction": "view",
        "wgUserName": None,
        "wgPageContentLanguage": "en",
        "wgCDNbase": "https://www.wikihow.com",
    }
    base.update(values)
    return (
        "<script>(window.RLQ=window.RLQ||[]).push(function(){mw.config.set("
        + json.dumps(base, separators=(",", ":"))
        + ');mw.loader.state({"user":"ready"});});</script>'
    )


def _image(name: str) -> str:
    details = json.dumps({"licensing": '<div class="mw-parser-output"><p>Image by: Uploader<br>License: Creative Commons</p></div>'})
    return (
        f'<div class="mwimg  largeimage  "><a href="#/Image:{name}.jpg" class="image"><div class="content-spacer">'
        f'<img alt="Image titled {name}" class="whcdn content-fill" data-src="https://www.wikihow.com/images/{name}.jpg">'
        f"<script>WH.shared.addScrollLoadItem('{name}')</script></div>"
        f'<noscript><img alt="Image titled {name}" src="https://www.wikihow.com/images/{name}.jpg"></noscript>'
        f'<div class="image_details" style="display:none;"><span style="display:none;">{html.escape(details)}</span></div></a></div>'
    )


def _video_step() -> str:
    return (
        '<div class="mwimg  largeimage  "><div class="content-spacer"><div class="video-player">'
        '<div class="video-container content-fill"><video playsinline class="m-video content-fill" id="mvid-1" '
        'data-src="/1/18/Step.360p.mp4" muted loop></video></div>'
        '<div class="m-video-controls"><div class="m-video-play"></div></div>'
        '<div class="m-video-wm" data-wm-title-text="to Do It"><img class="m-video-wm-img" src="/skins/WH_logo.svg"></div>'
        "</div></div></div>"
    )


def _ad(slot: str) -> str:
    return (
        f'<div class="wh_ad_inner" data-service="adsense"><div id="{slot}"></div>'
        f'<div class="al_method">Advertisement</div></div><script>WH.ads.addBodyAd(\'{slot}\')</script>'
    )


def _votes() -> str:
    return (
        '<div class="wh_vote_container"><span class="wh_thumb_response wh_thumb_msg">Thanks!</span><div>'
        '<a href="#" class="vote_up wh_vote_box">Helpful <span class="tr_vote">3</span></a>'
        '<a href="#" class="vote_down wh_vote_box">Not Helpful <span class="tr_vote">0</span></a></div></div>'
    )


def _reference_marker(n: int) -> str:
    return (
        f'<sup id="_ref-{n}" class="reference" aria-label="Link to Reference {n}"><a href="#_note-{n}">[{n}]</a>'
        '<span class="ts_popup " hidden style="display: none;"><span class="ts_close">X</span>'
        '<span class="ts_name">Research source</span></span></sup>'
    )


def _step_li(method_index: int, step_index: int, step: Step, *, video: bool) -> str:
    media = _video_step() if video else _image(f"Step {step_index + 1}")
    bullets = "".join(f"<li>{b}</li>" for b in step.bullets)
    return (
        f'<li id="step-id-{method_index}{step_index}"><a name="step_{method_index}_{step_index}" class="stepanchor"></a>'
        f'{media}<div class="step_num">{step_index + 1}</div><div class="step">'
        f'<b class="whb">{step.headline}</b> {step.text}{_reference_marker(step_index + 1)}'
        f"<script>if (WH.video)WH.video.add(document.getElementById('mvid-1'));console.log('x')</script>"
        + (f"<ul>{bullets}</ul>" if step.bullets else "")
        + '</div><div class="clearall"></div></li>'
    )


def _method_section(index: int, total: int, method: Method) -> str:
    first = " steps_first" if index == 0 else ""
    if method.kind:
        label = (
            f'<div class="altblock"><div>{method.kind} <span>{index + 1}</span> of {total}:</div></div>'
        )
        heading = f'<h3 class="in-block">{label}<span class="mw-headline" id="m{index}">{method.title}</span></h3>'
    else:
        heading = '<h3><span class="mw-headline" id="Steps">Steps</span></h3>'
    steps = "".join(_step_li(index, i, s, video=(i == 1)) for i, s in enumerate(method.steps))
    return (
        f'<div class="section steps {first} sticky">{heading}'
        f'<div id="steps_{index + 1}" class="section_text"><ol class="steps_list_2">{steps}</ol>'
        f'<div class="clearall"></div></div>{_ad(f"method_ad_{index}")}</div>'
    )


def _list_section(css: str, element_id: str, heading: str, items: list[str], *, votes: bool) -> str:
    if not items:
        return ""
    lis = "".join(
        f"<li><div>{item}<div class=\"clearall\"></div></div>{_votes()}</li>" if votes
        else f'<li><div class="checkmark"></div>{item}</li>'
        for item in items
    )
    extra = (
        '<div class="addTipElement"><div class="addTipHeader">Submit a Tip<div>All tip submissions are '
        'carefully reviewed before being published</div></div><div class="addTipForm">'
        '<input type="text" class="newtip" placeholder="Your tip here"><a href="#" class="addtip button">Submit</a>'
        '</div><div class="addTipThanks">Thanks for submitting a tip for review!</div></div>'
        if element_id == "tips" else ""
    )
    return (
        f'<div class="section {css} sticky"><h2 class="section-heading"><span id="{heading}" class="mw-headline">'
        f'{heading}</span></h2><div id="{element_id}" class="section_text"><ul>{lis}</ul>'
        f'<div class="clearall"></div>{_ad(f"{element_id}_ad_1")}{extra}</div></div>'
    )


def _ingredients(groups: list[tuple[str | None, list[str]]]) -> str:
    if not groups:
        return ""
    body = ""
    for heading, items in groups:
        if heading:
            body += f'<h3 class="in-block"><div class="altblock"></div><span class="mw-headline">{heading}</span></h3>'
        body += "<ul>" + "".join(f'<li><div class="checkmark"></div>{i}</li>' for i in items) + "</ul>"
    return (
        '<div class="section ingredients sticky"><h2 class="section-heading"><span class="mw-headline">'
        f'Ingredients</span></h2><div id="ingredients" class="section_text">{body}<div class="clearall"></div></div></div>'
    )


def _qa(pairs: list[tuple[str, str]]) -> str:
    items = "".join(
        f'<li id="qa_question_{i}" class="qa_aq qa_block "><div class="qa_divider"></div><div class="qa_li_container">'
        f'<div class="qa_question_tab">Question</div><div class="qa_q_txt">{q}</div><div class="qa_answers">'
        '<div class="qa_user_area"><div class="qa_person_circle"><picture><img src="/a.png" alt="Community Answer">'
        '</picture></div><div class="qa_answerer_info"><div class="qa_user_label">Community Answer</div></div></div>'
        f'<div class="qa_answer answer ">{a}</div><div class="qa_answer_footer">{_votes()}</div></div></div></li>'
        for i, (q, a) in enumerate(pairs)
    )
    return (
        '<div class="qa section sticky qa_show_unanswered_questions"><h2 class="qa_heading">'
        '<span id="qa_headline" class="mw-headline">Community Q&amp;A</span></h2><div id="qa" class="section_text">'
        f'<div id="qa_answered_questions_container"><ul id="qa_article_questions" class="qa_questions qa_aqs ">{items}'
        '</ul></div><div id="qa_ask_heading" class="qa_section_heading">Ask a Question</div>'
        '<div id="qa_submitted_question_form"><input id="qa_asked_question"><div id="qa_asked_count">'
        f'200 characters left</div></div>{_ad("qa_ad_1")}</div></div>'
    )


def article_page(
    *,
    title: str = "How to Fold a Paper Crane",
    page_name: str = "Fold-a-Paper-Crane",
    article_id: int | None = 424242,
    revision_id: int = 1000,
    breadcrumbs: list[str] | None = None,
    wg_categories: list[str] | None = None,
    intro: str = "Paper cranes are a classic origami model. With one square of paper you can fold one in minutes.",
    methods: list[Method] | None = None,
    tips: list[str] = (),
    warnings: list[str] = (),
    things: list[str] = (),
    ingredients: list[tuple[str | None, list[str]]] = (),
    qa: list[tuple[str, str]] = (),
    references: list[str] = (),
    related: list[str] = (),
    video: str | None = None,
    date_modified: str | None = "2020-08-01",
    date_published: str = "2010-01-02",
    last_updated: str = "August 1, 2020",
    with_config: bool = True,
    html_breadcrumbs: bool = True,
    host: str = "www.wikihow.com",
) -> str:
    """A whole article page; every argument maps to one part of the real markup."""
    breadcrumbs = ["Hobbies and Crafts", "Crafts", "Papercraft", "Origami"] if breadcrumbs is None else breadcrumbs
    wg_categories = list(reversed(breadcrumbs)) if wg_categories is None else wg_categories
    methods = methods if methods is not None else [
        Method("Making the Base", [Step("Fold the paper in half.", "Crease it well.", ["Use a ruler for sharp creases."]),
                                   Step("Open it again.", "Turn it over.")]),
        Method("Finishing the Crane", [Step("Fold the wings down.", "Pull them gently apart.")]),
    ]
    url = f"https://{host}/{page_name}"
    config = _config(
        wgPageName=page_name, wgTitle=title.removeprefix("How to "), wgCategories=wg_categories,
        **({"wgArticleId": article_id} if article_id is not None else {}),
        wgRevisionId=revision_id, wgCurRevisionId=revision_id,
    ) if with_config else ""
    ld_article = {"@context": "http://schema.org", "@type": "Article", "headline": title, "name": title,
                  "datePublished": date_published, "author": {"@type": "Organization", "name": "wikiHow"}}
    if date_modified:
        ld_article["dateModified"] = date_modified
    ld_crumbs = {"@context": "http://schema.org", "@type": "BreadcrumbList", "itemListElement": [
        {"@type": "ListItem", "position": i + 2,
         "item": {"@id": f"https://{host}/Category:{c.replace(' ', '-')}", "name": c}}
        for i, c in enumerate(breadcrumbs)]}
    crumbs = "".join(
        f'<li><a href="/Category:{c.replace(" ", "-")}" title="Category:{c}">{c}</a></li>' for c in breadcrumbs
    )
    crumb_list = (
        '<ul id="breadcrumb" class="breadcrumbs" aria-label="Category breadcrumbs">'
        f'<li><a href="/Special:CategoryListing" title="Special:CategoryListing">Categories</a></li>{crumbs}</ul>'
        if breadcrumbs and html_breadcrumbs else ""
    )
    methods_html = "".join(_method_section(i, len(methods), m) for i, m in enumerate(methods))
    video_html = (
        '<div class="section video sticky"><h2 class="section-heading"><span class="mw-headline">Video</span></h2>'
        f'<div id="video" class="section_text"><center><div class="embedvideocontainer"><iframe class="embedvideo" '
        f'data-src="{video}" frameborder="0" allowfullscreen=""></iframe></div></center></div></div>'
        if video else ""
    )
    refs = "".join(
        f'<li id="_note-{i + 1}"><a href="#_ref-{i + 1}">↑</a> <span class="reference-text">'
        f'<a rel="nofollow" class="external free" href="{r}">{r}</a></span></li>'
        for i, r in enumerate(references)
    )
    related_html = "".join(
        f'<div class="related-article"><div class="related-image"><a class="related-image-link" href="/R{i}">'
        f'<img alt="{r}" src="/r{i}.jpg"></a></div><a class="related-title" href="/R{i}">'
        f'<span class="related-title-text"><p>How to</p>{r}</span></a></div>'
        for i, r in enumerate(related)
    )
    return f"""<!DOCTYPE html>
<html class="client-nojs" lang="en" dir="ltr">
<head>
<meta charset="utf-8"/>
<title>{html.escape(title)} - wikiHow</title>
{config}
<link rel="canonical" href="{url}"/>
<meta property="og:title" content="{html.escape(title)}"/>
<meta property="og:url" content="{url}"/>
<meta name="twitter:app:url:iphone" content="wikihow://article?id={article_id or ''}"/>
<script type="application/ld+json">{json.dumps(ld_article)}</script>
<script type="application/ld+json">{json.dumps(ld_crumbs)}</script>
<style>.step{{color:red}}</style>
</head>
<body class="mediawiki ns-0 action-view">
<div id="header"><a href="/Main-Page">wikiHow</a><input type="text" name="search" placeholder="Search"></div>
<div class="pre-content">{crumb_list}<h1 id="section_0" class="title_lg"><a href="{url}">{html.escape(title)}</a></h1></div>
<div id="bodyContent" class="content"><script>WH.video=function(){{console.log("player")}};</script>
<div id="mw-content-text" class="mw-content-ltr"><div class="mw-parser-output">
<div id="intro" class="section hasad sticky">
<div id="coauthor_byline" class="article_byline "><div id="byline_info"><b>Co-authored by</b> <a class="coauthor_link">wikiHow Staff</a>
<p><span>Last Updated: {last_updated}</span> <a class="byline_references">References</a></p></div></div>
<div id="byline_hover"><div id="byline_hover_body"><p>This article was co-authored by our trained team of editors.</p></div></div>
<div id="method_toc" class="en_toc"><div id="method_toc_list"><span class="header_toc">Explore this Article</span></div></div>
<div id="mf-section-0" class="mf-section-0">{_image(title)}<p>{intro}{_reference_marker(9)}</p></div>
<div class="clearall"></div>{_ad("intro_ad_1")}</div>
{_ingredients(list(ingredients))}
<h2 class="section-heading hidden"><span id="Steps" class="mw-headline">Steps</span></h2>
<div id="mf-section-1" class="mf-section-1 collapsible-block">{methods_html}{_qa(list(qa)) if qa else ""}</div>
{video_html}
{_list_section("tips", "tips", "Tips", list(tips), votes=True)}
{_list_section("warnings", "warnings", "Warnings", list(warnings), votes=True)}
{_list_section("thingsyoullneed", "thingsyoullneed", "Things You’ll Need", list(things), votes=False)}
<div class="section relatedwikihows sticky"><h2><span class="mw-headline">Related wikiHows</span></h2>
<div id="relatedwikihows" class="section_text">{related_html}{_ad("middlerelated")}</div></div>
</div></div>
<div class="section references sourcesandcitations sticky"><h2 class="section-heading"><span id="References" class="mw-headline">References</span></h2>
<div id="references" class="section_text"><ol class="firstref references">{refs}</ol></div></div>
<div id="aboutthisarticle" class="section aboutthisarticle sticky"><div id="summary_wrapper" class="section_text">
<a class="collapse_link">Article Summary</a><p id="summary_text" class="text_summary_wrapper">Fold, crease and shape the paper. <span id="summary_last_sentence">To learn more, scroll down!</span></p></div></div>
<div id="article_rating_mobile" class="section_text"><h2><span class="mw-headline">Did this article help you?</span></h2>
<button class="button vote_up">Yes</button><button class="button vote_down">No</button></div>
</div>
<script>console.log("footer")</script><noscript><img src="https://sb.scorecardresearch.com/p?c1=2"/></noscript></body></html>
"""


def _non_article(*, title: str, page_name: str, namespace: int, special: str | bool = False, main: bool = False,
                 body: str = "") -> str:
    config = _config(wgPageName=page_name, wgTitle=title, wgNamespaceNumber=namespace,
                     wgCanonicalSpecialPageName=special, wgIsArticle=not special, wgCategories=[],
                     **({"wgIsMainPage": True} if main else {}))
    url = f"https://www.wikihow.com/{page_name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>{title} - wikiHow</title>{config}
<link rel="canonical" href="{url}"/></head>
<body><h1 id="section_0">{title}</h1><div id="bodyContent" class="content"><div class="mw-parser-output">{body}</div></div></body></html>
"""


def category_page(name: str = "Origami") -> str:
    """A category listing: namespace 14, links to articles, no steps of its own."""
    links = "".join(f'<li><a href="/Fold-{i}">How to Fold {i}</a></li>' for i in range(3))
    return _non_article(title=f"Category:{name}", page_name=f"Category:{name}", namespace=14, body=f"<ul>{links}</ul>")


def search_page(query: str = "crane") -> str:
    """Special:Search results (namespace -1)."""
    return _non_article(title="Search", page_name="Special:Search", namespace=-1, special="Search",
                        body=f'<div class="result"><a href="/Fold-a-Paper-Crane">How to {query}</a></div>')


def user_page(user: str = "Example") -> str:
    """A user page (namespace 2)."""
    return _non_article(title=f"User:{user}", page_name=f"User:{user}", namespace=2, body="<p>About me.</p>")


def main_page() -> str:
    """The home page: namespace 0 but not an article."""
    return _non_article(title="Main Page", page_name="Main-Page", namespace=0, main=True,
                        body='<div class="section steps"><ol><li>Featured</li></ol></div>')


def write_warc(path: Path, pages: list[tuple[str, bytes]], *, noise_records: bool = True, gzip: bool = True,
               content_type: str = "text/html; charset=UTF-8", gzip_payload: bool = False) -> Path:
    """A WARC of HTTP 200 HTML responses for ``pages`` ((url, body) pairs), each after its request
    (``gzip`` compresses the records, ``gzip_payload`` the HTTP bodies with Content-Encoding).

    With ``noise_records`` it also holds what real crawls hold: a warcinfo record, a response from
    another site, a 301 redirect and an image from wikihow.com, which the source must not take
    for pages.
    """
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=gzip)
        if noise_records:
            writer.write_record(writer.create_warcinfo_record(path.name, {"software": "tests/wikihow_fixtures"}))
            _response(writer, "https://example.com/index.html", b"<html><body>Not wikiHow</body></html>", "text/html")
            _response(writer, "https://www.wikihow.com/Old-Name", b"", "text/html", status="301 Moved Permanently",
                      extra=[("Location", "https://www.wikihow.com/New-Name")])
            _response(writer, "https://www.wikihow.com/images/a.jpg", b"\xff\xd8\xff\xe0 jpeg", "image/jpeg")
        encoding = [("Content-Encoding", "gzip")] if gzip_payload else []
        for url, body in pages:
            head = f"GET {url} HTTP/1.1\r\nHost: www.wikihow.com\r\n\r\n".encode()
            request = writer.create_warc_record(url, "request", payload=io.BytesIO(head), length=len(head))
            writer.write_record(request)
            _response(writer, url, gzip_module.compress(body) if gzip_payload else body, content_type, extra=encoding)
    return path


def _response(writer: WARCWriter, url: str, body: bytes, content_type: str, *, status: str = "200 OK",
              extra: list[tuple[str, str]] = ()) -> None:
    headers = StatusAndHeaders(
        status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *extra], protocol="HTTP/1.1"
    )
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body), http_headers=headers)
    writer.write_record(record)
