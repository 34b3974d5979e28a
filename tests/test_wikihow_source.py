"""wikiHow source: extraction of the real pages (numbers checked by hand against the HTML once),
rendering, WARC input, skipped pages and unreadable input."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from curation.columns import CANONICAL
from curation.errors import CurationError
from curation.sources.wikihow import (
    DEFAULT_SECTIONS,
    LICENSE,
    SECTIONS,
    SOURCE_COLUMNS,
    TOP_CATEGORIES,
    prompt_expr,
    render,
    response_expr,
    rewrite_opening,
    scan,
    scan_with_stats,
)
from wikihow_fixtures import (
    NOISE,
    Method,
    Step,
    article_page,
    category_page,
    main_page,
    search_page,
    user_page,
    write_warc,
)

# --- the real pages, as read by hand in the HTML ----------------------------------------------
# steps: per method, the <li> of each "div.section.steps > div.section_text > ol"; kinds from the
# "Method/Part N of M" label; categories from the breadcrumb list; dates from JSON-LD
# (dateModified, which matches the "Last Updated" byline); counts of <li> in #tips, #warnings,
# #thingsyoullneed; ingredient groups split by their <h3>; answered Q&A "li.qa_aq"; references
# "ol.references > li" (both reference lists); the #video iframe.
REAL = {
    "2020-08-15__3_Simple_Ways_to_Determine_if_an_Information_Source_Is_Reliable_COVID_19.html": dict(
        id="wikihow/12064680", revision_id=28484635,
        title="How to Determine if an Information Source Is Reliable (COVID 19)",
        url="https://www.wikihow.com/Determine-if-an-Information-Source-Is-Reliable-(COVID-19)",
        categories=["Health", "Infectious Diseases", "COVID 19"], group="Health",
        kind="method", methods=["Vetting the Source", "Looking for Signs of Misinformation",
                                "Stopping the Spread of Misinformation"], steps=[6, 5, 4],
        tips=1, warnings=1, things=0, ingredients=[], qa=0, references=17, video=None,
        created="2020-08-14", published="2020-07-22",
    ),
    "2020-08-15__3_Ways_to_Cook_Lamb_Steaks_-_wikiHow.html": dict(
        id="wikihow/4614251", revision_id=28480029, title="How to Cook Lamb Steaks",
        url="https://www.wikihow.com/Cook-Lamb-Steaks",
        categories=["Food and Entertaining", "Recipes", "Meat", "Beef and Lamb", "Steak Dishes"],
        group="Food and Entertaining", kind="method",
        methods=["Prepping the Lamb Steaks", "Grilling the Lamb Steaks", "Baking the Lamb Steaks"], steps=[4, 5, 6],
        tips=2, warnings=0, things=0, ingredients=[(None, 5)], qa=2, references=7, video=None,
        created="2020-08-13", published="2014-05-28",
    ),
    "2020-08-15__3_Ways_to_Grill_Fish_-_wikiHow.html": dict(
        id="wikihow/12232", revision_id=28438232, title="How to Grill Fish",
        url="https://www.wikihow.com/Grill-Fish",
        categories=["Food and Entertaining", "Barbecue", "Barbecue Fish"], group="Food and Entertaining",
        kind="method", methods=["Cleaning the Grill to Prevent Sticking", "Fillets", "Whole Fish"], steps=[4, 7, 8],
        tips=2, warnings=1, things=9, ingredients=[], qa=4, references=32, video=None,
        created="2020-07-31", published="2005-10-23",
    ),
    "2020-08-15__4_Ways_to_Cook_Aubergine_-_wikiHow.html": dict(
        id="wikihow/1357199", revision_id=28432048, title="How to Cook Aubergine",
        url="https://www.wikihow.com/Cook-Aubergine",
        categories=["Food and Entertaining", "Recipes", "Fruits and Vegetables", "Eggplant"],
        group="Food and Entertaining", kind="method",
        methods=["Prepping Aubergine for Cooking", "Roasting Aubergine", "Sauteing Aubergine", "Grilling Aubergine"],
        steps=[4, 3, 4, 5], tips=1, warnings=1, things=9, ingredients=[], qa=5, references=3, video=None,
        created="2020-07-29", published="2011-04-27",
    ),
    "2020-08-15__4_Ways_to_Prevent_Cardio_from_Burning_Muscle_-_wikiHow.html": dict(
        id="wikihow/12067559", revision_id=28477204, title="How to Prevent Cardio from Burning Muscle",
        url="https://www.wikihow.com/Prevent-Cardio-from-Burning-Muscle",
        categories=["Sports and Fitness", "Personal Fitness"], group="Sports and Fitness", kind="method",
        methods=["Effective Cardio Workouts", "Strength Training Workouts", "Exercise Options", "What to Eat"],
        steps=[5, 5, 4, 4], tips=2, warnings=0, things=0, ingredients=[], qa=1, references=22, video=None,
        created="2020-08-12", published="2020-07-23",
    ),
    "2020-08-15__How_to_Grill_Flank_Steak_15_Steps_with_Pictures_-_wikiHow.html": dict(
        id="wikihow/1345060", revision_id=28477877, title="How to Grill Flank Steak",
        url="https://www.wikihow.com/Grill-Flank-Steak",
        categories=["Food and Entertaining", "Recipes", "Meat", "Beef and Lamb", "Steak Dishes"],
        group="Food and Entertaining", kind="part",
        methods=["Scoring and Seasoning the Meat", "Grilling to Perfection", "Serving Flank Steak"], steps=[4, 7, 4],
        tips=1, warnings=1, things=11,
        ingredients=[(None, 3), ("Red Wine Vinegar Marinade", 6), ("Lemon and Worcestershire Marinade", 6),
                     ("Dry Rub", 7)],
        qa=0, references=11, video="https://www.youtube.com/embed/wnHEzQGkVm0",
        created="2020-08-12", published="2011-04-19",
    ),
    "2020-08-15__How_to_Make_Ube_Halaya_with_Pictures_-_wikiHow.html": dict(
        id="wikihow/1339947", revision_id=28405157, title="How to Make Ube Halaya",
        url="https://www.wikihow.com/Make-Ube-Halaya",
        categories=["Food and Entertaining", "Recipes", "World Cuisines", "Asian Cuisine", "Philippine Dishes"],
        group="Food and Entertaining", kind="part", methods=["Making Ube Halaya", "Making Latik (for Topping)"],
        steps=[10, 7], tips=1, warnings=2, things=3, ingredients=[("Ube Halaya", 7), ("Latik", 1)],
        qa=4, references=15, video="https://www.youtube.com/embed/2ni06m1JBjk",
        created="2020-07-22", published="2011-04-15",
    ),
}

#: Page furniture present in the real HTML (asserted below) that must never reach a response.
REAL_NOISE = (
    "Advertisement", "Image titled", "addScrollLoadItem", "Not Helpful", "Submit a Tip", "Research source",
    "Co-authored by", "This article was co-authored", "Explore this Article", "Last Updated",
    "Did this article help you?", "Thanks for submitting a tip", "Image by:", "WH.video", "mw.config",
    "Community Answer", "Add New Question", "200 characters left", "Article Summary", "scroll down",
)
TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>")


@pytest.fixture(scope="module")
def wikihow_dir(shared_data: Path) -> Path:
    return shared_data / "wikihow"


@pytest.fixture(scope="module")
def real(wikihow_dir: Path):
    lf, stats = scan_with_stats(wikihow_dir)
    return lf, stats, lf.collect()


@pytest.fixture(scope="module")
def rendered(real) -> pl.DataFrame:
    return render(real[0]).collect()


def _row(frame: pl.DataFrame, row_id: str) -> dict:
    rows = frame.filter(pl.col("id") == row_id).to_dicts()
    assert len(rows) == 1, row_id
    return rows[0]


# --- real pages -----------------------------------------------------------------------------


def test_real_folder_stats(real):
    _, stats, frame = real
    assert (stats.files, stats.pages, stats.articles) == (7, 7, 7)
    assert stats.skipped == {} and stats.errors == [] and stats.warc_records_ignored == 0
    assert frame.height == 7


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_page_extracted_as_checked_by_hand(real, name):
    want = REAL[name]
    row = _row(real[2], want["id"])
    assert row["title"] == want["title"]
    assert row["url"] == want["url"]
    assert row["revision_id"] == want["revision_id"]
    assert row["article_id"] == int(want["id"].split("/")[1])
    assert row["categories"] == want["categories"]
    assert row["top_category"] == row["group"] == want["group"]
    assert [m["title"] for m in row["methods"]] == want["methods"]
    assert {m["kind"] for m in row["methods"]} == {want["kind"]}
    assert [len(m["steps"]) for m in row["methods"]] == want["steps"]
    assert row["n_methods"] == len(want["steps"]) and row["n_steps"] == sum(want["steps"])
    assert all(s["headline"] for m in row["methods"] for s in m["steps"])
    # one real step is a bare headline: Lamb Steaks, "Preheat the oven to 190°C/375°F."
    bare = [s["headline"] for m in row["methods"] for s in m["steps"] if not s["text"]]
    assert bare == (["Preheat the oven to 190°C/375°F."] if want["id"] == "wikihow/4614251" else [])
    assert len(row["tips"]) == want["tips"]
    assert len(row["warnings"]) == want["warnings"]
    assert len(row["things_youll_need"]) == want["things"]
    assert [(g["heading"], len(g["items"])) for g in row["ingredients"]] == want["ingredients"]
    assert len(row["qa"]) == want["qa"]
    assert len(row["references"]) == want["references"]
    assert row["video"] == want["video"]
    assert row["created_at"] == datetime.fromisoformat(want["created"]).replace(tzinfo=timezone.utc)
    assert row["published_at"] == datetime.fromisoformat(want["published"]).replace(tzinfo=timezone.utc)
    assert row["origin"] == name
    assert row["intro"] and "This article" not in row["intro"]


def test_real_step_content(real):
    fish = _row(real[2], "wikihow/12232")
    first = fish["methods"][0]["steps"][0]
    assert first["headline"] == "Turn the grill on to about 550 °F (288 °C) to burn off grime."
    assert first["text"].startswith("Cover the grate on your grill with a layer of aluminum foil.")
    assert first["bullets"] == [
        "Cover the grill with the lid to keep heat from escaping. If it’s a charcoal grill, "
        "leave the vents open to feed the fire with oxygen."
    ]
    flank = _row(real[2], "wikihow/1345060")
    # MediaWiki "autonumber" links ("[5]") are replaced by their URL.
    assert "http://www.howtogrill.org/how-to-grill-flank-steak.html" in flank["references"]
    assert not any(re.fullmatch(r"\[\d+\]", r) for r in flank["references"])
    assert flank["ingredients"][1]["items"][0] == "1⁄3 cup (79 mL) of olive oil"


def test_real_canonical_columns(real):
    frame = real[2]
    for name, dtype in CANONICAL.items():
        assert frame.schema[name] == dtype, name
    assert list(frame.columns[: len(CANONICAL)]) == list(CANONICAL)
    assert frame["source"].unique().to_list() == ["wikihow"]
    assert frame["license"].unique().to_list() == [LICENSE]
    assert frame["prompt"].null_count() == frame["response"].null_count() == 7
    assert frame["id"].to_list() == sorted(frame["id"].to_list())
    assert set(frame["group"].to_list()) <= set(TOP_CATEGORIES)


def test_real_prompts(rendered):
    assert _row(rendered, "wikihow/12232")["prompt"] == "How to Grill Fish?"
    assert all(p.startswith("How to ") and p.endswith("?") and not p.endswith("??") for p in rendered["prompt"])


@pytest.mark.parametrize("sections", [DEFAULT_SECTIONS, SECTIONS], ids=["default", "all"])
def test_real_noise_is_in_the_html_but_not_in_responses(wikihow_dir, real, sections):
    raw = "".join(p.read_text(encoding="utf-8") for p in wikihow_dir.glob("*.html"))
    for noise in REAL_NOISE:
        assert noise in raw, f"test premise: {noise!r} should be in the real HTML"
    for row in render(real[0], sections).collect().iter_rows(named=True):
        response = row["response"]
        assert not TAG.search(response), (row["id"], TAG.search(response))
        for noise in REAL_NOISE:
            assert noise not in response, (row["id"], noise)
        assert not re.search(r"\[\d+\]", response), row["id"]  # reference markers
        assert "↑" not in response and "function(" not in response and "{" not in response


def test_real_response_layout(rendered, real):
    for row in rendered.iter_rows(named=True):
        response, source = row["response"], _row(real[2], row["id"])
        assert response.startswith(source["intro"][:80])
        # one numbered "1. **Headline** text" line per step, one heading per method / part
        assert len(re.findall(r"^\d+\. \*\*", response, re.M)) == source["n_steps"]
        label = "Method" if source["methods"][0]["kind"] == "method" else "Part"
        headings = re.findall(rf"^## {label} (\d+): (.+)$", response, re.M)
        assert headings == [(str(i + 1), m["title"]) for i, m in enumerate(source["methods"])]
        assert ("## Tips" in response) == bool(source["tips"])
        assert ("## Warnings" in response) == bool(source["warnings"])
        assert ("## Ingredients" in response) == bool(source["ingredients"])
        for pruned in ("## Things You'll Need", "## References", "## Questions and Answers", "## Related Articles"):
            assert pruned not in response
    fish = _row(rendered, "wikihow/12232")["response"]
    assert "delish.com" not in fish  # only cited in references
    assert 'What does "opaque" mean?' not in fish  # only in Q&A
    ube = _row(rendered, "wikihow/1339947")["response"]
    assert ube.index("## Ingredients") < ube.index("## Part 1: Making Ube Halaya") < ube.index("## Tips")
    assert "youtube" not in ube


def test_sections_option_prunes_and_keeps(real):
    lf = real[0].filter(pl.col("id") == "wikihow/12232")
    bare = lf.select(response_expr(())).collect().item()
    last_step = _row(real[2], "wikihow/12232")["methods"][-1]["steps"][-1]
    assert "## Tips" not in bare and "## Warnings" not in bare
    assert f"{last_step['text']}\n   - {last_step['bullets'][0]}" in bare
    assert bare.endswith(f"\n   - {last_step['bullets'][-1]}")
    full = lf.select(response_expr(SECTIONS)).collect().item()
    for heading in ("## Things You'll Need", "## Tips", "## Warnings", "## Questions and Answers",
                    "## References", "## Related Articles"):
        assert heading in full
    assert 'What does "opaque" mean?' in full and "delish.com" in full
    assert full.index("## Warnings") < full.index("## Questions and Answers") < full.index("## References")
    assert not TAG.search(full)
    assert len(bare) < len(lf.select(response_expr()).collect().item()) < len(full)
    with pytest.raises(ValueError, match="unknown wikiHow sections"):
        response_expr(["tips", "video"])
    assert DEFAULT_SECTIONS == ("ingredients", "tips", "warnings")


# --- WARC input -----------------------------------------------------------------------------


def test_warc_of_real_pages_gives_the_folder_rows(wikihow_dir, real, tmp_path):
    pages = [(f"https://www.wikihow.com/{p.stem}", p.read_bytes()) for p in sorted(wikihow_dir.glob("*.html"))]
    pages.insert(3, ("https://www.wikihow.com/Category:Origami", category_page().encode()))
    warc = write_warc(tmp_path / "crawl.warc.gz", pages)
    lf, stats = scan_with_stats(warc)
    frame = lf.collect()
    assert frame.drop("origin").equals(real[2].drop("origin"))
    assert all(re.fullmatch(r"crawl\.warc\.gz#\d+", o) for o in frame["origin"])
    assert stats.articles == 7 and stats.files == 1
    # the category page is skipped; the redirect and the image are pages that are not HTML 200
    assert stats.skipped == {"not_article": 1, "http_status": 1, "not_html": 1}
    # warcinfo + 8 requests + the other site's response are not pages
    assert stats.warc_records_ignored == 10
    plain = write_warc(tmp_path / "crawl.warc", pages[:2], noise_records=False, gzip=False)
    assert scan(plain).collect().height == 2
    encoded = write_warc(tmp_path / "encoded.warc.gz", pages[:2], noise_records=False, gzip_payload=True)
    assert scan(encoded).collect().drop("origin").equals(scan(plain).collect().drop("origin"))


def test_warc_charset_from_http_header(tmp_path):
    page = article_page(title="How to Make Crème Brûlée").replace('<meta charset="utf-8"/>', "")
    warc = write_warc(tmp_path / "latin.warc", [("https://www.wikihow.com/Make-Creme-Brulee", page.encode("latin-1"))],
                      noise_records=False, content_type="text/html; charset=ISO-8859-1")
    assert scan(warc).collect()["title"].to_list() == ["How to Make Crème Brûlée"]


# --- skipped pages and errors ---------------------------------------------------------------


def test_non_article_pages_are_skipped_and_counted(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "article.html").write_text(article_page(), encoding="utf-8")
    (tmp_path / "sub" / "cat.htm").write_text(category_page(), encoding="utf-8")
    (tmp_path / "search.html").write_text(search_page(), encoding="utf-8")
    (tmp_path / "user.html").write_text(user_page(), encoding="utf-8")
    (tmp_path / "main.html").write_text(main_page(), encoding="utf-8")
    (tmp_path / "other.html").write_text(article_page(host="example.org"), encoding="utf-8")
    (tmp_path / "empty-article.html").write_text(article_page(methods=[]), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a page", encoding="utf-8")
    lf, stats = scan_with_stats(tmp_path)
    assert lf.collect()["origin"].to_list() == ["article.html"]
    assert stats.files == 7 and stats.pages == 7 and stats.articles == 1
    assert stats.skipped == {"not_article": 4, "not_wikihow": 1, "no_steps": 1}
    assert stats.to_dict()["skipped"] == {"no_steps": 1, "not_article": 4, "not_wikihow": 1}
    nothing = scan(tmp_path / "sub").collect()
    assert nothing.height == 0 and nothing.columns == [*CANONICAL, *SOURCE_COLUMNS]
    assert nothing.schema["created_at"] == CANONICAL["created_at"]


def test_truncated_real_page_is_a_clear_error_or_skipped(wikihow_dir, tmp_path):
    source = wikihow_dir / "2020-08-15__3_Ways_to_Grill_Fish_-_wikiHow.html"
    data = source.read_bytes()
    (tmp_path / "good.html").write_bytes(data)
    (tmp_path / "cut.html").write_bytes(data[: len(data) // 2])
    with pytest.raises(CurationError) as caught:
        scan(tmp_path)
    message = str(caught.value)
    assert "cut.html" in message and "truncated" in message and "\n" not in message
    lf, stats = scan_with_stats(tmp_path, skip_unreadable=True)
    assert lf.collect()["origin"].to_list() == ["good.html"]
    assert stats.skipped == {"unreadable": 1} and stats.errors == ["cut.html: unreadable wikiHow page: truncated page (no closing </html> tag)"]


def test_wrong_encoding_and_empty_files_are_errors(wikihow_dir, tmp_path):
    data = bytearray((wikihow_dir / "2020-08-15__4_Ways_to_Cook_Aubergine_-_wikiHow.html").read_bytes())
    data[5000:5002] = b"\xff\xfe"
    bad = tmp_path / "latin.html"
    bad.write_bytes(bytes(data))
    with pytest.raises(CurationError, match=r"latin\.html: unreadable wikiHow page: not valid utf-8 text \(byte 5000\)"):
        scan(bad)
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    with pytest.raises(CurationError, match="empty page"):
        scan(empty)
    binary = tmp_path / "image.html"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(CurationError, match="image.html"):
        scan(binary)


def test_truncated_and_corrupt_warc(wikihow_dir, tmp_path):
    pages = [(f"https://www.wikihow.com/{p.stem}", p.read_bytes()) for p in sorted(wikihow_dir.glob("*.html"))[:3]]
    raw = write_warc(tmp_path / "full.warc.gz", pages).read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(raw[: int(len(raw) * 0.8)])
    with pytest.raises(CurationError, match=r"cut\.warc\.gz \(record at byte \d+\): unreadable wikiHow page: truncated"):
        scan(cut)
    lf, stats = scan_with_stats(cut, skip_unreadable=True)
    assert lf.collect().height == 2 and stats.skipped["unreadable"] == 1
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(b"\x1f\x8b\x08\x00" + b"not gzip at all " * 64)
    with pytest.raises(CurationError, match=r"junk\.warc\.gz \(byte 0\): .*not a WARC") as caught:
        scan(junk)
    assert len(str(caught.value)) < 300


def test_missing_paths_and_empty_folders(tmp_path):
    with pytest.raises(CurationError, match="no such file or folder"):
        scan(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CurationError, match="no .html"):
        scan(tmp_path / "empty")


# --- synthetic pages: structure, fallbacks, rendering ---------------------------------------


def _scan_one(tmp_path: Path, page: str, name: str = "page.html") -> dict:
    path = tmp_path / name
    path.write_text(page, encoding="utf-8")
    rows = render(scan(path), SECTIONS).collect().to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_synthetic_article_every_part_and_no_noise(tmp_path):
    row = _scan_one(tmp_path, article_page(
        intro="This wikiHow teaches you how to fold a crane. In this article, you will learn the base fold.",
        tips=["Use thin paper."], warnings=["Paper cuts hurt."], things=["Square paper"],
        ingredients=[(None, ["Glue"]), ("Glaze", ["Water", "Starch"])], qa=[("Can I use printer paper?", "Yes.")],
        references=["https://example.org/origami"], related=["Fold a Paper Boat"],
        video="https://www.youtube.com/embed/abc",
    ))
    assert row["id"] == "wikihow/424242" and row["group"] == "Hobbies and Crafts"
    assert row["categories"] == ["Hobbies and Crafts", "Crafts", "Papercraft", "Origami"]
    assert row["summary"] == "Fold, crease and shape the paper."
    assert row["methods"][0]["steps"][0] == {
        "headline": "Fold the paper in half.", "text": "Crease it well.", "bullets": ["Use a ruler for sharp creases."]
    }
    assert row["related"] == ["How to Fold a Paper Boat"] and row["video"] == "https://www.youtube.com/embed/abc"
    response = row["response"]
    assert response.startswith(
        "The following answer teaches you how to fold a crane. In the following answer, you will learn the base fold."
    )
    assert "## Method 1: Making the Base\n\n1. **Fold the paper in half.** Crease it well.\n   - Use a ruler" in response
    assert "## Ingredients\n\n- Glue\n\n**Glaze**\n- Water\n- Starch" in response
    assert "**Can I use printer paper?**\n\nYes." in response
    texts = [response, row["intro"], row["summary"], *row["tips"], *row["warnings"], *row["references"]]
    texts += [s["headline"] + s["text"] + "".join(s["bullets"]) for m in row["methods"] for s in m["steps"]]
    for noise in NOISE:
        for text in texts:
            assert noise not in text, noise
    assert not TAG.search(response) and "youtube" not in response


def test_unlabelled_steps_and_parts(tmp_path):
    single = _scan_one(tmp_path, article_page(methods=[Method(None, [Step("Do it.", "Now."), Step("Stop.", "")],
                                                              kind=None)]), "single.html")
    assert single["methods"] == [{"kind": "steps", "title": None, "steps": [
        {"headline": "Do it.", "text": "Now.", "bullets": []}, {"headline": "Stop.", "text": "", "bullets": []}]}]
    assert "## " not in single["response"].split("## Related")[0]
    assert "\n\n1. **Do it.** Now.\n2. **Stop.**\n" in single["response"] + "\n"
    parts = _scan_one(tmp_path, article_page(methods=[Method("Prepare", [Step("A.", "a")], kind="Part"),
                                                      Method("Finish", [Step("B.", "b")], kind="Part")]), "parts.html")
    assert re.findall(r"^## Part \d: \w+$", parts["response"], re.M) == ["## Part 1: Prepare", "## Part 2: Finish"]


def test_fallbacks_without_mw_config_or_breadcrumbs(tmp_path):
    no_config = _scan_one(tmp_path, article_page(with_config=False, article_id=None), "a.html")
    assert no_config["id"] == "wikihow/Fold-a-Paper-Crane" and no_config["article_id"] is None
    app_id = _scan_one(tmp_path, article_page(with_config=False, article_id=777), "b.html")
    assert app_id["id"] == "wikihow/777"
    ld_only = _scan_one(tmp_path, article_page(html_breadcrumbs=False, breadcrumbs=["Cars and Other Vehicles", "Bikes"]),
                        "c.html")
    assert ld_only["categories"] == ["Cars and Other Vehicles", "Bikes"] and ld_only["group"] == "Cars & Other Vehicles"
    flat = _scan_one(tmp_path, article_page(breadcrumbs=[], wg_categories=["Origami", "Papercraft", "Hobbies-and-Crafts",
                                                                           "Pages Needing Attention"]), "d.html")
    assert flat["categories"] == ["Hobbies-and-Crafts", "Papercraft", "Origami"] and flat["group"] == "Hobbies and Crafts"
    unknown = _scan_one(tmp_path, article_page(breadcrumbs=["Misc"], wg_categories=["Misc"]), "e.html")
    assert unknown["group"] is None and unknown["top_category"] is None
    undated = _scan_one(tmp_path, article_page(date_modified=None, last_updated="March 5, 2019"), "f.html")
    assert undated["created_at"] == datetime(2019, 3, 5, tzinfo=timezone.utc)


def test_duplicates_keep_the_newest_revision_and_order_does_not_matter(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "old.html").write_text(article_page(revision_id=5, intro="Old intro."), encoding="utf-8")
    (tmp_path / "b" / "new.html").write_text(article_page(revision_id=9, intro="New intro."), encoding="utf-8")
    (tmp_path / "b" / "other.html").write_text(article_page(article_id=1, page_name="Other"), encoding="utf-8")
    lf, stats = scan_with_stats([tmp_path / "a", tmp_path / "b"])
    frame = lf.collect()
    assert frame["id"].to_list() == ["wikihow/1", "wikihow/424242"]
    assert _row(frame, "wikihow/424242")["intro"] == "New intro."
    assert stats.articles == 2 and stats.skipped == {"duplicate": 1}
    reverse = scan([tmp_path / "b", tmp_path / "a"], batch_size=1).collect()
    assert reverse.equals(frame)


def test_cache_dir_reuses_records_and_follows_changes(real, wikihow_dir, tmp_path):
    pages = tmp_path / "pages"
    shutil.copytree(wikihow_dir, pages)
    cache = tmp_path / "cache"
    lf, stats = scan_with_stats(pages, cache_dir=cache, batch_size=3)
    assert stats.cached == 0 and len(list(cache.glob("wikihow/pages-*/part-*.parquet"))) == 3
    assert lf.collect().equals(real[2])
    again, stats = scan_with_stats(pages, cache_dir=cache, batch_size=3)
    assert stats.cached == 1 and again.collect().equals(real[2]) and stats.to_dict() == real[1].to_dict()
    # a changed page is a new input: re-extracted, and the old records are not used
    fish = pages / "2020-08-15__3_Ways_to_Grill_Fish_-_wikiHow.html"
    fish.write_bytes(fish.read_bytes().replace(b"How to Grill Fish</a></h1>", b"How to Grill a Fish</a></h1>"))
    changed, stats = scan_with_stats(pages, cache_dir=cache)
    assert stats.cached == 0 and _row(changed.collect(), "wikihow/12232")["title"] == "How to Grill a Fish"
    # a failed scan leaves no cache entry behind
    (pages / "cut.html").write_bytes(fish.read_bytes()[:1000])
    before = sorted(p.name for p in (cache / "wikihow").iterdir())
    with pytest.raises(CurationError, match="cut.html"):
        scan(pages, cache_dir=cache)
    assert sorted(p.name for p in (cache / "wikihow").iterdir()) == before


def test_input_fingerprints(wikihow_dir, tmp_path):
    pages = tmp_path / "pages"
    shutil.copytree(wikihow_dir, pages)
    single = pages / "2020-08-15__3_Ways_to_Grill_Fish_-_wikiHow.html"
    _, stats = scan_with_stats([pages, single])
    entries = stats.inputs(cache_dir=tmp_path / "memo")
    assert [e["name"] for e in entries] == ["pages", single.name]
    assert entries[0]["bytes"] == sum(p.stat().st_size for p in wikihow_dir.glob("*.html"))
    assert all(re.fullmatch(r"blake2b:[0-9a-f]{40}", e["fingerprint"]) for e in entries)
    # same content elsewhere -> same fingerprints; one changed byte -> another folder fingerprint
    _, elsewhere = scan_with_stats(wikihow_dir)
    assert elsewhere.inputs(cache_dir=tmp_path / "memo")[0]["fingerprint"] == entries[0]["fingerprint"]
    single.write_bytes(single.read_bytes().replace(b"Grill Fish", b"Grill Fisk", 1))
    _, stats = scan_with_stats(pages)
    assert stats.inputs(cache_dir=tmp_path / "memo")[0]["fingerprint"] != entries[0]["fingerprint"]


def test_rewrite_and_prompt_expressions():
    frame = pl.DataFrame({"intro": ["This article explains X. Read this wikiHow article now.", "Nothing here.", None],
                          "title": ["How to Grill Fish", "Why Is the Sky Blue?", None]})
    out = frame.select(rewrite_opening("intro"), prompt_expr())
    assert out["intro"].to_list() == ["The following answer explains X. Read the following answer now.",
                                      "Nothing here.", None]
    assert out["title"].to_list() == ["How to Grill Fish?", "Why Is the Sky Blue?", None]


def test_scan_is_deterministic(wikihow_dir, real, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(wikihow_dir, copy)
    assert scan(copy).collect().equals(real[2])
