"""Bad input: broken files made from the real dumps give one clear error, and nothing half written."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

from curation.errors import CurationError
from curation.sources import stackexchange as se


def _coffee(shared_data) -> bytes:
    return (shared_data / "stackexchange" / "coffee.stackexchange.com" / "Posts.xml").read_bytes()


def _site(tmp_path, data: bytes, name: str = "coffee.stackexchange.com"):
    folder = tmp_path / "dump" / name
    folder.mkdir(parents=True)
    (folder / "Posts.xml").write_bytes(data)
    return folder


def test_missing_path(tmp_path):
    with pytest.raises(CurationError, match="no such file or folder") as err:
        se.scan(tmp_path / "nope.7z", cache_dir=tmp_path)
    assert str(tmp_path / "nope.7z") in str(err.value)


def test_unknown_layout(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hello")
    with pytest.raises(CurationError, match="unknown layout"):
        se.scan(tmp_path / "empty", cache_dir=tmp_path)


def test_truncated_7z(shared_data, tmp_path):
    data = (shared_data / "stackexchange" / "beer.stackexchange.com.7z").read_bytes()
    broken = tmp_path / "beer.stackexchange.com.7z"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(CurationError, match=r"beer\.stackexchange\.com\.7z.*(truncated|corrupt)"):
        se.scan(broken, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("stackexchange/beer*"))  # nothing half written


def test_corrupt_7z_stream(shared_data, tmp_path):
    data = bytearray((shared_data / "stackexchange" / "beer.stackexchange.com.7z").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0x5A for b in data[middle : middle + 64])
    broken = tmp_path / "beer.stackexchange.com.7z"
    broken.write_bytes(bytes(data))
    with pytest.raises(CurationError, match=r"beer\.stackexchange\.com\.7z.*(corrupt|truncated)"):
        se.scan(broken, cache_dir=tmp_path / "cache").collect()
    cache = tmp_path / "cache" / "stackexchange"
    assert not cache.exists() or not [p for p in cache.iterdir() if not p.name.startswith(".")]


def test_truncated_xml(shared_data, tmp_path):
    data = _coffee(shared_data)
    folder = _site(tmp_path, data[: len(data) * 2 // 3])
    with pytest.raises(CurationError, match=r"Posts\.xml.*before </posts>: truncated"):
        se.scan(folder, cache_dir=tmp_path)


def test_malformed_row_names_its_line_and_can_be_skipped(shared_data, tmp_path):
    lines = _coffee(shared_data).split(b"\n")
    bad_line = 40  # 1-based line number in the file
    lines[bad_line - 1] = lines[bad_line - 1].replace(b'" Score="', b' Score="', 1)  # a quote lost
    folder = _site(tmp_path, b"\n".join(lines))
    with pytest.raises(CurationError, match=rf"line {bad_line}\).*malformed row"):
        se.scan(folder, cache_dir=tmp_path / "a")
    lf, stats = se.scan_with_stats(folder, skip_malformed=True, cache_dir=tmp_path / "b")
    assert stats.malformed == 1
    assert lf.select(pl.len()).collect().item() in (326, 327)  # the broken row was a question or an answer
    assert stats.sites["coffee.stackexchange.com"]["posts"]["rows"] == 591


def test_non_numeric_value_is_malformed(shared_data, tmp_path):
    data = _coffee(shared_data).replace(b'<row Id="2" PostTypeId="1"', b'<row Id="2" PostTypeId="one"', 1)
    folder = _site(tmp_path, data)
    with pytest.raises(CurationError, match=r"row Id=2.*PostTypeId='one' is not an integer"):
        se.scan(folder, cache_dir=tmp_path / "a")
    _, stats = se.scan_with_stats(folder, skip_malformed=True, cache_dir=tmp_path / "b")
    assert stats.malformed == 1


def test_invalid_utf8_names_line_and_byte(shared_data, tmp_path):
    data = _coffee(shared_data)
    at = data.index(b"How should I store whole bean coffee?")
    broken = data[:at] + b"\xff\xfe" + data[at:]
    line = broken[:at].count(b"\n") + 1
    folder = _site(tmp_path, broken)
    with pytest.raises(CurationError, match=rf"line {line}\).*invalid UTF-8 at byte {at:,}"):
        se.scan(folder, cache_dir=tmp_path)


def test_cli_prints_one_line_and_exits_nonzero_without_a_version(shared_data, tmp_path):
    data = (shared_data / "stackexchange" / "beer.stackexchange.com.7z").read_bytes()
    broken = tmp_path / "beer.stackexchange.com.7z"
    broken.write_bytes(data[: len(data) // 3])
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "curation", "build", "stackexchange", "--dump", str(broken), "--out", str(out),
         "--cache-dir", str(tmp_path / "cache"), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: ")
    assert "beer.stackexchange.com.7z" in run.stderr and "Traceback" not in run.stderr
    assert not out.exists() or not any(out.rglob("*.parquet"))


def test_cli_skip_malformed_reports_the_count_and_records_it(shared_data, tmp_path):
    lines = _coffee(shared_data).split(b"\n")
    lines[39] = lines[39].replace(b'" Score="', b' Score="', 1)
    folder = _site(tmp_path, b"\n".join(lines))
    args = [sys.executable, "-m", "curation", "build", "stackexchange", "--dump", str(folder.parent),
            "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    refused = subprocess.run(args + ["--quiet"], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "line 40" in refused.stderr and not (tmp_path / "out").exists()
    skipped = subprocess.run(args + ["--skip-malformed"], capture_output=True, text=True, timeout=300)
    assert skipped.returncode == 0, skipped.stderr
    assert "malformed rows skipped: 1" in skipped.stdout
    from curation.store import read_manifest

    assert read_manifest(tmp_path / "out" / "stackexchange-lima" / "v1")["source_stats"]["malformed_rows_skipped"] == 1
