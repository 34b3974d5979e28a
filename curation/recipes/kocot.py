"""KoCoT recipes: ``kocot`` (with chain of thought) and ``kocot-nocot`` (answers only).

The two make the with/without-CoT ablation of the Korean LIMA replication: the same items (ids
are content hashes of the questions), the same sampling across tasks, formatted two ways.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from curation.filters.dedup import ExactDedup
from curation.filters.korean import CoTFormat, KoreanScript, UntranslatedEnglish
from curation.filters.language import Language
from curation.filters.length import Length, NonEmpty
from curation.filters.sampling import StratifiedSample
from curation.recipes.base import Recipe
from curation.sources.kocot import ANSWER_LINE, KOCOT_URL, LICENSE, cot_format

KOCOT_NOTES = (
    "Items are sampled across tasks (group = task) with temperature 3, deterministically; KoCoT_2000 "
    "has 2,159 items, so 2,000 keeps most of them.",
    "With CoT: prompt = question, response = rationale plus the answer line '정답: {answer}' when the "
    "rationale does not already state the answer. Without CoT: response = the answer only.",
    "Korean text is NFC-normalised; lengths count characters (a Hangul syllable is one). English style "
    "rules (first person) are not applied to Korean text.",
    "Items whose rationale holds an untranslated English sentence (4+ English words) are dropped; the "
    "rationale is judged in both arms, so the CoT and no-CoT sets hold the same items.",
)


@dataclasses.dataclass(frozen=True)
class KoCoTRecipe(Recipe):
    """Options of a KoCoT-shaped build. ``None``/``False`` turns a step off."""

    name: str = "kocot"
    size: int = 2000
    cot: bool = True
    trigger: str | None = None
    answer_line: str = ANSWER_LINE
    columns: dict[str, str] = dataclasses.field(default_factory=dict)
    split_name: str = "train"
    license: str = LICENSE
    url: str | None = None
    korean_min_ratio: float | None = 0.25
    drop_untranslated: bool = True
    check_rationale: bool = True  # judge the item's rationale in both arms, so both keep the same items
    languages: tuple[str, ...] | None = ("ko",)
    length_min: int | None = None
    length_max: int | None = None
    dedup: bool = True
    temperature: float = 3.0
    notes: tuple[str, ...] = KOCOT_NOTES

    source: ClassVar[str] = "kocot"

    def scan(self, paths, **options):
        from curation.fingerprint import fingerprint
        from curation.sources import kocot
        from pathlib import Path

        if len(paths) != 1:
            from curation.errors import CurationError

            raise CurationError("KoCoT reads one file, folder or Hub dataset id at a time", path=paths[0] if paths else None)
        target = paths[0]
        lf = kocot.scan(target, columns=self.columns or None, split=self.split_name, license=self.license,
                        url=self.url or (KOCOT_URL if "KoCoT" in str(target) else None))  # fmt: skip
        inputs = []
        local = Path(str(target))
        files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file()) if local.is_dir() else []
        for path in files:
            inputs.append({"name": str(path.relative_to(local.parent)), "bytes": path.stat().st_size,
                           "fingerprint": fingerprint(path, options.get("cache_dir"))})  # fmt: skip
        if not files:
            inputs.append({"name": str(target), "bytes": 0, "fingerprint": f"hub:{target}"})
        return lf, {"inputs": inputs}

    def steps(self) -> list:
        steps: list = [CoTFormat(self.cot, self.trigger, self.answer_line), NonEmpty(columns=("prompt", "response"))]
        if self.korean_min_ratio is not None:
            steps.append(KoreanScript("prompt", self.korean_min_ratio))
        if self.drop_untranslated:
            steps.append(UntranslatedEnglish("rationale" if self.check_rationale else "response"))
        if self.length_min is not None or self.length_max is not None:
            steps.append(Length("response", self.length_min, self.length_max))
        if self.languages:
            steps.append(Language(column="prompt", languages=tuple(self.languages)))
        if self.dedup:
            steps.append(ExactDedup("prompt", prefer=None))
        steps.append(StratifiedSample(size=self.size, strata=None, shares=(), group="group",
                                      temperature=self.temperature, order_by=None))  # fmt: skip
        return steps

    def publish_columns(self) -> list[str]:
        return ["question", "rationale", "answer", "task", "type"]

    def card_languages(self) -> list[str]:
        return ["ko"]

    def format_info(self) -> dict | None:
        return cot_format(self.cot, self.trigger, self.answer_line)


KOCOT = KoCoTRecipe()
KOCOT_NOCOT = KoCoTRecipe(name="kocot-nocot", cot=False)
NAMED: dict[str, KoCoTRecipe] = {"kocot": KOCOT, "kocot-nocot": KOCOT_NOCOT}


def load(spec) -> KoCoTRecipe:
    """A named recipe (see ``NAMED``) or a TOML/YAML file starting from one."""
    from curation.recipes.base import named_or_file

    return named_or_file(spec, NAMED)  # type: ignore[return-value]

