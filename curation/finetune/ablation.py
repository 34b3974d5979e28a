"""Ablation runs: several arms (dataset versions) trained with identical settings and seed, then
compared on one held-out set and one set of test prompts; resumable.

``CONFIG.toml`` (see docs/finetune.md)::

    name = "quality"                  # optional, default: the file's stem
    model = "path/or/hub-id/or/model.gguf"
    seed = 42
    equal_size = true                 # arms without a size: all cut to the smallest one (by id hash)
    update_cards = false              # add the results table to local datasets' README.md

    [train]                           # TrainConfig fields, the same for every arm
    epochs = 15

    [eval]
    dataset = "path"                  # optional; default: the first arm's dataset
    heldout = 50                      # held-out conversations (excluded from every arm's training)
    prompts = 20                      # test prompts to answer (0: no generation)
    samples = 5                       # answers per prompt (LIMA: 5)
    max_new_tokens = 512

    [judge]                           # optional: any OpenAI-compatible endpoint
    url = "http://127.0.0.1:8000/v1"
    model = "judge-model"
    api_key_env = "OPENAI_API_KEY"
    pairwise = true                   # every arm against the first arm

    [[arms]]
    name = "lima"
    dataset = "datasets/stackexchange-lima/v1"
    size = 2000                       # optional

Each stage of an arm writes its own file (``train.json``, ``generations.json``, ``judge.json``)
next to a ``settings.json``; a resumed run skips every stage whose file exists for the same
settings, and refuses to mix results when the settings of a finished arm changed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import tomllib

from curation.errors import CurationError
from curation.finetune import data as data_mod
from curation.finetune import report as report_mod
from curation.finetune.config import LIMA_SAMPLING, TrainConfig, from_mapping

_TOP_KEYS = {"name", "model", "seed", "equal_size", "update_cards", "out", "train", "eval", "judge", "arms"}
_EVAL_KEYS = {"dataset", "heldout", "prompts", "samples", "max_new_tokens"}
_JUDGE_KEYS = {"url", "model", "api_key_env", "pairwise", "timeout"}
_ARM_KEYS = {"name", "dataset", "size"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Arm:
    """One arm: a name (its folder), a dataset spec and an optional size."""

    name: str
    dataset: str
    size: int | None = None


@dataclass(frozen=True)
class AblationConfig:
    """A parsed, checked CONFIG.toml."""

    path: Path
    name: str
    model: str
    arms: tuple[Arm, ...]
    train: TrainConfig
    seed: int = 42
    equal_size: bool = False
    update_cards: bool = False
    out: Path | None = None
    eval: dict[str, Any] = field(default_factory=dict)
    judge: dict[str, Any] | None = None


def _local(base: Path, spec: str) -> str:
    """A relative path in the config is relative to the config's folder when it exists there."""
    candidate = base / spec
    return str(candidate) if not Path(spec).is_absolute() and candidate.exists() else spec


