"""`classify`: class probabilities per sequence (TSV) or window (BED6+), a genome scan, the heads."""

from __future__ import annotations

import dataclasses
import itertools
import os
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from vqdna_cli.api._common import (NO_PROGRESS, check_stride, keeps_global_state, load_runner, open_records,
                                   window_probabilities)
from vqdna_cli.errors import UsageError, VqdnaWarning
from vqdna_cli.options import (ClassifyOptions, InputSpec, RunOptions, ScanSettings, expect, expect_callable,
                               expect_input, expect_path)

FIRST_GROUP_SHARE = 16  # classify's first group of reads: 256 of GROUP_RECORDS' 4,096
SCAN_BATCH = 256  # windows embedded, then through the head, at a time: progress moves every few seconds


def list_tasks(model_dir: Path | None = None) -> list[dict]:
    """Every task head of the weights in `model_dir` (default: the shipped ones), as its
    head.json: name, classes, what it reads, and its validation and test scores; with
    `fits_weights` added: False for a head trained on other weights (classify refuses it),
    None where head.json does not say which."""
    from vqdna_cli.checkpoint import head_fits_weights, list_heads, read_model_info
    from vqdna_cli.runner import default_weights_dir, naming_vqdna_weights

    expect_path("model_dir", model_dir, optional=True)
    directory = Path(model_dir) if model_dir is not None else default_weights_dir()
    with naming_vqdna_weights(model_dir, directory):
        info = read_model_info(directory)  # a folder that is no weights folder is an error, not an empty list
    heads = list_heads(directory)
    for head in heads:
        head["fits_weights"] = head_fits_weights(head.get("model_sha256"), info)
    return heads


def what_head_reads(head: dict) -> str:
    """Which part of each window a head (its head.json) looks at: heads that read tokens at
    a fixed place expect inputs laid out like their training data (a TSS at base 249, say)."""
    from vqdna_cli.head_features import central_span
    from vqdna_cli.head_info import HeadReads

    expect("head", head, dict)

    reads = HeadReads.of(head)
    strands = (", every layer" if reads.all_layers else "") + (", both strands" if reads.both_strands else "")
    if reads.whole_record:
        return "whole sequence" + strands
    window = "whole window" + (f" in {reads.segments} parts" if reads.segments else "")
    if not reads.center_tokens:
        return window + strands
    if reads.center_at is None:
        return f"{window} + its {reads.center_tokens} middle bases" + strands
    count, at = reads.center_tokens, reads.center_at
    span, _ = central_span(at + count, count, at)  # a window long enough to hold the span
    return f"{window} + bases {span.start}..{span.stop - 1}" + strands


def trained_lengths(head: dict) -> str:
    """The window lengths a head (its head.json) trained on: "300 bp", "290-500 bp" ("-" where
    its head.json predates the record)."""
    from vqdna_cli.head_features import lengths_text

    expect("head", head, dict)
    return lengths_text(head["train_window_lengths"]) if "train_window_lengths" in head else "-"


