"""The Stack Exchange source on the real dumps in ../shared/data/stackexchange.

Expected values come from an independent reader (lxml's iterparse over the same bytes) and, for
a few rows, from reading the XML by hand.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone

import polars as pl
import py7zr
import pytest
from lxml import etree

from curation.sources import stackexchange as se

SITES = {
    "coffee.stackexchange.com": "coffee.stackexchange.com",
    "cardano.stackexchange.com": "cardano.stackexchange.com",
    "datascience.meta.stackexchange.com": "datascience.meta.stackexchange.com",
    "ai.stackexchange.com": "variants/ai.stackexchange.com-reserialized",
    "history.meta.stackexchange.com": "variants/history.meta.stackexchange.com-doctype",
}


def _posts_bytes(shared_data, site: str) -> bytes:
    if site == "beer.stackexchange.com":
        with py7zr.SevenZipFile(shared_data / "stackexchange" / "beer.stackexchange.com.7z") as z:
            factory = py7zr.io.BytesIOFactory(64 * 1024 * 1024)
            z.extract(targets=["Posts.xml"], factory=factory)
            return factory.get("Posts.xml").read()
    return (shared_data / "stackexchange" / SITES[site] / "Posts.xml").read_bytes()


def _independent(data: bytes) -> tuple[dict[int, dict], dict[int, dict]]:
    """Questions and answers by id, read with lxml (a real XML parser, not our code)."""
    questions, answers = {}, {}
    for _, el in etree.iterparse(io.BytesIO(data), tag="row"):
        attrs = dict(el.attrib)
        if attrs["PostTypeId"] == "1":
            questions[int(attrs["Id"])] = attrs
        elif attrs["PostTypeId"] == "2":
            answers[int(attrs["Id"])] = attrs
        el.clear()
    return questions, answers


def _path(shared_data, site):
    if site == "beer.stackexchange.com":
        return shared_data / "stackexchange" / "beer.stackexchange.com.7z"
    return shared_data / "stackexchange" / SITES[site]


@pytest.mark.parametrize("site", ["beer.stackexchange.com", *SITES])
def test_counts_equal_an_independent_count(shared_data, tmp_path, site):
    questions, answers = _independent(_posts_bytes(shared_data, site))
    frame = se.scan(_path(shared_data, site), include_meta=True, include_unanswered=True, cache_dir=tmp_path).collect()
    assert frame["question_id"].n_unique() == len(questions)
    answered = frame.filter(pl.col("answer_id").is_not_null())
    parents = {int(a["ParentId"]) for a in answers.values()}
    assert set(answered["answer_id"].to_list()) == {i for i, a in answers.items() if int(a["ParentId"]) in questions}
    assert answered.height == sum(1 for a in answers.values() if int(a["ParentId"]) in questions)
    unanswered = frame.filter(pl.col("answer_id").is_null())
    assert unanswered.height == len(set(questions) - parents)
    assert frame["id"].n_unique() == frame.height
    assert frame["site"].unique().to_list() == [site]
    _, stats = se.scan_with_stats(_path(shared_data, site), include_meta=True, cache_dir=tmp_path)
    assert stats.sites[site]["posts"]["slow_chunks"] == 0  # the columnar path read every row


@pytest.mark.parametrize("site", ["beer.stackexchange.com", *SITES])
def test_rows_match_the_xml_field_by_field(shared_data, tmp_path, site):
    questions, answers = _independent(_posts_bytes(shared_data, site))
    frame = se.scan(_path(shared_data, site), include_meta=True, cache_dir=tmp_path).collect()
    by_answer = {row["answer_id"]: row for row in frame.iter_rows(named=True)}
    # every answer with a parent is a row; check all fields of a spread of them
    checked = 0
    for answer_id in sorted(by_answer)[:: max(1, len(by_answer) // 25)]:
        row, a = by_answer[answer_id], answers[answer_id]
        q = questions[int(a["ParentId"])]
        assert row["id"] == f"stackexchange/{site}/{answer_id}"
        assert row["url"] == f"https://{site}/q/{q['Id']}"
        assert row["question_id"] == int(q["Id"])
        assert row["title"] == q["Title"]
        assert row["question_html"] == q["Body"]
        assert row["answer_html"] == a["Body"]
        assert row["question_score"] == int(q["Score"])
        assert row["answer_score"] == int(a["Score"])
        assert row["view_count"] == (int(q["ViewCount"]) if "ViewCount" in q else None)
        assert row["is_accepted"] == (q.get("AcceptedAnswerId") == a["Id"])
        assert row["closed"] == ("ClosedDate" in q)
        assert row["license"] == a.get("ContentLicense", q.get("ContentLicense", "CC BY-SA 3.0"))
        raw_tags = q.get("Tags", "")
        expected_tags = raw_tags.strip("|").split("|") if raw_tags.startswith("|") else raw_tags[1:-1].split("><")
        assert row["tags"] == [t for t in expected_tags if t]
        created = datetime.fromisoformat(a["CreationDate"]).replace(tzinfo=timezone.utc)
        assert row["created_at"] == created
        assert row["answer_owner_id"] == (int(a["OwnerUserId"]) if "OwnerUserId" in a else None)
        siblings = [x for x in answers.values() if x["ParentId"] == a["ParentId"]]
        assert row["answer_count"] == len(siblings)
        checked += 1
    assert checked >= 10


def test_answer_rank_orders_by_score_then_accepted_then_age(shared_data, tmp_path):
    questions, answers = _independent(_posts_bytes(shared_data, "beer.stackexchange.com"))
    frame = se.scan(_path(shared_data, "beer.stackexchange.com"), cache_dir=tmp_path).collect()
    for question_id, group in frame.group_by("question_id"):
        q = questions[question_id[0]]
        mine = [(-int(a["Score"]), a["Id"] != q.get("AcceptedAnswerId"), a["CreationDate"], int(a["Id"]))
                for a in answers.values() if a["ParentId"] == q["Id"]]  # fmt: skip
        expected = [key[3] for key in sorted(mine)]
        assert group.sort("answer_rank")["answer_id"].to_list() == expected
        assert group["answer_rank"].sort().to_list() == list(range(1, len(expected) + 1))


def test_known_rows_read_by_hand(shared_data, tmp_path):
    frame = se.scan(shared_data / "stackexchange" / "cardano.stackexchange.com", cache_dir=tmp_path).collect()
    row = frame.filter(pl.col("answer_id") == 12).row(0, named=True)
    assert row["title"] == "How Cardano is different from Ethereum (2.0)?"
    assert row["question_score"] == 36 and row["view_count"] == 918 and row["answer_score"] == 43
    assert row["tags"] == ["proof-of-work", "governance", "ethereum"]
    assert row["is_accepted"] and row["answer_rank"] == 1 and row["answer_count"] == 2
    assert row["question_owner_id"] == 17 and row["question_owner_name"] == "FelikZ"  # from Users.xml
    assert row["license"] == "CC BY-SA 4.0"
    assert row["question_html"].startswith("<p>As far as I know, the Cardano project")

    coffee = se.scan(shared_data / "stackexchange" / "coffee.stackexchange.com", cache_dir=tmp_path).collect()
    first = coffee.filter(pl.col("question_id") == 1).sort("answer_rank").row(0, named=True)
    assert first["title"] == "How should I store whole bean coffee?"
    assert first["tags"] == ["storage", "whole-bean"]
    assert first["license"] == "CC BY-SA 3.0"  # 2015 dump: no ContentLicense attribute

    meta = se.scan(shared_data / "stackexchange" / "datascience.meta.stackexchange.com", include_meta=True,
                   cache_dir=tmp_path).collect()  # fmt: skip
    tex = meta.filter(pl.col("question_id") == 6)
    assert tex["tags"][0].to_list() == ["feature-request", "status-completed"]  # the |a|b| form
    assert tex["title"][0] == "Can we get TeX support?"
    assert meta["is_meta"].all()

    ai = se.scan(shared_data / "stackexchange" / "variants" / "ai.stackexchange.com-reserialized",
                 cache_dir=tmp_path).collect()  # fmt: skip
    backprop = ai.filter(pl.col("question_id") == 1)
    assert backprop["title"][0] == 'What is "backprop"?'  # &quot; decoded, rows ending ></row>
    assert '"backprop"' in backprop["question_html"][0]


def test_meta_sites_are_excluded_by_default_and_a_whole_dump_folder_reads(shared_data, tmp_path):
    lf, stats = se.scan_with_stats(shared_data / "stackexchange", cache_dir=tmp_path)
    sites = set(lf.select("site").unique().collect()["site"])
    assert sites == {"beer.stackexchange.com", "cardano.stackexchange.com", "coffee.stackexchange.com"}
    assert stats.skipped_meta == ["datascience.meta.stackexchange.com"]
    variants = se.scan(shared_data / "stackexchange" / "variants", include_meta=True, cache_dir=tmp_path)
    assert set(variants.select("site").unique().collect()["site"]) == {
        "ai.stackexchange.com", "history.meta.stackexchange.com"}  # fmt: skip


def test_bare_posts_xml_takes_the_site_from_its_folder_or_the_option(shared_data, tmp_path):
    posts = shared_data / "stackexchange" / "coffee.stackexchange.com" / "Posts.xml"
    assert se.scan(posts, cache_dir=tmp_path).select("site").unique().collect().item() == "coffee.stackexchange.com"
    copy = tmp_path / "somewhere" / "Posts.xml"
    copy.parent.mkdir()
    copy.write_bytes(posts.read_bytes())
    assert se.scan(copy, site="coffee.stackexchange.com", cache_dir=tmp_path).select(pl.len()).collect().item() == 327
    from curation.errors import CurationError

    with pytest.raises(CurationError, match="cannot tell the site"):
        se.scan(copy, cache_dir=tmp_path)


def test_second_scan_reads_the_cache_and_gives_the_same_rows(shared_data, tmp_path):
    path = shared_data / "stackexchange" / "beer.stackexchange.com.7z"
    first = se.scan(path, cache_dir=tmp_path).collect()
    cached = list((tmp_path / "stackexchange").glob("beer*"))
    assert len(cached) == 1 and (cached[0] / "meta.json").is_file()
    second = se.scan(path, cache_dir=tmp_path).collect()
    assert first.equals(second)
    assert len(list((tmp_path / "stackexchange").glob("beer*"))) == 1


def test_site_names_from_file_names():
    assert se.site_from_name("coffee.stackexchange.com.7z") == "coffee.stackexchange.com"
    assert se.site_from_name("stackoverflow.com-Posts.7z") == "stackoverflow.com"
    assert se.site_from_name("ai.stackexchange.com-reserialized") == "ai.stackexchange.com"
    assert se.site_from_name("dump") is None
