"""`vqdna train tokenizer|pretrain|finetune|evaluate`: the three training stages, and scoring a head on a test split."""

from __future__ import annotations

import re

from pathlib import Path
from typing import Annotated, Optional

import typer

from vqdna_cli.cli import options
from vqdna_cli.cli.command import OneValueEach
from vqdna_cli.cli.handling import one_line_errors, one_process
from vqdna_cli.options import (FROZEN_HEAD_DROPOUT, LORA_ALPHA, LORA_RANK, PRETRAIN_STAGE, TOKENIZER_STAGE, VALID_FRACTION,
                               FinetuneSettings, GenomeSet, HeadRows, StageSettings, TrainControl)

app = typer.Typer(help=(
    "Train the tokenizer, pre-train the Transformer, or fine-tune a task head.\n\n"
    # One paragraph per line: the terminal help keeps line breaks as written.
    "Each stage also runs on several processes under torchrun, one per GPU or several on the CPU "
    "(DistributedDataParallel: NCCL on GPUs, gloo on the CPU), e.g. "
    "torchrun --standalone --nproc-per-node 4 -m vqdna_cli train tokenizer genome.fa -o tok. "
    "--batch stays the global batch, split evenly over the processes, so they train on the windows one "
    "process with the same --batch would (dropout masks are drawn per process, so weights differ in detail); rank 0 alone shows progress and writes the log, checkpoints and weights; "
    "--resume works with another number of processes. Several machines: docs/training.md, "
    "\"Training on several processes or GPUs\"."
), no_args_is_help=True, rich_markup_mode=None)  # plain text, as the main app's help

Steps = Annotated[int, typer.Option("--steps", metavar="N", min=1, help="Optimizer steps.")]
LearningRate = Annotated[float, typer.Option("--lr", metavar="X", help="Peak learning rate (AdamW, warm-up then cosine decay).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint in the output directory.")]
ResumeHead = Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint in --work-dir (default heads/.TASK.work in the weights folder).")]
MaxMinutes = Annotated[Optional[float], typer.Option("--max-minutes", metavar="X", help="Stop (with a checkpoint) after this many minutes.", show_default=False)]
HoldoutFile = Annotated[Optional[list[str]], typer.Option("--holdout-file", metavar="NAME", help="FASTA file name (basename) never trained on: validation only. Repeatable. Without it or --holdout-tail, the heldout_* scores are of training sequence.", show_default=False)]
HoldoutTail = Annotated[Optional[list[str]], typer.Option("--holdout-tail", metavar="NAME:BASES", help="NAME:BASES: the last BASES of each record of file NAME are never trained on. Repeatable.", show_default=False)]
Output = Annotated[Path, typer.Option("--output", "-o", help="Weights directory to write (a folder that holds files needs --resume or --force).")]
Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite the weights in an existing output folder: training starts over (--resume continues instead).")]
ReplaceHead = Annotated[bool, typer.Option("--force", "-f", help="Replace a head of the same --task already in the weights folder (its recorded validation and test scores go with it); without --force such a run is refused, unless --resume continues that head's own unfinished run (not both).")]

# The option groups of the stages (see options.expand).
GENOMES_AND_CONTROL = options.Shared({"holdout_file": (HoldoutFile, None), "holdout_tail": (HoldoutTail, None),
                                      "resume": (Resume, False), "force": (Force, False), "max_minutes": (MaxMinutes, None)})
MACHINE = options.shared("device", "threads", "seed", "quiet")


def _genomes(fasta: list[str], given: options.Given) -> GenomeSet:
    return GenomeSet(tuple(fasta), tuple(given.holdout_file or ()), _parse_tails(given.holdout_tail))


def _control(given: options.Given, checkpoint_minutes: float | None = None) -> TrainControl:
    return TrainControl(resume=given.resume, force=given.force, max_minutes=given.max_minutes,
                        checkpoint_minutes=checkpoint_minutes, quiet=given.quiet)


def _parse_tails(values: list[str] | None) -> dict[str, int]:
    from vqdna_cli.errors import UsageError

    tails = {}
    for value in values or []:
        name, _, bases = value.rpartition(":")
        if not name or not re.fullmatch(r"[0-9]+", bases):
            raise UsageError(f"--holdout-tail {value!r}: expected FILE_NAME:BASES, e.g. chrX.fa.gz:5000000")
        if name in tails:  # the last one alone was kept: the bases the other asked for were trained on
            raise UsageError(f"--holdout-tail {name} is given twice ({tails[name]:,} and {int(bases):,} bases): give "
                             "it once")
        tails[name] = int(bases)
    return tails


