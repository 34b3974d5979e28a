"""Shared test fixtures: where the real dumps live, and a skip when they are absent."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

# Tests never reach a hub: everything must load from local files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

#: ../shared/data beside the project root (CI clones the project with shared/ beside it).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-dump folder; tests that use it skip with a clear reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real dumps not found at {SHARED_DATA} (clone the project beside shared/)")
    return SHARED_DATA


@pytest.fixture
def two_processes(monkeypatch):
    """``CURATION_WORKERS=2`` with its helper process started and ready (so a call does share)."""
    from curation import rowmap

    monkeypatch.setenv(rowmap.WORKERS_ENV, "2")
    helpers = rowmap.warm_up()
    deadline = time.monotonic() + 60
    while not all(h.ready.is_set() for h in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert helpers and all(h.alive for h in helpers), "the helper process did not start"
    return helpers
