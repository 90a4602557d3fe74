"""Options shared by several subcommands, declared once, and the groups they come in."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from vqdna_cli.options import DEFAULT_BATCH_TOKENS, MAX_SEED, MAX_THREADS, MIN_BATCH_TOKENS, InputSpec, RunOptions

Model = Annotated[Optional[Path], typer.Option("--model", "-m", help="Weights directory (default: the shipped weights, or $VQDNA_WEIGHTS).", show_default=False)]
Device = Annotated[str, typer.Option("--device", metavar="auto|cpu|cuda", help="auto (a GPU when there is one), cpu or cuda.")]
Threads = Annotated[Optional[int], typer.Option("--threads", "-t", "-@", metavar="N", min=1, max=MAX_THREADS, help="CPU threads for PyTorch (default: PyTorch's choice); -@ as in samtools.", show_default=False)]
Seed = Annotated[int, typer.Option("--seed", metavar="N", min=0, max=MAX_SEED, help="Random seed; the same seed, input and options give the same output (for training: also the same --threads and number of processes).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or messages on stderr.")]
Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output file.")]
Region = Annotated[Optional[str], typer.Option("--region", "-r", metavar="CHR:START-END", help="Only chr:start-end (1-based, inclusive, as samtools) of an indexed FASTA or BAM; '*' for the unmapped reads of a BAM that have no position (as samtools).", show_default=False)]
Bed = Annotated[Optional[Path], typer.Option("--bed", help="Only the regions of a BED file (0-based, half-open) of an indexed FASTA or BAM; with --region, that region and then these (both read, not their overlap). Its strand column is not read: every region is read on the forward strand, as bedtools getfasta without -s (embed and classify take --rc for both).", show_default=False)]
MappedOnly = Annotated[bool, typer.Option("--mapped-only", help="BAM/SAM/CRAM: skip unmapped reads.")]
Reference = Annotated[Optional[Path], typer.Option("--reference", help="CRAM: the reference FASTA it was compressed against.", show_default=False)]
BatchTokens = Annotated[int, typer.Option("--batch-tokens", metavar="N", min=MIN_BATCH_TOKENS, help="Bases per batch: memory against speed. Tokens never depend on it; embeddings and probabilities can differ in their last float digits (padding changes the order of sums), so keep it fixed where outputs are compared byte for byte.")]
InputPath = Annotated[str, typer.Argument(metavar="INPUT", help="FASTA or FASTQ (plain, gzip, BGZF), BAM/SAM/CRAM, or - for stdin (a CRAM there needs --reference).", show_default=False)]
Precision = Annotated[str, typer.Option("--precision", metavar="fp32|bf16", help="Transformer arithmetic on the CPU: fp32, or bf16 (faster on CPUs with AVX512-BF16 or AMX, slower on others; results differ slightly). A GPU uses bf16 where it supports it, fp32 otherwise.")]

# --- option groups: declared once, spelled out in each command's signature by `expand` -------------

INPUT = ("region", "bed", "mapped_only", "reference")  # -> options.InputSpec
RUN = ("batch_tokens", "device", "precision", "threads", "seed")  # -> options.RunOptions (with --model)
OUTPUT = ("force", "quiet")

PARAMETERS = {  # name -> (Typer annotation, default)
    "region": (Region, None), "bed": (Bed, None), "mapped_only": (MappedOnly, False), "reference": (Reference, None),
    "batch_tokens": (BatchTokens, DEFAULT_BATCH_TOKENS), "device": (Device, "auto"), "precision": (Precision, "fp32"),
    "threads": (Threads, None), "seed": (Seed, 0), "force": (Force, False), "quiet": (Quiet, False),
}


class Shared:
    """A placeholder in a command's signature for a group of options declared elsewhere:
    `expand` puts their parameters in its place and hands the command their values as one
    `Given`. `parameters`: name -> (annotation, default), in the order `--help` shows them."""

    def __init__(self, parameters: dict[str, tuple]):
        self.parameters = parameters


def shared(*names: str, **defaults) -> Shared:
    """The options `names` of `PARAMETERS`, some with a command's own `defaults`."""
    return Shared({name: (PARAMETERS[name][0], defaults.get(name, PARAMETERS[name][1])) for name in names})


@dataclass(frozen=True)
class Given:
    """The values of one or more `Shared` groups (`first | second`), and the option objects
    the API takes, built from them."""

    values: dict

    def __or__(self, other: "Given") -> "Given":
        return Given({**self.values, **other.values})

    def __getattr__(self, name: str):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def inputs(self, source: str | None) -> InputSpec:
        return InputSpec(source, **{name: self.values[name] for name in INPUT if name in self.values})

    def run(self, model: Path | None) -> RunOptions:
        return RunOptions(model, **{name: self.values[name] for name in RUN if name in self.values})


def expand(command):
    """`command` with each `Shared` placeholder of its signature replaced by the options it
    stands for (what Typer reads), called with their values gathered into a `Given`."""
    signature = inspect.signature(command, eval_str=True)
    groups: dict[str, tuple[str, ...]] = {}
    parameters = []
    for parameter in signature.parameters.values():
        if not isinstance(parameter.default, Shared):
            parameters.append(parameter)
            continue
        groups[parameter.name] = tuple(parameter.default.parameters)
        parameters.extend(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                                            annotation=annotation)
                          for name, (annotation, default) in parameter.default.parameters.items())

    @functools.wraps(command)
    def with_groups(**values):
        for group, names in groups.items():
            values[group] = Given({name: values.pop(name) for name in names})
        return command(**values)

    with_groups.__signature__ = signature.replace(parameters=parameters)
    with_groups.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_groups