@keeps_global_state
def classify(inputs: InputSpec, output: Path | None, task: str, run: RunOptions = RunOptions(),
             options: ClassifyOptions = ClassifyOptions(), *, force: bool = False, progress=NO_PROGRESS) -> dict:
    """Class probabilities per record (`io.writers.PredictionTsv`), or per window
    (`PredictionBed`). What made the file (vqdna version, model, task, input) goes to a
    sidecar `<output>.json` when `output` is a file, and also before the header as
    `##key=value` lines with `options.header_comments`. The result counts the windows (whole
    sequences, for a head that reads them) whose length is far from those the head trained
    on (`head_features.outside_training_lengths`), and those mostly N (`scan.mostly_bases`),
    for the caller to warn about."""
    from vqdna_cli.head_features import head_features, head_inputs, spans_unlike_training
    from vqdna_cli.io.writers import (PredictionBed, PredictionTsv, check_output, check_sidecar, check_text_output,
                                      table_output)
    from vqdna_cli.runner import GROUP_RECORDS, embed_records
    from vqdna_cli.scan import MAX_AMBIGUOUS

    expect_input("inputs", inputs), expect("task", task, str), expect("run", run, RunOptions)
    expect("options", options, ClassifyOptions), expect("force", force, bool)
    expect_callable("progress", progress)
    expect("output", output, (str, os.PathLike, type(None)))
    output_format = options.table_format(output)
    check_text_output(output)
    check_output(output, force, inputs.paths)
    check_sidecar(output, force, inputs.paths)
    runner = load_runner(run)
    check_stride(options.stride, runner.window)
    head, info = runner.attach_head(task)
    reads = info.reads
    if options.reverse_complement and (reads.center_tokens or reads.segments) and not reads.both_strands:
        # averaging the two strands' features would put the other strand's bases where the head
        # learnt one place on one strand: neither strand's answer, and not the same for both
        raise UsageError(f"--rc: the {task} head reads tokens at fixed places of one strand "
                         f"({what_head_reads(info.to_json())}), as it was trained: give the sequences on that "
                         "strand, or scan a genome with --scan, which calls each strand")
    whole_record = info.reads.whole_record  # one prediction per record: TSV only
    if output_format == "bed" and whole_record:
        raise UsageError(f"the {task} head classifies whole sequences, not windows: use --format tsv (or a .tsv output)")
    from vqdna_cli.head_info import class_indexes

    class_index = class_indexes(info.labels)
    names = list(info.class_names)
    table = (PredictionBed if output_format == "bed" else PredictionTsv)(names, class_index)
    request = dataclasses.replace(head_inputs(info, options.reverse_complement), stride=options.stride)
    provenance = {**table.FORMAT, **runner.describe(batch_tokens=run.tokens_per_batch()), "task": task,
                  **info.made_by(),
                  "class_names": names,
                  **inputs.describe(), "output_format": output_format,
                  # what was read, not what was asked: a head trained on both strands reads both without --rc
                  "reverse_complement": request.reverse_complement, "stride": options.stride or runner.window}
    # A chromosome comes a run of windows at a time (a whole-record head reads it whole): as
    # many windows as a group holds reads, since what a head reads of each window (its central
    # tokens' embeddings, say) can be tens of kilobytes.
    part_bases = None if request.with_record_frequencies else GROUP_RECORDS * (options.stride or runner.window)
    # Rows stream out as groups finish: a small first group gives a pipe its first rows soon.
    results = embed_records(runner, open_records(inputs), request, batch_tokens=run.tokens_per_batch(),
                            on_bases=progress, part_bases=part_bases, first_group_share=FIRST_GROUP_SHARE)

    def probabilities_of(result):
        return window_probabilities(head, head_features(info, result), runner.device)

    calls = _window_calls(results, probabilities_of, join_parts=output_format == "tsv")
    calls = read_ahead(calls)  # an input that fails at once writes nothing, not even a header to stdout
    count = read_count = outside = ambiguous = 0  # counters, not lists: memory stays flat over millions of reads
    with table_output(output) as (out, sidecar):
        table.write_header(out, provenance if options.header_comments else None)
        for record, windows, probabilities in calls:  # rows are written as records finish
            rows = table.rows(record, windows, probabilities)
            out.writelines(rows)
            count += len(rows)
            spans, far, mostly_n = spans_unlike_training(info, record, windows)
            read_count, outside, ambiguous = read_count + spans, outside + far, ambiguous + mostly_n
        sidecar.update({**provenance, "columns": table.columns, "rows": count})
    result = {"rows": count, "format": output_format, "read": "sequences" if whole_record else "windows",
              "read_count": read_count, "outside_training_lengths": outside, "mostly_ambiguous": ambiguous,
              "max_ambiguous": MAX_AMBIGUOUS,
              "train_window_lengths": info.train_window_lengths, "reads_a_fixed_place": bool(info.reads.center_tokens),
              "provenance": provenance}
    _warn_of_classified(result, task)
    return result


