"""The Markdown length bounds hold on real posts and adversarial HTML, and lxml sees BeautifulSoup's tree."""

from __future__ import annotations

import random

import polars as pl
import pytest

from curation.sources import stackexchange
from curation.text import markdown_bound
from curation.text.html_markdown import html_to_markdown
from curation.text.markdown_bound import _parse, markdown_length_bounds

SITES = ("beer.stackexchange.com.7z", "cardano.stackexchange.com", "coffee.stackexchange.com",
         "datascience.meta.stackexchange.com", "variants/ai.stackexchange.com-reserialized",
         "variants/history.meta.stackexchange.com-doctype")  # fmt: skip


def _bounds_and_lengths(html: list[str | None]) -> pl.DataFrame:
    """Both bounds of every document (parsed everywhere: minimum above, maximum below any length)."""
    frame = pl.DataFrame({"html": html}, schema={"html": pl.String})
    return frame.with_columns(
        markdown_length_bounds(pl.col("html"), minimum=10**9, maximum=0).alias("bounds"),
        length=pl.Series([None if h is None else len(html_to_markdown(h)) for h in html], dtype=pl.Int64),
    ).unnest("bounds")


def _broken(checked: pl.DataFrame) -> list[tuple[int, int, int, str]]:
    bad = checked.filter((pl.col("upper") < pl.col("length")) | (pl.col("lower") > pl.col("length")))
    return [(lo, up, n, h[:300]) for lo, up, n, h in bad.select("lower", "upper", "length", "html").iter_rows()]


def _shape(doc: str) -> tuple[list, list]:
    """(tag, depth) of every element as lxml (`_parse`) and as BeautifulSoup with lxml see it."""
    from bs4 import BeautifulSoup, Tag

    root = _parse(doc)
    ours = [] if root is None else [(el.tag, len(list(el.iterancestors()))) for el in root.iter() if isinstance(el.tag, str)]
    soup = BeautifulSoup(doc, "lxml")
    theirs = [(t.name, len(list(t.parents)) - 1) for t in soup.descendants if isinstance(t, Tag)]
    return ours, theirs


@pytest.fixture(scope="module")
def real_posts(shared_data, tmp_path_factory) -> list[str]:
    """Every answer and question body of the real Stack Exchange dumps (each question once)."""
    cache = tmp_path_factory.mktemp("cache")
    posts: list[str] = []
    for site in SITES:
        pairs = stackexchange.scan(shared_data / "stackexchange" / site, cache_dir=cache)
        frame = pairs.select("answer_html", "question_html").collect()
        posts += frame["answer_html"].drop_nulls().to_list() + frame["question_html"].unique().drop_nulls().to_list()
    return posts


def test_real_posts_stay_within_their_bounds(real_posts):
    checked = _bounds_and_lengths(real_posts)
    assert checked.height > 5000
    assert _broken(checked) == []
    bounded = checked.filter(pl.col("upper").is_not_null())
    assert bounded.height > 0.95 * checked.height  # tables aside
    assert bounded.filter(pl.col("upper") < 1200).height > 0.6 * checked.height  # most are provably too short
    slack = (bounded["upper"] - bounded["length"]).median()
    assert slack < 80, f"the upper bound is loose (median slack {slack})"
    long = checked.filter(pl.col("length") > 4096)
    assert long.height > 20 and long.filter(pl.col("lower") > 4096).height > 0.5 * long.height


def test_lxml_sees_the_tree_beautifulsoup_builds(real_posts):
    for doc in real_posts[::7] + _adversarial(500):
        if markdown_bound._DOCUMENT_TAG.search(doc):  # such documents get no parse (see _parsed)
            continue
        ours, theirs = _shape(doc)
        assert ours == theirs, doc[:300]


