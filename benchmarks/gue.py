"""GUE benchmark: a task head for every task we have data for, scored on its test split
through the public API, beside a from-scratch baseline and the published numbers.

    python -m benchmarks.gue train    --model weights/default --out RUN/pretrained
    python -m benchmarks.gue scratch  --like weights/default --out RUN/scratch  # no pre-training
    python -m benchmarks.gue random-transformer --like weights/default --out RUN/random  # tokenizer only
    python -m benchmarks.gue train    --model RUN/scratch --out RUN/scratch
    python -m benchmarks.gue evaluate --model RUN/pretrained      # test splits, read only now
    python -m benchmarks.gue evaluate --model RUN/scratch
    python -m benchmarks.gue table --ours RUN/pretrained --baseline RUN/scratch \
        --json benchmarks/results/gue.json --markdown benchmarks/results/gue.md
    python -m benchmarks.gue table --ours weights/default --baseline-json benchmarks/results/gue.json \
        --json benchmarks/results/gue.json --markdown benchmarks/results/gue.md  # baseline heads not at hand
    python -m benchmarks.gue seeds --ours weights/default RUN/seed1 --baseline RUN/scratch RUN/scratch-seed1
    python -m benchmarks.gue lengths  --model weights/default  # heads trained before head.json
                                                             # recorded train_window_lengths

Heads are `--adapter frozen`: the shared model runs once over each training set and only the
MLP head trains (train/head.py). The baseline is the same architecture with nothing
pre-trained: encoder, decoder and Transformer at their random initialisation, codebooks
k-means-initialised on one batch of genome windows (so that its tokens are not all one
code), then the very same head recipe, data and budget. The gap between the two is what the
learned vocabulary and the masked pre-training buy.

Data: ../shared/data (or $VQDNA_DATA); the script stops with a message when it is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

from benchmarks.provenance import made_by
from vqdna_cli.head_info import HeadReads
from vqdna_cli.options import FinetuneSettings, HeadRows, RunOptions, TrainControl
from vqdna_cli.train import recipes
from vqdna_cli.train.recipes import BY_NAME, DEFAULT_RECIPE, TASKS, Task


def data_dir() -> Path:
    data = recipes.data_dir()
    if not (data / "gue").is_dir():
        sys.exit(f"gue.py: no GUE data at {data}/gue (set VQDNA_DATA)")
    return data


def selected(names: list[str] | None) -> list[Task]:
    if not names:
        return TASKS
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        sys.exit(f"gue.py: unknown task(s) {', '.join(unknown)}")
    return [BY_NAME[n] for n in names]


def head_info(model: Path, task: str) -> dict | None:
    path = model / "heads" / task / "head.json"
    return json.loads(path.read_text()) if path.is_file() else None


def train(args) -> None:
    from vqdna_cli import api

    data, model, out = data_dir(), Path(args.model), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if model.resolve() != out.resolve():
        for name in ("model.safetensors", "config.json"):
            shutil.copy2(model / name, out / name)
    model_sha = json.loads((out / "config.json").read_text())["sha256"]["model.safetensors"]
    given = {k: v for k, v in vars(args).items() if k in DEFAULT_RECIPE and v is not None}
    recipe = {**DEFAULT_RECIPE, **given}
    for task in selected(args.tasks):
        info = head_info(out, task.name)
        reads = task.reads
        if args.center_tokens is not None:
            reads = dataclasses.replace(reads, center_tokens=args.center_tokens, center_at=args.center_at)
        if args.both_strands is not None:
            reads = dataclasses.replace(reads, both_strands=bool(args.both_strands))
        if args.all_layers is not None:
            reads = dataclasses.replace(reads, all_layers=bool(args.all_layers))
        if args.segments is not None:
            reads = dataclasses.replace(reads, segments=args.segments)
        task_recipe = recipe_for(task, recipe, given=set(given))
        work_dir = Path(args.work_dir or out / "work")
        train_files = task.train_files(data) + genome_set_files(task, work_dir, args)
        exclude_files = task.test_files(data) + held_out_files(task, data, work_dir)
        if _trained_with(info, model_sha, reads, task_recipe, train_files, exclude_files) and not args.force:
            print(f"{task.name}: done (validation MCC {info['validation']['valid_mcc']:.3f})", file=sys.stderr)
            continue
        began = time.monotonic()
        schedule = {key: task_recipe[key] for key in ("epochs", "batch", "lr", "dropout")}
        schedule["balance_classes"] = task_recipe.get("balance_classes", False)
        schedule["members"] = task_recipe.get("members", 1)
        metrics = api.finetune(
            HeadRows(tuple(train_files), valid_files=task.valid_files(data), valid_fraction=0.15,
                     exclude_files=tuple(exclude_files), max_train_rows=task_recipe["max_train_rows"]),
            FinetuneSettings(task.name, adapter="frozen", center_tokens=reads.center_tokens, center_at=reads.center_at,
                             both_strands=reads.both_strands, whole_record=reads.whole_record,
                             all_layers=reads.all_layers, segments=reads.segments,
                             class_names=tuple(task.class_names), description=task.description, **schedule),
            # force: a head found here was trained otherwise (or --force): this run replaces it on purpose
            RunOptions(out, device="cpu", threads=args.threads, seed=task_recipe["seed"]),
            TrainControl(quiet=True, force=True),
            work_dir=work_dir / task.name)
        print(f"{task.name}: validation MCC {metrics['valid_mcc']:.3f} in {(time.monotonic() - began) / 60:.1f} min",
              file=sys.stderr)


def genome_set_files(task: Task, work_dir: Path, args) -> list[str]:
    """The task's genomic training rows (recipes.Task.genome_set), built under
    WORK_DIR/genome-sets when missing; --genome-negatives / --genome-other-species / --genome-genes /
    --genome-shifts override its mix, for trying mixes out."""
    if task.genome_set is None:
        return []
    from benchmarks.genome_sets import ensure_training_set

    overrides = {name: value for name, value in (("negatives_per_positive", args.genome_negatives),
                                                  ("other_species_per_positive", args.genome_other_species),
                                                  ("genes", args.genome_genes),
                                                  ("shifts", args.genome_shifts and tuple(args.genome_shifts)))
                 if value is not None}
    mix = dataclasses.replace(task.genome_set, **overrides)
    return [str(ensure_training_set(mix, work_dir / "genome-sets"))]


def held_out_files(task: Task, data: Path, work_dir: Path) -> list[str]:
    """For a head of a task cut from the human genome (promoters, splice sites, human TF
    peaks), its GUE rows that lie in chrX 30-70 Mb (benchmarks/held_out_rows.py), found under
    WORK_DIR/genome-sets when missing: they neither train nor select it. A TF peak there is
    annotation of that region as much as a TSS is, so the TF heads leave theirs out too."""
    if not task.cut_from_human_genome:
        return []
    from benchmarks.held_out_rows import ensure_held_out_rows

    files = task.train_files(data) + list(task.valid_files(data))
    return [str(ensure_held_out_rows(task.name, files, data, work_dir / "genome-sets"))]


def recipe_for(task: Task, recipe: dict, given: set[str]) -> dict:
    """The recipe with the task's own settings (recipes.Task.recipe), except those given on the command line."""
    return {**recipe, **{name: value for name, value in task.recipe.items() if name not in given}}


