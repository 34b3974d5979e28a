"""The Ray engine against the local one: the same recipe on the same inputs gives the same rows, funnel and bytes.

Ray tests share one local Ray instance for the module (``num_cpus=2``, no dashboard, no network)
and skip when the ``ray`` extra is not installed. Byte ranges are forced small so one real
``Posts.xml`` is many tasks. The byte-range tests at the top need no Ray.
"""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from curation import pipeline
from curation.build import build
from curation.engines.byte_ranges import XML_ROW, line_number_at, read_range, row_ranges
from curation.errors import CurationError
from curation.filters.base import Transform
from curation.recipes.stackexchange import LIMA, UNFILTERED
from curation.samples.stackexchange import write_sample_dump
from curation.sources import stackexchange as se
from curation.sources.stackexchange.pairs import POST_FIELDS
from curation.sources.stackexchange.xmlrows import ParseStats, iter_row_frames

#: Small enough that cardano's Posts.xml (3.1 MB) is ~48 tasks and coffee's (0.76 MB) ~12.
SMALL_RANGE = 64 * 1024


def _se(shared_data) -> Path:
    return shared_data / "stackexchange"


def _parse(chunks, **where) -> tuple[pl.DataFrame, ParseStats]:
    stats = ParseStats()
    frames = list(iter_row_frames(chunks, fields=POST_FIELDS, root="posts", label="Posts.xml", stats=stats, **where))
    return pl.concat(frames) if frames else pl.DataFrame(schema={f: pl.String for f in POST_FIELDS}), stats


def _parse_ranges(path: Path, target: int) -> tuple[pl.DataFrame, ParseStats, int]:
    """Parse ``path`` range by range, each on its own, as Ray tasks do."""
    total, frames, ranges, line = ParseStats(), [], row_ranges(path, target), 1
    assert line_number_at(path, ranges[-1].start) == 1 + path.read_bytes()[: ranges[-1].start].count(b"\n")
    for r in ranges:
        data = b"".join(read_range(path, r.start, r.end))
        frame, stats = _parse([data], head=r.head, tail=r.tail, offset=r.start, line=line)
        line += data.count(b"\n")
        frames.append(frame)
        total.rows, total.bytes = total.rows + stats.rows, total.bytes + stats.bytes
    return pl.concat(frames), total, len(ranges)


# --------------------------------------------------------------------------- byte ranges (no Ray)


@pytest.mark.parametrize("target", [1, 4096, SMALL_RANGE, 10**9])
def test_ranges_of_a_real_posts_xml_tile_it_at_row_starts_and_parse_to_the_same_rows(shared_data, target):
    path = _se(shared_data) / "cardano.stackexchange.com" / "Posts.xml"
    data = path.read_bytes()
    ranges = row_ranges(path, target)
    assert ranges[0].start == 0 and ranges[-1].end == len(data)
    assert all(a.end == b.start for a, b in zip(ranges, ranges[1:]))
    for r in ranges[1:]:
        assert data[r.start - 1 : r.start] == b"\n" and data[r.start :].lstrip(b" ").startswith(XML_ROW)
    whole, whole_stats = _parse([data])
    parts, part_stats, count = _parse_ranges(path, target)
    assert count == len(ranges) and (count > 40 if target <= SMALL_RANGE else count == 1)
    assert parts.equals(whole) and whole.height == 2630
    assert (part_stats.rows, part_stats.bytes) == (whole_stats.rows, whole_stats.bytes)


def test_ranges_of_real_ndjson_hold_whole_objects(shared_data):
    path = shared_data / "reddit" / "askreddit_2016-05_threads" / "comments.ndjson"
    ranges = row_ranges(path, 50_000, row_start=None)
    assert len(ranges) > 20
    schema = {name: pl.String for name in ("id", "link_id", "parent_id", "body", "score", "edited")}  # types drift
    parts = [pl.read_ndjson(b"".join(read_range(path, r.start, r.end)), schema=schema) for r in ranges]
    whole = pl.read_ndjson(path, schema=schema)
    assert pl.concat(parts).equals(whole) and whole.height == 11851 and whole["id"].n_unique() == 11851


