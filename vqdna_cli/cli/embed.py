"""`vqdna embed`: Transformer embeddings per sequence, per window, or per token."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from vqdna_cli.cli import options
from vqdna_cli.options import EmbedOptions

Stride = Annotated[Optional[int], typer.Option("--stride", metavar="N", help="Bases between window starts for sequences longer than the model window, 1 to the window (512 for the shipped model; default: the window; a last window ends at the sequence's end, overlapping the one before).", show_default=False)]
ReverseComplement = Annotated[bool, typer.Option("--rc", help="Read both strands: each window's embeddings are averaged with those of its reverse complement (classify: before the head, as heads trained with --both-strands read them; not an average of two answers).")]
Pool = Annotated[str, typer.Option("--pool", metavar="window|record", help="window: one vector per window of a long sequence; record: one per sequence, its windows' vectors averaged weighted by their lengths (with --pooling max, their maximum).")]
Layer = Annotated[Optional[str], typer.Option("--layer", metavar="N|all", help="Transformer layer whose vectors to write: 0 (the input of the first block) to the last (-1, the default); all: every layer, as layer_embeddings.", show_default=False)]
Pooling = Annotated[str, typer.Option("--pooling", metavar="mean|max", help="How a window's token vectors become one: mean or max.")]


@options.expand
def command(
    source: options.InputPath,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .npz (embeddings, windows, IDs, coordinates, metadata).")],
    model: options.Model = None,
    per_token: Annotated[bool, typer.Option("--per-token", help="Also write one vector per token (base).")] = False,
    rc: ReverseComplement = False,
    stride: Stride = None,
    pool: Pool = "window",
    layer: Layer = None,
    pooling: Pooling = "mean",
    given: options.Given = options.shared(*options.INPUT, *options.RUN, *options.OUTPUT),
) -> None:
    """Embed DNA: one mean-pooled vector per sequence, or per window of a long sequence.

    Example: zcat reads.fa.gz | vqdna embed - -o emb.npz
    """
    from vqdna_cli import api
    from vqdna_cli.cli.progress import bases_progress, counted, destination, report

    inputs = given.inputs(source)
    wanted = EmbedOptions(per_token=per_token, reverse_complement=rc, stride=stride, pool=pool, layer=layer,
                          pooling=pooling)
    began = time.monotonic()
    with bases_progress("embedding", given.quiet, api.input_bases(inputs)) as progress:
        summary = api.embed(inputs, output, given.run(model), wanted, force=given.force, progress=progress)
    seconds = time.monotonic() - began
    report(f"embedded {counted(summary['records'], 'record')} ({counted(summary['windows'], 'window')}) in {seconds:.1f} s -> {destination(output)}",
           given.quiet)