def _trained_with(info: dict | None, model_sha: str, reads: HeadReads, recipe: dict,
                  train_files: list[str] | None = None, exclude_files: list[str] | None = None) -> bool:
    """Whether an existing head was trained on this model with this recipe, these training
    files and these excluded files (compared by folder and name, as data folders move) (then
    it is kept)."""
    if not info or info["model_sha256"] != model_sha or info.get("adapter") != "frozen":
        return False
    data = info["provenance"]["data"]
    if train_files is not None and _names(data["train"]) != _names(train_files):
        return False
    if exclude_files is not None and _names(data.get("exclude", [])) != _names(exclude_files):
        return False
    settings, available = info["provenance"]["settings"], data["train_rows_available"]

    def rows_used(cap: int | None) -> int:  # a cap above the rows there are changes nothing
        return available if cap is None else min(cap, available)

    return (HeadReads.of(info) == reads
            and rows_used(settings.get("max_train_rows")) == rows_used(recipe["max_train_rows"])
            and settings.get("members", 1) == recipe.get("members", 1)  # heads before --members had one
            and all(settings.get(name) == value for name, value in recipe.items() if name != "max_train_rows"))


def _names(paths: list[str]) -> list[str]:
    return [f"{Path(p).parent.name}/{Path(p).name}" for p in paths]


