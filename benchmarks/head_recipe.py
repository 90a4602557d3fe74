"""The frozen heads' training recipe, chosen on validation rows: which dropout and learning
rate `benchmarks.gue train` uses (DEFAULT_RECIPE in vqdna_cli/train/recipes.py).

For each task the shared model runs once over the task's training and validation rows,
split and cleaned exactly as `benchmarks.gue train` does (`api.head_training_data`); then heads
train with each candidate recipe and several seeds through the same loop as
`vqdna train finetune --adapter frozen` (`train/head.py`). Two numbers per run: the best
validation MCC over the epochs (the epoch a shipped head keeps) and the mean over the last
five epochs (how well the recipe holds once trained: less of the luck of picking the best
of 30 noisy evaluations). Test rows are never read.

    python -m benchmarks.head_recipe --model weights/default --cache RUN/features \\
        --tasks histone-H3 histone-H4 ... \\
        --json benchmarks/results/head_recipe.json --markdown benchmarks/results/head_recipe.md

Data: ../shared/data (or $VQDNA_DATA); the script stops with a message when it is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.gue import data_dir
from benchmarks.provenance import made_by
from vqdna_cli.train.recipes import BY_NAME, Task

# name: (dropout, peak learning rate); every one trains 30 epochs of batches of 64.
RECIPES = {
    "dropout 0.2, lr 1e-3 (before)": (0.2, 1e-3),
    "dropout 0.2, lr 3e-4": (0.2, 3e-4),
    "dropout 0.5, lr 1e-3": (0.5, 1e-3),
    "dropout 0.5, lr 3e-4 (shipped)": (0.5, 3e-4),
}
EPOCHS, BATCH = 30, 64


def task_features(task: Task, runner, cache: Path | None):
    """(train, valid) LabelledFeatures of the task, read from `cache` when it has them."""
    from vqdna_cli import api
    from vqdna_cli.options import HeadRows
    from vqdna_cli.runner import window_vectors
    from vqdna_cli.train.head import LabelledFeatures

    stored = cache / f"{task.name}.npz" if cache else None
    if stored and stored.exists():
        z = np.load(stored)
        return [LabelledFeatures(z[f"{part}_v"], z[f"{part}_o"], z[f"{part}_y"]) for part in ("tr", "va")]
    data = data_dir()
    rows = api.head_training_data(HeadRows(tuple(task.train_files(data)), valid_files=task.valid_files(data),
                                           exclude_files=tuple(task.test_files(data))))
    index_of = {label: i for i, label in enumerate(rows.labels)}
    parts = [window_vectors(runner, [s for s, _ in pairs], np.array([index_of[y] for _, y in pairs]), task.reads)
             for pairs in (rows.rows, rows.valid_rows)]
    if stored:
        stored.parent.mkdir(parents=True, exist_ok=True)
        np.savez(stored, **{f"{name}_{key}": getattr(part, field) for name, part in zip(("tr", "va"), parts)
                            for key, field in (("v", "vectors"), ("o", "owner"), ("y", "labels"))})
    return parts


def validation_curve(train, valid, dropout: float, lr: float, seed: int) -> list[float]:
    """Validation MCC after each epoch of one head trained with this recipe."""
    import torch

    from vqdna_cli.train.head import fit_frozen_head

    torch.manual_seed(seed)
    classes = int(max(train.labels.max(), valid.labels.max())) + 1
    with tempfile.TemporaryDirectory() as work:
        fit_frozen_head(train, valid, classes, epochs=EPOCHS, batch=BATCH, lr=lr, dropout=dropout, seed=seed,
                        device=torch.device("cpu"), work=Path(work))
        log = [json.loads(line) for line in (Path(work) / "train_log.jsonl").read_text().splitlines()]
    return [row["valid_mcc"] for row in log if "valid_mcc" in row]


def markdown(results: dict, tasks: list[str], model: str, seeds: int) -> str:
    lines = ["# Frozen-head recipes on validation rows (`benchmarks/head_recipe.py`)", "",
             made_by("benchmarks.head_recipe"), "",
             f"Model `{model}`; {EPOCHS} epochs, batch {BATCH}, seeds 0..{seeds - 1}; {len(tasks)} tasks. "
             "Test rows are never read.", "",
             "| recipe | mean best validation MCC | mean of the last 5 epochs | higher than before (best) |",
             "|---|---:|---:|---:|"]
    before = next(iter(RECIPES))
    for name in RECIPES:
        best = [results[t][name]["best"] for t in tasks]
        last = [results[t][name]["last5"] for t in tasks]
        higher = sum(results[t][name]["best"] > results[t][before]["best"] for t in tasks)
        lines.append(f"| {name} | {np.mean(best):.3f} | {np.mean(last):.3f} | {higher} of {len(tasks)} |")
    lines += ["", "| task | " + " | ".join(RECIPES) + " |", "|---|" + "---:|" * len(RECIPES)]
    for t in tasks:
        lines.append(f"| {t} | " + " | ".join(f"{results[t][n]['best']:.3f} / {results[t][n]['last5']:.3f}"
                                              for n in RECIPES) + " |")
    lines += ["", "Each cell: best validation MCC / mean of the last 5 epochs, averaged over the seeds."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--tasks", nargs="+", required=True)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--cache", type=Path, help="keep each task's features here (TASK.npz) for reruns")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    import torch

    from vqdna_cli.runner import Runner

    unknown = [t for t in args.tasks if t not in BY_NAME]
    if unknown:
        sys.exit(f"head_recipe.py: unknown task(s) {', '.join(unknown)}")
    torch.set_num_threads(args.threads)
    runner = Runner.load(Path(args.model), "cpu")
    results: dict = json.loads(args.json.read_text())["tasks"] if args.json and args.json.exists() else {}
    for name in args.tasks:
        began = time.monotonic()
        train, valid = task_features(BY_NAME[name], runner, args.cache)
        for recipe, (dropout, lr) in RECIPES.items():
            if recipe in results.get(name, {}):
                continue
            curves = [validation_curve(train, valid, dropout, lr, seed) for seed in range(args.seeds)]
            results.setdefault(name, {})[recipe] = {
                "best": float(np.mean([max(c) for c in curves])),
                "last5": float(np.mean([np.mean(c[-5:]) for c in curves])),
                "best_epoch": [int(np.argmax(c)) + 1 for c in curves]}
            if args.json:  # after every recipe: an interrupted run resumes where it stopped
                args.json.write_text(json.dumps({"model": str(args.model), "epochs": EPOCHS, "batch": BATCH,
                                                 "seeds": args.seeds, "tasks": results}, indent=1) + "\n")
        print(f"{name}: {(time.monotonic() - began) / 60:.1f} min", file=sys.stderr)
    done = [t for t in args.tasks if all(r in results.get(t, {}) for r in RECIPES)]
    table = markdown(results, done, args.model, args.seeds)
    if args.markdown:
        args.markdown.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
