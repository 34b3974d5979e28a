"""The Markdown length bound is never below the true length: real posts and adversarial HTML."""

from __future__ import annotations

import random

import polars as pl
import pytest

from curation.sources import stackexchange
from curation.text import markdown_bound
from curation.text.html_markdown import html_to_markdown
from curation.text.markdown_bound import markdown_length_bound

SITES = ("beer.stackexchange.com.7z", "cardano.stackexchange.com", "coffee.stackexchange.com",
         "datascience.meta.stackexchange.com", "variants/ai.stackexchange.com-reserialized",
         "variants/history.meta.stackexchange.com-doctype")  # fmt: skip


def _bounds_and_lengths(html: list[str | None]) -> pl.DataFrame:
    frame = pl.DataFrame({"html": html}, schema={"html": pl.String})
    return frame.with_columns(
        bound=markdown_length_bound(pl.col("html")),
        length=pl.Series([None if h is None else len(html_to_markdown(h)) for h in html], dtype=pl.Int64),
    )


def _broken(checked: pl.DataFrame) -> list[tuple[int, int, str]]:
    bad = checked.filter(pl.col("bound") < pl.col("length"))
    return [(b, n, h[:300]) for b, n, h in bad.select("bound", "length", "html").iter_rows()]


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


def test_real_posts_never_exceed_their_bound(real_posts):
    checked = _bounds_and_lengths(real_posts)
    assert checked.height > 5000
    assert _broken(checked) == []
    bounded = checked.filter(pl.col("bound").is_not_null())
    assert bounded.height > 0.6 * checked.height  # lists, quotes and tables aside
    short = bounded.filter(pl.col("bound") < 1200).height
    assert short > 0.5 * checked.height  # the point: most real posts are provably under LIMA's 1,200
    slack = (bounded["bound"] - bounded["length"]).median()
    assert slack < 60, f"the bound is loose (median slack {slack})"


# Pieces of HTML that stretch each rule of the argument (module docstring of markdown_bound).
_TEXT = [
    "plain words here", "  spaced \t out  ", "line\nbreak", "crlf\r\nline", "café naïve", "ﬃ ﬁ ﬄ",
    "\u0958\u0959\u095a", "\U0001d160\U0001d161\u2126\ufb2c", "ＡＢＣ\uffe3\uff9e", "Ã©tÃ© â€™sÃ©",
    "&amp; &lt; &gt; &quot;", "&nbsp;&nbsp;", "&#96;&#96;&#96;", "&#64259;&#xFB03;", "&nGt;&NotEqualTilde;",
    "&#x1D160;&#119137;", "&eacute;&lt&amp;lt;&#0;&#13;", "&bogus; & alone", "``", "`x`", "a ```` b",
    "< not a tag >", "1 < 2 > 0", "<>", "</>", "x\u00a0y", "\x0b\x0c",
]  # fmt: skip
_INLINE = ["b", "strong", "i", "em", "s", "del", "code", "kbd", "samp", "sub", "sup", "q", "span", "abbr",
           "x-y", "soup", "fn-cache", "list", "h2o", "B", "CODE", "font", "mark"]  # fmt: skip
_BLOCK = ["p", "div", "article", "section", "dl", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h10",
          "caption", "figcaption", "pre", "P", "H6", "PRE", "center", "address"]  # fmt: skip
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
    if roll < 0.75:
        tag = rng.choice(_INLINE)
    elif roll < 0.85:
        cls = rng.choice(_PRE_CLASSES)
        code_cls = rng.choice(_PRE_CLASSES)
        return f"<pre{cls}><code{code_cls}>{inner}\n\n</code></pre>"
    else:
        tag = rng.choice(_BLOCK)
    close = f"</{tag}>" if rng.random() < 0.85 else ""  # end tags may be left out
    return f"<{tag}>{inner}{close}"


def test_adversarial_html_never_exceeds_its_bound():
    rng = random.Random(6)
    docs = ["".join(_fragment(rng, 0) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    docs += ["<h6>" + "<h6>".join("x" * i for i in range(30)), "<hr>" * 200, "<pre></pre>" * 50,
             "<code>" + "`" * 30 + "</code>", "</br>" * 100, "\U0001d160" * 100, "&nGt;" * 100,
             "<pre class='lang-js'>x</pre>" * 30, "<p>" * 300, "<b>x" * 100, None, ""]  # fmt: skip
    checked = _bounds_and_lengths(docs)
    assert _broken(checked) == []
    assert checked["bound"].null_count() < 0.5 * len(docs)  # most of them were bounded at all


@pytest.mark.parametrize(
    "html",
    ["<ul><li>a</li></ul>", "<OL><LI>a", "<blockquote>q</blockquote>", "<dl><dd>d</dd></dl>",
     "<table><tr><td>1</td></tr></table>", "<p><th>x</th></p>", "<video src=v.mp4>", "<textarea><b>x</b>",
     "<title>t</title>", "<xmp><b>", "<plaintext>x", "<iframe>x</iframe>", "<noscript>x</noscript>"],
)  # fmt: skip
def test_no_bound_where_lines_are_indented_or_text_is_raw(html):
    assert _bounds_and_lengths([html])["bound"][0] is None


def test_an_unverified_markdownify_gets_no_bound(monkeypatch):
    monkeypatch.setattr(markdown_bound, "VERIFIED_MARKDOWNIFY", ("0.13.",))
    assert _bounds_and_lengths(["<p>short</p>"])["bound"][0] is None
    monkeypatch.undo()
    assert _bounds_and_lengths(["<p>short</p>"])["bound"][0] is not None
