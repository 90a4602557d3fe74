"""`vqdna classify`: task predictions as TSV (or BED6+ for windows of long sequences)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vqdna_cli.cli import options
from vqdna_cli.cli.embed import ReverseComplement

# Checked in the API (one-line errors), not by Typer, so that a bad value reads like every other error.
Stride = Annotated[Optional[int], typer.Option("--stride", help="Bases between window starts: of a sequence longer than the model window (default: the window, no overlap), or of a --scan (default: half the window).", show_default=False)]


def command(
    source: Annotated[Optional[str], typer.Argument(help="FASTA or FASTQ (plain, gzip, BGZF), BAM/SAM/CRAM, or - for stdin (any of these but CRAM).", show_default=False)] = None,
    task: Annotated[Optional[str], typer.Option("--task", help="Task head to use (see --list-tasks).", show_default=False)] = None,
    list_tasks: Annotated[bool, typer.Option("--list-tasks", help="List the task heads with their training data, test score and real-genome validation score, then exit.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file (default: stdout); FILE.json beside it records the vqdna version, model, task and input.", show_default=False)] = None,
    scan: Annotated[Optional[str], typer.Option("--scan", help="Scan this genome FASTA (indexed with samtools faidx for --region/--bed and flat memory): windows in the head's training layout, both strands for a strand-specific head, BED6+ sorted by position.", show_default=False)] = None,
    window: Annotated[Optional[int], typer.Option("--window", help="--scan: window length in bases (default: the length the head was trained on).", show_default=False)] = None,
    min_prob: Annotated[float, typer.Option("--min-prob", help="--scan: keep only windows whose call (most probable non-background class) has at least this probability.")] = 0.0,
    output_format: Annotated[str, typer.Option("--format", help="auto (BED6+ when -o ends in .bed, else TSV), tsv (one row per sequence; windows averaged) or bed (one row per window).")] = "auto",
    header_comments: Annotated[bool, typer.Option("--header-comments", help="Also write the vqdna version, model, task and input as ##key=value lines before the header (readers then need comment='#'); by default the first line is the header.")] = False,
    model: options.Model = None,
    rc: ReverseComplement = False,
    stride: Stride = None,
    region: options.Region = None,
    bed: options.Bed = None,
    mapped_only: options.MappedOnly = False,
    reference: options.Reference = None,
    batch_tokens: options.BatchTokens = 16384,
    device: options.Device = "auto",
    precision: options.Precision = "fp32",
    threads: options.Threads = None,
    seed: options.Seed = 0,
    force: options.Force = False,
    quiet: options.Quiet = False,
) -> None:
    """Classify DNA with a task head: a label and a probability per class for each sequence.

    Example: vqdna classify --task promoter seqs.fa > promoters.tsv

    Scan a genome: vqdna classify --task promoter --scan genome.fa --region chrX:1-5000000 --min-prob 0.9 -o calls.bed
    """
    from vqdna_cli import api
    from vqdna_cli.cli.progress import bases_progress, report
    from vqdna_cli.errors import UsageError

    if list_tasks:
        _print_tasks(api.list_tasks(model))
        return
    if scan is not None:
        _scan(scan, source, task, output, model=model, window=window, stride=stride, min_prob=min_prob, rc=rc,
              output_format=output_format, region=region, bed=bed, batch_tokens=batch_tokens, device=device,
              precision=precision, threads=threads, seed=seed, force=force, quiet=quiet)
        return
    if window is not None or min_prob:
        raise UsageError("--window and --min-prob apply to --scan only")
    if task is None or source is None:
        raise UsageError("classify needs --task NAME and an input file (see `vqdna classify --help`, `--list-tasks`)")
    with bases_progress(f"classifying ({task})", quiet, api.input_bases(source, region, bed)) as progress:
        result = api.classify(source, output, task=task, model_dir=model, region=region, bed=bed, mapped_only=mapped_only,
                              reference=reference, output_format=output_format, header_comments=header_comments,
                              reverse_complement=rc, stride=stride, batch_tokens=batch_tokens, device=device,
                              threads=threads, seed=seed, force=force, precision=precision, progress=progress)
    made_by = result["provenance"]
    # Predictions on stdout carry no provenance: the log line says what made them.
    report(f"classified {result['rows']:,} {'windows' if result['format'] == 'bed' else 'sequences'} with task {task}, "
           f"vqdna {made_by['vqdna_version']}, model {made_by['model_hash']} -> {output or 'stdout'}", quiet)
    if result["outside_training_lengths"]:
        report(f"vqdna: warning: {result['outside_training_lengths']} of {result['read_count']} {result['read']} are far "
               f"from the lengths the {task} head was trained on ({_lengths(result)}); their probabilities are "
               "extrapolations", quiet)


def _scan(genome: str, source: str | None, task: str | None, output: Path | None, *, model, window, stride,
          min_prob, rc, output_format, region, bed, batch_tokens, device, precision, threads, seed, force,
          quiet) -> None:
    from vqdna_cli import api
    from vqdna_cli.cli.progress import bases_progress, report
    from vqdna_cli.errors import UsageError
    from vqdna_cli.scan import ScanSettings

    if task is None:
        raise UsageError("--scan needs --task NAME (see `vqdna classify --list-tasks`)")
    if source is not None:
        raise UsageError(f"--scan reads the genome it is given; drop the input {source!r}")
    if rc:
        raise UsageError("--scan already reads both strands of a strand-specific head; drop --rc")
    if output_format != "auto":
        raise UsageError("--scan always writes BED6+; drop --format")
    settings = ScanSettings(window=window, stride=stride, min_prob=min_prob)
    with bases_progress(f"scanning ({task})", quiet) as progress:
        result = api.scan(genome, output, task=task, settings=settings, model_dir=model, region=region, bed=bed,
                          batch_tokens=batch_tokens, device=device, threads=threads, seed=seed, force=force,
                          precision=precision, progress=progress, on_total=progress.set_total)
    report(f"vqdna: {result['rows']:,} of {result['windows']:,} windows written ({result['window']} bp every "
           f"{result['stride']} bp, strands {result['strands']})", quiet)


def _what_it_reads(head: dict) -> str:
    """Which part of each window a head looks at: heads that read tokens at a fixed place
    expect inputs laid out like their training data (a TSS at base 249, say)."""
    from vqdna_cli.head_features import central_span
    from vqdna_cli.head_info import HeadReads

    reads = HeadReads.of(head)
    strands = ", both strands" if reads.both_strands else ""
    if reads.whole_record:
        return "whole sequence" + strands
    if not reads.center_tokens:
        return "whole window" + strands
    if reads.center_at is None:
        return f"whole window + its {reads.center_tokens} middle bases" + strands
    count, at = reads.center_tokens, reads.center_at
    span, _ = central_span(at + count, count, at)  # a window long enough to hold the span
    return f"whole window + bases {span.start}..{span.stop - 1}" + strands


def _lengths(head: dict) -> str:
    """The window lengths a head trained on ("-" where its head.json predates the record)."""
    if "train_window_lengths" not in head:
        return "-"
    shortest, longest = head["train_window_lengths"]
    return f"{shortest} bp" if shortest == longest else f"{shortest}-{longest} bp"


def _test_score(head: dict) -> str:
    """The head's score on its test split (`vqdna train evaluate --record`), and which split."""
    test = head.get("test")
    if not test:
        return "not evaluated"
    files = ", ".join(Path(p).parent.name + "/" + Path(p).name for p in test.get("test_files", []))
    return f"MCC {test['mcc']:.3f} (macro F1 {test['macro_f1']:.3f})" + (f" on {files}" if files else "")


def _genome_score(head: dict) -> str:
    """The head's score on a real-genome validation region (benchmarks/real_genome.py run
    --record) beside the best one-line rule there; "none (GUE only)" for heads with no real-genome set."""
    real = head.get("real_genome")
    if not real:
        return "none (GUE only)"
    rule = real["best_rule"]
    return (f"MCC {real['mcc']:.3f} on {real['region']} ({real['set']}, {real['n_positive']}:{real['n_negative']}; "
            f"best one-line rule, {rule['rule']}: {rule['mcc']:.3f})")


def _print_tasks(heads: list[dict]) -> None:
    print("\t".join(["task", "classes", "test_metric", "real_genome_validation", "training_data", "reads", "lengths",
                     "description"]))
    for head in heads:
        data = head.get("provenance", {}).get("data", {})
        trained_on = ", ".join(Path(p).parent.name + "/" + Path(p).name for p in data.get("train", []))
        print("\t".join([head["task"], ",".join(head["class_names"]), _test_score(head), _genome_score(head),
                         trained_on, _what_it_reads(head), _lengths(head), head.get("description", "")]))