def test_a_row_longer_than_the_search_window_and_crlf_lines_are_never_cut(tmp_path):
    rows = [f'  <row Id="{i}" PostTypeId="1" Body="{"x" * (600_000 if i == 2 else 50)}" />' for i in range(1, 6)]
    path = tmp_path / "Posts.xml"
    path.write_bytes(("\ufeff<?xml version=\"1.0\"?>\r\n<posts>\r\n" + "\r\n".join(rows) + "\r\n</posts>").encode())
    ranges = row_ranges(path, 10)
    assert len(ranges) == 6  # the prologue, then one range per row (the closing tag rides with the last)
    parts, stats, _ = _parse_ranges(path, 10)
    assert parts["Id"].to_list() == ["1", "2", "3", "4", "5"] and parts["Body"].str.len_chars()[1] == 600_000
    assert stats.bytes == path.stat().st_size - path.read_bytes().index(b"<posts>") - len(b"<posts>")


def test_a_closing_tag_followed_by_rows_is_refused_by_ranges_as_by_the_whole_file(tmp_path):
    good = '  <row Id="1" PostTypeId="1" />\n'
    path = tmp_path / "Posts.xml"
    path.write_text('<?xml version="1.0"?>\n<posts>\n' + good * 50 + "</posts>\n" + good * 50 + "</posts>\n")
    with pytest.raises(CurationError) as whole:
        _parse([path.read_bytes()])
    with pytest.raises(CurationError) as ranged:
        _parse_ranges(path, 200)
    assert str(ranged.value) == str(whole.value) == "Posts.xml (line 53): a closing tag before the end of the rows"


# --------------------------------------------------------------------------- on Ray


@pytest.fixture(scope="module")
def ray_session():
    pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'curation[ray]'")
    from curation.engines.ray_runtime import session

    with session(num_cpus=2) as ray:
        yield ray


@pytest.fixture(scope="module")
def everything(shared_data, tmp_path_factory) -> list[str]:
    """Every real Stack Exchange dump (archive, folders, variants, meta) and the generated sample dump."""
    se_dir = _se(shared_data)
    sample = write_sample_dump(tmp_path_factory.mktemp("sample"))
    return [str(se_dir / "beer.stackexchange.com.7z"), str(se_dir / "cardano.stackexchange.com"),
            str(se_dir / "coffee.stackexchange.com"), str(se_dir / "datascience.meta.stackexchange.com"),
            str(se_dir / "variants" / "ai.stackexchange.com-reserialized"),
            str(se_dir / "variants" / "history.meta.stackexchange.com-doctype"), str(sample)]  # fmt: skip


@pytest.fixture(scope="module")
def scanned(ray_session, everything, tmp_path_factory):
    """The same dumps scanned by both engines (meta sites and unanswered questions included)."""
    from curation.engines.ray_sources import scan_stackexchange_on_ray

    cache = tmp_path_factory.mktemp("cache")
    options = {"include_meta": True, "include_unanswered": True, "cache_dir": cache}
    local, local_stats = se.scan_with_stats(everything, **options)
    ray_ds, ray_stats = scan_stackexchange_on_ray(everything, range_bytes=4 * SMALL_RANGE, **options)
    return local.collect(), local_stats, ray_ds, ray_stats


def _rows(ray, ds) -> pl.DataFrame:
    return pl.concat([pl.from_arrow(t) for t in ray.get(ds.to_arrow_refs()) if t.num_rows])