@app.command("tokenizer", no_args_is_help=True, cls=OneValueEach)
@one_line_errors
@options.expand
def tokenizer_command(
    fasta: Annotated[list[str], typer.Argument(metavar="FASTA", help="FASTA files to learn the vocabulary from.")],
    output: Output,
    preset: Annotated[str, typer.Option("--preset", metavar="default|paper|vq|tiny", help="Model sizes: default, paper, vq or tiny.")] = "default",
    steps: Steps = TOKENIZER_STAGE.steps,
    lr: LearningRate = TOKENIZER_STAGE.lr,
    window: Annotated[int, typer.Option("--window", metavar="N", min=1, help="Bases per training window.")] = TOKENIZER_STAGE.window,
    batch: Annotated[int, typer.Option("--batch", metavar="N", min=1, help="Windows per step.")] = TOKENIZER_STAGE.batch,
    stage: options.Given = GENOMES_AND_CONTROL,
    machine: options.Given = MACHINE,
) -> None:
    """Stage 1: learn the HRQ vocabulary (a VQ-VAE over one-hot DNA) from genomes."""
    from vqdna_cli import api

    given = stage | machine
    api.train_tokenizer(_genomes(fasta, given), output, preset, StageSettings(steps, lr, window, batch),
                        _control(given), given.run(None))


@app.command("pretrain", no_args_is_help=True, cls=OneValueEach)
@one_line_errors
@options.expand
def pretrain_command(
    fasta: Annotated[list[str], typer.Argument(metavar="FASTA", help="FASTA files to pre-train on.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Weights directory with a trained tokenizer (stage 1).")],
    output: Output,
    steps: Steps = PRETRAIN_STAGE.steps,
    lr: LearningRate = PRETRAIN_STAGE.lr,
    window: Annotated[Optional[int], typer.Option("--window", metavar="N", min=1, help="Bases (= tokens) per training window; at most the model's max_tokens. Default: max_tokens (512 for the shipped model). A Transformer not yet pre-trained (a tokenizer's folder, or --transformer-preset) trained on shorter windows gets them as its window: the other commands then read windows of N bases.", show_default=False)] = PRETRAIN_STAGE.window,
    transformer_preset: Annotated[Optional[str], typer.Option("--transformer-preset", metavar="default|paper|vq|tiny", help="Start a fresh Transformer of this preset's size over the trained tokenizer (default: the size in --model's config).", show_default=False)] = None,
    batch: Annotated[int, typer.Option("--batch", metavar="N", min=1, help="Windows per step.")] = PRETRAIN_STAGE.batch,
    stage: options.Given = GENOMES_AND_CONTROL,
    masking: Annotated[Optional[str], typer.Option("--masking", metavar="input|tokens", help="With --transformer-preset: input (spans of bases hidden from the tokenizer, bases predicted; the default) or tokens (quantized vectors masked after tokenizing, codes predicted: the objective of the shipped weights).", show_default=False)] = None,
    checkpoint_minutes: Annotated[Optional[float], typer.Option("--checkpoint-minutes", metavar="X", help="Also write a checkpoint whenever this many minutes have passed since the last one (for short GPU loans).", show_default=False)] = None,
    machine: options.Given = MACHINE,
) -> None:
    """Stage 2: masked pre-training of the Transformer over the frozen tokenizer: spans of
    bases are hidden from the tokenizer (read as N) and predicted from their context."""
    from vqdna_cli import api

    given = stage | machine
    api.pretrain(_genomes(fasta, given), output, StageSettings(steps, lr, window, batch),
                 _control(given, checkpoint_minutes=checkpoint_minutes), given.run(model),
                 transformer_preset=transformer_preset, masking=masking)