def scratch(args) -> None:
    """The baseline model: the architecture of `--like`, nothing trained (see the module docstring)."""
    import torch

    from vqdna_cli.checkpoint import read_model_info, save_model
    from vqdna_cli.config import ModelConfig
    from vqdna_cli.model.vqdna import VQDNA
    from vqdna_cli.train.genomes import WindowSampler, load_genomes
    from vqdna_cli.train.recipes import HOLDOUT_FILES, HOLDOUT_TAIL

    torch.manual_seed(0)
    cfg = ModelConfig.from_dict(read_model_info(Path(args.like))["model"])
    model = VQDNA(cfg).train()
    genomes = load_genomes(sorted(str(p) for p in (data_dir() / "genomes").glob("*.f*a.gz")), HOLDOUT_FILES, HOLDOUT_TAIL)
    bases = torch.from_numpy(WindowSampler(genomes.train, 256, 0).batch(32, 0))
    with torch.no_grad():  # a training-mode pass k-means-initialises the codebooks; no weight moves
        model.quantize(bases)
    save_model(Path(args.out), model.eval(), cfg, {"baseline": {
        "what": "no pre-training: random networks, codebooks k-means-initialised on 32 x 256 bases of the genomes",
        "architecture_of": str(args.like), "seed": 0}})


def random_transformer(args) -> None:
    """The third arm: the trained tokenizer of `--like` under a Transformer at its random
    initialisation, so heads over it show what the tokens give with no pre-training."""
    import torch

    from vqdna_cli.checkpoint import load_model, save_model
    from vqdna_cli.model.vqdna import VQDNA

    trained, info = load_model(Path(args.like))
    torch.manual_seed(args.seed)
    model = VQDNA(trained.cfg).take_tokenizer_of(trained)
    save_model(Path(args.out), model.eval(), trained.cfg, {**info.get("provenance", {}), "baseline": {
        "what": "the trained tokenizer of architecture_of under a randomly initialised Transformer",
        "architecture_of": str(args.like), "seed": args.seed}})


def evaluate(args) -> None:
    from vqdna_cli import api

    data, model = data_dir(), Path(args.model)
    for task in selected(args.tasks):
        info = head_info(model, task.name)
        if info is None:
            print(f"{task.name}: no head in {model}", file=sys.stderr)
            continue
        if "test" in info and not args.force:
            continue
        metrics = api.evaluate(task.name, task.test_files(data), RunOptions(model, device="cpu", threads=args.threads),
                               record=True)
        print(f"{task.name}: test MCC {metrics['mcc']:.3f}, macro F1 {metrics['macro_f1']:.3f}", file=sys.stderr)


def lengths(args) -> None:
    """Records in each head.json the window lengths its training rows gave (what `vqdna
    train finetune` now records itself), for heads trained before it did; no weight changes.
    The rows are those the head trained on: the same files, cleaning and seed."""
    from vqdna_cli import api
    from vqdna_cli.checkpoint import read_model_info, record_head_info
    from vqdna_cli.head_features import training_window_lengths

    data, model = data_dir(), Path(args.model)
    window = read_model_info(model)["model"]["transformer"]["max_tokens"]
    for task in selected(args.tasks):
        info = head_info(model, task.name)
        if info is None or "train_window_lengths" in info:
            continue
        seed = info["provenance"]["settings"]["seed"]
        rows = api.head_training_data(HeadRows(tuple(task.train_files(data)), valid_files=task.valid_files(data),
                                               exclude_files=tuple(task.test_files(data))), seed=seed).rows
        found = training_window_lengths((len(sequence) for sequence, _ in rows),
                                        None if info.get("whole_record") else window)
        record_head_info(model, task.name, {"train_window_lengths": found})
        print(f"{task.name}: training windows {found[0]}-{found[1]} bp", file=sys.stderr)


