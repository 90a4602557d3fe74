"""`vqdna tokenize`: HRQ token IDs of every record into one `.npz`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from vqdna_cli.cli import options
from vqdna_cli.options import TOKENIZE_BATCH_TOKENS


@options.expand
def command(
    source: options.InputPath,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .npz (token IDs per level, offsets, IDs, coordinates, metadata).")],
    model: options.Model = None,
    reads: options.Given = options.shared(*options.INPUT, "batch_tokens", batch_tokens=TOKENIZE_BATCH_TOKENS),
    compress: Annotated[bool, typer.Option("--compress/--no-compress", help="zip-compress the .npz (smaller, a little slower).")] = True,
    running: options.Given = options.shared("device", "threads", "seed", *options.OUTPUT),
) -> None:
    """Tokenize DNA with the learned HRQ vocabulary: one token per base and level.

    Example: vqdna tokenize genome.fa.gz -o tokens.npz
    """
    from vqdna_cli import api
    from vqdna_cli.cli.progress import bases_progress, counted, destination, report

    given = reads | running
    inputs = given.inputs(source)
    began = time.monotonic()
    with bases_progress("tokenizing", given.quiet, api.input_bases(inputs)) as progress:
        summary = api.tokenize(inputs, output, given.run(model), compress=compress, force=given.force, progress=progress)
    seconds = time.monotonic() - began
    report(f"tokenized {counted(summary['records'], 'record')}, {summary['bases']:,} bp in {seconds:.1f} s -> {destination(output)}", given.quiet)