def load_config(path: str | Path) -> AblationConfig:
    """Parse and check an ablation TOML; every mistake is one CurationError naming the file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CurationError("ablation config not found", path=path) from None
    except UnicodeDecodeError as error:
        raise CurationError(f"not UTF-8 text ({error.reason})", path=path, position=f"byte {error.start}") from None
    except tomllib.TOMLDecodeError as error:
        where = re.search(r"\(at (line \d+, column \d+)\)", str(error))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error))
        raise CurationError(f"invalid TOML: {message}", path=path, position=where.group(1) if where else None) from None

    def fail(message: str, position: str | None = None):
        raise CurationError(message, path=path, position=position)

    unknown = set(raw) - _TOP_KEYS
    if unknown:
        fail(f"unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_TOP_KEYS))}")
    if not isinstance(raw.get("model"), str):
        fail("'model' (a folder, Hub id or .gguf file) is required")
    arms_raw = raw.get("arms")
    if not isinstance(arms_raw, list) or len(arms_raw) < 1:
        fail("at least one [[arms]] table with name and dataset is required")
    base = path.parent
    arms, seen = [], set()
    for i, arm in enumerate(arms_raw, 1):
        where = f"[[arms]] #{i}"
        if set(arm) - _ARM_KEYS:
            fail(f"unknown key(s) {', '.join(sorted(set(arm) - _ARM_KEYS))} (known: name, dataset, size)", where)
        name, dataset, size = arm.get("name"), arm.get("dataset"), arm.get("size")
        if not isinstance(name, str) or not _NAME.match(name):
            fail("arm 'name' must be letters, digits, '.', '_' or '-'", where)
        if name in seen:
            fail(f"arm name {name!r} is used twice", where)
        if not isinstance(dataset, str):
            fail("arm 'dataset' (a version folder or owner/name@revision) is required", where)
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            fail(f"arm 'size' must be a positive integer, got {size!r}", where)
        seen.add(name)
        arms.append(Arm(name, _local(base, dataset), size))
    for table, keys in (("eval", _EVAL_KEYS), ("judge", _JUDGE_KEYS)):
        value = raw.get(table, {})
        if not isinstance(value, dict) or set(value) - keys:
            fail(f"[{table}] accepts only {', '.join(sorted(keys))}")
    judge = raw.get("judge")
    if judge is not None and not (isinstance(judge.get("url"), str) and isinstance(judge.get("model"), str)):
        fail("[judge] needs 'url' (the API base, e.g. http://host:port/v1) and 'model'")
    seed = raw.get("seed", 42)
    if isinstance(seed, bool) or not isinstance(seed, int):
        fail(f"'seed' must be an integer, got {seed!r}")
    if "seed" in raw.get("train", {}):
        fail("put the seed at the top level (it seeds training, splits and sampling alike)", "[train]")
    train = from_mapping(dict(raw.get("train", {}), seed=seed), where=str(path))
    evaluation = {"heldout": 50, "prompts": 10, "samples": 1, "max_new_tokens": 512, **raw.get("eval", {})}
    for key in ("heldout", "prompts", "samples", "max_new_tokens"):
        if isinstance(evaluation[key], bool) or not isinstance(evaluation[key], int) or evaluation[key] < 0:
            fail(f"[eval] {key} must be a non-negative integer, got {evaluation[key]!r}")
    if "dataset" in evaluation:
        evaluation["dataset"] = _local(base, str(evaluation["dataset"]))
    out = raw.get("out")
    return AblationConfig(
        path=path,
        name=str(raw.get("name", path.stem)),
        model=_local(base, raw["model"]),
        arms=tuple(arms),
        train=train,
        seed=seed,
        equal_size=bool(raw.get("equal_size", False)),
        update_cards=bool(raw.get("update_cards", False)),
        out=(base / out) if isinstance(out, str) else None,
        eval=evaluation,
        judge=judge,
    )


def _sha(value: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    tmp.replace(path)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _stage(folder: Path, name: str, settings: dict) -> Any:
    """The cached result of a stage if it was made with ``settings``; None when it must run."""
    cached = _read_json(folder / name)
    if cached is not None and cached.get("settings_hash") == _sha(settings):
        return cached
    return None


def ablate(config_path: str | Path, out: str | Path | None = None, *, update_cards: bool | None = None) -> dict:
    """Train, evaluate and compare every arm; writes results.json, report.md and plots to ``out``.

    ``out`` defaults to the config's ``out`` key, else a folder named after the config beside it.
    Re-running the same command resumes: finished stages are read back, not recomputed.
    """
    from curation.finetune.training import dataset_info, library_versions, train_frames

    config = load_config(config_path)
    out = Path(out) if out is not None else (config.out or config.path.parent / config.path.stem)
    (out / "arms").mkdir(parents=True, exist_ok=True)
    seed = config.seed

    sources = {arm.name: data_mod.resolve_arm(arm.dataset) for arm in config.arms}
    frames = {arm.name: data_mod.load_split(sources[arm.name], "train") for arm in config.arms}

    # one held-out set and one prompt set for every arm, excluded from every arm's training rows:
    # held-out conversations from [eval] dataset's train split when it has one, else from the first
    # arm's rows (which keeps at least half); prompts from the test split of the [eval] dataset (else
    # of the first arm's dataset) when there is one, else from the held-out conversations
    first = config.arms[0]
    eval_source = data_mod.resolve_arm(config.eval["dataset"]) if "dataset" in config.eval else sources[first.name]
    eval_train = data_mod.load_split(eval_source, "train", required=False) if "dataset" in config.eval else None
    if eval_train is not None and eval_train.height:
        heldout_spec, pool, fraction = config.eval["dataset"], eval_train, 1.0
    else:
        heldout_spec, pool, fraction = first.dataset, frames[first.name], 0.5
    _, heldout = data_mod.split_heldout(pool, config.eval["heldout"], fraction, seed)
    test_split = data_mod.load_split(eval_source, "test", required=False)
    prompt_pool = test_split if test_split is not None and test_split.height else heldout
    prompt_rows = (
        data_mod.subsample(prompt_pool, config.eval["prompts"], seed) if config.eval["prompts"] else prompt_pool.clear()
    )
    if test_split is not None and test_split.height:  # test rows are prompts only: the user turns
        prompt_msgs = [[t for t in c if t["role"] != "assistant"] for c in data_mod.conversations(prompt_rows)]
    else:
        prompt_msgs = data_mod.prompts(prompt_rows)
    prompt_texts = [next((t["content"] for t in reversed(m) if t["role"] == "user"), "") for m in prompt_msgs]

    excluded = set(heldout["id"].to_list())
    trainable = {name: f.filter(~pl.col("id").is_in(list(excluded))) for name, f in frames.items()}
    sizes = {arm.name: min(arm.size or trainable[arm.name].height, trainable[arm.name].height) for arm in config.arms}
    unsized = [arm.name for arm in config.arms if arm.size is None]
    if config.equal_size and unsized:  # arms without an explicit size all get the smallest one's rows
        smallest = min(sizes[name] for name in unsized)
        sizes.update(dict.fromkeys(unsized, smallest))
    rows = {arm.name: data_mod.subsample(trainable[arm.name], sizes[arm.name], seed) for arm in config.arms}

    eval_settings = {
        "prompts": prompt_msgs,
        "samples": config.eval["samples"],
        "max_new_tokens": config.eval["max_new_tokens"],
        "seed": seed,
        "sampling": LIMA_SAMPLING,
    }
    results_arms = []
    generations: dict[str, list[list[str]]] = {}
    for arm in config.arms:
        folder = out / "arms" / arm.name
        info = dataset_info(arm.dataset, sources[arm.name])
        settings = {
            "model": config.model,
            "train": config.train.to_dict(),
            "dataset": info,
            "train_ids": _sha(rows[arm.name]["id"].to_list()),
            "heldout_ids": _sha(heldout["id"].to_list()),
        }
        meta = _read_json(folder / "train.json")
        saved = _read_json(folder / "settings.json")
        if meta is not None and saved != settings:
            raise CurationError(
                f"arm {arm.name!r} was trained with other settings (model, training settings or rows changed); "
                "use another output folder or delete this arm's folder to retrain it",
                path=folder,
            )
        if meta is None:
            if folder.exists():  # an interrupted arm: start it again from scratch
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            _write_json(folder / "settings.json", settings)
            meta = train_frames(rows[arm.name], heldout, config.model, folder, config.train, dataset_info=info).meta
            gc.collect()
        arm_result = {
            "name": arm.name,
            "dataset": info,
            "examples": meta["examples"] | {"heldout_ids": len(meta["examples"]["heldout_ids"])},
            "metrics": meta["metrics"],
            "heldout": meta["metrics"]["heldout"],
            "curves": meta["curves"],
            "residual_dropout": meta["residual_dropout"],
            "residual_dropout_on": isinstance(meta["residual_dropout"], list) and any(meta["residual_dropout"]),
        }
        if prompt_msgs:
            cached = _stage(folder, "generations.json", eval_settings)
            if cached is None:
                cached = {
                    "settings_hash": _sha(eval_settings),
                    "answers": _generate(folder, prompt_msgs, config.eval, seed),
                }
                _write_json(folder / "generations.json", cached)
            generations[arm.name] = cached["answers"]
            arm_result["first_answer"] = cached["answers"][0][0] if cached["answers"] and cached["answers"][0] else ""
        results_arms.append(arm_result)

    if config.judge and prompt_msgs:
        _judge(config, out, results_arms, prompt_texts, generations, eval_settings)

    results = {
        "name": config.name,
        "settings": {
            "model": config.model,
            "seed": seed,
            "equal_size": config.equal_size,
            "train": config.train.to_dict(),
            "eval": {k: v for k, v in config.eval.items()},
            "judge": {k: v for k, v in (config.judge or {}).items() if k != "api_key_env"} or None,
        },
        "heldout": {"source": str(heldout_spec), "examples": heldout.height},
        "samples": [{"prompt": p} for p in prompt_texts[:1]],
        "arms": results_arms,
        "library_versions": library_versions(),
    }
    _write_json(out / "results.json", results)
    report_mod.write_report(results, out)
    results["out"] = str(out)  # for the caller; not in results.json (no absolute paths there)
    if update_cards if update_cards is not None else config.update_cards:
        results["cards_updated"] = [
            str(sources[arm.name] / "README.md")
            for arm in config.arms
            if isinstance(sources[arm.name], Path) and report_mod.add_to_card(sources[arm.name] / "README.md", results)
        ]
    return results


def _generate(folder: Path, prompts: list, evaluation: dict, seed: int) -> list[list[str]]:
    from curation.finetune.evaluate import generate
    from curation.finetune.model import load_trained

    model, tokenizer, meta = load_trained(folder)
    answers = generate(
        model,
        tokenizer,
        prompts,
        samples=max(1, evaluation["samples"]),
        max_new_tokens=evaluation["max_new_tokens"],
        seed=seed,
        stop_token_ids=meta["chat_format"]["stop_token_ids"],
    )
    del model
    gc.collect()
    return answers


def _judge(
    config: AblationConfig, out: Path, arms: list[dict], prompts: list[str], generations: dict, eval_settings: dict
) -> None:
    """Grades per arm and, when asked, pairwise preference against the first arm (both cached)."""
    from curation.finetune.judge import Judge, compare_all, grade_all

    spec = config.judge or {}
    judge = Judge(spec["url"], spec["model"], spec.get("api_key_env"), timeout=float(spec.get("timeout", 120)))
    judge_settings = {"url": judge.url, "model": judge.model, "eval": _sha(eval_settings)}
    baseline = arms[0]["name"]
    for arm in arms:
        folder = out / "arms" / arm["name"]
        cached = _stage(folder, "judge.json", judge_settings)
        if cached is None:
            cached = {"settings_hash": _sha(judge_settings), **grade_all(judge, prompts, generations[arm["name"]])}
            _write_json(folder / "judge.json", cached)
        arm["judge"] = {k: cached[k] for k in ("n", "mean", "ci95_low", "ci95_high")}
        if spec.get("pairwise") and arm["name"] != baseline:
            pair_settings = dict(judge_settings, against=baseline)
            cached = _stage(folder, f"pairwise-{baseline}.json", pair_settings)
            if cached is None:
                cached = {
                    "settings_hash": _sha(pair_settings),
                    **compare_all(judge, prompts, generations[arm["name"]], generations[baseline]),
                }
                _write_json(folder / f"pairwise-{baseline}.json", cached)
            arm["pairwise"] = {k: cached[k] for k in ("n", "wins", "ties", "losses", "win_rate")}