def _score(info: dict | None, metric: str) -> float | None:
    if not info or "test" not in info:
        return None
    return 100 * info["test"][metric]


def rows(ours: Path, baseline: Path | None) -> list[dict]:
    out = []
    for task in TASKS:
        mine = head_info(ours, task.name)
        base = head_info(baseline, task.name) if baseline else None
        provenance = (mine or {}).get("provenance", {})
        out.append({
            "task": task.name, "group": task.group, "metric": task.metric,
            "full_training_data": task.has_train_split,
            "vqdna": _score(mine, task.metric), "from_scratch": _score(base, task.metric),
            "dnabert2": task.dnabert2, "vqdna_hrq": task.vqdna_hrq,
            "dnabert2_is_group_average": task.dnabert2_is_group_average,
            "hrq_is_group_average": task.hrq_is_group_average,
            "train_rows": provenance.get("data", {}).get("train_rows"),
            "train_rows_available": provenance.get("data", {}).get("train_rows_available"),
            "train_minutes": provenance.get("wall_minutes"),
            "from_scratch_train_minutes": (base or {}).get("provenance", {}).get("wall_minutes"),
            "test_rows": (mine or {}).get("test", {}).get("n"),
            "test_seconds": (mine or {}).get("test", {}).get("seconds"),
            "test_bases_per_second": (mine or {}).get("test", {}).get("bases_per_second"),
            "valid_mcc": 100 * mine["validation"]["valid_mcc"] if mine else None,
        })
    return out


def _mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summary(table: list[dict]) -> dict:
    """The issue's targets, measured. Group-average published numbers are compared as groups."""
    scored = [r for r in table if r["vqdna"] is not None]
    beats = [r["task"] for r in scored if r["from_scratch"] is not None and r["vqdna"] > r["from_scratch"]]
    loses = [r["task"] for r in scored if r["from_scratch"] is not None and r["vqdna"] <= r["from_scratch"]]
    full = [r for r in scored if r["full_training_data"]]
    # VQDNA-HRQ's average over the full-data tasks, with mouse TF entering as its group average.
    full_ours = _mean([r["vqdna"] for r in full])
    full_hrq = _mean([r["vqdna_hrq"] for r in full])
    groups = {}
    for r in scored:
        groups.setdefault(r["group"], []).append(r)
    below_dnabert2 = []
    for group, members in groups.items():
        if members[0]["dnabert2_is_group_average"]:
            gap = _mean([m["vqdna"] for m in members]) - members[0]["dnabert2"]
            if gap < -5:
                below_dnabert2.append({"task": f"{group} (average)", "gap": round(gap, 2)})
        else:
            below_dnabert2 += [{"task": m["task"], "gap": round(m["vqdna"] - m["dnabert2"], 2)}
                               for m in members if m["vqdna"] - m["dnabert2"] < -5]
    return {
        "tasks_scored": len(scored),
        "beats_from_scratch": beats, "not_beating_from_scratch": loses,
        "full_data_tasks": [r["task"] for r in full],
        "full_data_average_vqdna": full_ours, "full_data_average_vqdna_hrq_published": full_hrq,
        "reaches_hrq_average": None if full_ours is None else full_ours >= full_hrq,
        "more_than_5_below_dnabert2": below_dnabert2,
        "average_vqdna_all": _mean([r["vqdna"] for r in scored]),
        "average_from_scratch_all": _mean([r["from_scratch"] for r in scored]),
    }


