"""The callable API: pipelines that take paths and options and return or write data.

The CLI calls only these functions; they never print (progress goes through `rich` on
stderr, which `quiet` silences) and raise `VqdnaError` subclasses for user errors.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from vqdna_cli.errors import UsageError, VqdnaError

# --- training ---------------------------------------------------------------------------


def _setup(device: str, threads: int | None, seed: int, batch: int | None = None):
    """Threads, seeds and the device; under torchrun also the process group (and a check
    that the global `batch` splits evenly over the processes)."""
    from vqdna_cli import distributed, runtime

    runtime.configure(threads, seed)
    runtime.exact_fp32()
    torch_device = distributed.init(runtime.pick_device(device))
    if batch is not None:
        distributed.local_batch(batch)
    return torch_device


def _save_on_main(save, *args) -> None:
    """Rank 0 writes the weights; the other processes wait until they are written."""
    from vqdna_cli import distributed

    if distributed.is_main():
        save(*args)
    distributed.barrier()


def train_tokenizer(fasta: list[str], output: Path, *, preset: str, steps: int, lr: float, window: int,
                    batch: int, holdout_files: tuple[str, ...], holdout_tail: dict[str, int], resume: bool,
                    max_minutes: float | None, device: str, threads: int | None, seed: int, quiet: bool,
                    force: bool = False) -> dict:
    from vqdna_cli.checkpoint import save_model
    from vqdna_cli.config import PRESETS
    from vqdna_cli.io.writers import check_weights_output
    from vqdna_cli.model.vqdna import VQDNA
    from vqdna_cli.train.genomes import load_genomes
    from vqdna_cli.train.loop import LoopSettings
    from vqdna_cli.train.provenance import provenance
    from vqdna_cli.train.tokenizer import train_tokenizer as run_stage

    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    check_weights_output(output, force, resume)
    torch_device = _setup(device, threads, seed, batch)
    began = time.monotonic()
    genomes = load_genomes(fasta, holdout_files, holdout_tail)
    cfg = PRESETS[preset]
    model = VQDNA(cfg).to(torch_device)
    settings = LoopSettings(steps=steps, lr=lr, out_dir=Path(output), resume=resume, quiet=quiet,
                            max_minutes=max_minutes, eval_every=max(1, min(200, steps)), checkpoint_every=max(1, min(200, steps)))
    metrics = run_stage(model, genomes, settings, window=window, batch=batch, seed=seed, device=torch_device)
    record = provenance("tokenizer", genomes.description,
                        {"preset": preset, "steps": steps, "lr": lr, "window": window, "batch": batch, "seed": seed},
                        metrics, (time.monotonic() - began) / 60, str(torch_device))
    _save_on_main(save_model, Path(output), model.cpu(), cfg, {"tokenizer": record})
    return metrics


def pretrain(fasta: list[str], model_dir: Path, output: Path, *, steps: int, lr: float, window: int, batch: int,
             holdout_files: tuple[str, ...], holdout_tail: dict[str, int], resume: bool, max_minutes: float | None,
             device: str, threads: int | None, seed: int, quiet: bool, transformer_preset: str | None = None,
             checkpoint_minutes: float | None = None, force: bool = False, masking: str | None = None) -> dict:
    from vqdna_cli.checkpoint import load_model, save_model
    from vqdna_cli.io.writers import check_weights_output
    from vqdna_cli.train.genomes import load_genomes
    from vqdna_cli.train.loop import LoopSettings
    from vqdna_cli.train.pretrain import pretrain as run_stage
    from vqdna_cli.train.provenance import provenance

    check_weights_output(output, force, resume)
    torch_device = _setup(device, threads, seed, batch)
    began = time.monotonic()
    model, info = load_model(model_dir)
    if transformer_preset is not None:
        model = _with_transformer_of(model, transformer_preset, masking)
    elif masking is not None:
        raise UsageError("--masking sets the objective of a fresh Transformer: give --transformer-preset too")
    if window > model.cfg.transformer.max_tokens:
        raise UsageError(f"--window {window} exceeds the model's max_tokens {model.cfg.transformer.max_tokens}")
    genomes = load_genomes(fasta, holdout_files, holdout_tail)
    model.to(torch_device)
    settings = LoopSettings(steps=steps, lr=lr, out_dir=Path(output), resume=resume, quiet=quiet,
                            max_minutes=max_minutes, eval_every=max(1, min(200, steps)), checkpoint_every=max(1, min(200, steps)),
                            checkpoint_minutes=checkpoint_minutes)
    metrics = run_stage(model, genomes, settings, window=window, batch=batch, seed=seed, device=torch_device)
    record = provenance("pretrain", genomes.description,
                        {"steps": steps, "lr": lr, "window": window, "batch": batch, "seed": seed,
                         "tokenizer": str(model_dir)}, metrics, (time.monotonic() - began) / 60, str(torch_device))
    _save_on_main(save_model, Path(output), model.cpu(), model.cfg, {**info.get("provenance", {}), "pretrain": record})
    return metrics


def _with_transformer_of(model, preset: str, masking: str | None = None):
    """The same trained tokenizer under a fresh Transformer of `preset`'s size, pre-trained
    with `masking` ("input", "tokens"; default: the preset's objective)."""
    import dataclasses

    from vqdna_cli.config import LEGACY_MASKING, PRESETS, MaskingConfig
    from vqdna_cli.model.vqdna import VQDNA

    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    objective = PRESETS[preset].masking
    if masking == "tokens":
        objective = MaskingConfig(fraction=0.25, **LEGACY_MASKING)  # the shipped weights' objective
    elif masking not in (None, "input"):
        raise UsageError(f"--masking {masking!r}: use input or tokens")
    cfg = dataclasses.replace(model.cfg, transformer=PRESETS[preset].transformer, masking=objective)
    return VQDNA(cfg).take_tokenizer_of(model)


# --- inference ----------------------------------------------------------------------------

NO_PROGRESS = lambda bases: None  # noqa: E731

TOKENS_FORMAT = {"format": "vqdna-tokens", "format_version": 1}
EMBEDDINGS_FORMAT = {"format": "vqdna-embeddings", "format_version": 1}
AMBIGUITY_POLICY = ("IUPAC codes (N included) keep their position and enter the model as the "
                    "uniform distribution over the bases they stand for")


def _records(source: str, region: str | None, bed: Path | None, mapped_only: bool, reference: Path | None):
    from vqdna_cli.io.sequences import open_sequences

    return open_sequences(source, region=region, bed=str(bed) if bed else None, mapped_only=mapped_only,
                          reference=str(reference) if reference else None)


def input_bases(source: str, region: str | None = None, bed: Path | None = None) -> int | None:
    """The bases an input holds, when its `.fai` says so (for a progress total), else None."""
    from vqdna_cli.io.sequences import known_bases

    return known_bases(source, region, str(bed) if bed else None)


def _runner(model_dir: Path | None, device: str, threads: int | None, seed: int, precision: str = "fp32"):
    from vqdna_cli import runtime
    from vqdna_cli.runner import Runner

    runtime.configure(threads, seed)
    return Runner.load(model_dir, device, precision)


def _input_description(source: str, region: str | None, bed: Path | None, mapped_only: bool) -> dict:
    return {"input": source, "region": region, "bed": str(bed) if bed else None, "mapped_only": mapped_only}


def tokenize(source: str, output: Path, *, model_dir: Path | None = None, region: str | None = None,
             bed: Path | None = None, mapped_only: bool = False, reference: Path | None = None,
             batch_tokens: int = 32768, device: str = "auto", threads: int | None = None, seed: int = 0,
             force: bool = False, compress: bool = True, progress=NO_PROGRESS) -> dict:
    """HRQ token IDs of every record into one ragged `.npz` (schema: README, "Output files")."""
    import numpy as np

    from vqdna_cli.runner import tokenize_records
    from vqdna_cli.io.writers import check_output, write_npz

    check_output(output, force, (source, bed, reference), binary=True)
    runner = _runner(model_dir, device, threads, seed)
    ids, chroms, starts, token_arrays = [], [], [], []
    for record, tokens in tokenize_records(runner, _records(source, region, bed, mapped_only, reference),
                                           batch_tokens, progress):
        ids.append(record.name)
        chroms.append(record.chrom)
        starts.append(record.offset)
        token_arrays.append(tokens)
    lengths = np.array([len(t) for t in token_arrays], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    starts_array = np.array(starts, dtype=np.int64)
    positions = _token_positions(starts_array, lengths)
    # One array of all tokens; a single record (a chromosome) is used as it is, not copied.
    tokens = (token_arrays[0] if len(token_arrays) == 1 else
              np.concatenate(token_arrays) if token_arrays else np.zeros((0, runner.levels), np.uint16))
    metadata = {**TOKENS_FORMAT, **runner.describe(), **_input_description(source, region, bed, mapped_only),
                "records": len(ids), "tokens": int(offsets[-1]),
                "coordinates": "0-based; token j of record i covers base positions[offsets[i] + j] of chroms[i]",
                "ambiguous_bases": AMBIGUITY_POLICY,
                "encoder_context_bases": runner.model.cfg.encoder.receptive_radius}
    write_npz(output, {"tokens": tokens, "offsets": offsets, "ids": np.array(ids, dtype=str),
                       "chroms": np.array(chroms, dtype=str), "starts": starts_array, "positions": positions},
              metadata, compress)
    return {"records": len(ids), "bases": int(offsets[-1])}


def _token_positions(starts, lengths):
    """The 0-based genome coordinate of every token (one token per base), as uint32 when
    it fits (half the memory of int64 for a chromosome)."""
    import numpy as np

    dtype = np.uint32 if int((starts + lengths).max(initial=0)) < 2**32 else np.int64
    positions = np.empty(int(lengths.sum()), dtype=dtype)
    at = 0
    for start, length in zip(starts.tolist(), lengths.tolist()):
        positions[at : at + length] = np.arange(start, start + length, dtype=dtype)
        at += length
    return positions


def embed(source: str, output: Path, *, model_dir: Path | None = None, region: str | None = None,
          bed: Path | None = None, mapped_only: bool = False, reference: Path | None = None,
          per_token: bool = False, reverse_complement: bool = False, stride: int | None = None,
          batch_tokens: int = 16384, device: str = "auto", threads: int | None = None, seed: int = 0,
          force: bool = False, precision: str = "fp32", pool: str = "window", layer: int | str | None = None,
          pooling: str = "mean", progress=NO_PROGRESS) -> dict:
    """One pooled embedding per record (or per window of a long record) into one `.npz`.

    `pool` "record" writes one row per record (its windows' vectors averaged, weighted by
    their lengths; with `pooling` "max", their maximum); `layer` N takes the vectors of
    Transformer layer N (0 the input of the first block, -1 the last, as esm's
    `--repr_layers`), "all" adds every layer's as `layer_embeddings`; `pooling` "max" pools a
    window's tokens by their maximum. The defaults write exactly what they always did."""
    import numpy as np

    from vqdna_cli.head_features import POOLINGS, record_vector
    from vqdna_cli.runner import embed_records
    from vqdna_cli.io.writers import check_output, write_npz

    if pool not in ("window", "record"):
        raise UsageError(f"--pool {pool!r}: use window or record")
    if pooling not in POOLINGS:
        raise UsageError(f"--pooling {pooling!r}: use {' or '.join(POOLINGS)}")
    check_output(output, force, (source, bed, reference), binary=True)
    runner = _runner(model_dir, device, threads, seed, precision)
    _check_stride(stride, runner.window)
    layers = _layers(layer, runner.layers)
    ids, chroms, starts, lengths, pooled, window_ranges, window_counts, token_vectors = [], [], [], [], [], [], [], []
    windows_read = 0
    for result in embed_records(runner, _records(source, region, bed, mapped_only, reference),
                                batch_tokens=batch_tokens, stride=stride, per_token=per_token,
                                reverse_complement=reverse_complement, layers=layers, pooling=pooling,
                                on_bases=progress):
        record = result.record
        ids.append(record.name)
        chroms.append(record.chrom)
        starts.append(record.offset)
        lengths.append(len(record))
        windows_read += len(result.windows)
        # One row per record covers the whole record: the schema's window arrays stay true.
        rows = ([record_vector(result.windows, result.pooled, pooling)] if pool == "record" else result.pooled)
        spans = [(0, len(record))] if pool == "record" else result.windows
        pooled.append(np.asarray(rows, dtype=np.float32))
        window_counts.append(len(spans))
        window_ranges.extend((record.offset + s, record.offset + e) for s, e in spans)
        if per_token:
            token_vectors.append(result.per_token)
    width = runner.model.cfg.transformer.width
    window_ranges_array = np.array(window_ranges, dtype=np.int64).reshape(-1, 2)
    vectors = np.concatenate(pooled) if pooled else np.zeros((0, *([len(layers)] if layers else []), width), np.float32)
    arrays = {
        "embeddings": _primary_layer(vectors, layer),
        "window_offsets": np.concatenate([[0], np.cumsum(window_counts)]).astype(np.int64),
        "window_starts": window_ranges_array[:, 0], "window_ends": window_ranges_array[:, 1],
        "ids": np.array(ids, dtype=str), "chroms": np.array(chroms, dtype=str),
        "starts": np.array(starts, dtype=np.int64), "lengths": np.array(lengths, dtype=np.int64),
    }
    if layer == "all":
        arrays["layer_embeddings"] = vectors
    if per_token:
        arrays["token_embeddings"] = np.concatenate(token_vectors) if token_vectors else np.zeros((0, width), np.float32)
        arrays["token_offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    metadata = {**EMBEDDINGS_FORMAT, **runner.describe(), **_input_description(source, region, bed, mapped_only),
                "records": len(ids), "windows": windows_read, "window": runner.window,
                "stride": stride or runner.window, "pooling": f"{pooling} over the window's tokens",
                "reverse_complement": reverse_complement, "per_token": per_token,
                "coordinates": "0-based half-open window_starts/window_ends on chroms",
                "ambiguous_bases": AMBIGUITY_POLICY,
                **_embedding_options(pool, pooling, layer, layers, runner.layers)}
    write_npz(output, arrays, metadata)
    return {"records": len(ids), "windows": windows_read}


def _layers(layer: int | str | None, count: int) -> tuple[int, ...] | None:
    """`--layer` -> the Transformer layers to read (`Runner.layer_outputs`), or None for the
    default output (the last layer, computed as it always was)."""
    if layer is None:
        return None
    if str(layer) == "all":
        return tuple(range(count + 1))
    try:
        number = int(layer)
    except ValueError:
        raise UsageError(f"--layer {layer!r}: give a layer number (0 to {count}, -1 the last) or all") from None
    if not -count - 1 <= number <= count:
        raise UsageError(f"--layer {number}: the model has layers 0 (input) to {count} (-1 the last)")
    number %= count + 1
    return None if number == count else (number,)


def _primary_layer(vectors, layer):
    """What `embeddings` holds: the one layer asked for, or the last one with `--layer all`."""
    if vectors.ndim == 2:
        return vectors
    return vectors[:, -1] if str(layer) == "all" else vectors[:, 0]


def _embedding_options(pool: str, pooling: str, layer, layers, count: int) -> dict:
    """Metadata of the options beyond the defaults (a default run's file stays as it was)."""
    extra = {}
    if pool == "record":
        extra["pool"] = ("record: one row per record, its windows' vectors "
                         + ("maximum" if pooling == "max" else "averaged, weighted by their lengths"))
    if layer is not None:
        extra["layer"] = "all" if str(layer) == "all" else (layers[0] if layers else count)
        extra["layers"] = list(layers) if layers else [count]
        extra["transformer_layers"] = count
    return extra


def _check_stride(stride: int | None, window: int) -> None:
    if stride is not None and not 0 < stride <= window:
        raise UsageError(f"--stride {stride}: must be between 1 and the model window ({window})")


def _window_probabilities(head, features, device):
    """(windows, F) head features (`head_features.head_features`) -> (windows, classes) class probabilities."""
    import torch

    with torch.inference_mode():
        logits = head(torch.from_numpy(features).to(device))
        return torch.softmax(logits.float(), -1).cpu().numpy()


def list_tasks(model_dir: Path | None = None) -> list[dict]:
    from vqdna_cli.checkpoint import list_heads
    from vqdna_cli.runner import default_weights_dir

    return list_heads(Path(model_dir) if model_dir else default_weights_dir())


PREDICTIONS_FORMAT = {"format": "vqdna-predictions", "format_version": 1}
TSV_COLUMNS = ["id", "label", "class_index"]
BED_COLUMNS = ["#chrom", "start", "end", "name", "score", "strand", "id", "class_index"]


def classify(source: str, output: Path | None, *, task: str, model_dir: Path | None = None,
             region: str | None = None, bed: Path | None = None, mapped_only: bool = False,
             reference: Path | None = None, output_format: str = "auto", header_comments: bool = False,
             reverse_complement: bool = False, stride: int | None = None, batch_tokens: int = 16384,
             device: str = "auto", threads: int | None = None, seed: int = 0, force: bool = False,
             precision: str = "fp32", progress=NO_PROGRESS) -> dict:
    """Class probabilities per record (TSV), or per window (BED6+). The first line is the
    column header; what made the file (vqdna version, model, task, input) goes to a sidecar
    `<output>.json` when `output` is a file, and also before the header as `##key=value`
    lines with `header_comments`. The result counts the windows (whole sequences, for a
    head that reads them) whose length is far from those the head trained on
    (`head_features.outside_training_lengths`), for the caller to warn about."""
    from vqdna_cli.head_features import head_features, head_inputs, outside_training_lengths
    from vqdna_cli.runner import embed_records
    from vqdna_cli.io.writers import check_output, text_output

    output_format = _prediction_format(output_format, output)
    check_output(output, force, (source, bed, reference))
    runner = _runner(model_dir, device, threads, seed, precision)
    _check_stride(stride, runner.window)
    head, info = runner.attach_head(task)
    whole_record = info.reads.whole_record  # one prediction per record: TSV only
    if output_format == "bed" and whole_record:
        raise UsageError(f"the {task} head classifies whole sequences, not windows: use --format tsv (or a .tsv output)")
    names = list(info.class_names)
    # class_index: the integer label a class had in the training data (GUE's 0, 1, 2);
    # for text labels, the class's position in the head's label order.
    class_index = [label if label.lstrip("-").isdigit() else str(i) for i, label in enumerate(info.labels)]
    provenance = {**PREDICTIONS_FORMAT, **runner.describe(), "task": task, "class_names": names,
                  **_input_description(source, region, bed, mapped_only), "output_format": output_format,
                  "reverse_complement": reverse_complement, "stride": stride or runner.window}
    columns = (BED_COLUMNS if output_format == "bed" else TSV_COLUMNS) + [f"p_{name}" for name in names]
    results = embed_records(runner, _records(source, region, bed, mapped_only, reference),
                            batch_tokens=batch_tokens, stride=stride, per_token=False, on_bases=progress,
                            **head_inputs(info, reverse_complement))
    count = read_count = outside = 0  # counters, not lists: memory stays flat over millions of reads
    with text_output(output) as out:
        if header_comments:
            out.writelines(f"##{key}={value if isinstance(value, str) else json.dumps(value)}\n"
                           for key, value in provenance.items())
        out.write("\t".join(columns) + "\n")
        for result in results:  # rows are written as records finish: a genome streams through
            probabilities = _window_probabilities(head, head_features(info, result), runner.device)
            if output_format == "bed":
                rows = _bed_rows(result, probabilities, names, class_index)
            else:
                rows = [_tsv_row(result.record.name, probabilities, names, class_index)]
            out.writelines(rows)
            count += len(rows)
            lengths = [len(result.record)] if whole_record else [end - start for start, end in result.windows]
            read_count += len(lengths)
            outside += sum(outside_training_lengths(info, n) for n in lengths)
    if output is not None and str(output) != "-":
        _write_sidecar(output, {**provenance, "columns": columns, "rows": count})
    return {"rows": count, "format": output_format, "read": "sequences" if whole_record else "windows",
            "read_count": read_count, "outside_training_lengths": outside,
            "train_window_lengths": info.train_window_lengths, "provenance": provenance}


def _prediction_format(requested: str, output: Path | None) -> str:
    """tsv or bed. `auto` goes by the output's name (BED for `.bed`, else TSV), never by the
    input, so one command line always writes the same kind of table."""
    if requested not in ("auto", "tsv", "bed"):
        raise UsageError(f"--format {requested!r}: use auto, tsv or bed")
    if requested != "auto":
        return requested
    return "bed" if output is not None and str(output).lower().endswith(".bed") else "tsv"


def _probabilities_text(p) -> list[str]:
    return [f"{x:.6g}" for x in p]  # as precise as the float32 softmax is, in few characters


def _tsv_row(name: str, probabilities, names: list[str], class_index: list[str]) -> str:
    """One row per sequence: a sequence longer than one window gets the mean of its windows'
    probabilities."""
    import numpy as np

    p = probabilities.mean(0)
    best = int(np.argmax(p))
    return "\t".join([name, names[best], class_index[best], *_probabilities_text(p)]) + "\n"


def _bed_rows(result, probabilities, names: list[str], class_index: list[str]) -> list[str]:
    """BED6+ rows, one per window: score is 1000 x the best class's probability."""
    import numpy as np

    record, rows = result.record, []
    for (start, end), p in zip(result.windows, probabilities):
        best = int(np.argmax(p))
        rows.append("\t".join([record.chrom, str(record.offset + start), str(record.offset + end), names[best],
                                str(int(round(1000 * p[best]))), ".", record.name, class_index[best],
                                *_probabilities_text(p)]) + "\n")
    return rows


def sidecar_path(output: Path | str) -> Path:
    """Where `classify -o FILE` records what made FILE: FILE.json beside it."""
    return Path(f"{output}.json")


def _write_sidecar(output: Path | str, provenance: dict) -> None:
    """The sidecar belongs to its output: written (and replaced) with it, after it."""
    from vqdna_cli.io.writers import atomic_file

    with atomic_file(sidecar_path(output), "w") as handle:
        handle.write(json.dumps(provenance, indent=2, sort_keys=True) + "\n")


SCAN_BATCH = 2048  # windows whose features go through the head at once


def scan(genome: str, output: Path | None, *, task: str, settings=None, model_dir: Path | None = None,
         region: str | None = None, bed: Path | None = None, batch_tokens: int = 16384, device: str = "auto",
         threads: int | None = None, seed: int = 0, force: bool = False, precision: str = "fp32",
         progress=NO_PROGRESS, on_total=lambda total: None) -> dict:
    """Scan a genome FASTA with a task head (`vqdna classify --scan`): BED6+ sorted by
    position, one row per window and strand (name: the most probable class; score: its
    probability x 1000) with the probability of every class; with `settings.min_prob`
    (`scan.ScanSettings`), only windows where a non-background class has at least that. Windows stream through the model a
    group at a time and rows are written as they come, so memory does not grow with the
    genome. `on_total(bases)` is told the bases to scan before the first window (when known)."""
    import numpy as np

    from vqdna_cli.head_features import head_features, head_inputs
    from vqdna_cli.io.regions import parse_region, read_bed
    from vqdna_cli.io.writers import check_output, text_output
    from vqdna_cli.runner import embed_records
    from vqdna_cli.scan import ScanLayout, ScanSettings, ScanSource, background_classes

    settings = settings or ScanSettings()
    regions = ([parse_region(region)] if region else []) + (read_bed(str(bed)) if bed else [])
    source = ScanSource.open(genome, regions)
    check_output(output, force)
    runner = _runner(model_dir, device, threads, seed, precision)
    head, info = runner.attach_head(task)
    layout = ScanLayout.of(info, runner.window, settings)
    names = info.class_names
    calls = [i for i in range(len(names)) if i not in background_classes(info)]
    on_total(source.total_bases)
    from collections import deque

    strands: deque[str] = deque()  # of the windows handed to the model and not yet written, in order

    def records():
        for window in source.windows(layout):
            strands.append(window.strand)
            yield window.record

    tracker = _Covered(progress)
    inputs = head_inputs(info)
    inputs["reverse_complement"] = layout.strands == (".",)  # a head trained on both strands averages them
    results = embed_records(runner, records(), batch_tokens=batch_tokens, stride=None, per_token=False, **inputs)
    kept = windows = 0
    with text_output(output) as out:
        out.write(f"# vqdna {runner.describe()['vqdna_version']} model {runner.describe()['model_hash']} task {task} "
                  f"window {layout.window} stride {layout.stride} min_prob {settings.min_prob:g}\n")
        out.write("\t".join(["#chrom", "start", "end", "name", "score", "strand", *(f"p_{n}" for n in names)]) + "\n")
        for batch in _batched(results, SCAN_BATCH):
            probabilities = _window_probabilities(head, np.concatenate([head_features(info, r) for r in batch]),
                                                  runner.device)
            for result, p in zip(batch, probabilities):
                strand = strands.popleft()
                record = result.record
                tracker.advance(record.chrom, record.offset, record.offset + len(record))
                windows += 1
                # kept: a call (its most probable non-background class) of at least min_prob
                if settings.min_prob > 0 and (not calls or p[calls].max() < settings.min_prob):
                    continue
                best = int(np.argmax(p))
                out.write("\t".join([record.chrom, str(record.offset), str(record.offset + len(record)), names[best],
                                     str(int(round(1000 * p[best]))), strand, *_probabilities_text(p)]) + "\n")
                kept += 1
    tracker.finish(source.total_bases)
    return {"windows": windows, "rows": kept, "window": layout.window, "stride": layout.stride,
            "strands": "".join(layout.strands), "bases": tracker.covered}


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
    """Genome bases covered by the windows written so far, for the progress bar."""

    def __init__(self, progress):
        self.progress, self.covered, self.chrom, self.end = progress, 0, None, 0

    def advance(self, chrom: str, start: int, end: int) -> None:
        if chrom != self.chrom:
            self.chrom, self.end = chrom, start
        new = max(0, end - max(start, self.end))
        self.end = max(self.end, end)
        self.covered += new
        self.progress(new)

    def finish(self, total: int | None) -> None:
        """The bar ends full: skipped N windows and tails count as done."""
        if total is not None and total > self.covered:
            self.progress(total - self.covered)


# --- task heads -----------------------------------------------------------------------------


def _label_order(labels: list[str]) -> list[str]:
    """Distinct labels, numerically when they are all integers (GUE's 0, 1, 2 ...)."""
    distinct = set(labels)
    if all(label.lstrip("-").isdigit() for label in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


@dataclass
class HeadData:
    """A head's labelled rows once cleaned: what it trains on, what selects it, the class order."""

    rows: list[tuple[str, str]]  # (sequence, label)
    valid_rows: list[tuple[str, str]]
    labels: list[str]
    record: dict  # for the head's provenance: the files and how many rows each step kept


def head_training_data(train_files: list[str], *, valid_files: list[str] | None = None, valid_fraction: float = 0.15,
                       exclude_files: list[str] | None = None, labels_tsv: str | None = None,
                       max_train_rows: int | None = None, seed: int = 0) -> HeadData:
    """The rows `finetune` trains and selects a head on. Sequences of `exclude_files` (the test
    split) are removed from training; without `valid_files`, a seeded `valid_fraction` of the
    rest selects the head; training rows with an exact copy among the validation rows are
    dropped; `max_train_rows` keeps a seeded subset."""
    import numpy as np

    train = _read_labelled(train_files, labels_tsv)
    excluded = set()
    for path in exclude_files or []:
        excluded.update(_read_labelled([path], labels_tsv).sequences)
    rows = [(s, y) for s, y in zip(train.sequences, train.labels) if s not in excluded]
    dropped_excluded = len(train.sequences) - len(rows)
    if valid_files:
        valid = _read_labelled(valid_files, labels_tsv)
        valid_rows = list(zip(valid.sequences, valid.labels))
    else:
        if not 0 < valid_fraction < 1:
            raise UsageError("--valid-fraction must be between 0 and 1 (or give --valid FILE)")
        order = np.random.default_rng(seed).permutation(len(rows))
        cut = int(round(len(rows) * valid_fraction))
        valid_rows = [rows[i] for i in order[:cut]]
        rows = [rows[i] for i in order[cut:]]
    if not rows or not valid_rows:
        raise VqdnaError(f"fine-tuning needs both training and validation rows (have {len(rows)} and "
                         f"{len(valid_rows)}): give more data or --valid FILE")
    valid_sequences = {s for s, _ in valid_rows}
    before = len(rows)
    rows = [(s, y) for s, y in rows if s not in valid_sequences]  # no exact copy on both sides
    available = len(rows)
    if max_train_rows is not None and len(rows) > max_train_rows:
        keep = np.sort(np.random.default_rng(seed + 1).permutation(len(rows))[:max_train_rows])
        rows = [rows[i] for i in keep]
    record = {"train": train_files, "valid": valid_files or f"{valid_fraction:.0%} of the training rows (seed {seed})",
              "exclude": exclude_files or [], "train_rows": len(rows), "train_rows_available": available,
              "valid_rows": len(valid_rows), "dropped_in_exclude": dropped_excluded,
              "dropped_in_valid": before - available}
    labels = _label_order([y for _, y in rows] + [y for _, y in valid_rows])
    return HeadData(rows, valid_rows, labels, record)


def _read_labelled(files: list[str], labels_tsv: str | None):
    from vqdna_cli.io.labelled import LabelledSet, read_labelled_csv, read_labelled_fasta

    sets = [read_labelled_fasta(f, labels_tsv) if labels_tsv else read_labelled_csv(f) for f in files]
    return LabelledSet([s for x in sets for s in x.sequences], [label for x in sets for label in x.labels],
                       ", ".join(files))


def finetune(model_dir: Path, task: str, train_files: list[str], *, valid_files: list[str] | None = None,
             valid_fraction: float = 0.15, exclude_files: list[str] | None = None, labels_tsv: str | None = None,
             class_names: list[str] | None = None, description: str = "", epochs: int = 4, batch: int = 32,
             lr: float = 1e-3, adapter: str = "lora", lora_rank: int = 8, lora_alpha: float = 16.0,
             dropout: float | None = None, center_tokens: int = 0, center_at: int | None = None, both_strands: bool = False,
             whole_record: bool = False,
             max_train_rows: int | None = None, work_dir: Path | None = None,
             output_dir: Path | None = None, resume: bool = False, max_minutes: float | None = None,
             device: str = "auto", threads: int | None = None, seed: int = 0, quiet: bool = False) -> dict:
    """Train a task head; it is written to `output_dir/heads/<task>` (default: into `model_dir`).

    `max_train_rows` keeps a seeded random subset of the (cleaned) training rows: a fixed
    compute budget per task on a CPU. `center_tokens` (frozen heads only) adds the HRQ
    embeddings of that many tokens centred on base `center_at` of each window (default: its
    middle) to the head's features (`head_features.central_embeddings`); `both_strands` makes
    them the average of the forward and reverse-complement strands' (as `classify --rc`);
    `whole_record` gives the head one feature vector per sequence (`head_features.head_features`).
    `dropout` is the frozen head's, on its input features and hidden layer (default 0.5)."""
    import re

    import numpy as np

    from vqdna_cli.checkpoint import load_model, save_head
    from vqdna_cli.head_features import training_window_lengths
    from vqdna_cli.head_info import HeadReads
    from vqdna_cli.runner import Runner
    from vqdna_cli.model.heads import FROZEN_HEAD_DROPOUT
    from vqdna_cli.train.finetune import TaskModel, finetune as run_stage, head_loop_settings
    from vqdna_cli.train.provenance import provenance

    from vqdna_cli.train.finetune import ADAPTERS

    if adapter not in ADAPTERS:
        raise UsageError(f"--adapter {adapter!r}: use {' or '.join(ADAPTERS)}")
    if center_tokens and adapter != "frozen":
        raise UsageError("--center-tokens works with --adapter frozen only")
    if center_tokens < 0:
        raise UsageError(f"--center-tokens {center_tokens}: must be 0 or more")
    if center_at is not None and (center_at < 0 or not center_tokens):
        raise UsageError("--center-at needs --center-tokens and a base position of 0 or more")
    if dropout is not None and adapter != "frozen":
        raise UsageError("--dropout works with --adapter frozen only")
    dropout = FROZEN_HEAD_DROPOUT if dropout is None else dropout
    if not 0 <= dropout < 1:
        raise UsageError(f"--dropout {dropout}: must be at least 0 and below 1")
    if both_strands and adapter != "frozen":
        raise UsageError("--both-strands works with --adapter frozen only")
    if whole_record and adapter != "frozen":
        raise UsageError("--whole-record works with --adapter frozen only")
    if whole_record and center_tokens:
        raise UsageError("--whole-record and --center-tokens exclude each other (central tokens are a window's)")
    reads = HeadReads(center_tokens, center_at, both_strands, whole_record)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", task):
        raise UsageError(f"task name {task!r}: use letters, digits, '.', '_' and '-'")
    torch_device = _setup(device, threads, seed, batch)
    began = time.monotonic()
    data = head_training_data(train_files, valid_files=valid_files, valid_fraction=valid_fraction,
                              exclude_files=exclude_files, labels_tsv=labels_tsv, max_train_rows=max_train_rows,
                              seed=seed)
    rows, valid_rows, labels = data.rows, data.valid_rows, data.labels
    if class_names is None:
        class_names = labels
    if len(class_names) != len(labels):
        raise UsageError(f"--class-names gives {len(class_names)} names for {len(labels)} labels ({', '.join(labels)})")
    if len(labels) < 2:
        raise VqdnaError("fine-tuning needs at least two classes in the training data")
    index_of = {label: i for i, label in enumerate(labels)}

    model, info = load_model(model_dir)
    runner = Runner(model.to(torch_device).eval(), info, torch_device, Path(model_dir))
    train_labels = np.array([index_of[y] for _, y in rows])
    valid_labels = np.array([index_of[y] for _, y in valid_rows])
    work = Path(work_dir) if work_dir else Path(output_dir or model_dir) / "heads" / f".{task}.work"
    if adapter == "frozen":
        from vqdna_cli.runner import window_vectors
        from vqdna_cli.train.head import fit_frozen_head

        train_set = window_vectors(runner, [s for s, _ in rows], train_labels, reads)
        valid_set = window_vectors(runner, [s for s, _ in valid_rows], valid_labels, reads)
        state, metrics = fit_frozen_head(train_set, valid_set, len(labels), epochs=epochs, batch=batch, lr=lr,
                                         dropout=dropout, seed=seed, device=torch_device, work=work, resume=resume,
                                         quiet=quiet, max_minutes=max_minutes)
    else:
        from vqdna_cli.data.alphabet import encode

        def tokens_of(pairs):
            return runner.tokens_of([encode(s) for s, _ in pairs], 65536)

        train_tokens, valid_tokens = tokens_of(rows), tokens_of(valid_rows)
        task_model = TaskModel(model, len(labels), lora_rank, lora_alpha, adapter).to(torch_device)
        settings = head_loop_settings(epochs, len(rows), batch, lr, work, resume=resume, quiet=quiet,
                                      max_minutes=max_minutes)
        state, metrics = run_stage(task_model, train_tokens, train_labels, valid_tokens, valid_labels, settings,
                                   batch=batch, seed=seed, device=torch_device)
    frozen_only = {"dropout": dropout} if adapter == "frozen" else {}
    record = provenance("finetune", data.record, {"epochs": epochs, "batch": batch, "lr": lr, "adapter": adapter, "lora_rank": lora_rank,
                                           "lora_alpha": lora_alpha, "center_tokens": center_tokens, "center_at": center_at,
                                           "both_strands": both_strands, "whole_record": whole_record,
                                           "max_train_rows": max_train_rows, "seed": seed, **frozen_only},
                        metrics, (time.monotonic() - began) / 60, str(torch_device))
    _save_on_main(save_head, Path(output_dir or model_dir), task, state, {
        "description": description, "labels": labels, "class_names": list(class_names),
        "adapter": adapter, "lora_rank": lora_rank, "lora_alpha": lora_alpha,
        **reads.as_info(),
        "train_window_lengths": training_window_lengths((len(sequence) for sequence, _ in rows),
                                                        None if whole_record else runner.window),
        "model_sha256": info["sha256"]["model.safetensors"],
        "validation": metrics, "provenance": record,
    })
    return metrics


def evaluate(model_dir: Path | None, task: str, test_files: list[str], *, labels_tsv: str | None = None,
             record: bool = False, batch_tokens: int = 16384, device: str = "auto", threads: int | None = None,
             seed: int = 0) -> dict:
    """Score a finished head on a labelled test set; `record` stores the score in head.json
    (shown by `classify --list-tasks`). Nothing here feeds back into training or selection."""
    import datetime

    import numpy as np

    from vqdna_cli.checkpoint import record_head_test
    from vqdna_cli.head_features import head_features, head_inputs
    from vqdna_cli.io.records import SequenceRecord
    from vqdna_cli.metrics import classification_metrics
    from vqdna_cli.runner import embed_records

    runner = _runner(model_dir, device, threads, seed)
    head, info = runner.attach_head(task)
    test = _read_labelled(test_files, labels_tsv)
    index_of = {label: i for i, label in enumerate(info.labels)}
    unknown = set(test.labels) - set(index_of)
    if unknown:
        raise VqdnaError(f"{test.source} has labels the head does not know: {', '.join(sorted(unknown))}")
    records = (SequenceRecord(f"row{i}", s, f"row{i}") for i, s in enumerate(test.sequences))
    began = time.monotonic()
    # Scored exactly as `classify` writes its TSV: a longer sequence gets the mean of its
    # windows' probabilities.
    predicted = [int(_window_probabilities(head, head_features(info, result), runner.device).mean(0).argmax())
                 for result in embed_records(runner, records, batch_tokens=batch_tokens, stride=None,
                                             per_token=False, **head_inputs(info))]
    seconds = time.monotonic() - began
    metrics = classification_metrics(np.array([index_of[y] for y in test.labels]), np.array(predicted), len(index_of))
    metrics.update({"test_files": test_files, "seconds": round(seconds, 1),
                    "bases_per_second": round(sum(map(len, test.sequences)) / max(seconds, 1e-9)),
                    "evaluated_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
    if record:
        record_head_test(runner.model_dir, task, metrics)
    return metrics


# --- mutations --------------------------------------------------------------------------------


def mutations(inputs: list[str], output_dir: Path, *, reference: Path, annotation: Path | None = None,
              labels: Path | None = None, label_column: str | None = None, vcf: bool = False, plot: bool = True,
              min_depth: int = 10, min_af: float = 0.2, min_baseq: int = 20, model_dir: Path | None = None,
              batch_tokens: int = 16384, device: str = "auto", threads: int | None = None, seed: int = 0,
              force: bool = False, precision: str = "fp32", vcf_gz: bool = False, progress=NO_PROGRESS) -> dict:
    """Variants of genomes (FASTA), reads (BAM/CRAM) or VCFs against `reference`, and what
    each does to the HRQ tokens, into `output_dir` (see `vqdna_cli.mutations`). Returns
    counts, the lineage scores, and `notices` (e.g. a plot skipped) for the caller to show.
    `vcf` adds variants.vcf; `vcf_gz` variants.vcf.gz (bgzip) and its tabix index instead."""
    from vqdna_cli.mutations.pileup import ReadFilters
    from vqdna_cli.mutations.pipeline import run

    if min_depth < 1 or not 0 < min_af <= 1 or min_baseq < 0:
        raise UsageError("--min-depth must be >= 1, --min-af in (0, 1] and --min-baseq >= 0")
    return run(inputs, Path(output_dir), reference=Path(reference), annotation=annotation, labels=labels,
               label_column=label_column, vcf=vcf, plot=plot,
               filters=ReadFilters(min_depth=min_depth, min_af=min_af, min_baseq=min_baseq),
               runner_factory=lambda: _runner(model_dir, device, threads, seed, precision),
               batch_tokens=batch_tokens, force=force, progress=progress, vcf_gz=vcf_gz)