# Pieces of HTML that stretch each rule of the argument (module docstring of markdown_bound).
_TEXT = [
    "plain words here", "  spaced \t out  ", "line\nbreak", "crlf\r\nline", "café naïve", "ﬃ ﬁ ﬄ",
    "\u0958\u0959\u095a", "\U0001d160\U0001d161\u2126\ufb2c", "ＡＢＣ\uffe3\uff9e", "Ã©tÃ© â€™sÃ©",
    "&amp; &lt; &gt; &quot;", "&nbsp;&nbsp;", "&#96;&#96;&#96;", "&#64259;&#xFB03;", "&nGt;&NotEqualTilde;",
    "&#x1D160;&#119137;", "&eacute;&lt&amp;lt;&#0;&#13;", "&bogus; & alone", "``", "`x`", "a ```` b",
    "< not a tag >", "1 < 2 > 0", "<>", "</>", "x\u00a0y", "\x0b\x0c", "e\u0301e\u0302\u0303", "&ampersand &#38;amp;",
    "\x1b[31mred\x1b[0m", "&#27;[1mbold", "multi\nline\n\ntext\r\nhere", "&#10;&#13;",
]  # fmt: skip
_INLINE = ["b", "strong", "i", "em", "s", "del", "code", "kbd", "samp", "sub", "sup", "q", "span", "abbr",
           "x-y", "soup", "fn-cache", "list", "h2o", "B", "CODE", "font", "mark"]  # fmt: skip
_BLOCK = ["p", "div", "article", "section", "dl", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h10",
          "caption", "figcaption", "pre", "P", "H6", "PRE", "center", "address", "li", "LI", "blockquote",
          "dd", "ul", "ol", "ol start='9'", "ol start='98'", "ol start='x'", "ol start='\u0663'", "script",
          "style"]  # fmt: skip
_VOID = ["<br>", "<br/>", "</br>", "<hr>", "<HR/>", "</p>", "<img src='x.png' alt='an image'>", "<wbr>",
         "<!-- <b>x</b> -- > -->", "<![CDATA[ <b> ]]>", "<?php echo 1 ?>", "<!DOCTYPE html>", "<html>",
         "<head>", "<body>", "</body>", "</html>", "<script>var a = '<b>';</script>", "<style>p{}</style>",
         "<b", "<p title='a>b'>", '<a title="<b>x</b>" href="https://e.com/?a=1&amp;b=2">', "</a>"]  # fmt: skip
_PRE_CLASSES = ["", ' class="lang-js"', ' class="lang-py prettyprint-override"', ' class="language-sh"',
                ' class="lang-cs"', ' class="lang-' + "x" * 40 + '"', ' class="lang-html"', ' class="none"']  # fmt: skip


def _fragment(rng: random.Random, depth: int) -> str:
    roll = rng.random()
    if depth > 4 or roll < 0.35:
        return rng.choice(_TEXT)
    if roll < 0.5:
        return rng.choice(_VOID)
    inner = "".join(_fragment(rng, depth + 1) for _ in range(rng.randint(0, 4)))
    if roll < 0.55:  # a list: items with any content, numbered past 9 at times
        items = "".join(f"<li>{_fragment(rng, depth + 1)}</li>" for _ in range(rng.randint(1, 12)))
        opening = rng.choice(["ol", "ul", "ol start='99'"])
        return f"<{opening}>{items}</{opening[:2]}>"
    if roll < 0.75:
        tag = rng.choice(_INLINE)
    elif roll < 0.85:
        cls = rng.choice(_PRE_CLASSES)
        code_cls = rng.choice(_PRE_CLASSES)
        return f"<pre{cls}><code{code_cls}>{inner}\n\n</code></pre>"
    else:
        tag = rng.choice(_BLOCK)
    close = f"</{tag.split()[0]}>" if rng.random() < 0.85 else ""  # end tags may be left out
    return f"<{tag}>{inner}{close}"


def _adversarial(n: int) -> list[str]:
    rng = random.Random(6)
    return ["".join(_fragment(rng, 0) for _ in range(rng.randint(1, 12))) for _ in range(n)]


