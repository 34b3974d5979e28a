"""Reddit (a task per .zst, byte ranges of NDJSON) and wikiHow (groups of pages) on Ray give the local dataset."""

from __future__ import annotations

import pytest

from curation.build import build
from curation.errors import CurationError
from curation.recipes.reddit import LIMA_ASKREDDIT_TEST, LIMA_WRITINGPROMPTS
from curation.samples.reddit import write_sample_dump
from test_ray_engine import ray_session  # noqa: F401  (the module's Ray instance)


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _both(recipe, dumps, tmp_path, **scan):
    local = build(recipe, dumps, out=tmp_path / "local", scan_options={"cache_dir": tmp_path / "c", **scan})
    on_ray = build(recipe, dumps, out=tmp_path / "ray", engine="ray",
                   scan_options={"cache_dir": tmp_path / "c", "range_bytes": 20_000, **scan})  # fmt: skip
    return local, on_ray


def test_askreddit_ndjson_in_byte_ranges_builds_the_local_dataset(ray_session, shared_data, tmp_path):  # noqa: F811
    from curation.engines.byte_ranges import row_ranges

    threads = shared_data / "reddit" / "askreddit_2016-05_threads"
    assert len(row_ranges(threads / "comments.ndjson", 20_000, row_start=None)) > 50  # many tasks
    local, on_ray = _both(LIMA_ASKREDDIT_TEST, [str(threads)], tmp_path)
    assert on_ray.manifest == local.manifest and local.manifest["splits"]["test"] > 0
    assert _files(on_ray.path) == _files(local.path)


def test_writingprompts_zst_builds_the_local_dataset(ray_session, tmp_path):  # noqa: F811
    dump = write_sample_dump(tmp_path / "dump")
    local, on_ray = _both(LIMA_WRITINGPROMPTS, [str(dump)], tmp_path)
    assert on_ray.manifest == local.manifest and local.manifest["splits"]["train"] > 10
    assert _files(on_ray.path) == _files(local.path)


def test_a_malformed_line_in_a_later_range_is_named_as_locally(ray_session, shared_data, tmp_path):  # noqa: F811
    source = shared_data / "reddit" / "askreddit_2016-05_threads"
    folder = tmp_path / "threads"
    folder.mkdir()
    (folder / "submissions.ndjson").write_bytes((source / "submissions.ndjson").read_bytes())
    lines = (source / "comments.ndjson").read_bytes().split(b"\n")
    assert b'"subreddit": "AskReddit"' in lines[9000]
    lines[9000] = lines[9000].replace(b'"banned_by": null', b'"banned_by": nul', 1)  # broken JSON, still AskReddit
    (folder / "comments.ndjson").write_bytes(b"\n".join(lines))
    recipe = LIMA_ASKREDDIT_TEST
    with pytest.raises(CurationError) as local:
        build(recipe, [str(folder)], out=tmp_path / "l", scan_options={"cache_dir": tmp_path / "c"})
    with pytest.raises(CurationError) as on_ray:
        build(recipe, [str(folder)], out=tmp_path / "r", engine="ray",
              scan_options={"cache_dir": tmp_path / "c", "range_bytes": 20_000})  # fmt: skip
    assert str(on_ray.value) == str(local.value) and "line 9001" in str(local.value)
    skipped_local = build(recipe, [str(folder)], out=tmp_path / "l2",
                          scan_options={"cache_dir": tmp_path / "c", "skip_malformed": True})  # fmt: skip
    skipped_ray = build(recipe, [str(folder)], out=tmp_path / "r2", engine="ray",
                        scan_options={"cache_dir": tmp_path / "c", "skip_malformed": True, "range_bytes": 20_000})
    assert skipped_ray.manifest == skipped_local.manifest
    assert skipped_local.manifest["source_stats"]["malformed_lines_skipped"] == 1


def test_wikihow_pages_extracted_in_groups_on_ray_build_the_local_dataset(ray_session, shared_data, tmp_path):  # noqa: F811
    from curation.recipes.wikihow import LIMA_WIKIHOW

    pages = [str(shared_data / "wikihow")]
    local = build(LIMA_WIKIHOW.replace(size=5), pages, out=tmp_path / "local", scan_options={"cache_dir": tmp_path / "c"})
    on_ray = build(LIMA_WIKIHOW.replace(size=5), pages, out=tmp_path / "ray", engine="ray",
                   scan_options={"cache_dir": tmp_path / "c", "files_per_task": 2})  # fmt: skip
    assert on_ray.manifest == local.manifest and local.manifest["splits"]["train"] == 5
    assert _files(on_ray.path) == _files(local.path)
