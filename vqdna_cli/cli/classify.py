"""`vqdna classify`: task predictions as TSV (or BED6+ for windows of long sequences)."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from vqdna_cli.cli import options
from vqdna_cli.cli.embed import ReverseComplement
from vqdna_cli.errors import OutputError
from vqdna_cli.options import ClassifyOptions, ScanSettings

# Checked in the API (one-line errors), not by Typer, so that a bad value reads like every other error.
Stride = Annotated[Optional[int], typer.Option("--stride", metavar="N", help="Bases between window starts: of a sequence longer than the model window, 1 to the window (default: the window; a last window ends at the sequence's end, overlapping the one before), or of a --scan (default: half the window).", show_default=False)]


@options.expand
def command(
    source: Annotated[Optional[str], typer.Argument(metavar="INPUT", help="FASTA or FASTQ (plain, gzip, BGZF), BAM/SAM/CRAM, or - for stdin (a CRAM there needs --reference).", show_default=False)] = None,
    task: Annotated[Optional[str], typer.Option("--task", metavar="TASK", help="Task head to use (see --list-tasks).", show_default=False)] = None,
    list_tasks: Annotated[bool, typer.Option("--list-tasks", help="List the task heads with their training data, test score and real-genome validation score, then exit.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file (default: stdout); FILE.json beside it records the vqdna version, model, task and input.", show_default=False)] = None,
    scan: Annotated[Optional[str], typer.Option("--scan", metavar="FASTA", help="Scan this genome FASTA (indexed with samtools faidx for --region/--bed and flat memory): windows in the head's training layout, both strands for a strand-specific head, BED6+ sorted by position.", show_default=False)] = None,
    window: Annotated[Optional[int], typer.Option("--window", metavar="N", help="--scan: window length in bases (default: the length the head was trained on).", show_default=False)] = None,
    min_prob: Annotated[Optional[float], typer.Option("--min-prob", metavar="X", help="--scan: keep only windows whose call (most probable non-background class) has at least this probability; name and score are then the call's. Default: 0 (every window).", show_default=False)] = None,
    background: Annotated[Optional[list[str]], typer.Option("--background", metavar="CLASS", help="--scan: a class that is not a call (repeatable); replaces the head's own (classes named non-..., or the one labelled 0 of a two-class head). For heads trained on labels that are words.", show_default=False)] = None,
    output_format: Annotated[str, typer.Option("--format", metavar="auto|tsv|bed", help="auto (BED6+ when -o ends in .bed, else TSV), tsv (one row per sequence: its windows averaged, or read together by a whole-sequence head) or bed (one row per window). --scan always writes BED6+.")] = "auto",
    header_comments: Annotated[bool, typer.Option("--header-comments", help="Also write the vqdna version, model, task and input as ##key=value lines before the header (readers then need comment='#'); by default the first line is the header (a --scan BED always starts with one '# vqdna ...' line saying what made it, then its header).")] = False,
    model: options.Model = None,
    rc: ReverseComplement = False,
    stride: Stride = None,
    given: options.Given = options.shared(*options.INPUT, *options.RUN, *options.OUTPUT),
) -> None:
    """Classify DNA with a task head: a label and a probability per class for each sequence.

    Sequences longer than the model's window are read in windows whose probabilities are averaged (--format bed: a row per window). --scan cuts a genome into windows laid out as the head's training data, on both strands, into BED6+ sorted by position; --list-tasks says what each head reads and where it was checked.

    Example: vqdna classify --task promoter seqs.fa > promoters.tsv

    Example: vqdna classify --task promoter --scan genome.fa --region chr1:1-5000000 --stride 300 -o calls.bed
    """
    from vqdna_cli import api
    from vqdna_cli.cli.progress import bases_progress, counted, destination, report
    from vqdna_cli.errors import UsageError

    if list_tasks:
        ignored = [name for name, value in (("--task", task), ("-o", output), ("--scan", scan), ("the input", source),
                                            ("--window", window), ("--stride", stride), ("--region", given.region),
                                            ("--bed", given.bed), ("--reference", given.reference))
                   if value is not None] + \
            [name for name, set_ in (("--min-prob", min_prob is not None), ("--background", background is not None),
                                     ("--format", output_format != "auto"),
                                     ("--rc", rc), ("--header-comments", header_comments),
                                     ("--mapped-only", given.mapped_only)) if set_]
        if ignored:  # it would do nothing with them: say so, rather than leave no file where one was asked for
            raise UsageError(f"--list-tasks prints the task heads to stdout and exits: drop {', '.join(ignored)}")
        if sys.stdout is None:  # started with stdout closed (`>&-`): print() would write nothing, exit 0
            raise OutputError("cannot write to stdout: it is closed")
        _print_tasks(api.list_tasks(model))
        return
    inputs, run, quiet = given.inputs(source), given.run(model), given.quiet
    if scan is not None:
        if header_comments:
            raise UsageError("--scan writes what made the BED (version, model, task, layout, genome and "
                             "regions) in its first line, and in the .json beside a file; drop --header-comments")
        settings = ScanSettings(window, stride, 0.0 if min_prob is None else min_prob,
                                None if background is None else tuple(background))
        _scan(scan, inputs, task, output, run=run, settings=settings, rc=rc, output_format=output_format,
              force=given.force, quiet=quiet)
        return
    if window is not None or min_prob is not None or background is not None:
        raise UsageError("--window, --min-prob and --background apply to --scan only")
    if task is None or source is None:
        raise UsageError("classify needs --task NAME and an input file (see `vqdna classify --help`, `--list-tasks`)")
    wanted = ClassifyOptions(output_format=output_format, header_comments=header_comments, reverse_complement=rc,
                             stride=stride)
    with bases_progress(f"classifying ({task})", quiet, api.input_bases(inputs)) as progress:
        result = api.classify(inputs, output, task, run, wanted, force=given.force, progress=progress)
    made_by = result["provenance"]
    # Predictions on stdout carry no provenance: the log line says what made them.
    report(f"classified {counted(result['rows'], 'window' if result['format'] == 'bed' else 'sequence')} with task {task}, "
           f"vqdna {made_by['vqdna_version']}, model {made_by['model_hash']}, head {made_by['head_hash']} -> "
           f"{destination(output)}", quiet)


def _scan(genome: str, inputs, task: str | None, output: Path | None, *, run, settings, rc, output_format, force,
          quiet) -> None:
    from vqdna_cli import api
    from vqdna_cli.cli.progress import bases_progress, destination, report
    from vqdna_cli.errors import UsageError

    if task is None:
        raise UsageError("--scan needs --task NAME (see `vqdna classify --list-tasks`)")
    if inputs.source is not None:
        raise UsageError(f"--scan reads the genome it is given; drop the input {inputs.source!r}")
    if inputs.mapped_only or inputs.reference is not None:
        raise UsageError("--scan reads a genome FASTA, not alignments; drop --mapped-only and --reference")
    if rc:
        raise UsageError("--scan already reads both strands of a strand-specific head; drop --rc")
    if output_format not in ("auto", "bed"):
        raise UsageError(f"--scan always writes BED6+: --format {output_format} does not apply; drop it")
    began = time.monotonic()
    with bases_progress(f"scanning ({task})", quiet) as progress:
        result = api.scan(replace(inputs, source=genome), output, task, run, settings, force=force,
                          progress=progress, on_total=progress.set_total)
    ambiguous = result["windows_mostly_ambiguous"]  # not among result["windows"], which were scored
    report(f"{result['rows']:,} of {result['windows'] + ambiguous:,} windows written ({result['window']} bp every "
           f"{result['stride']} bp, strands {result['strands']}) in {time.monotonic() - began:.1f} s -> "
           f"{destination(output)}"
           + (f"; {ambiguous:,} of them more than {result['max_ambiguous'] * 100:g} % N or other IUPAC codes, left "
              "out" if ambiguous else ""), quiet)


def _test_score(head: dict) -> str:
    """The head's score on its test split (`vqdna train evaluate --record`), and which split."""
    test = head.get("test")
    if not test:
        # a head a user trained: the validation score is all there is, and it chose the head
        selected = (head.get("validation") or {}).get("valid_mcc")
        return "not evaluated" + (f" (validation MCC {selected:.3f}, on the rows that selected it)"
                                  if isinstance(selected, (int, float)) else "")
    files = ", ".join(_short_path(p) for p in test.get("test_files", []))
    rows = f"{test['n']:,} rows of " if isinstance(test.get("n"), int) else ""  # a score of 3 rows says little
    return f"MCC {test['mcc']:.3f} (macro F1 {test['macro_f1']:.3f})" + (f" on {rows}{files}" if files else "")


