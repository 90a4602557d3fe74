"""`vqdna tokenize`: HRQ token IDs of every record into one `.npz`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from vqdna_cli.cli import options


def command(
    source: options.InputPath,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .npz (token IDs per level, offsets, IDs, coordinates, metadata).")],
    model: options.Model = None,
    region: options.Region = None,
    bed: options.Bed = None,
    mapped_only: options.MappedOnly = False,
    reference: options.Reference = None,
    batch_tokens: options.BatchTokens = 32768,
    compress: Annotated[bool, typer.Option("--compress/--no-compress", help="zip-compress the .npz (smaller, a little slower).")] = True,
    device: options.Device = "auto",
    threads: options.Threads = None,
    seed: options.Seed = 0,
    force: options.Force = False,
    quiet: options.Quiet = False,
) -> None:
    """Tokenize DNA with the learned HRQ vocabulary: one token per base and level.

    Example: vqdna tokenize genome.fa.gz -o tokens.npz
    """
    from vqdna_cli import api
    from vqdna_cli.cli.progress import bases_progress, report

    began = time.monotonic()
    with bases_progress("tokenizing", quiet, api.input_bases(source, region, bed)) as progress:
        summary = api.tokenize(source, output, model_dir=model, region=region, bed=bed, mapped_only=mapped_only,
                               reference=reference, batch_tokens=batch_tokens, device=device, threads=threads,
                               seed=seed, force=force, compress=compress, progress=progress)
    seconds = time.monotonic() - began
    report(f"tokenized {summary['records']:,} records, {summary['bases']:,} bp in {seconds:.1f} s -> {output}", quiet)