def test_candidates_and_counts_on_ray_equal_the_local_scan(ray_session, scanned):
    local, local_stats, ray_ds, ray_stats = scanned
    on_ray = _rows(ray_session, ray_ds)
    assert on_ray.schema == local.schema == pl.Schema(se.SCHEMA)
    assert on_ray.sort("id").equals(local.sort("id"))
    assert local.height > 6000 and local["answer_id"].null_count() > 0 and local["is_meta"].any()
    assert ray_stats.sites == local_stats.sites and ray_stats.inputs == local_stats.inputs
    assert all(site["posts"]["slow_chunks"] == 0 for site in ray_stats.sites.values())
    cardano = ray_stats.sites["cardano.stackexchange.com"]
    assert cardano["posts"]["rows"] == 2630 and cardano["users"]["rows"] > 0


def _same_result(local: pipeline.PipelineResult, ray: pipeline.PipelineResult) -> None:
    assert ray.funnel == local.funnel
    assert ray.kept.schema == local.kept.schema and ray.kept.equals(local.kept)
    assert ray.examples.equals(local.examples)
    assert (ray.rejected is None) == (local.rejected is None)
    assert ray.rejected is None or ray.rejected.equals(local.rejected)


@pytest.mark.parametrize(
    ("recipe", "dropping_select"),
    [(LIMA, "exact_dedup"), (LIMA.replace(size=8), "stratified_sample"),
     (LIMA.replace(sample_while_filtering=False), "exact_dedup"), (UNFILTERED.replace(size=60), "one_per_question")],
    ids=["lima", "lima-size-8", "lima-eager", "unfiltered-size-60"],
)
def test_steps_on_ray_keep_reject_and_count_exactly_as_locally(ray_session, scanned, recipe, dropping_select):
    from curation.engines import ray_engine

    local_rows, _, ray_ds, _ = scanned
    steps = recipe.steps()
    local = pipeline.run(local_rows.lazy(), steps, seed=recipe.seed, keep_rejects=True)
    on_ray = ray_engine.run(ray_ds, steps, seed=recipe.seed, keep_rejects=True, batch_rows=512)
    _same_result(local, on_ray)
    by_name = {s["name"]: s for s in local.funnel["steps"]}
    assert by_name[dropping_select]["dropped"], "the select under test must drop rows here"
    assert 0 < local.kept.height <= recipe.size
    if recipe.size == 8:  # without rejects, examples are fetched by id instead: once is enough
        without_rejects = ray_engine.run(ray_ds, steps, seed=recipe.seed, batch_rows=512)
        _same_result(pipeline.run(local_rows.lazy(), steps, seed=recipe.seed), without_rejects)


def test_dedup_text_hash_collisions_do_not_change_what_is_kept(ray_session, scanned):
    from curation.engines import ray_engine

    local_rows, _, ray_ds, _ = scanned
    local = pipeline.run(local_rows.lazy(), LIMA.steps(), seed=LIMA.seed)
    # 2 bits: every text shares its hash with a quarter of the others, so dedup decides on the texts.
    _same_result(local, ray_engine.run(ray_ds, LIMA.steps(), seed=LIMA.seed, dedup_hash_bits=2))


