"""`embed`: one pooled embedding per record (or per window of a long record) into one `.npz`."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from vqdna_cli.api._common import NO_PROGRESS, check_stride, keeps_global_state, load_runner, open_records
from vqdna_cli.errors import UsageError
from vqdna_cli.options import EmbedOptions, InputSpec, RunOptions, expect, expect_callable, expect_input


@keeps_global_state
def embed(inputs: InputSpec, output: Path, run: RunOptions = RunOptions(), options: EmbedOptions = EmbedOptions(),
          *, force: bool = False, progress=NO_PROGRESS) -> dict:
    """Read `inputs`, embed every record, write `io.embeddings_npz.EmbeddingsNpz` to `output`.

    `options.pool` "record" writes one row per record (its windows' vectors averaged,
    weighted by their lengths; with `pooling` "max", their maximum); `layer` N takes the
    vectors of Transformer layer N (0 the input of the first block, -1 the last, as esm's
    `--repr_layers`), "all" adds every layer's as `layer_embeddings`; `pooling` "max" pools a
    window's tokens by their maximum. The defaults write exactly what they always did."""
    from vqdna_cli.head_features import RecordPool
    from vqdna_cli.io.embeddings_npz import EmbeddingsNpz
    from vqdna_cli.io.writers import check_output
    from vqdna_cli.runner import PART_BASES, embed_records
    from vqdna_cli.window_request import WindowRequest

    expect_input("inputs", inputs), expect("run", run, RunOptions), expect("options", options, EmbedOptions)
    expect("output", output, (str, PathLike)), expect("force", force, bool), expect_callable("progress", progress)

    check_output(output, force, inputs.paths, binary=True)
    runner = load_runner(run)
    check_stride(options.stride, runner.window)
    layers = _layers(options.layer, runner.layers)
    whole = options.pool == "record"
    windows_read = 0
    request = WindowRequest(stride=options.stride, per_token=options.per_token,
                            reverse_complement=options.reverse_complement, layers=layers, pooling=options.pooling)
    # A chromosome comes a part at a time, except with --per-token, whose vectors (about a
    # kilobyte per base) are the record's whole anyway.
    part_bases = None if options.per_token else PART_BASES
    with EmbeddingsNpz(runner.model.cfg.transformer.width, layers, str(options.layer) == "all", options.per_token,
                       output) as table:
        pool = None  # --pool record: the record being pooled, and its windows so far
        for result in embed_records(runner, open_records(inputs), request, batch_tokens=run.tokens_per_batch(),
                                    on_bases=progress, part_bases=part_bases):
            windows_read += len(result.windows)
            if not whole:
                table.add(result.record, result.pooled, result.windows,
                          result.per_token if options.per_token else None, continued=result.continued)
                continue
            # One row per record covers the whole record: the schema's window arrays stay true.
            if not result.continued:  # a new record: the one before is whole
                if pool is not None:
                    _add_record_row(table, *pool)
                pool = (result.record, RecordPool(options.pooling), result.per_token)
            pool[1].add(result.windows, result.pooled)
        if pool is not None:
            _add_record_row(table, *pool)
        table.write(output, {**runner.describe(batch_tokens=run.tokens_per_batch()), **inputs.describe(),
                             "windows": windows_read,
                             "window": runner.window, "stride": options.stride or runner.window,
                             "pooling": f"{options.pooling} over the window's tokens",
                             "reverse_complement": options.reverse_complement, "per_token": options.per_token,
                             **_embedding_options(options, layers, runner.layers)})
        return {"records": table.records, "windows": windows_read}


def _add_record_row(table, record, pool, per_token) -> None:
    """--pool record: a record's one row, once all its windows are pooled."""
    table.add(record, [pool.vector()], [(0, len(record))], per_token)


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


def _embedding_options(options: EmbedOptions, layers, count: int) -> dict:
    """Metadata of the options beyond the defaults (a default run's file stays as it was)."""
    extra = {}
    if options.pool == "record":
        extra["pool"] = ("record: one row per record, its windows' vectors "
                         + ("maximum" if options.pooling == "max" else "averaged, weighted by their lengths"))
    if options.layer is not None:
        extra["layer"] = "all" if str(options.layer) == "all" else (layers[0] if layers else count)
        extra["layers"] = list(layers) if layers else [count]
        extra["transformer_layers"] = count
    return extra
