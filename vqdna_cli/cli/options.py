"""Options shared by several subcommands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Model = Annotated[Optional[Path], typer.Option("--model", "-m", help="Weights directory (default: the shipped weights, or $VQDNA_WEIGHTS).", show_default=False)]
Device = Annotated[str, typer.Option("--device", help="auto (a GPU when there is one), cpu or cuda.")]
Threads = Annotated[Optional[int], typer.Option("--threads", "-t", "-@", min=1, help="CPU threads for PyTorch (default: PyTorch's choice); -@ as in samtools.", show_default=False)]
Seed = Annotated[int, typer.Option("--seed", help="Random seed; the same seed and input give the same output.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or messages on stderr.")]
Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output file.")]
Region = Annotated[Optional[str], typer.Option("--region", "-r", help="Only chr:start-end (1-based, inclusive, as samtools) of an indexed FASTA or BAM.", show_default=False)]
Bed = Annotated[Optional[Path], typer.Option("--bed", help="Only the regions of a BED file (0-based, half-open) of an indexed FASTA or BAM.", show_default=False)]
MappedOnly = Annotated[bool, typer.Option("--mapped-only", help="BAM/SAM/CRAM: skip unmapped reads.")]
Reference = Annotated[Optional[Path], typer.Option("--reference", help="CRAM: the reference FASTA it was compressed against.", show_default=False)]
BatchTokens = Annotated[int, typer.Option("--batch-tokens", min=256, help="Bases per batch: memory against speed.")]
InputPath = Annotated[str, typer.Argument(help="FASTA or FASTQ (plain, gzip, BGZF), BAM/SAM/CRAM, or - for stdin (any of these but CRAM).", show_default=False)]
Precision = Annotated[str, typer.Option("--precision", help="Transformer arithmetic on the CPU: fp32, or bf16 (about 1.6x faster on CPUs with AVX512-BF16 or AMX, slower on others; results differ by ~1e-3). A GPU always uses bf16.")]