def _fmt(value, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def markdown(table: list[dict], totals: dict) -> str:
    lines = ["| task | metric | vqdna | from scratch | DNABERT-2 | VQDNA-HRQ | training rows (of available) | data | head training min | test bp/s |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in table:
        d2 = _fmt(r["dnabert2"], 2) + (" (avg)" if r["dnabert2_is_group_average"] else "")
        hrq = _fmt(r["vqdna_hrq"], 2) + (" (avg)" if r["hrq_is_group_average"] else "")
        rows_used = "" if r["train_rows"] is None else f"{r['train_rows']:,} ({r['train_rows_available']:,})"
        lines.append(f"| {r['task']} | {'MCC' if r['metric'] == 'mcc' else 'macro F1'} | {_fmt(r['vqdna'])} | "
                     f"{_fmt(r['from_scratch'])} | {d2} | {hrq} | {rows_used} | "
                     f"{'train split' if r['full_training_data'] else 'dev only (85 %)'} | {_fmt(r['train_minutes'])} | "
                     f"{'' if r['test_bases_per_second'] is None else format(r['test_bases_per_second'], ',')} |")
    compared = len(totals["beats_from_scratch"]) + len(totals["not_beating_from_scratch"])
    lines += ["", f"- heads beating the from-scratch baseline: {len(totals['beats_from_scratch'])} of {compared} compared"
              + (f" (not: {', '.join(totals['not_beating_from_scratch'])})" if totals["not_beating_from_scratch"] else ""),
              f"- average over the tasks with a train split: vqdna {_fmt(totals['full_data_average_vqdna'])}, "
              f"VQDNA-HRQ published {_fmt(totals['full_data_average_vqdna_hrq_published'])}",
              f"- tasks more than 5 points below DNABERT-2: {len(totals['more_than_5_below_dnabert2'])}"]
    return "\n".join(lines) + "\n"


def keep_baseline(table: list[dict], earlier: dict) -> list[dict]:
    """The from-scratch column (score and training minutes) of an earlier table, for when its
    heads are not at hand: our heads' rows come from head.json, the baseline's stay as they were,
    except where a baseline head was scored since (a row that already has its score)."""
    before = {row["task"]: row for row in earlier["tasks"]}
    kept = ("from_scratch", "from_scratch_train_minutes")
    return [row if row["from_scratch"] is not None else
            {**row, **{key: before.get(row["task"], {}).get(key) for key in kept}} for row in table]


def table_command(args) -> None:
    table = rows(Path(args.ours), Path(args.baseline) if args.baseline else None)
    if args.baseline_json:  # with --baseline too: its scored heads first, the earlier table for the rest
        table = keep_baseline(table, json.loads(Path(args.baseline_json).read_text()))
    totals = summary(table)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"tasks": table, "summary": totals}, indent=2) + "\n")
    text = made_by("benchmarks.gue") + "\n\n" + markdown(table, totals)
    if args.markdown:
        Path(args.markdown).write_text(text)
    print(text)


def seed_rows(ours: list[Path], baseline: list[Path]) -> list[dict]:
    """Per task, the test scores of the same heads trained with several seeds (one weights
    directory per seed, in the same order for both models) and each model's mean."""
    out = []
    for task in TASKS:
        scores = {name: [_score(head_info(d, task.name), task.metric) for d in dirs]
                  for name, dirs in (("vqdna", ours), ("from_scratch", baseline))}
        if any(x is None for values in scores.values() for x in values):
            continue
        out.append({"task": task.name, "metric": task.metric, **scores,
                    **{f"{name}_mean": sum(values) / len(values) for name, values in scores.items()}})
    return out


