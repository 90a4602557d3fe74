"""Real-genome benchmark: do the shipped promoter and splice heads answer the user's question
on real human sequence, not only GUE's? Sets are cut from ../shared/data/genomes with the
GENCODE-derived annotation in ../shared/data/annotation, in each head's training layout,
and scored on a fixed validation region beside one-line rules (CpG count, GC content).

    python -m benchmarks.real_genome run                  # every head, writes results/real_genome.md
    python -m benchmarks.real_genome run --heads promoter splice-site --markdown -   # a quick look
    python -m benchmarks.real_genome scan --mb 30-30.2 --stride 300 --png scan.png   # TSS found vs calls per Mb
    python -m benchmarks.real_genome run --region selection --model RUN --heads promoter --markdown -
    python -m benchmarks.real_genome run --record         # also each head's score into its head.json

The regions (training, validation chrX 30-40 Mb, and the fit and selection parts of the
training region), the windows' layouts and the set builders are in `benchmarks/genome_sets.py`.
Nothing is trained or selected on the validation region; chrX beyond 40 Mb is never read.

Data: ../shared/data (or $VQDNA_DATA); without it the script prints `skipped: ...`, exits 0.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from benchmarks.genome_sets import (
    ACCEPTOR, BACKGROUNDS, DONOR, MIN_SITE_DISTANCE, MIN_TSS_DISTANCE, NON_PROMOTER, NON_SPLICE, PROMOTER, REGIONS,
    RULE_REGION, SPLICE_KINDS, VALIDATION_REGION, SetOptions, Window, cpg_count, data_dir,
    gc_fraction, genome_order, load_annotation, load_genome, promoter_set, splice_set,
)
from benchmarks.provenance import commit as commit_now
from vqdna_cli.train.recipes import GENE_SETS, LAYOUTS, Layout

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


# --- one-line rules -----------------------------------------------------------------------------


RULES = {"CpG": cpg_count, "GC": gc_fraction}


def mcc(truth: np.ndarray, predicted: np.ndarray, classes: int = 2) -> float:
    from vqdna_cli.metrics import confusion, matthews_corrcoef

    return matthews_corrcoef(confusion(truth, predicted, classes))


BOOTSTRAP_DRAWS = 2_000  # redraws of a validation set for its 95 % intervals


def mcc_draws(truth: np.ndarray, predicted: np.ndarray, draws: np.ndarray, classes: int) -> np.ndarray:
    """MCC on each redraw of the windows (`draws`: one row of window indices per redraw)."""
    return np.array([mcc(truth[d], predicted[d], classes) for d in draws])


def bootstrap_intervals(truth: np.ndarray, head: np.ndarray, rules: dict[str, np.ndarray], classes: int,
                        draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> dict:
    """95 % intervals, over the windows redrawn with replacement within each class (so every
    redraw keeps the set's class counts; seeded, so a rerun gives the same): of the head's MCC,
    and of the head's MCC minus each rule's on the same redraws (paired)."""
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(truth == k) for k in range(classes)]
    picks = np.concatenate([members[rng.integers(0, len(members), (draws, len(members)))]
                            for members in by_class if len(members)], axis=1)
    head_mcc = mcc_draws(truth, head, picks, classes)

    def interval(values: np.ndarray) -> list[float]:
        return [float(v) for v in np.percentile(values, [2.5, 97.5])]

    return {"head": interval(head_mcc),
            "head_minus": {rule: interval(head_mcc - mcc_draws(truth, guess, picks, classes))
                           for rule, guess in rules.items()}}


def choose_threshold(values: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """The threshold t of the rule `value >= t` with the best MCC on these windows (the
    smallest such t on ties), and that MCC. Called on training-region windows only."""
    values, positive = np.asarray(values, dtype=np.float64), np.asarray(positive, dtype=bool)
    best = (float(values.min()) if len(values) else 0.0, -2.0)
    for t in np.unique(values):
        score = mcc(positive.astype(int), (values >= t).astype(int))
        if score > best[1]:
            best = (float(t), score)
    return best


def rule_predictions(layout: Layout, rule: str, threshold: float, windows: list[Window]) -> np.ndarray:
    """The rule's label for each window: for promoters "1" where value >= t; for splice sites
    the class the window's junction dinucleotides suggest (AG: acceptor, else donor) where
    value >= t, else non-splice."""
    values = np.array([RULES[rule](w.seq) for w in windows])
    hit = values >= threshold
    if layout.name != "splice":
        return np.where(hit, PROMOTER, NON_PROMOTER)
    kind = np.array([ACCEPTOR if w.seq[198:200] == "AG" else DONOR for w in windows])
    return np.where(hit, kind, NON_SPLICE)


def choose_rule_threshold(layout: Layout, rule: str, windows: list[Window]) -> tuple[float, float]:
    """`choose_threshold` for one rule on a (training-region) set; splice sets pick the t
    that best separates splice sites (either class) from decoys."""
    values = np.array([RULES[rule](w.seq) for w in windows])
    return choose_threshold(values, np.array([is_positive(w) for w in windows]))


def kmer_reference(train_windows: list[Window], windows: list[Window], classes: int, seed: int = 0) -> float:
    """MCC on `windows` of a logistic regression on 1..5-mer frequencies, fitted on 70 % of the
    training-region windows of the same kind of set, its weight decay chosen on the other 30 %
    (benchmarks.vocabularies.linear_probe): the simplest learned reference, beside the rules."""
    from benchmarks.pretraining import kmer_spectrum
    from benchmarks.vocabularies import linear_probe

    order = np.random.default_rng(seed).permutation(len(train_windows))
    cut = int(0.7 * len(order))
    parts = {"fit": [train_windows[i] for i in order[:cut]], "select": [train_windows[i] for i in order[cut:]],
             "score": windows}
    x = {name: kmer_spectrum([w.seq for w in part]) for name, part in parts.items()}
    y = {name: np.array([int(w.label) for w in part]) for name, part in parts.items()}
    return linear_probe(x["fit"], y["fit"], x["select"], y["select"], x["score"], y["score"], classes, seed)["test_mcc"]


def is_positive(window: Window) -> bool:
    """A promoter or a splice site (either kind), not background or a decoy."""
    return window.label != (NON_SPLICE if window.kind in SPLICE_KINDS else NON_PROMOTER)


# --- the heads, through the product ---------------------------------------------------------------


@dataclass(frozen=True)
class HeadCheck:
    task: str
    layout: str  # key of LAYOUTS
    classes: int


HEAD_CHECKS = (
    HeadCheck("promoter", "promoter", 2), HeadCheck("promoter-tata", "promoter", 2),
    HeadCheck("promoter-notata", "promoter", 2), HeadCheck("core-promoter", "core-promoter", 2),
    HeadCheck("core-promoter-tata", "core-promoter", 2), HeadCheck("core-promoter-notata", "core-promoter", 2),
    HeadCheck("splice-site", "splice", 3),
)


def head_labels(task: str, windows: list[Window], model_dir: Path | None, threads: int | None) -> tuple[np.ndarray, float]:
    """The head's label for each window, as `vqdna classify --task TASK` writes it (the API
    call the CLI makes), and the bases per second it ran at."""
    from vqdna_cli import api
    from vqdna_cli.options import ClassifyOptions, InputSpec, RunOptions

    with tempfile.TemporaryDirectory() as tmp:
        fasta, out = Path(tmp) / "windows.fa", Path(tmp) / "calls.tsv"
        fasta.write_text("".join(f">w{i}\n{w.seq}\n" for i, w in enumerate(windows)))
        began = time.monotonic()
        api.classify(InputSpec(str(fasta)), out, task, RunOptions(model_dir, device="cpu", threads=threads),
                     ClassifyOptions(output_format="tsv"))
        seconds = time.monotonic() - began
        rows = [line.split("\t") for line in out.read_text().splitlines() if not line.startswith(("#", "id\t"))]
    assert [r[0] for r in rows] == [f"w{i}" for i in range(len(windows))]
    return np.array([r[2] for r in rows]), sum(len(w.seq) for w in windows) / seconds


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Row:
    """One head on one validation set, beside the rules."""

    task: str
    positives: str
    negatives: str
    n_positive: int
    n_negative: int
    head_mcc: float
    rules: dict = field(default_factory=dict)  # rule -> {"threshold", "train_mcc", "mcc"}
    gue_test_mcc: float | None = None
    kmer_mcc: float | None = None  # `kmer_reference` on the same windows
    intervals: dict | None = None  # `bootstrap_intervals` of the head against the rules
    baseline_mcc: float | None = None  # the same task's head over `run --baseline` (a from-scratch model)


def _validation_sets(genome, annotation, layout: Layout) -> list[tuple[str, str, SetOptions]]:
    """(positives, negatives, options) of every set a promoter-family head is scored on."""
    sets = []
    for genes in GENE_SETS:
        for background in (*BACKGROUNDS, "all"):
            sets.append((f"TSS of {genes.replace('_', '-')} genes", background, SetOptions(genes=genes, background=background)))
    return sets


def _score(check: HeadCheck, windows: list[Window], predicted: np.ndarray, train_windows: list[Window]) -> dict:
    layout = LAYOUTS[check.layout]
    truth = np.array([int(w.label) for w in windows])
    rules, guesses = {}, {}
    for rule in RULES:
        threshold, train_mcc = choose_rule_threshold(layout, rule, train_windows)
        guesses[rule] = rule_predictions(layout, rule, threshold, windows).astype(int)
        rules[rule] = {"threshold": threshold, "train_mcc": train_mcc, "mcc": mcc(truth, guesses[rule], check.classes)}
    return {"head_mcc": mcc(truth, predicted.astype(int), check.classes), "rules": rules,
            "intervals": bootstrap_intervals(truth, predicted.astype(int), guesses, check.classes)}


def run(args) -> None:
    import torch

    from vqdna_cli.runtime import global_state_kept

    if args.record and args.region != "validation":
        sys.exit("real_genome.py: --record stores validation-region scores only (drop --record or --region)")
    data = data_dir()
    if data is None:
        print("skipped: no annotation/genomes under $VQDNA_DATA or ../shared/data (see its README.md)")
        return
    began, commit = time.monotonic(), commit_now()  # the code that runs, whatever is committed meanwhile
    genome, annotation = load_genome(data), load_annotation(data)
    model_dir = Path(args.model) if args.model else None
    checks = [c for c in HEAD_CHECKS if not args.heads or c.task in args.heads]
    rows, speeds = [], {}
    for layout_name in dict.fromkeys(c.layout for c in checks):
        layout = LAYOUTS[layout_name]
        sets = (_splice_sets(genome, annotation, args.region) if layout_name == "splice"
                else _promoter_sets(genome, annotation, layout, args.region))
        union = sorted({w for _, _, valid, _ in sets for w in valid}, key=genome_order)
        index = {w: i for i, w in enumerate(union)}
        classes = next(c.classes for c in checks if c.layout == layout_name)
        with global_state_kept():  # the fit's last digits follow the threads: those the command gives
            torch.set_num_threads(args.threads)
            kmer = [kmer_reference(train, valid, classes) for _, _, valid, train in sets]  # the same for every head
        for check in (c for c in checks if c.layout == layout_name):
            print(f"[{time.monotonic() - began:5.0f} s] {check.task}: {len(union)} validation windows", file=sys.stderr)
            labels, speeds[check.task] = head_labels(check.task, union, model_dir, args.threads)
            baseline = head_labels(check.task, union, Path(args.baseline), args.threads)[0] if args.baseline else None
            for (positives, negatives, valid, train), kmer_mcc in zip(sets, kmer):
                at = [index[w] for w in valid]
                score = _score(check, valid, labels[at], train)
                n_pos = sum(map(is_positive, valid))
                baseline_mcc = None if baseline is None else mcc(
                    np.array([int(w.label) for w in valid]), baseline[at].astype(int), check.classes)
                rows.append(Row(check.task, positives, negatives, n_pos, len(valid) - n_pos, score["head_mcc"],
                                score["rules"], gue_test_mcc(check.task, model_dir), kmer_mcc, score["intervals"],
                                baseline_mcc))
    seconds = time.monotonic() - began
    report = {"rows": [row.__dict__ for row in rows], "bases_per_second": speeds, "seconds": round(seconds),
              "command": " ".join(["python", "-m", "benchmarks.real_genome", *sys.argv[1:]]),
              "baseline": args.baseline,
              "date": datetime.date.today().isoformat(), "commit": commit,
              "training_region": [str(s) for s in REGIONS[RULE_REGION[args.region]]],
              "validation_region": [str(s) for s in REGIONS[args.region]]}
    if args.record:
        for row in rows:
            if _is_summary(row):
                record_validation(model_dir, row, report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    if args.markdown == "-":
        print(text)
    else:
        Path(args.markdown).write_text(text)
        print(f"wrote {args.markdown} ({seconds:.0f} s)", file=sys.stderr)


def _promoter_sets(genome, annotation, layout, region: str = "validation"):
    """(positives, negatives, scored windows, rule windows) of every promoter set of `region`;
    the rules choose their thresholds on the same kind of set of RULE_REGION[region]."""
    sets = []
    for positives, negatives, options in _validation_sets(genome, annotation, layout):
        valid = promoter_set(genome, annotation, layout, replace(options, region=region))
        train = promoter_set(genome, annotation, layout, replace(options, region=RULE_REGION[region]))
        sets.append((positives, negatives, valid, train))
    return sets


def _splice_sets(genome, annotation, region: str = "validation"):
    options = SetOptions(region=region)
    return [("annotated exon boundaries", "AG/GT decoys", splice_set(genome, annotation, options),
             splice_set(genome, annotation, replace(options, region=RULE_REGION[region])))]


def _is_summary(row) -> bool:
    """The set a head's summary line (and head.json) reports: protein-coding TSS against every
    background kind, or exon boundaries against decoys."""
    row = row if isinstance(row, dict) else row.__dict__
    return row["negatives"] in ("all", "AG/GT decoys") and row["positives"] != "TSS of all genes"


def record_validation(model_dir: Path | None, row: "Row", report: dict) -> None:
    """Store a head's score on the validation region in its head.json (`real_genome`, shown by
    `vqdna classify --list-tasks`), beside the best one-line rule on the same windows."""
    from vqdna_cli.checkpoint import record_head_info
    from vqdna_cli.runner import default_weights_dir

    best = _best_rule(row.__dict__)
    record_head_info(model_dir or default_weights_dir(), row.task, {"real_genome": {
        "region": ", ".join(report["validation_region"]),
        "set": f"{row.positives} vs {'all backgrounds' if row.negatives == 'all' else row.negatives}",
        "n_positive": row.n_positive, "n_negative": row.n_negative, "mcc": row.head_mcc,
        **({"mcc_interval": row.intervals["head"]} if row.intervals else {}),
        "best_rule": {"rule": best, "threshold": row.rules[best]["threshold"], "mcc": row.rules[best]["mcc"]},
        "command": report["command"], "commit": report["commit"], "date": report["date"]}})


def gue_test_mcc(task: str, model_dir: Path | None) -> float | None:
    from vqdna_cli.runner import default_weights_dir

    path = (model_dir or default_weights_dir()) / "heads" / task / "head.json"
    test = json.loads(path.read_text()).get("test") if path.is_file() else None
    return test["mcc"] if test else None


# --- the report -----------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _rule_cell(rule: str, score: dict) -> str:
    t = score["threshold"]
    shown = f"{t:.0f}" if rule == "CpG" else f"{t:.2f}"
    return f"{_pct(score['mcc'])} (>= {shown})"


def markdown(report: dict) -> str:
    rows, baseline = report["rows"], report.get("baseline")
    lines = [
        "# Real-genome benchmark: the shipped heads on real human sequence",
        "",
        f"Made by `{report['command']}` on {report['date']} at commit {report['commit']} ({report['seconds']} s on the CPU).",
        "",
        f"Validation region {', '.join(report['validation_region'])}: nothing trains or selects on it. "
        f"Training region {', '.join(report['training_region'])}: the rules' thresholds were chosen there "
        "(best MCC on the same kind of set), then applied unchanged to the validation windows. "
        "Promoter windows are TSS -249..+50 (core: -34..+35) on the gene's strand; background windows are "
        f"at least {MIN_TSS_DISTANCE:,} bp from every annotated TSS, on either strand, as many of each kind as "
        "there are TSS windows (`all`: every kind, so 1 promoter to 5 background windows). Splice windows are "
        "400 bp around internal exon boundaries (canonical AG / GT-GC) against as many AG and GT decoys "
        f"(at least {MIN_SITE_DISTANCE} bp from any annotated boundary); 3-class MCC. The tata/notata heads are "
        "scored on all promoters (the annotation does not say which have a TATA box). 1..5-mer LR: a logistic "
        "regression on the frequencies of every 1..5-mer, fitted on 70 % of the training-region windows of the "
        "same kind of set, its weight decay chosen on the other 30 %. MCC x 100."
        + (f" From-scratch head: the same task's head over `{baseline}`, a model with nothing pre-trained "
           "(`benchmarks.gue scratch`), trained on the same rows with the same recipe." if baseline else ""),
        "",
        "## Summary (one line per head)",
        "",
        "95 % intervals: the windows redrawn with replacement within each class, "
        f"{BOOTSTRAP_DRAWS:,} times; \"head - best rule\" pairs the head with the rule that scored higher here "
        "on the same redraws. An interval that holds 0 means the set cannot tell the two apart.",
        "",
        "| head | validation set | promoters / sites : background | head MCC | 95 % interval | CpG rule | GC rule "
        "| 1..5-mer LR | head - best rule, 95 % interval | GUE test MCC |" + (" from-scratch head |" if baseline else ""),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if baseline else ""),
    ]
    for row in rows:
        if _is_summary(row):
            lines.append(_table_line(row, summary=True) + (f" {_pct(row.get('baseline_mcc'))} |" if baseline else ""))
    lines += ["", "## Every set", "",
              "| head | positives | background | n (pos : neg) | head MCC | CpG rule | GC rule | 1..5-mer LR | GUE test MCC |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [_table_line(row) for row in rows]
    lines += ["", "Speed of the heads through `vqdna classify` (whole run, model loading included): "
              + ", ".join(f"{task} {speed:,.0f} bp/s" for task, speed in report["bases_per_second"].items()), ""]
    return "\n".join(lines)


def _table_line(row: dict, summary: bool = False) -> str:
    rules = [_rule_cell(rule, row["rules"][rule]) for rule in RULES] + [_pct(row.get("kmer_mcc"))]
    counts = f"{row['n_positive']} : {row['n_negative']}"
    if summary:
        what = f"{row['positives']} vs {row['negatives'] if row['negatives'] != 'all' else 'all backgrounds'}"
        return (f"| {row['task']} | {what} | {counts} | {_pct(row['head_mcc'])} | {_interval(row, None)} | "
                f"{' | '.join(rules)} | {_interval(row, _best_rule(row))} | {_pct(row['gue_test_mcc'])} |")
    return (f"| {row['task']} | {row['positives']} | {row['negatives']} | {counts} | {_pct(row['head_mcc'])} | "
            f"{' | '.join(rules)} | {_pct(row['gue_test_mcc'])} |")


def _best_rule(row: dict) -> str:
    return max(RULES, key=lambda rule: row["rules"][rule]["mcc"])


def _interval(row: dict, rule: str | None) -> str:
    """The head's interval (rule None), or that of the head minus `rule` (named in the cell)."""
    intervals = row.get("intervals")
    if not intervals:
        return "-"
    low, high = intervals["head"] if rule is None else intervals["head_minus"][rule]
    return f"{_pct(low)} to {_pct(high)}" + ("" if rule is None else f" ({rule})")