@keeps_global_state
def scan(genome: InputSpec, output: Path | None, task: str, run: RunOptions = RunOptions(),
         settings: ScanSettings = ScanSettings(), *, force: bool = False, progress=NO_PROGRESS,
         on_total=lambda total: None) -> dict:
    """Scan a genome FASTA (`genome.source`, within its `region`/`bed`) with a task head
    (`vqdna classify --scan`) into `io.writers.ScanBed`, sorted by position, one row per
    window and strand; with `settings.min_prob`, only windows where a non-background class
    has at least that. Windows stream through the model a group at a time and rows are
    written as they come, so memory does not grow with the genome. `on_total(bases)` is told
    the bases to scan before the first window (when known)."""
    import numpy as np

    from vqdna_cli.head_features import head_features, head_inputs, outside_training_lengths
    from vqdna_cli.io.regions import parse_region, read_bed
    from vqdna_cli.io.writers import ScanBed, check_output, check_sidecar, check_text_output, table_output
    from vqdna_cli.runner import embed_records
    from vqdna_cli.scan import (MAX_AMBIGUOUS, ScanLayout, ScanSource, ScanWindow, background_classes,
                                unnamed_background_likely)

    expect_input("genome", genome), expect("task", task, str), expect("run", run, RunOptions)
    expect("settings", settings, ScanSettings), expect("force", force, bool)
    expect_callable("progress", progress), expect_callable("on_total", on_total)
    expect("output", output, (str, os.PathLike, type(None)))
    regions = ([parse_region(genome.region)] if genome.region else []) + \
        (read_bed(str(genome.bed), strands_read=True) if genome.bed else [])
    source = ScanSource.open(genome.source, regions)
    check_text_output(output)
    check_output(output, force, genome.paths)
    check_sidecar(output, force, genome.paths)
    runner = load_runner(run)
    head, info = runner.attach_head(task)
    layout = ScanLayout.of(info, runner.window, settings)
    background = background_classes(info, settings.background)
    calls = [i for i in range(len(info.class_names)) if i not in background]
    background_names = [info.class_names[i] for i in sorted(background)]
    if settings.min_prob > 0 and not background and unnamed_background_likely(info):
        warnings.warn(f"head {task} has no background class (none named non-..., nor labelled 0 of two): every "
                      f"window is a call of its most probable class ({', '.join(info.class_names)}); name the "
                      "classes that are not calls with --background", VqdnaWarning, stacklevel=3)
    on_total(source.total_bases)
    handed: deque[ScanWindow] = deque()  # to the model and not yet written, in order

    def records():
        for window in source.windows(layout):
            handed.append(window)
            yield window.record

    tracker = _Covered(progress)
    # a head trained on both strands averages them
    request = dataclasses.replace(head_inputs(info), reverse_complement=layout.strands == (".",))
    # groups of SCAN_BATCH windows: the model's groups of thousands would hold the first rows (and
    # the progress bar) back for many seconds
    results = embed_records(runner, records(), request, batch_tokens=run.tokens_per_batch(), group_records=SCAN_BATCH)
    kept = windows = 0
    made_by = {**runner.describe(batch_tokens=run.tokens_per_batch()), **info.made_by()}
    batches = read_ahead(_batched(results, SCAN_BATCH))  # a genome that fails at once writes nothing
    with table_output(output) as (out, sidecar):
        table = ScanBed(out, list(info.class_names))
        # the whole record on stdout too, where no .json goes beside the BED
        scanned = " ".join(f"{key} {value}" for key, value in genome.describe().items()
                           if key in ("input", "region", "bed") and value is not None)
        table.write_header(f"vqdna {made_by['vqdna_version']} model {made_by['model_hash']} task {task} "
                           f"head {made_by['head_hash']} window {layout.window} stride {layout.stride} "
                           f"min_prob {settings.min_prob:g} "
                           f"background {','.join(background_names) or '-'} "
                           f"precision {made_by['transformer_precision']} "
                           f"batch_tokens {made_by['batch_tokens']} {scanned}")
        for batch in batches:
            probabilities = window_probabilities(head, np.concatenate([head_features(info, r) for r in batch]),
                                                 runner.device)
            for result, p in zip(batch, probabilities):
                window = handed.popleft()
                strand, record = window.strand, result.record
                tracker.advance(record.chrom, record.offset, record.offset + len(record), window.done)
                windows += 1
                # kept: a call (its most probable non-background class) of at least min_prob
                if settings.min_prob > 0 and (not calls or p[calls].max() < settings.min_prob):
                    continue
                # a row kept as a call is named for it, though background may be more probable
                table.write_row(record, strand, p, among=calls if settings.min_prob > 0 else None)
                kept += 1
        tracker.finish(source.total_bases)
        result = {"windows": windows, "rows": kept, "window": layout.window, "stride": layout.stride,
                  "strands": "".join(layout.strands), "bases": tracker.covered, "max_ambiguous": MAX_AMBIGUOUS,
                  "regions_shorter_than_window": source.shorter_than(layout.window),
                  "regions_are_whole_records": source.whole_records, "regions_merged_away": source.merged_away,
                  "windows_mostly_ambiguous": source.skipped.ambiguous,
                  "outside_training_lengths": outside_training_lengths(info, layout.window),
                  "train_window_lengths": info.train_window_lengths,
                  "reads_a_fixed_place": bool(info.reads.center_tokens)}
        sidecar.update({**ScanBed.FORMAT, **made_by, "task": task, "class_names": list(info.class_names),
                        **genome.describe(), "min_prob": settings.min_prob,
                        "background": background_names, "columns": table.columns,
                        **{key: result[key] for key in ("window", "stride", "strands", "windows", "rows")}})
    _warn_of_scanned(result, task)
    return result


# --- what the commands warn of: the counts are in the result too, for a caller to act on ------