def seeds_markdown(table: list[dict]) -> str:
    lines = ["| task | vqdna, by seed | mean | from scratch, by seed | mean | difference |",
             "|---|---|---:|---|---:|---:|"]
    for r in table:
        lines.append(f"| {r['task']} | {' / '.join(_fmt(x) for x in r['vqdna'])} | {_fmt(r['vqdna_mean'])} | "
                     f"{' / '.join(_fmt(x) for x in r['from_scratch'])} | {_fmt(r['from_scratch_mean'])} | "
                     f"{r['vqdna_mean'] - r['from_scratch_mean']:+.1f} |")
    ahead = [r["task"] for r in table if r["vqdna_mean"] > r["from_scratch_mean"]]
    mean = lambda key: sum(r[key] for r in table) / max(len(table), 1)  # noqa: E731
    lines += ["", f"- vqdna's mean above the baseline's on {len(ahead)} of {len(table)} tasks",
              f"- average over the tasks: vqdna {_fmt(mean('vqdna_mean'))}, from scratch {_fmt(mean('from_scratch_mean'))}"]
    return "\n".join(lines) + "\n"


def seeds_command(args) -> None:
    if len(args.ours) != len(args.baseline):
        sys.exit("gue.py seeds: give as many --baseline directories as --ours, seed by seed")
    table = seed_rows([Path(d) for d in args.ours], [Path(d) for d in args.baseline])
    text = made_by("benchmarks.gue") + "\n\n" + seeds_markdown(table)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n")
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="a frozen-model head for each task")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    for name in ("epochs", "batch", "max_train_rows", "seed"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int)
    for name in ("lr", "dropout"):
        p.add_argument(f"--{name}", type=float)
    p.add_argument("--work-dir", help="checkpoints and logs (default: OUT/work; keep it out of a shipped weights folder)")
    p.add_argument("--center-tokens", type=int, help="override every task's center_tokens (vqdna_cli/train/recipes.py), for trying it out")
    p.add_argument("--center-at", type=int, help="with --center-tokens: the base they centre on")
    p.add_argument("--both-strands", type=int, choices=(0, 1), help="override every task's both_strands (vqdna_cli/train/recipes.py)")
    p.add_argument("--all-layers", type=int, choices=(0, 1), help="override every task's all_layers (vqdna_cli/train/recipes.py)")
    p.add_argument("--segments", type=int, help="override every task's segments (vqdna_cli/train/recipes.py)")
    p.add_argument("--genome-negatives", type=float, help="override the genome_set's negatives per positive (vqdna_cli/train/recipes.py)")
    p.add_argument("--genome-other-species", type=float, help="override the genome_set's other-species windows per positive")
    p.add_argument("--genome-genes", choices=("all", "protein_coding"), help="override the genome_set's positives")
    p.add_argument("--genome-shifts", type=int, nargs="*", help="override the genome_set's shifted TSS windows")
    p.set_defaults(run=train)
    p = sub.add_parser("scratch", help="the no-pre-training baseline model")
    p.add_argument("--like", required=True, help="a weights directory whose architecture the baseline takes")
    p.add_argument("--out", required=True)
    p.set_defaults(run=scratch)
    p = sub.add_parser("random-transformer", help="the trained tokenizer under a random Transformer (a third arm)")
    p.add_argument("--like", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=random_transformer)
    p = sub.add_parser("lengths", help="record the training window lengths in heads trained before vqdna did")
    p.add_argument("--model", required=True)
    p.set_defaults(run=lengths)
    p = sub.add_parser("evaluate", help="score every head on its test split (recorded in head.json)")
    p.add_argument("--model", required=True)
    p.set_defaults(run=evaluate)
    p = sub.add_parser("table", help="the results table")
    p.add_argument("--ours", required=True)
    p.add_argument("--baseline")
    p.add_argument("--baseline-json", help="take the from-scratch column from this earlier table (gue.json); "
                   "with --baseline, for the tasks whose baseline head there has no test score")
    p.add_argument("--json")
    p.add_argument("--markdown")
    p.set_defaults(run=table_command)
    p = sub.add_parser("seeds", help="the test scores of heads trained with several seeds, both models")
    p.add_argument("--ours", nargs="+", required=True, help="weights directories, one per seed")
    p.add_argument("--baseline", nargs="+", required=True, help="the baseline's, in the same seed order")
    p.add_argument("--json")
    p.set_defaults(run=seeds_command)
    for p in sub.choices.values():
        p.add_argument("--tasks", nargs="*")
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--force", action="store_true")
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
