"""The KoCoT source and the with/without-CoT formats, on a generated fixture and on real Korean CoT."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from curation.columns import CANONICAL, TIMESTAMP
from curation.errors import CurationError
from curation.sources import kocot
from kocot_fixtures import (
    Item, kocot_frame, kocot_items, write_json_array, write_jsonl, write_parquet,
)

REAL = "korean/public_mwp_data_v2_reasoning-test.jsonl"
#: The real file's keys, mapped onto KoCoT's names (it has no ``type``).
REAL_COLUMNS = {"source": "question", "rationale": "reason", "target": "answer", "task": "class", "type": None}


def _digest(question: str) -> str:
    return hashlib.blake2b(question.encode("utf-8"), digest_size=8).hexdigest()


@pytest.fixture()
def fixture_parquet(tmp_path) -> Path:
    return write_parquet(tmp_path / "kocot.parquet")


@pytest.fixture(scope="module")
def real_rows(shared_data) -> list[dict]:
    """The real file read independently of the source (json module), for comparisons."""
    with open(shared_data / REAL, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def real(shared_data) -> pl.DataFrame:
    return kocot.scan(shared_data / REAL, columns=REAL_COLUMNS, license="unknown").collect()


# --------------------------------------------------------------------------- fixture: schema, ids


def test_schema_is_canonical_then_source_columns(fixture_parquet):
    frame = kocot.scan(fixture_parquet)
    assert isinstance(frame, pl.LazyFrame)
    assert dict(frame.collect_schema()) == {**CANONICAL, **kocot.SOURCE_COLUMNS}
    rows = frame.collect()
    items = kocot_items()
    assert rows.height == len(items)
    assert rows["question"].to_list() == [i.source for i in items]
    assert rows["rationale"].to_list() == [i.rationale for i in items]
    assert rows["answer"].to_list() == [i.target for i in items]
    assert set(rows["source"]) == {"kocot"}
    assert set(rows["license"]) == {"CC BY-NC 4.0"}
    assert set(rows["url"]) == {"file:kocot.parquet"}
    assert rows.schema["created_at"] == TIMESTAMP and rows["created_at"].null_count() == rows.height
    assert rows["prompt"].null_count() == rows["response"].null_count() == rows.height


def test_group_is_task_and_unknown_when_missing(fixture_parquet):
    rows = kocot.scan(fixture_parquet).collect()
    expected = [i.task if i.task else "unknown" for i in kocot_items()]
    assert rows["group"].to_list() == expected
    assert {"gsm8k", "aqua_rat", "ecqa", "strategyqa", "creak", "esnli", "unknown"} <= set(rows["group"])


def test_license_and_url_options(fixture_parquet):
    rows = kocot.scan(fixture_parquet, license="CC BY 4.0", url=kocot.KOCOT_URL).collect()
    assert set(rows["license"]) == {"CC BY 4.0"}
    assert set(rows["url"]) == {"https://huggingface.co/datasets/kyujinpy/KoCoT_2000"}


def test_ids_hash_the_question_and_number_repeats(fixture_parquet):
    rows = kocot.scan(fixture_parquet).collect()
    ids = rows["id"].to_list()
    assert len(set(ids)) == len(ids)
    penguin = "펭귄은 하늘을 날 수 있나요?"
    repeated = rows.filter(pl.col("question") == penguin)["id"].to_list()
    assert repeated == [f"kocot/{_digest(penguin)}", f"kocot/{_digest(penguin)}-2"]
    first = kocot_items()[0].source
    assert ids[0] == f"kocot/{_digest(first)}"


def test_ids_stable_across_scans_formats_and_order(tmp_path, fixture_parquet):
    once = kocot.scan(fixture_parquet).collect()
    again = kocot.scan(fixture_parquet).collect()
    assert once.equals(again)
    from_jsonl = kocot.scan(write_jsonl(tmp_path / "kocot.jsonl")).collect()
    assert from_jsonl.drop("url").equals(once.drop("url"))
    # Content-based: reversing the file keeps every unrepeated question's id.
    reversed_rows = kocot.scan(write_parquet(tmp_path / "rev.parquet", kocot_items()[::-1])).collect()
    unique = once.filter(~pl.col("question").is_duplicated())
    by_question = dict(zip(reversed_rows["question"], reversed_rows["id"]))
    assert all(by_question[q] == i for q, i in zip(unique["question"], unique["id"]))


def test_ids_do_not_depend_on_thread_count(fixture_parquet):
    code = (
        "import sys; from curation.sources import kocot; "
        "print('\\n'.join(kocot.scan(sys.argv[1]).collect()['id']))"
    )
    outputs = []
    for threads in ("1", "2"):
        env = {**os.environ, "POLARS_MAX_THREADS": threads}
        done = subprocess.run(
            [sys.executable, "-c", code, str(fixture_parquet)],
            env=env, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1],
        )
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].splitlines() == kocot.scan(fixture_parquet).collect()["id"].to_list()


def test_mapped_id_column_is_used(tmp_path):
    frame = kocot_frame().with_columns(uid=pl.format("item-{}", pl.int_range(pl.len())))
    frame.write_parquet(tmp_path / "with_ids.parquet")
    rows = kocot.scan(tmp_path / "with_ids.parquet", columns={"id": "uid"}).collect()
    assert rows["id"].to_list()[:2] == ["kocot/item-0", "kocot/item-1"]


# --------------------------------------------------------------------------- fixture: file kinds


def test_json_array_and_jsonl_read_like_parquet(tmp_path, fixture_parquet):
    expected = kocot.scan(fixture_parquet).collect().drop("url")
    for path in (write_json_array(tmp_path / "a.json"), write_jsonl(tmp_path / "b.ndjson")):
        assert kocot.scan(path).collect().drop("url").equals(expected)


def test_byte_order_mark_is_accepted(tmp_path, fixture_parquet):
    expected = kocot.scan(fixture_parquet).collect()["question"].to_list()
    for path in (write_jsonl(tmp_path / "a.jsonl"), write_json_array(tmp_path / "b.json")):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
        assert kocot.scan(path).collect()["question"].to_list() == expected


def test_numbers_in_json_become_text(tmp_path):
    path = tmp_path / "numbers.jsonl"
    path.write_text(
        '{"source": "2 더하기 3은?", "rationale": "2 + 3 = 5입니다.", "target": 5, "task": "add", "type": "CoT"}\n'
        '{"source": "반은?", "rationale": "1 / 2 = 0.5입니다.", "target": 0.5, "task": "div", "type": "CoT"}\n',
        encoding="utf-8",
    )
    assert kocot.scan(path).collect()["answer"].to_list() == ["5", "0.5"]


def test_hub_layout_folder_picks_the_split(tmp_path):
    items = kocot_items()
    repo = tmp_path / "KoCoT_2000"
    (repo / ".git").mkdir(parents=True)
    (repo / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n", encoding="utf-8")
    write_parquet(repo / "data" / "train-00000-of-00001-783cee1d.parquet", items[:30])
    write_parquet(repo / "data" / "test-00000-of-00001-0a1b2c3d.parquet", items[30:])
    (repo / ".git" / "junk.json").write_text("not data", encoding="utf-8")
    train = kocot.scan(repo).collect()
    assert train["question"].to_list() == [i.source for i in items[:30]]
    assert set(train["url"]) == {"file:data/train-00000-of-00001-783cee1d.parquet"}
    test = kocot.scan(repo, split="test").collect()
    assert test["question"].to_list() == [i.source for i in items[30:]]
    with pytest.raises(CurationError, match="no files for split 'validation'; splits found: test, train"):
        kocot.scan(repo, split="validation")


def test_folder_without_split_names_reads_all_files_in_path_order(tmp_path):
    items = kocot_items()
    write_jsonl(tmp_path / "b" / "part.jsonl", items[20:])
    write_parquet(tmp_path / "a" / "part.parquet", items[:20])
    rows = kocot.scan(tmp_path).collect()
    assert rows["question"].to_list() == [i.source for i in items]
    assert rows["url"].unique(maintain_order=True).to_list() == ["file:a/part.parquet", "file:b/part.jsonl"]
    with pytest.raises(CurationError, match="no files for split 'test': no file here is named for a split"):
        kocot.scan(tmp_path, split="test")


def test_saved_to_disk_folder(tmp_path):
    import datasets

    dataset = datasets.Dataset.from_polars(kocot_frame())
    datasets.DatasetDict({"train": dataset}).save_to_disk(str(tmp_path / "saved"))
    rows = kocot.scan(tmp_path / "saved").collect()
    assert rows["question"].to_list() == [i.source for i in kocot_items()]
    assert set(rows["url"]) == {"file:saved"}
    with pytest.raises(CurationError, match="no split 'test'; splits found: train"):
        kocot.scan(tmp_path / "saved", split="test")


# --------------------------------------------------------------------------- Hub id through datasets


def _cache_as_hub_download(cache_dir: Path, repo_id: str, source: Path) -> None:
    """Lay out ``cache_dir`` the way ``load_dataset(repo_id)`` leaves it after a download."""
    from datasets.naming import camelcase_to_snakecase
    from datasets.packaged_modules.parquet.parquet import Parquet

    owner, name = repo_id.split("/")
    snake = camelcase_to_snakecase(name)
    builder = Parquet(cache_dir=str(cache_dir / "build"), dataset_name=snake, data_files={"train": str(source)})
    builder.download_and_prepare(output_dir=str(cache_dir / f"{owner}___{snake}" / "default" / "0.0.0" / "0123abcd"))


def test_hub_id_loads_offline_from_the_cache(tmp_path, fixture_parquet):
    _cache_as_hub_download(tmp_path / "cache", kocot.KOCOT_ID, fixture_parquet)
    rows = kocot.scan(kocot.KOCOT_ID, cache_dir=tmp_path / "cache").collect()
    local = kocot.scan(fixture_parquet).collect()
    assert rows.drop("url").equals(local.drop("url"))
    assert set(rows["url"]) == {kocot.KOCOT_URL}
    with pytest.raises(CurationError, match="no split 'test'"):
        kocot.scan(kocot.KOCOT_ID, split="test", cache_dir=tmp_path / "cache")


def test_hub_id_neither_local_nor_cached_is_one_clear_error(tmp_path):
    with pytest.raises(CurationError) as caught:
        kocot.scan("someone/NotCached_123", cache_dir=tmp_path / "empty-cache")
    message = str(caught.value)
    assert message.startswith("someone/NotCached_123: not a local file or folder")
    assert "'someone/NotCached_123' is not in the cache" in message
    assert "(offline: HF_HUB_OFFLINE=1)" in message and "\n" not in message


# --------------------------------------------------------------------------- formats on the fixture


def _formatted(frame: pl.LazyFrame | pl.DataFrame, **options) -> pl.DataFrame:
    return frame.lazy().with_columns(**kocot.cot_prompt_response(**options)).collect()


def test_cot_format_adds_the_answer_line_only_when_needed(fixture_parquet):
    rows = _formatted(kocot.scan(fixture_parquet), with_cot=True)
    for item, prompt, response in zip(kocot_items(), rows["prompt"], rows["response"]):
        assert prompt == item.source
        if item.states_answer:
            assert response == item.rationale, item.source
        else:
            assert response == f"{item.rationale}\n\n정답: {item.target}", item.source
    assert sum(not i.states_answer for i in kocot_items()) >= 8  # both cases are well covered


def test_cot_format_trigger_and_custom_answer_line(fixture_parquet):
    rows = _formatted(
        kocot.scan(fixture_parquet), with_cot=True, trigger=kocot.TRIGGER,
        answer_line="따라서 답은 {answer}입니다.",
    )
    item = next(i for i in kocot_items() if not i.states_answer)
    row = rows.filter(pl.col("question") == item.source).row(0, named=True)
    assert row["prompt"] == f"{item.source}\n단계별로 생각해 봅시다."
    assert row["response"] == f"{item.rationale}\n\n따라서 답은 {item.target}입니다."


def test_no_cot_format_is_question_and_answer(fixture_parquet):
    rows = _formatted(kocot.scan(fixture_parquet), with_cot=False)
    assert rows["prompt"].to_list() == [i.source for i in kocot_items()]
    assert rows["response"].to_list() == [i.target for i in kocot_items()]


def test_format_options_are_checked():
    with pytest.raises(ValueError, match="trigger"):
        kocot.cot_prompt_response(with_cot=False, trigger=kocot.TRIGGER)
    with pytest.raises(ValueError, match="answer_line"):
        kocot.cot_prompt_response(with_cot=True, answer_line="정답")
    assert kocot.cot_format(True, kocot.TRIGGER)["trigger"] == "단계별로 생각해 봅시다."
    assert kocot.cot_format(False) == {
        "cot": False, "trigger": None, "answer_line": None, "prompt": "question", "response": "answer",
    }


def test_empty_or_missing_parts_give_null_pairs():
    frame = pl.DataFrame({
        "question": ["  질문입니다  ", "", "질문"],
        "rationale": ["  ", "이유", None],
        "answer": ["3", "3", "3"],
    })
    cot = _formatted(frame, with_cot=True)
    assert cot["prompt"].to_list() == ["질문입니다", None, "질문"]
    assert cot["response"].to_list() == [None, "이유\n\n정답: 3", None]
    assert _formatted(frame, with_cot=False)["response"].to_list() == ["3", "3", "3"]


@pytest.mark.parametrize(
    ("rationale", "answer", "expected"),
    [
        ("92.16 - 64 = 28.16이다. 따라서 넓이는 28.16cm^2입니다.", "28.16", True),
        ("따라서 원래 빵의 개수는 91g / 3.25g = 28개입니다.", "28", True),
        ("따라서 높이는 2 1/3 cm 또는 7/3 cm입니다.", "7", False),
        ("답은 27입니다.", "7", False),
        ("답은 7.5입니다.", "7", False),
        ("총 1,280원입니다.", "280", False),
        ("따라서 정답은 (B)입니다.", "(B)", True),
        ("The answer is Yes.", "yes", True),
        ("It happened yesterday.", "yes", False),
        ("342 + 445 = 787명입니다.", "787.00", True),
        ("무게 차이는 0.2kg입니다.", "0.20", True),
        ("정답은 28이다. 이 값은 문제의 조건을 만족한다.", "28", False),
        ("그는 집에 갔다. 그리고 잠을 잤다.", "그는 집에 갔다. 그리고 잠을 잤다", True),
        ("A = 426/2 = 213\nB = 42.6/2 = 21.3\nA - B = 213 - 21.3 = 191.7", "191.7", True),
        ("따라서 답은 294명이다.", "210", False),
        ("이유가 있습니다.", "", None),
        (None, "3", None),
    ],
)
def test_states_answer(rationale, answer, expected):
    frame = pl.DataFrame({"rationale": [rationale], "answer": [answer]}, schema={"rationale": pl.String, "answer": pl.String})
    assert frame.select(kocot.states_answer())["rationale"][0] is expected


def test_mentions_answer_looks_anywhere():
    frame = pl.DataFrame({
        "rationale": ["정답은 28이다. 이 값은 조건을 만족한다.", "답은 27이다. 확인했다."],
        "answer": ["28", "7"],
    })
    assert frame.select(kocot.mentions_answer())["rationale"].to_list() == [True, False]


# --------------------------------------------------------------------------- the real Korean CoT file


def test_real_file_reads_through_the_mapping(real, real_rows):
    assert real.height == len(real_rows) == 720
    assert real["question"].to_list() == [r["question"] for r in real_rows]
    assert real["rationale"].to_list() == [r["reason"] for r in real_rows]
    assert real["answer"].to_list() == [r["answer"] for r in real_rows]
    assert real["group"].to_list() == [r["class"] for r in real_rows]
    assert real["type"].null_count() == 720
    assert set(real["url"]) == {"file:public_mwp_data_v2_reasoning-test.jsonl"}
    assert set(real["license"]) == {"unknown"}


def test_real_ids_are_unique_and_number_repeated_questions(real, real_rows):
    questions = [r["question"] for r in real_rows]
    repeats = len(questions) - len(set(questions))
    assert repeats > 0  # the real file repeats some questions: ids must still be unique
    assert real["id"].n_unique() == 720
    assert real["id"].str.contains(r"-\d+$").sum() == repeats
    assert real["id"][0] == f"kocot/{_digest(questions[0])}"


def test_real_rows_in_both_formats(real, real_rows):
    cot = _formatted(real, with_cot=True)
    plain = _formatted(real, with_cot=False)
    by_answer = {r["answer"]: i for i, r in reversed(list(enumerate(real_rows)))}
    # Row 0: the rationale concludes 294 but the answer is 210 -> the answer line is added.
    first = real_rows[0]
    assert first["answer"] == "210" and first["reason"].endswith("가 마을의 학생은 294명이다.")
    assert cot["response"][0] == first["reason"] + "\n\n정답: 210"
    # Row 2 ends "... = 28.16cm^2입니다." with answer 28.16: already stated, response is the rationale.
    assert real_rows[2]["answer"] == "28.16"
    assert cot["response"][2] == real_rows[2]["reason"]
    # Row 1 ends with "7/3 cm", the answer is 7: not the same number, the line is added.
    assert cot["response"][1].endswith("또는 7/3 cm입니다.\n\n정답: 7")
    for index in (0, 1, 2, by_answer["8.96"]):
        assert cot["prompt"][index] == plain["prompt"][index] == real_rows[index]["question"]
        assert plain["response"][index] == real_rows[index]["answer"]
    added = cot["response"].str.contains("\n\n정답: ").sum()
    assert 0 < added < 720


# --------------------------------------------------------------------------- bad input


def test_missing_path_is_one_clear_error(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(CurationError, match=r"nope\.jsonl: no such file or folder"):
        kocot.scan(missing)
    with pytest.raises(CurationError, match="no such file or folder"):
        kocot.scan("./relative/missing.parquet")


def test_real_file_without_mapping_names_missing_columns(shared_data):
    with pytest.raises(CurationError) as caught:
        kocot.scan(shared_data / REAL)
    message = str(caught.value)
    assert "public_mwp_data_v2_reasoning-test.jsonl: missing column(s) 'source', 'rationale', 'target'" in message
    assert "columns present: class, question, answer" in message


def test_missing_mapped_column_is_named(tmp_path, fixture_parquet):
    with pytest.raises(CurationError, match=r"missing column\(s\) 'category' \(for task\)"):
        kocot.scan(fixture_parquet, columns={"task": "category"})
    with pytest.raises(CurationError, match="unknown column mapping key"):
        kocot.scan(fixture_parquet, columns={"question": "source"})
    with pytest.raises(CurationError, match="'target' is required"):
        kocot.scan(fixture_parquet, columns={"target": None})


def test_rationale_can_be_mapped_away(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", rename={"rationale": "unused"})
    rows = kocot.scan(path, columns={"rationale": None}).collect()
    assert rows["rationale"].null_count() == rows.height
    assert _formatted(rows, with_cot=False)["response"].to_list() == [i.target for i in kocot_items()]


def test_truncated_real_jsonl_names_the_line(tmp_path, shared_data):
    data = (shared_data / REAL).read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 40  # 40 bytes into a line in the middle
    broken = tmp_path / "truncated.jsonl"
    broken.write_bytes(data[:cut])
    line = data[:cut].count(b"\n") + 1
    with pytest.raises(CurationError) as caught:
        kocot.scan(broken, columns=REAL_COLUMNS)
    assert str(caught.value) == f"{broken} (line {line}): truncated JSON"


def test_corrupt_utf8_and_non_object_lines(tmp_path, shared_data):
    lines = (shared_data / REAL).read_bytes().splitlines(keepends=True)[:5]
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b"".join(lines[:3]) + lines[3][:20] + b"\xff\xfe" + lines[3][20:] + lines[4])
    with pytest.raises(CurationError, match=r"\(line 4\): not UTF-8 text"):
        kocot.scan(bad, columns=REAL_COLUMNS)
    listed = tmp_path / "list.jsonl"
    listed.write_bytes(b"".join(lines[:2]) + b"[1, 2]\n")
    with pytest.raises(CurationError, match=r"\(line 3\): expected one JSON object per line"):
        kocot.scan(listed, columns=REAL_COLUMNS)


def test_truncated_parquet_and_lfs_pointer(tmp_path, fixture_parquet):
    data = fixture_parquet.read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CurationError, match=r"cut\.parquet: not a readable parquet file \(truncated or corrupt\)"):
        kocot.scan(cut)
    pointer = tmp_path / "repo" / "data" / "train-00000-of-00001.parquet"
    pointer.parent.mkdir(parents=True)
    pointer.write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 1234\n",
        encoding="utf-8",
    )
    with pytest.raises(CurationError, match="a Git LFS pointer, not the data"):
        kocot.scan(tmp_path / "repo")


def test_invalid_json_array_names_line_and_column(tmp_path):
    path = write_json_array(tmp_path / "items.json")
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(CurationError, match=r"items\.json \(line \d+, column \d+\): invalid JSON"):
        kocot.scan(path)


def test_empty_inputs(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(CurationError, match="empty.jsonl: empty file"):
        kocot.scan(tmp_path / "empty.jsonl")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_text("hi", encoding="utf-8")
    with pytest.raises(CurationError, match="folder: no data files"):
        kocot.scan(tmp_path / "folder")


def test_repeated_own_ids_are_rejected(tmp_path):
    frame = kocot_frame().with_columns(uid=pl.lit("same"))
    frame.write_parquet(tmp_path / "dup.parquet")
    with pytest.raises(CurationError, match="null or repeated"):
        kocot.scan(tmp_path / "dup.parquet", columns={"id": "uid"})


def test_items_keep_their_shape():
    """The fixture is KoCoT-shaped: every field text, tasks unequal in size (sampling matters)."""
    items = kocot_items()
    assert all(isinstance(i, Item) for i in items) and len(items) >= 30
    sizes = pl.Series([i.task for i in items]).value_counts()
    assert sizes["count"].max() > 3 * sizes["count"].min()