@dataclass(frozen=True)
class DieOnce(Transform):
    """Kills the worker running it the first time it sees ``marker`` (renamed atomically: one death)."""

    marker: str = ""

    name = "die_once"

    def apply(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        marker = self.marker

        def check(ids: pl.Series) -> pl.Series:
            if ids.len():
                try:
                    os.rename(marker, marker + ".taken")
                except FileNotFoundError:
                    return ids
                os._exit(1)
            return ids

        return lf.with_columns(pl.col("id").map_batches(check, return_dtype=pl.String))


def test_a_worker_killed_mid_build_is_retried_and_the_result_is_identical(ray_session, scanned, tmp_path):
    from curation.engines import ray_engine

    ray_session.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    local_rows, _, ray_ds, _ = scanned
    marker = tmp_path / "die"
    steps = [DieOnce(str(marker)), *LIMA.steps()]
    local = pipeline.run(local_rows.lazy(), steps, seed=LIMA.seed, keep_rejects=True)
    assert not (tmp_path / "die.taken").exists()
    marker.touch()
    on_ray = ray_engine.run(ray_ds, steps, seed=LIMA.seed, keep_rejects=True)
    assert (tmp_path / "die.taken").exists() and not marker.exists(), "no worker died"
    _same_result(local, on_ray)


class _OnRay:
    """A recipe whose scan runs on Ray: what ``build(..., engine="ray")`` does, until build() takes it."""

    def __init__(self, recipe):
        self._recipe = recipe

    def __getattr__(self, name):
        return getattr(self._recipe, name)

    def scan(self, paths, **options):
        from curation.engines import ray_engine

        return ray_engine.scan(self._recipe, paths, **options)


def _build_on_ray(monkeypatch, recipe, dumps, **kwargs):
    from curation.engines import ray_engine

    if "engine" in inspect.signature(build).parameters:
        return build(recipe, dumps, engine="ray", **kwargs)
    monkeypatch.setattr(pipeline, "run", ray_engine.run)
    try:
        return build(_OnRay(recipe), dumps, **kwargs)
    finally:
        monkeypatch.undo()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_lima_build_on_ray_is_byte_identical_to_the_local_build(ray_session, shared_data, tmp_path, monkeypatch):
    se_dir = _se(shared_data)
    dumps = [str(se_dir / "beer.stackexchange.com.7z"), str(se_dir / "cardano.stackexchange.com"),
             str(se_dir / "coffee.stackexchange.com")]  # fmt: skip
    cache = {"cache_dir": str(tmp_path / "cache")}
    local = build(LIMA, dumps, out=tmp_path / "local", keep_rejects=True, scan_options=cache)
    tasks: list[dict] = []
    on_ray = _build_on_ray(monkeypatch, LIMA, dumps, out=tmp_path / "ray", keep_rejects=True,
                           scan_options={**cache, "range_bytes": SMALL_RANGE, "timings": tasks})  # fmt: skip
    by_site = {site: sum(t.get("site") == site for t in tasks) for site in ("cardano.stackexchange.com",
                                                                              "coffee.stackexchange.com")}
    assert by_site["cardano.stackexchange.com"] > 40 and by_site["coffee.stackexchange.com"] > 8  # many ranges
    assert on_ray.manifest["content_hash"] == local.manifest["content_hash"]
    assert on_ray.manifest == local.manifest
    local_files, ray_files = _files(local.path), _files(on_ray.path)
    assert ray_files.keys() == local_files.keys() and "data/train-00000-of-00001.parquet" in ray_files
    assert [name for name in local_files if ray_files[name] != local_files[name]] == []
    assert local.manifest["funnel"]["kept"] > 0


def test_a_non_stackexchange_recipe_runs_on_ray_from_its_local_scan(ray_session, shared_data, tmp_path, monkeypatch):
    from curation.recipes.kocot import KOCOT

    recipe = KOCOT.replace(columns={"source": "question", "rationale": "reason", "target": "answer", "task": "class"},
                           size=300)  # fmt: skip
    dumps = [str(shared_data / "korean" / "public_mwp_data_v2_reasoning-test.jsonl")]
    local = build(recipe, dumps, out=tmp_path / "local", scan_options={"cache_dir": tmp_path / "c"})
    on_ray = _build_on_ray(monkeypatch, recipe, dumps, out=tmp_path / "ray", scan_options={"cache_dir": tmp_path / "c"})
    assert on_ray.manifest == local.manifest and on_ray.manifest["splits"]["train"] == 300


# --------------------------------------------------------------------------- bad input on Ray: the local one line


def _coffee(shared_data) -> bytes:
    return (_se(shared_data) / "coffee.stackexchange.com" / "Posts.xml").read_bytes()


def _site(tmp_path: Path, data: bytes, name: str = "coffee.stackexchange.com") -> Path:
    folder = tmp_path / "dump" / name
    folder.mkdir(parents=True)
    (folder / "Posts.xml").write_bytes(data)
    return folder


def _both_fail(path, tmp_path, **options) -> tuple[str, str]:
    from curation.engines.ray_sources import scan_stackexchange_on_ray

    with pytest.raises(CurationError) as local:
        se.scan(path, cache_dir=tmp_path / "local", **options).collect()
    with pytest.raises(CurationError) as on_ray:
        scan_stackexchange_on_ray(path, cache_dir=tmp_path / "ray", range_bytes=SMALL_RANGE, **options)
    assert type(on_ray.value) is CurationError and "\n" not in str(on_ray.value)
    return str(local.value), str(on_ray.value)


def test_a_malformed_row_in_a_later_range_is_named_by_its_line_as_locally(ray_session, shared_data, tmp_path):
    lines = _coffee(shared_data).split(b"\n")
    bad_line = 500  # well past the first of coffee's ~12 ranges
    lines[bad_line - 1] = lines[bad_line - 1].replace(b'" Score="', b' Score="', 1)  # a quote lost
    folder = _site(tmp_path, b"\n".join(lines))
    assert len(row_ranges(folder / "Posts.xml", SMALL_RANGE)) > 8
    local, on_ray = _both_fail(folder, tmp_path)
    assert on_ray == local and f"line {bad_line})" in on_ray and "malformed row" in on_ray


def test_skipped_malformed_rows_are_counted_as_locally(ray_session, shared_data, tmp_path):
    from curation.engines.ray_sources import scan_stackexchange_on_ray

    data = _coffee(shared_data).replace(b'<row Id="2" PostTypeId="1"', b'<row Id="2" PostTypeId="one"', 1)
    lines = data.split(b"\n")
    lines[450] = lines[450].replace(b'" Score="', b' Score="', 1)
    folder = _site(tmp_path, b"\n".join(lines))
    local, local_stats = se.scan_with_stats(folder, skip_malformed=True, cache_dir=tmp_path / "a")
    on_ray, ray_stats = scan_stackexchange_on_ray(folder, skip_malformed=True, cache_dir=tmp_path / "b",
                                                  range_bytes=SMALL_RANGE)  # fmt: skip
    assert ray_stats.malformed == local_stats.malformed == 2
    for stats in (ray_stats, local_stats):  # chunks that took the slow path: 32 MiB chunks vs byte ranges
        assert stats.sites["coffee.stackexchange.com"]["posts"].pop("slow_chunks") >= 1
    assert ray_stats.sites == local_stats.sites
    assert _rows(ray_session, on_ray).sort("id").equals(local.collect().sort("id"))


def test_a_truncated_posts_xml_fails_with_the_local_message(ray_session, shared_data, tmp_path):
    data = _coffee(shared_data)
    local, on_ray = _both_fail(_site(tmp_path, data[: len(data) * 2 // 3]), tmp_path)
    assert on_ray == local and "before </posts>: truncated" in on_ray


def test_a_corrupt_archive_fails_with_the_local_message(ray_session, shared_data, tmp_path):
    data = bytearray((_se(shared_data) / "beer.stackexchange.com.7z").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0x5A for b in data[middle : middle + 64])
    broken = tmp_path / "beer.stackexchange.com.7z"
    broken.write_bytes(bytes(data))
    local, on_ray = _both_fail(broken, tmp_path)
    assert on_ray == local and "beer.stackexchange.com.7z" in on_ray


def test_the_ray_engine_without_ray_says_how_to_install_it(monkeypatch):
    from curation.engines import ray_engine

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as if it were not installed
    with pytest.raises(CurationError, match=r"pip install 'curation\[ray\]'"):
        ray_engine.run(pl.LazyFrame({"id": ["a"]}), [])
    with pytest.raises(CurationError, match="install"):
        ray_engine.scan(LIMA, ["nowhere"])