def _caveats(head: dict) -> str:
    """Said of a head a --max-minutes stop wrote: its scores are of a head still training; and
    of a head trained on other weights, which classify refuses."""
    stopped = (head.get("provenance") or {}).get("complete") is False
    said = "; unfinished: stopped by --max-minutes, continue it with train finetune --resume" if stopped else ""
    if head.get("fits_weights") is False:
        said += "; trained on other weights: classify refuses it (train it again on these)"
    return said


def _genome_score(head: dict) -> str:
    """The head's score on a real-genome validation region (benchmarks/real_genome.py run
    --record) beside the best one-line rule there; "none" for heads with no real-genome set."""
    real = head.get("real_genome")
    if not real:
        return "none"
    rule, interval = real["best_rule"], real.get("mcc_interval")
    spread = f" (95 % interval {interval[0]:.3f} to {interval[1]:.3f})" if interval else ""
    return (f"MCC {real['mcc']:.3f}{spread} on {real['region']} ({real['set']}, {real['n_positive']}:{real['n_negative']}; "
            f"best one-line rule, {rule['rule']}: {rule['mcc']:.3f})")


def _short_path(path: str) -> str:
    """A data file as `folder/name` (enough to tell GUE's splits apart), or its bare name; a
    numbered folder with the one above it (GUE's tf/0 and mouse/0 are both `0`)."""
    parts = Path(path).parts
    kept = parts[-3:] if len(parts) >= 3 and parts[-2].isdigit() else parts[-2:]
    return "/".join(part for part in kept if part != "/")


def _print_tasks(heads: list[dict]) -> None:
    from vqdna_cli import api

    print("\t".join(["task", "classes", "test_metric", "real_genome_validation", "training_data", "reads", "lengths",
                     "description"]))
    for head in heads:
        try:
            data = head.get("provenance", {}).get("data", {})
            trained_on = ", ".join(_short_path(p) for p in data.get("train", []))
            row = [head["task"], ",".join(head["class_names"]), _test_score(head) + _caveats(head),
                   _genome_score(head), trained_on,
                   api.what_head_reads(head), api.trained_lengths(head), head.get("description", "")]
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            # one head.json edited by hand or cut short: said in its row, the others still listed
            problem = head.get("damaged") or f"its head.json lacks or garbles {error}"
            row = [head["task"], "?", f"damaged: {problem}", "?", "?", "?", "?", ""]
        print("\t".join(row))
