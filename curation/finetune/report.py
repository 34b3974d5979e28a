"""An ablation's results as files a person reads: report.md, plots, and a section for dataset cards.

Everything here is a pure function of the results dict that ablation.py builds, so a report can
be re-rendered without retraining.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _judge_cell(judge: dict | None) -> str:
    if not judge or judge.get("mean") is None:
        return "–"
    if judge.get("ci95_low") is None:
        return f"{judge['mean']:.2f} (n={judge['n']})"
    return f"{judge['mean']:.2f} [{judge['ci95_low']:.2f}, {judge['ci95_high']:.2f}] (n={judge['n']})"


def plot_losses(results: dict, path: Path) -> Path:
    """Training loss per logged step and held-out loss per epoch, one colour per arm, against epochs."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, arm in enumerate(results["arms"]):
        colour = f"C{i % 10}"
        train = arm["curves"]["train"]
        if train:
            ax.plot(
                [p["epoch"] for p in train],
                [p["loss"] for p in train],
                color=colour,
                alpha=0.8,
                label=f"{arm['name']} train (residual dropout on)"
                if arm.get("residual_dropout_on")
                else f"{arm['name']} train",
            )
        heldout = arm["curves"]["eval"]
        if heldout:
            ax.plot(
                [p["epoch"] for p in heldout],
                [p["loss"] for p in heldout],
                "o--",
                color=colour,
                label=f"{arm['name']} held-out",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (nats per target token)")
    ax.set_title("Loss curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_metrics(results: dict, path: Path) -> Path:
    """Held-out loss per arm, and the judge's mean helpfulness with its 95% interval when graded."""
    arms = results["arms"]
    names = [a["name"] for a in arms]
    judged = [a for a in arms if a.get("judge") and a["judge"].get("mean") is not None]
    fig, axes = plt.subplots(1, 2 if judged else 1, figsize=(9 if judged else 5, 3.8), squeeze=False)
    losses = [a["heldout"]["loss"] if a.get("heldout") else float("nan") for a in arms]
    bars = axes[0][0].bar(names, losses, color=[f"C{i % 10}" for i in range(len(arms))])
    axes[0][0].bar_label(bars, fmt="%.3f", fontsize=8)
    axes[0][0].set_ylabel("held-out loss")
    axes[0][0].set_title("Held-out loss (lower is better)")
    if judged:
        means = [a["judge"]["mean"] if a.get("judge") else float("nan") for a in arms]
        err = (
            [
                [m - (a["judge"].get("ci95_low") or m) for m, a in zip(means, arms)],
                [(a["judge"].get("ci95_high") or m) - m for m, a in zip(means, arms)],
            ]
            if all(a.get("judge") for a in arms)
            else None
        )
        bars = axes[0][1].bar(names, means, yerr=err, capsize=4, color=[f"C{i % 10}" for i in range(len(arms))])
        axes[0][1].bar_label(bars, fmt="%.2f", fontsize=8, label_type="center")
        axes[0][1].set_ylim(1, 6)
        axes[0][1].set_ylabel("helpfulness (1-6)")
        axes[0][1].set_title("Judge: mean and 95% CI")
    for row in axes:
        for ax in row:
            ax.tick_params(axis="x", rotation=20)
            ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def quantity_series(results: dict) -> dict[str, list[dict]]:
    """Arms drawn from one dataset at several sizes: dataset spec -> arms ordered by size."""
    by_dataset: dict[str, list[dict]] = {}
    for arm in results["arms"]:
        by_dataset.setdefault(arm["dataset"]["spec"], []).append(arm)
    return {
        spec: sorted(arms, key=lambda a: a["examples"]["train"])
        for spec, arms in by_dataset.items()
        if len({a["examples"]["train"] for a in arms}) >= 2
    }


def plot_quantity(results: dict, path: Path) -> Path | None:
    """LIMA's quantity ablation: held-out loss (and judge mean) against training examples, log2 axis."""
    series = quantity_series(results)
    if not series:
        return None
    has_judge = any(a.get("judge") and a["judge"].get("mean") is not None for arms in series.values() for a in arms)
    fig, axes = plt.subplots(1, 2 if has_judge else 1, figsize=(9 if has_judge else 5, 3.8), squeeze=False)
    for i, (spec, arms) in enumerate(series.items()):
        xs = [a["examples"]["train"] for a in arms]
        axes[0][0].plot(
            xs,
            [a["heldout"]["loss"] if a.get("heldout") else float("nan") for a in arms],
            "o-",
            color=f"C{i % 10}",
            label=os.path.basename(spec.rstrip("/")) or spec,
        )
        if has_judge:
            axes[0][1].plot(
                xs, [a["judge"]["mean"] if a.get("judge") else float("nan") for a in arms], "o-", color=f"C{i % 10}"
            )
    axes[0][0].set_ylabel("held-out loss")
    if has_judge:
        axes[0][1].set_ylabel("helpfulness (1-6)")
    for ax in axes[0]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("training examples")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    axes[0][0].set_title("Quantity")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def arms_table(results: dict) -> str:
    """Markdown table, one row per arm."""
    pairwise = any(a.get("pairwise") for a in results["arms"])
    head = (
        "| arm | dataset | train examples | final train loss | held-out loss | held-out ppl | judge 1-6 mean [95% CI] |"
    )
    rule = "|---|---|---:|---:|---:|---:|---|"
    if pairwise:
        head += f" vs {results['arms'][0]['name']}: win / tie / loss |"
        rule += "---|"
    rows = [head, rule]
    for arm in results["arms"]:
        heldout = arm.get("heldout") or {}
        row = (
            f"| {arm['name']} | `{arm['dataset']['spec']}` | {arm['examples']['train']} | "
            f"{_fmt(arm['metrics'].get('final_loss'))} | {_fmt(heldout.get('loss'))} | "
            f"{_fmt(heldout.get('perplexity'), 2)} | "
            f"{_judge_cell(arm.get('judge'))} |"
        )
        if pairwise:
            p = arm.get("pairwise")
            row += f" {p['wins']} / {p['ties']} / {p['losses']} |" if p else " (baseline) |"
        rows.append(row)
    return "\n".join(rows)


def write_report(results: dict, out: Path) -> Path:
    """report.md plus the PNGs it links (relative paths), in ``out``."""
    plot_losses(results, out / "loss_curves.png")
    plot_metrics(results, out / "metrics.png")
    quantity = plot_quantity(results, out / "quantity.png")
    settings = results["settings"]
    lines = [
        f"# Ablation: {results['name']}",
        "",
        f"Model `{settings['model']}`, seed {settings['seed']}; every arm trained with the same settings "
        f"({settings['train']['method']}, {settings['train']['epochs']:g} epoch(s), "
        f"lr {settings['train']['learning_rate']:g} "
        f"→ {settings['train']['final_learning_rate']:g}, effective batch {settings['train']['batch_size']}, "
        f"max length {settings['train']['max_length']}, loss on {settings['train']['loss_on']} tokens).",
        f"Held-out set: {results['heldout']['examples']} conversations from `{results['heldout']['source']}`, "
        "excluded from every arm's training rows."
        + (
            f" The base model's held-out loss before any training: {_fmt(base['loss'])}."
            if (base := (results["arms"][0]["metrics"].get("heldout_before") or None))
            else ""
        ),
        "",
        arms_table(results),
        "",
        "Held-out loss is per target token, measured without dropout (epoch 0 on the loss plot is the "
        "base model); training loss is logged with LIMA's residual dropout on, so it sits above it. "
        "LIMA found held-out perplexity can rise while answers get better: prefer the judge (or people) "
        "for quality.",
        "",
        "![loss curves](loss_curves.png)",
        "",
        "![metrics per arm](metrics.png)",
    ]
    if quantity is not None:
        lines += ["", "![quantity curve](quantity.png)"]
    samples = results.get("samples") or []
    if samples:
        lines += ["", "## One answer per arm", "", f"**Prompt:** {samples[0]['prompt']}", ""]
        for arm in results["arms"]:
            answer = (arm.get("first_answer") or "").strip().replace("\n", "\n> ")
            lines += [f"**{arm['name']}:**", "", f"> {answer}" if answer else "> (empty)", ""]
    lines += [
        "",
        f"Library versions: {', '.join(f'{k} {v}' for k, v in sorted(results['library_versions'].items()))}.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def card_section(results: dict) -> str:
    """The markdown a dataset card gets: the run's name, settings and the arms table."""
    return "\n".join(
        [
            f"## Fine-tuning ablation: {results['name']}",
            "",
            f"Base model `{results['settings']['model']}`, identical settings and seed for every arm "
            "(generated by `python -m curation ablate`).",
            "",
            arms_table(results),
            "",
        ]
    )


def add_to_card(card: Path, results: dict) -> bool:
    """Insert or replace this run's section in a README.md between markers; True if it changed."""
    start = f"<!-- curation-ablation:{results['name']}:start -->"
    end = f"<!-- curation-ablation:{results['name']}:end -->"
    text = card.read_text(encoding="utf-8") if card.exists() else ""
    block = f"{start}\n{card_section(results)}{end}\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        new = before + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        new = text.rstrip("\n") + ("\n\n" if text else "") + block
    if new == text:
        return False
    tmp = card.with_suffix(".md.tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(card)
    return True


def summary(results: dict) -> str:
    """What the CLI prints after an ablation: the arms table and where the files are."""
    out = Path(results.get("out", "."))
    lines = [arms_table(results), "", f"report: {out / 'report.md'}", f"results: {out / 'results.json'}"]
    lines += [f"card updated: {card}" for card in results.get("cards_updated", [])]
    return "\n".join(lines)
