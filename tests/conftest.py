"""Shared test fixtures: where the real dumps live, and a skip when they are absent."""

from __future__ import annotations

import os
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