@app.command("finetune", no_args_is_help=True, cls=OneValueEach)
@one_line_errors
@options.expand
def finetune_command(
    task: Annotated[str, typer.Option("--task", metavar="TASK", help="Name of the head to write (heads/<task> in the weights directory).")],
    train: Annotated[list[str], typer.Option("--train", metavar="FILE", help="Training data: `sequence,label` CSV (plain or gzip), or FASTA with --labels. Repeatable.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Pre-trained weights directory (stage 2).")],
    valid: Annotated[Optional[list[str]], typer.Option("--valid", metavar="FILE", help="Validation data for model selection. Repeatable. Default: --valid-fraction of --train.", show_default=False)] = None,
    valid_fraction: Annotated[Optional[float], typer.Option("--valid-fraction", metavar="X", help=f"Share of --train held out for model selection when --valid is not given. Default: {VALID_FRACTION}.", show_default=False)] = None,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", metavar="FILE", help="Data (e.g. the test split) whose sequences neither train nor select the head: removed from --train and --valid (on either strand, with --both-strands). Repeatable.", show_default=False)] = None,
    labels: Annotated[Optional[str], typer.Option("--labels", metavar="FILE", help="TSV `id<TAB>label` for the FASTA files among the training data (CSV files carry their labels).", show_default=False)] = None,
    class_names: Annotated[Optional[str], typer.Option("--class-names", metavar="NAMES", help="Comma-separated readable names for numeric labels, in label order (0,1,...).", show_default=False)] = None,
    description: Annotated[str, typer.Option("--description", metavar="TEXT", help="What the task is, shown by `classify --list-tasks`.")] = "",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Weights directory to write the head into: --model itself (the default) or a copy of it, as a head works only with its model.", show_default=False)] = None,
    epochs: Annotated[int, typer.Option("--epochs", metavar="N", min=1, help="Passes over the training rows.")] = 4,
    batch: Annotated[int, typer.Option("--batch", metavar="N", min=1, help="Training windows per step.")] = 32,
    lr: LearningRate = 1e-3,
    adapter: Annotated[str, typer.Option("--adapter", metavar="frozen|lora|full", help="lora: low-rank adapters on the frozen Transformer (small heads); full: train the whole Transformer (a head carries its copy); frozen: the MLP head alone on the frozen model's pooled vectors and code frequencies (fastest: the model runs once over the data).")] = "lora",
    center_tokens: Annotated[int, typer.Option("--center-tokens", metavar="N", min=0, help="With --adapter frozen: the head also reads the HRQ embeddings (the vectors the Transformer reads) of the N central tokens of each window (for sites at a fixed place in fixed-length inputs, such as splice junctions). 0: pooled vector and code frequencies only.")] = 0,
    center_at: Annotated[Optional[int], typer.Option("--center-at", metavar="N", min=0, help="With --center-tokens: centre those tokens on this base of each window (0-based; e.g. 232 for -17 of a TSS at base 249). Default: the window's middle.", show_default=False)] = None,
    both_strands: Annotated[bool, typer.Option("--both-strands", help="With --adapter frozen: the head reads features averaged over the forward and reverse-complement strands (for strand-symmetric signals such as TF binding); classify then always does so.")] = False,
    whole_record: Annotated[bool, typer.Option("--whole-record", help="With --adapter frozen: one feature vector per sequence (the code frequencies of the whole sequence and the mean of its windows' pooled vectors) instead of one per window, for sequences longer than the model window; classify then gives such a head one row per sequence.")] = False,
    all_layers: Annotated[bool, typer.Option("--all-layers", help="With --adapter frozen: the head reads the pooled vector of every Transformer layer (0, its input, to the last) side by side, instead of the last layer's alone.")] = False,
    segments: Annotated[int, typer.Option("--segments", metavar="N", min=0, help="With --adapter frozen: the head also reads the mean Transformer output of each of N equal parts of the window, in order (where in fixed-layout inputs the evidence lies, such as either side of a splice junction). 0: the whole window's mean only.")] = 0,
    dropout: Annotated[Optional[float], typer.Option("--dropout", metavar="X", min=0.0, max=0.99, help=f"With --adapter frozen: dropout on the head's input features and hidden layer. Default: {FROZEN_HEAD_DROPOUT}, which kept the shipped heads from overfitting their small training sets.", show_default=False)] = None,
    balance_classes: Annotated[bool, typer.Option("--balance-classes", help="With --adapter frozen: train the head to give odds as if every class were equally common in the training data, so that the share of each class there (say, many background windows per positive) does not become a prior that lowers its calls.")] = False,
    members: Annotated[int, typer.Option("--members", metavar="N", min=1, help="With --adapter frozen: train this many heads (seeds --seed, --seed + 1, ...) on the same rows and write one head that averages their logits: answers that move less from one seed to the next, for a head this many times larger and slower to train.")] = 1,
    max_train_rows: Annotated[Optional[int], typer.Option("--max-train-rows", metavar="N", min=1, help="Train on a seeded random subset of at most this many rows (a fixed budget per task).", show_default=False)] = None,
    lora_rank: Annotated[Optional[int], typer.Option("--lora-rank", metavar="N", min=1, help=f"With --adapter lora: the adapters' rank. Default: {LORA_RANK}.", show_default=False)] = None,
    lora_alpha: Annotated[Optional[float], typer.Option("--lora-alpha", metavar="X", help=f"With --adapter lora: the adapters' scale (alpha; their update is scaled by alpha/rank). Default: {LORA_ALPHA}.", show_default=False)] = None,
    work_dir: Annotated[Optional[Path], typer.Option("--work-dir", help="Checkpoints and the training log.", show_default=False)] = None,
    resume: ResumeHead = False,
    force: ReplaceHead = False,
    max_minutes: MaxMinutes = None,
    machine: options.Given = MACHINE,
) -> None:
    """Stage 3: a task head (an MLP over pooled vectors, with LoRA adapters, the whole Transformer or nothing else trained), selected by validation MCC."""
    from vqdna_cli import api

    settings = FinetuneSettings(
        task, adapter=adapter, epochs=epochs, batch=batch, lr=lr, lora_rank=lora_rank, lora_alpha=lora_alpha,
        dropout=dropout, balance_classes=balance_classes, members=members, center_tokens=center_tokens, center_at=center_at,
        both_strands=both_strands, whole_record=whole_record, all_layers=all_layers, segments=segments,
        class_names=tuple(name.strip() for name in class_names.split(",")) if class_names else None, description=description)
    rows = HeadRows(tuple(train), valid_files=tuple(valid or ()), valid_fraction=valid_fraction,
                    exclude_files=tuple(exclude or ()), labels_tsv=labels, max_train_rows=max_train_rows)
    control = TrainControl(resume=resume, force=force, max_minutes=max_minutes, quiet=machine.quiet)
    result = api.finetune(rows, settings, machine.run(model), control, output_dir=output, work_dir=work_dir)
    if result["head_dir"]:  # the main process, under torchrun
        _say_what_exclude_left_out(result["data"], machine.quiet)
        _say_where_the_head_is(task, output or model, machine.quiet)