def test_adversarial_html_stays_within_its_bounds():
    docs = _adversarial(3000)
    docs += ["<h6>" + "<h6>".join("x" * i for i in range(30)), "<hr>" * 200, "<pre></pre>" * 50,
             "<code>" + "`" * 30 + "</code>", "</br>" * 100, "\U0001d160" * 100, "&nGt;" * 100,
             "<pre class='lang-js'>x</pre>" * 30, "<p>" * 300, "<b>x" * 100, None, "",
             "<ol>" + "<li>x\ny</li>" * 120 + "</ol>", "<li>" * 40 + "deep\n" * 40,
             "<blockquote>" * 20 + "q\n\nq" * 20, "<dl><dd>" + "a\nb" * 50 + "</dd></dl>",
             "<ol start='123456789012'><li><pre>a\nb\nc</pre></li><li><li>x</li></li></ol>",
             "<p>" + "word " * 1200 + "</p>", "<script>" + "x" * 5000 + "</script>" + "y" * 10,
             "<p>" + "&#38;amp;" * 100 + "</p>", "<p>" + "&amp;lt;" * 50 + "x</p>"]  # fmt: skip  (ftfy unescapes)
    checked = _bounds_and_lengths(docs)
    assert _broken(checked) == []
    plain = checked.filter(~pl.col("html").str.contains(r"(?i)<(?:t[dhr]|table|video|textarea|title|xmp|iframe|"
                                                        r"noembed|noframes|noscript|plaintext)|</?(?:html|head|body)\b"))
    assert plain.height > 1000  # the documents without made-up rows, raw text or document tags…
    assert plain["upper"].null_count() == 0  # …all get an upper bound
    assert plain.filter(pl.col("lower") > 0).height > 0.2 * plain.height  # (non-ASCII text lowers it to 0)
    words = checked.filter(pl.col("html") == "<p>" + "word " * 1200 + "</p>")
    assert words["lower"][0] == 4800 <= words["length"][0]


@pytest.mark.parametrize(
    "html",
    ["<table><tr><td>1</td></tr></table>", "<p><th>x</th></p>", "<video src=v.mp4>", "<textarea><b>x</b>",
     "<title>t</title>", "<xmp><b>", "<plaintext>x", "<iframe>x</iframe>", "<noscript>x</noscript>",
     "<ol start='\u00b2'><li>markdownify cannot number this</li></ol>"],
)  # fmt: skip
def test_no_upper_bound_for_made_up_rows_raw_text_or_what_markdownify_refuses(html):
    assert _bounds_and_lengths_no_length([html])["upper"][0] is None


def _bounds_and_lengths_no_length(html: list[str]) -> pl.DataFrame:
    frame = pl.DataFrame({"html": html})
    return frame.select(markdown_length_bounds(pl.col("html"), minimum=10**9, maximum=0).alias("b")).unnest("b")


def test_the_parse_runs_only_where_it_can_settle_the_range(monkeypatch):
    seen: list[str] = []
    real = markdown_bound._parsed
    monkeypatch.setattr(markdown_bound, "_parsed", lambda doc: seen.append(doc) or real(doc))
    docs = ["<ul><li>short</li></ul>", "<ul><li>" + "long " * 400 + "</li></ul>", "<p>" + "x" * 5000, "<p>plain</p>"]
    bounds = pl.DataFrame({"html": docs}).select(
        markdown_length_bounds(pl.col("html"), minimum=1200, maximum=4096).alias("b")
    ).unnest("b")
    assert seen == [docs[0], docs[2]]  # the long list cannot be too short by its flat bound; plain needs none
    assert bounds["upper"][0] < 1200 and bounds["upper"][1] is None and bounds["lower"][2] > 4096


def test_an_unverified_markdownify_gets_no_bounds(monkeypatch):
    monkeypatch.setattr(markdown_bound, "VERIFIED_MARKDOWNIFY", ("0.13.",))
    assert _bounds_and_lengths_no_length(["<p>short</p>"]).row(0) == (None, None)
    monkeypatch.undo()
    assert _bounds_and_lengths_no_length(["<p>short</p>"]).row(0) != (None, None)


def test_a_document_lxml_refuses_or_finds_empty_gets_no_parsed_bounds():
    # a lone surrogate: lxml cannot encode it (BeautifulSoup raises there, so the conversion reports it)
    assert markdown_bound._parsed("<ul><li>a\ud800b</li></ul>") == (None, None)
    assert markdown_bound._parsed("") == (None, None)  # no tree at all
    assert markdown_bound._parsed("<ul><li>x</li></ul>") != (None, None)
