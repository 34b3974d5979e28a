"""Per-value Python functions shared with helper processes: same results, in order, whatever ran where."""

from __future__ import annotations

import functools
import time

import polars as pl
import pytest

from curation import rowmap
from curation.filters.language import detect_language
from curation.sources import stackexchange as se
from curation.text.html_markdown import html_to_markdown, html_to_markdown_expr


@pytest.fixture(scope="module")
def answers(shared_data, tmp_path_factory) -> list[str]:
    cache = tmp_path_factory.mktemp("cache")
    dumps = [shared_data / "stackexchange" / name for name in ("cardano.stackexchange.com", "coffee.stackexchange.com")]
    return se.scan(dumps, cache_dir=cache).select("answer_html").collect()["answer_html"].to_list()


def test_real_answers_convert_the_same_as_one_process(two_processes, answers):
    assert len(answers) > 500
    expected = [html_to_markdown(html) for html in answers]
    before = sum(h.values_done for h in two_processes)
    assert rowmap.map_values(html_to_markdown, answers) == expected
    done = sum(h.values_done for h in two_processes) - before
    assert 0 < done < len(answers), "both processes take part"
    column = pl.DataFrame({"html": answers}).select(html_to_markdown_expr("html"))["html"].to_list()
    assert column == expected
    detect = functools.partial(detect_language, max_chars=500)
    assert rowmap.map_values(detect, expected[:120]) == [detect(text) for text in expected[:120]]


def test_an_error_in_the_function_is_raised_here(two_processes):
    values = [0.001] * 200
    values[1] = -1  # the first piece: a helper's
    with pytest.raises(ValueError, match="non-negative"):
        rowmap.map_values(time.sleep, values)
    values[1], values[-1] = 0.001, -1  # the last piece: this process's
    with pytest.raises(ValueError, match="non-negative"):
        rowmap.map_values(time.sleep, values)
    assert rowmap.map_values(int, [str(i) for i in range(200)]) == list(range(200))  # still in step


def test_a_dead_helper_leaves_the_work_here_and_is_replaced(two_processes):
    for helper in two_processes:
        helper.process.kill()
        helper.process.wait()
    assert rowmap.map_values(time.sleep, [0.001] * 300) == [None] * 300  # slow enough to be shared
    assert not any(h.alive for h in two_processes)
    fresh = rowmap.warm_up()
    assert fresh and not set(map(id, fresh)) & set(map(id, two_processes))


def test_one_process_starts_no_helper(monkeypatch):
    rowmap.shutdown()
    monkeypatch.setenv(rowmap.WORKERS_ENV, "1")
    assert rowmap.warm_up() == []
    assert rowmap.map_values(time.sleep, [0.001] * 100) == [None] * 100
    assert rowmap._helpers == []  # noqa: SLF001 - none was started for the call


def test_a_helper_that_cannot_start_is_not_started_again(monkeypatch):
    rowmap.shutdown()
    monkeypatch.setattr(rowmap, "_start_failed", False)
    monkeypatch.setenv(rowmap.WORKERS_ENV, "2")
    monkeypatch.setattr(rowmap.sys, "executable", "/bin/false")  # exits at once, without saying "ready"
    [helper] = rowmap.warm_up()
    assert helper.ready.wait(30) and not helper.alive
    assert rowmap.warm_up() == []  # given up for this process
    assert rowmap.map_values(int, ["1", "2", "3"] * 20) == [1, 2, 3] * 20  # all here


def test_unpicklable_functions_run_here(two_processes):
    assert rowmap.map_values(lambda v: v * 2, list(range(100))) == [v * 2 for v in range(100)]


def test_a_bad_worker_count_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(rowmap.WORKERS_ENV, "two")
    with pytest.raises(ValueError, match="CURATION_WORKERS must be a whole number, not 'two'"):
        rowmap.worker_count()