def _warn(message: str) -> None:
    warnings.warn(message, VqdnaWarning, stacklevel=5)  # the caller of classify/scan, past keeps_global_state


def _part_of(part: int, result: dict) -> str:
    """"2 of 5 windows are", "1 of 1 sequence is": a part of what classify read."""
    noun, total = result["read"].removesuffix("s"), result["read_count"]
    return f"{part:,} of {total:,} {noun}{'' if total == 1 else 's'} {'is' if part == 1 else 'are'}"


def _warn_of_classified(result: dict, task: str) -> None:
    if result["outside_training_lengths"]:
        _warn(f"{_part_of(result['outside_training_lengths'], result)} {_unlike_training(result, task)}; their "
              "probabilities are extrapolations")
    if result["mostly_ambiguous"]:
        _warn(f"{_part_of(result['mostly_ambiguous'], result)} more than {result['max_ambiguous'] * 100:g} % N (or "
              "other IUPAC codes): their probabilities say little (--scan skips such windows)")


def _warn_of_scanned(result: dict, task: str) -> None:
    window, stride = result["window"], result["stride"]
    if not result["windows"]:
        _warn(f"no {window} bp window fits the scanned sequence (regions shorter than a window, or more than "
              f"{result['max_ambiguous'] * 100:g} % N): the BED holds no rows")
    elif result["regions_shorter_than_window"]:
        short = result["regions_shorter_than_window"]
        what, fix = (("sequences", "classify them without --scan") if result["regions_are_whole_records"] else
                     ("regions", "classify their sequences without --scan, or widen them"))
        _warn(f"{short:,} of the {what} {'is' if short == 1 else 'are'} shorter than a {window} bp window and not "
              f"scanned ({fix})")
    if result["regions_merged_away"]:
        merged = result["regions_merged_away"]
        _warn(f"{merged:,} of the regions overlapped or touched another and {'was' if merged == 1 else 'were'} "
              "scanned as one region with it: windows start at each merged region's start, not at every interval's "
              "(to classify each interval as given, cut its sequence and classify it without --scan)")
    if stride > window:
        _warn(f"--stride {stride} is longer than the {window} bp window: {stride - window:,} "
              f"{'base' if stride - window == 1 else 'bases'} of every {stride:,} {'is' if stride - window == 1 else 'are'} "
              "not scanned")
    if result["outside_training_lengths"]:
        _warn(f"{window} bp windows are {_unlike_training(result, task)}; its probabilities are extrapolations")


def _unlike_training(result: dict, task: str) -> str:
    from vqdna_cli.head_features import unlike_training

    return unlike_training(result["train_window_lengths"], result["reads_a_fixed_place"], task)


def _window_calls(results: Iterable, probabilities_of, join_parts: bool) -> Iterator[tuple]:
    """(record, windows, probabilities) of each `embed_records` result; with `join_parts`, a
    record that came in parts (a chromosome) as one, since its TSV row is the mean over all
    its windows (taken at once, as for a record that came whole)."""
    import numpy as np

    record, windows, probabilities = None, [], []
    for result in results:
        if not join_parts:
            yield result.record, result.windows, probabilities_of(result)
            continue
        if record is not None and not result.continued:
            yield record, windows, np.concatenate(probabilities)
            windows, probabilities = [], []
        record = result.record
        windows.extend(result.windows)
        probabilities.append(probabilities_of(result))
    if record is not None:
        yield record, windows, np.concatenate(probabilities)


def read_ahead(items: Iterable) -> Iterator:
    """`items` with the first one made before this returns: rows stream to stdout as they
    come, so an input that is bad from its first record must fail before the header is out
    (a later failure still exits non-zero after the rows already written)."""
    items = iter(items)
    first = list(itertools.islice(items, 1))
    return itertools.chain(first, items)


def _batched(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Covered:
    """Genome bases covered by the windows written so far; the progress bar moves by the
    bases gone through (`ScanWindow.done`), so that a stride longer than the window, or a
    run of N, does not make the time left a guess from the windows' share of the genome."""

    def __init__(self, progress):
        self.progress, self.covered, self.chrom, self.end, self.done = progress, 0, None, 0, 0

    def advance(self, chrom: str, start: int, end: int, done: int) -> None:
        if chrom != self.chrom:
            self.chrom, self.end = chrom, start
        self.covered += max(0, end - max(start, self.end))
        self.end = max(self.end, end)
        if done > self.done:
            self.progress(done - self.done)
            self.done = done

    def finish(self, total: int | None) -> None:
        """The bar ends full: tails after the last window count as done."""
        if total is not None and total > self.done:
            self.progress(total - self.done)
