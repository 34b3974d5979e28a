"""A small KoCoT_2000-shaped fixture generated in code: Korean CoT items across tasks and types.

KoCoT_2000 is a DeepL translation of part of the CoT-Collection, so its items are math word
problems, multiple choice, yes/no questions, claims and inference pairs, each with a Korean
rationale. These items imitate that shape (written here, not copied). Each item also carries
what the CoT format must do with it (``states_answer``: does the rationale already end with the
answer?), so tests check the formatter against intent rather than against itself.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

#: The KoCoT_2000 columns, in its order.
KOCOT_COLUMNS = ("source", "rationale", "target", "task", "type")


@dataclass(frozen=True)
class Item:
    source: str
    rationale: str
    target: str
    task: str | None
    type: str | None
    states_answer: bool

    def row(self) -> dict:
        """The item as a KoCoT row (without the test expectation)."""
        data = asdict(self)
        data.pop("states_answer")
        return data


def _math_items() -> list[Item]:
    """Arithmetic word problems (gsm8k-like); half end with the answer, half do not."""
    fruits = ["사과", "배", "귤", "복숭아", "자두", "감"]
    items = []
    for i, fruit in enumerate(fruits):
        have, bought = 12 + 7 * i, 5 + 3 * i
        total = have + bought
        question = f"민지는 {fruit}를 {have}개 가지고 있었고 시장에서 {bought}개를 더 샀습니다. 민지가 가진 {fruit}는 모두 몇 개입니까?"
        if i % 2 == 0:
            rationale = (
                f"처음에 {fruit}가 {have}개 있었고 {bought}개를 더 샀으므로 {have} + {bought} = {total}입니다. "
                f"따라서 민지가 가진 {fruit}는 모두 {total}개입니다."
            )
            states = True
        else:
            rationale = f"처음 개수에 새로 산 개수를 더하면 됩니다. {have}에 {bought}를 더합니다."
            states = False
        items.append(Item(question, rationale, str(total), "gsm8k", "CoT", states))
    # A fraction answer is found whole; then "7" must not be found inside "17".
    items.append(Item(
        "길이가 7m인 끈을 3명이 똑같이 나누어 가지면 한 명이 가지는 끈은 몇 m입니까? 분수로 답하시오.",
        "7을 3으로 나누면 한 명이 가지는 길이가 나옵니다. 7 ÷ 3 = 7/3이므로 한 명은 7/3m를 가집니다.",
        "7/3", "gsm8k", "CoT", True,
    ))
    items.append(Item(
        "어떤 수에 4를 곱했더니 28이 되었습니다. 어떤 수는 얼마입니까?",
        "어떤 수를 x라고 하면 x × 4 = 28입니다. 양변을 4로 나누면 되므로 어떤 수는 17보다 10 작은 수입니다.",
        "7", "gsm8k", "CoT", False,
    ))
    items.append(Item(
        "한 변의 길이가 2.5cm인 정사각형의 넓이는 몇 cm2입니까?",
        "정사각형의 넓이는 한 변의 길이를 두 번 곱한 값입니다. 2.5 × 2.5 = 6.25이므로 넓이는 6.25cm2입니다.",
        "6.250", "gsm8k", "CoT", True,
    ))
    return items


def _choice_items() -> list[Item]:
    """Multiple choice (aqua_rat / ecqa-like) with option letters or words as targets."""
    return [
        Item(
            "기차가 시속 60km로 3시간 동안 달렸습니다. 기차가 달린 거리는 얼마입니까? 옵션: (A) 120km (B) 150km (C) 180km (D) 200km",
            "거리는 속력에 시간을 곱한 값입니다. 60 × 3 = 180이므로 기차는 180km를 달렸습니다. 따라서 답은 (C)입니다.",
            "(C)", "aqua_rat", "CoT", True,
        ),
        Item(
            "연필 한 자루가 500원일 때 연필 8자루의 값은 얼마입니까? 옵션: (A) 3000원 (B) 3500원 (C) 4000원 (D) 4500원",
            "한 자루에 500원이므로 8자루는 500 × 8 = 4000원입니다.",
            "(C)", "aqua_rat", "CoT", False,
        ),
        Item(
            "사람들이 책을 빌리러 가는 곳은 어디인가요? 옵션: - 도서관 - 병원 - 수영장 - 주유소",
            "책을 빌려 주는 곳은 도서관입니다. 병원, 수영장, 주유소에서는 책을 빌리지 않습니다.",
            "도서관", "ecqa", "CoT", False,
        ),
        Item(
            "비가 올 때 사람들이 젖지 않으려고 쓰는 것은 무엇인가요? 옵션: - 우산 - 모자 - 장갑",
            "비를 막기 위해 머리 위로 펼쳐 드는 물건은 우산입니다. 그래서 정답은 우산입니다.",
            "우산", "ecqa", "CoT", True,
        ),
        Item(
            "냉장고의 주된 용도는 무엇인가요? 옵션: - 음식을 차갑게 보관하기 - 옷을 말리기 - 음악 듣기",
            "냉장고는 낮은 온도를 유지하는 가전제품입니다. 그러므로 냉장고는 음식을 차갑게 보관하기 위해 씁니다.",
            "음식을 차갑게 보관하기", "ecqa", "CoT", True,
        ),
    ]


def _yes_no_items() -> list[Item]:
    """Yes/no questions and claims (strategyqa / creak-like)."""
    return [
        Item("펭귄은 하늘을 날 수 있나요?",
             "펭귄은 날개가 있지만 몸이 무겁고 날개가 짧아서 날지 못합니다. 대신 물속에서 빠르게 헤엄칩니다.",
             "아니요", "strategyqa", "CoT", False),
        Item("바닷물은 짠가요?",
             "바닷물에는 소금이 녹아 있어서 짠맛이 납니다. 그러므로 답은 예입니다.",
             "예", "strategyqa", "CoT", True),
        Item("다음 주장이 사실인가요? \"서울은 대한민국의 수도이다.\"",
             "서울은 대한민국 정부가 있는 수도입니다. 따라서 이 주장은 사실입니다. yes",
             "yes", "creak", "CoT", True),
        Item("다음 주장이 사실인가요? \"고래는 물고기이다.\"",
             "고래는 새끼를 낳아 젖을 먹이는 포유류이며 폐로 숨을 쉽니다. 그러므로 물고기가 아닙니다.",
             "no", "creak", "CoT", False),
        # An untranslated English sentence left by machine translation (kept: that is real).
        Item("다음 문장이 말이 되나요? \"그는 냉장고에 코끼리를 넣었다.\"",
             "코끼리는 냉장고보다 훨씬 큽니다. An elephant is far too large to fit inside a fridge. 따라서 이 문장은 말이 되지 않습니다.",
             "아니요", "sensemaking", "CoT", False),
    ]


def _inference_items() -> list[Item]:
    """Premise/hypothesis pairs (esnli-like), a task-less item and a repeated question."""
    items = [
        Item("전제: \"한 남자가 공원에서 개와 산책하고 있다.\" 가설: \"남자가 밖에 있다.\" 전제가 가설을 함의하나요?",
             "공원은 야외이므로 공원에서 산책하는 남자는 밖에 있습니다. 따라서 함의합니다.",
             "예", "esnli", "NLI", False),
        Item("전제: \"아이들이 교실에서 노래를 부른다.\" 가설: \"아이들이 자고 있다.\" 전제가 가설을 함의하나요?",
             "노래를 부르는 아이들은 동시에 잘 수 없습니다. 그래서 가설은 전제와 모순됩니다. 답: 아니요",
             "아니요", "esnli", "NLI", True),
        Item("다음 중 포유류가 아닌 것은? 옵션: - 고래 - 박쥐 - 상어",
             "고래와 박쥐는 젖을 먹이는 포유류지만 상어는 어류입니다. 따라서 상어가 포유류가 아닙니다.",
             "상어", None, None, True),
        Item("빛은 소리보다 빠른가요?",
             "빛의 속도는 초속 약 30만 km이고 소리는 초속 약 340m입니다. 빛이 훨씬 빠릅니다.",
             "예", "", "CoT", False),
    ]
    # The same question twice with different rationales (translated sets hold such repeats).
    items.append(Item("펭귄은 하늘을 날 수 있나요?",
                      "펭귄의 날개는 지느러미처럼 변해서 하늘을 나는 데 쓰이지 않습니다. 그러므로 아니요.",
                      "아니요", "strategyqa", "CoT", True))
    return items


def kocot_items() -> list[Item]:
    """All fixture items, in file order (a few dozen, every task of the fixture represented)."""
    base = _math_items() + _choice_items() + _yes_no_items() + _inference_items()
    # More arithmetic so tasks have unequal sizes, as in KoCoT (sampling by task matters).
    extra = []
    for i in range(12):
        boxes, per_box = 3 + i, 6 + (i % 4)
        total = boxes * per_box
        extra.append(Item(
            f"상자 {boxes}개에 공이 {per_box}개씩 들어 있습니다. 공은 모두 몇 개입니까?",
            f"상자 한 개에 {per_box}개씩 {boxes}상자이므로 {per_box} × {boxes} = {total}입니다. 따라서 공은 모두 {total}개입니다.",
            str(total), "gsm8k", "CoT", True,
        ))
    return base + extra


def kocot_frame(items: list[Item] | None = None) -> pl.DataFrame:
    """The items as a KoCoT_2000-shaped frame (all columns text, as on the Hub)."""
    rows = [item.row() for item in (items or kocot_items())]
    return pl.DataFrame(rows, schema={name: pl.String for name in KOCOT_COLUMNS})


def write_parquet(path: Path, items: list[Item] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kocot_frame(items).write_parquet(path)
    return path


def write_jsonl(path: Path, items: list[Item] | None = None, rename: dict[str, str] | None = None) -> Path:
    """One JSON object per line; ``rename`` writes the fields under other names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rename = rename or {}
    with open(path, "w", encoding="utf-8") as handle:
        for item in items or kocot_items():
            row = {rename.get(key, key): value for key, value in item.row().items()}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def write_json_array(path: Path, items: list[Item] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [item.row() for item in items or kocot_items()]
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