# --- scanning the validation region -----------------------------------------------------------------

HEAD_CUTS = (0.5, 0.7, 0.9, 0.95, 0.99)  # the head's call probability
CPG_CUTS = (4, 6, 8, 10, 15, 20)  # CpG per window for the rule
NEAR_CALL = 500  # a TSS is found when a call lies within this many bases


def scan_measure(args) -> None:
    """`vqdna classify --scan` over a stretch of the validation region: the share of its
    protein-coding TSS within NEAR_CALL bp of a call against the calls per Mb, for the head
    at several probabilities and for the CpG rule on the same windows."""
    data = data_dir()
    if data is None:
        print("skipped: no annotation/genomes under $VQDNA_DATA or ../shared/data (see its README.md)")
        return
    from vqdna_cli import api
    from vqdna_cli.options import InputSpec, RunOptions, ScanSettings

    start, end = (int(float(x) * 1e6) for x in args.mb.split("-"))
    if not VALIDATION_REGION[0].holds("chrX", start, end):
        sys.exit(f"real_genome.py: --mb {args.mb} is not inside the validation region {VALIDATION_REGION[0]}")
    commit = commit_now()  # the code that runs, whatever is committed meanwhile
    genome, annotation = load_genome(data), load_annotation(data)
    tss = np.array([t.pos for t in annotation.tss if t.chrom == "chrX" and t.gene_type == "protein_coding"
                    and start + NEAR_CALL <= t.pos < end - NEAR_CALL])
    with tempfile.TemporaryDirectory() as tmp:
        import pysam

        fasta = Path(tmp) / "stretch.fa"
        seq = genome.fetch("chrX", start, end)
        fasta.write_text(">stretch\n" + "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60)) + "\n")
        pysam.faidx(str(fasta))
        began = time.monotonic()
        result = api.scan(InputSpec(str(fasta)), Path(tmp) / "calls.bed", args.task,
                          RunOptions(device="cpu", threads=args.threads), ScanSettings(stride=args.stride))
        seconds = time.monotonic() - began
        rows = [line.split("\t") for line in (Path(tmp) / "calls.bed").read_text().splitlines()
                if not line.startswith("#")]
    starts = np.array([int(r[1]) + start for r in rows])
    call_p = np.array([float(r[-1]) for r in rows])  # the last class is the promoter class of these heads
    cpg = np.array([cpg_count(genome.fetch("chrX", a, a + result["window"])) for a in starts])
    megabases = (end - start) / 1e6

    def point(called: np.ndarray) -> tuple[float, float]:
        windows = np.unique(starts[called])  # a window called on either strand counts once
        if not len(tss):
            return float("nan"), len(windows) / megabases
        lo, hi = windows, windows + result["window"]
        found = [bool(np.any((lo - NEAR_CALL <= t) & (t < hi + NEAR_CALL))) for t in tss]
        return float(np.mean(found)), len(windows) / megabases

    curve = {"head": [(p, *point(call_p >= p)) for p in HEAD_CUTS],
             "CpG": [(t, *point(cpg >= t)) for t in CPG_CUTS]}
    report = {"task": args.task, "region": f"chrX:{start}-{end}", "tss": int(len(tss)), "window": result["window"],
              "stride": result["stride"], "seconds": round(seconds), "bases_per_second": round((end - start) / seconds),
              "curve": curve, "command": " ".join(["python", "-m", "benchmarks.real_genome", *sys.argv[1:]]),
              "date": datetime.date.today().isoformat(), "commit": commit}
    text = scan_markdown(report)
    if args.markdown == "-":
        print(text)
    else:
        Path(args.markdown).write_text(text)
    if args.png:
        _plot(report, Path(args.png))


def scan_markdown(report: dict) -> str:
    lines = [f"# Scanning the validation region with `{report['task']}`", "",
             f"Made by `{report['command']}` on {report['date']} at commit {report['commit']}: "
             f"`vqdna classify --task {report['task']} --scan` over {report['region']} (0-based; validation region) "
             f"with {report['window']} bp windows every {report['stride']} bp on both strands, "
             f"{report['seconds']} s on the CPU ({report['bases_per_second']:,} genome bases/s). "
             f"A protein-coding TSS ({report['tss']} here) is found when a called window lies within {NEAR_CALL} bp; "
             "calls per Mb count called windows (either strand once).", "",
             "| caller | cut | TSS found | calls per Mb |", "|---|---:|---:|---:|"]
    for caller, points in report["curve"].items():
        for cut, recall, per_mb in points:
            name = f"head p >= {cut:g}" if caller == "head" else f"CpG >= {cut:g}"
            lines.append(f"| {caller} | {name} | {_pct(recall)} % | {per_mb:,.0f} |")
    return "\n".join(lines) + "\n"


def _plot(report: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'vqdna[plot]'): plot skipped", file=sys.stderr)
        return
    figure, axes = plt.subplots(figsize=(5, 4))
    for caller, points in report["curve"].items():
        axes.plot([p[2] for p in points], [100 * p[1] for p in points], marker="o", label=caller)
    axes.set_xscale("log")
    axes.set_xlabel("calls per Mb")
    axes.set_ylabel(f"protein-coding TSS within {NEAR_CALL} bp of a call (%)")
    axes.set_title(f"{report['task']} scan, {report['region']}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="score the shipped heads on the validation region")
    run_parser.add_argument("--model", help="weights directory (default: the shipped weights)")
    run_parser.add_argument("--heads", nargs="*", help="only these heads (default: all seven)")
    run_parser.add_argument("--threads", type=int, default=2)
    run_parser.add_argument("--markdown", default=str(RESULTS / "real_genome.md"), help="report path, or - for stdout")
    run_parser.add_argument("--json", default=None, help="also every number as JSON")
    run_parser.add_argument("--region", choices=list(RULE_REGION), default="validation",
                            help="score the validation region, or the selection part of the training region "
                                 "(for choosing a recipe; rules then choose their thresholds on the fit part)")
    run_parser.add_argument("--baseline", default=None,
                            help="also score the same heads of this weights directory (a from-scratch model) on the same windows")
    run_parser.add_argument("--record", action="store_true",
                            help="store each head's validation-region score in its head.json (shown by --list-tasks)")
    run_parser.set_defaults(func=run)
    scan_parser = commands.add_parser("scan", help="scan a stretch of the validation region: TSS found against calls per Mb")
    scan_parser.add_argument("--task", default="promoter", choices=[c.task for c in HEAD_CHECKS if c.classes == 2])
    scan_parser.add_argument("--mb", default="30-40", help="chrX stretch in Mb, inside the validation region")
    scan_parser.add_argument("--stride", type=int, default=None, help="bases between windows (default: half the window)")
    scan_parser.add_argument("--threads", type=int, default=2)
    scan_parser.add_argument("--markdown", default=str(RESULTS / "real_genome_scan.md"), help="report path, or - for stdout")
    scan_parser.add_argument("--png", default=None, help="also a plot (needs matplotlib)")
    scan_parser.set_defaults(func=scan_measure)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
