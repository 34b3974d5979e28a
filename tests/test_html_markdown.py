"""html_to_markdown on real Stack Exchange bodies (code, lists, links, images, entities)."""

from __future__ import annotations

import polars as pl
import pytest

from curation.sources import stackexchange as se
from curation.text.html_markdown import html_to_markdown, html_to_markdown_expr


@pytest.fixture(scope="module")
def cardano(shared_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return se.scan(shared_data / "stackexchange" / "cardano.stackexchange.com", cache_dir=cache).collect()


def test_real_answer_with_code_lists_links_and_headings(cardano):
    html = cardano.filter(pl.col("answer_html").str.contains("Daedalus runs its own instance"))["answer_html"][0]
    md = html_to_markdown(html)
    assert "Daedalus runs its own instance of `cardano-node` under the hood" in md
    assert "1. Start Daedalus, and wait until it reaches the wallet home screen" in md
    assert "2. Use `cardano-cli`: [Documentation]" in md  # the link reduced to its text
    assert "### Ubuntu Example (Bash)" in md
    assert "```\nexport CARDANO_NODE_SOCKET_PATH=/home/$USER/.local/share/Daedalus/mainnet/cardano-node.socket" in md
    assert 'cd "C:\\Program Files\\Daedalus Mainnet"' in md  # &quot; decoded inside code
    assert "href" not in md and "<" not in md.replace("<=", "")


def test_real_answer_with_an_image_drops_it(cardano):
    html = cardano.filter(pl.col("answer_html").str.contains("cardanowaves.com"))["answer_html"][0]
    assert "<img" in html
    md = html_to_markdown(html)
    assert md.startswith("I found cardanowaves.com the other day on r/cardano")
    assert "imgur" not in md and "image description" not in md and "![" not in md


def test_code_language_hint_lists_and_entities():
    html = (
        '<p>Use <code>x &lt; y</code> &amp; more:</p>\n<ul>\n<li>one</li>\n<li>two <em>b</em></li>\n</ul>\n'
        '<pre class="lang-py prettyprint-override"><code>if a &lt; b:\n    print("ok")\n</code></pre>\n'
        '<pre><code class="language-javascript">let x = 1;\n</code></pre>\n'
        "<blockquote><p>quoted</p></blockquote>\n"
        "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>\n"
        "<p>caf\u00c3\u00a9</p>"
    )
    md = html_to_markdown(html)
    assert "Use `x < y` & more:" in md
    assert "* one\n* two *b*" in md
    assert '```python\nif a < b:\n    print("ok")\n```' in md
    assert "```javascript\nlet x = 1;\n```" in md
    assert "> quoted" in md
    assert "| a | b |" in md and "| 1 | 2 |" in md
    assert "café" in md  # mojibake repaired by ftfy


def test_expression_over_a_column_keeps_nulls(cardano):
    sample = cardano.head(20).select("answer_html")
    out = sample.select(html_to_markdown_expr("answer_html").alias("md"))
    assert out["md"].to_list() == [html_to_markdown(h) for h in sample["answer_html"]]
    assert pl.DataFrame({"h": [None, "<p>x</p>"]}).select(html_to_markdown_expr("h"))["h"].to_list() == [None, "x"]


def test_tags_named_like_converter_internals_are_unknown_tags():
    # markdownify looks converters up by name: <soup> and <fn-cache> used to reach non-converters and raise
    assert html_to_markdown("<p>a <soup>b</soup> c</p>") == "a b c"
    assert html_to_markdown("<P>x<FN-CACHE>y</FN-CACHE><fn:cache>z</fn:cache></P>") == "xyz"
