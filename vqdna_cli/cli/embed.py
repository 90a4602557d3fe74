"""`vqdna embed`: Transformer embeddings per sequence, per window, or per token."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from vqdna_cli.cli import options

Stride = Annotated[Optional[int], typer.Option("--stride", min=1, help="Tokens between window starts for sequences longer than the model window (default: the window, no overlap).", show_default=False)]
ReverseComplement = Annotated[bool, typer.Option("--rc", help="Average the forward and reverse-complement strands.")]
Pool = Annotated[str, typer.Option("--pool", help="window: one vector per window of a long sequence; record: one per sequence, its windows' vectors averaged weighted by their lengths (with --pooling max, their maximum).")]
Layer = Annotated[Optional[str], typer.Option("--layer", metavar="N|all", help="Transformer layer whose vectors to write: 0 (the input of the first block) to the last (-1, the default); all: every layer, as layer_embeddings.", show_default=False)]
Pooling = Annotated[str, typer.Option("--pooling", help="How a window's token vectors become one: mean or max.")]


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
    """Embed DNA: one mean-pooled vector per sequence, or per window of a long sequence.

    Example: zcat reads.fa.gz | vqdna embed - -o emb.npz
    """
    from vqdna_cli import api
    from vqdna_cli.cli.progress import bases_progress, report

    began = time.monotonic()
    with bases_progress("embedding", quiet, api.input_bases(source, region, bed)) as progress:
        summary = api.embed(source, output, model_dir=model, region=region, bed=bed, mapped_only=mapped_only,
                            reference=reference, per_token=per_token, reverse_complement=rc, stride=stride,
                            batch_tokens=batch_tokens, device=device, threads=threads, seed=seed, force=force, precision=precision,
                            pool=pool, layer=layer, pooling=pooling, progress=progress)
    seconds = time.monotonic() - began
    report(f"embedded {summary['records']:,} records ({summary['windows']:,} windows) in {seconds:.1f} s -> {output}", quiet)