def _say_what_exclude_left_out(data: dict, quiet: bool) -> None:
    """--exclude takes rows without an error (that is its use), but a user who sees how many
    knows what trained the head (a test split that overlaps the training file by half)."""
    from vqdna_cli.cli.progress import counted, report

    train, valid = data["dropped_in_exclude"], data["valid_dropped_in_exclude"]
    if train or valid:
        from_valid = f" and {counted(valid, 'row')} of --valid" if valid else ""
        report(f"--exclude left out {counted(train, 'training row')}{from_valid}; the head trained on "
               f"{counted(data['train_rows'], 'row')} and was selected on {counted(data['valid_rows'], 'row')}", quiet)


def _say_where_the_head_is(task: str, weights: Path, quiet: bool) -> None:
    """The last line of a fine-tuning run: where the head went and the command that uses it."""
    import shlex

    from vqdna_cli.cli.progress import report

    report(f"head {task} written to {weights / 'heads' / task}; use it with: "
           f"vqdna classify -m {shlex.quote(str(weights))} --task {shlex.quote(task)} SEQUENCES.fa", quiet)


@app.command("evaluate", no_args_is_help=True, cls=OneValueEach)
@one_line_errors
@one_process
@options.expand
def evaluate_command(
    task: Annotated[str, typer.Option("--task", metavar="TASK", help="The head to score.")],
    test: Annotated[list[str], typer.Option("--test", metavar="FILE", help="Labelled test data (CSV, or FASTA with --labels). Repeatable.")],
    model: options.Model = None,
    labels: Annotated[Optional[str], typer.Option("--labels", metavar="FILE", help="TSV `id<TAB>label` for the FASTA files among --test (CSV files carry their labels).", show_default=False)] = None,
    record: Annotated[bool, typer.Option("--record", help="Store the score in the head's head.json (shown by --list-tasks).")] = False,
    machine: options.Given = MACHINE,
) -> None:
    """Score a trained head on held-out test data (after training; never used to select)."""
    import json

    from vqdna_cli import api

    from vqdna_cli.cli.progress import counted, report

    metrics = api.evaluate(task, test, machine.run(model), labels_tsv=labels, record=record)
    # the score on stdout, the same bytes for the same head and test files; how long it
    # took on stderr (and, with --record, in head.json)
    timing = {key: metrics.pop(key) for key in RUN_TIMING}
    print(json.dumps(metrics, indent=2))
    report(f"scored head {task} on {counted(metrics['n'], 'row')} in {timing['seconds']} s "
           f"({timing['bases_per_second']:,} bp/s) with vqdna {metrics['vqdna_version']}, model "
           f"{metrics['model_hash']}", machine.quiet)


RUN_TIMING = ("seconds", "bases_per_second", "evaluated_utc")
