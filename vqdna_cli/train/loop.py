"""The training loop all three stages share: AdamW with warm-up and cosine decay,
periodic validation, checkpoints for `--resume`, a progress bar on stderr and a JSONL log.

Under torchrun every process runs this loop on its part of each batch (DDP averages the
gradients); rank 0 alone shows progress and writes the log and checkpoints. A checkpoint
holds global state only (step, model, optimizer, random generator), so `--resume` works
with any number of processes. It also records what the run's weights depend on
(`LoopSettings.run_record`), and `--resume` refuses a run that differs in it
(`checkpoint.check_resume`)."""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from vqdna_cli import distributed
from vqdna_cli.checkpoint import (RUN_KEY, as_recorded, check_resume, load_training_state, resume_mismatch,
                                  save_training_state)
from vqdna_cli.errors import TrainingError
from vqdna_cli.heartbeat import PLAIN_EVERY_S, PREFIX, clock, draws_a_bar, stderr_console
from vqdna_cli.io.writers import atomic_file
from vqdna_cli.train.provenance import this_part

CHECKPOINT = "checkpoint"  # checkpoint.safetensors + checkpoint.json in the output directory
LOG = "train_log.jsonl"
MINUTES_KEY = "minutes"  # in a checkpoint's JSON: the run's minutes so far, all its parts together
PARTS_KEY = "parts"  # ... and each part's command and settings, the first run's and every --resume's
COMMANDS_KEY = "commands"  # ... each part's command only, in checkpoints written before parts were


@dataclass(frozen=True)
class LoopSettings:
    steps: int
    lr: float
    out_dir: Path
    warmup: int = 100
    weight_decay: float = 0.01
    eval_every: int = 200
    checkpoint_every: int = 200
    checkpoint_minutes: float | None = None  # also checkpoint after this long since the last one
    resume: bool = False
    quiet: bool = False
    max_minutes: float | None = None  # stop early (with a checkpoint) after this long
    # What the weights depend on ({"--window": 64, ...}): written into every checkpoint, and a
    # --resume whose record differs is refused (`checkpoint.check_resume`).
    run_record: dict | None = None
    # time.monotonic() as it would read had the run begun without a stop (`run_began`): each
    # checkpoint records the minutes since, so that a run resumed later still counts the data
    # loading and the training of its earlier parts. None: when this loop began.
    run_began: float | None = None
    # This run's part (`provenance.this_part`) as its stage began, which the provenance then
    # finds as the checkpoint's last: a frozen head trains on one thread, and a part read in
    # the loop said threads 1 where the run had more. None: read when the loop begins.
    part: dict | None = None


@dataclass(frozen=True)
class LoopControl:
    """How a head's training run goes, apart from what it learns (`LoopSettings` has each
    field's meaning): resumed, silent, stopped after some minutes, and the record a later
    --resume is checked against. Built once by `vqdna train finetune` from its options."""

    resume: bool = False
    quiet: bool = True
    max_minutes: float | None = None
    run_record: dict | None = None
    run_began: float | None = None
    part: dict | None = None


def run_began(folders: list[Path], resume: bool) -> float:
    """`LoopSettings.run_began` for a run that starts now: with `resume`, less the minutes
    the checkpoints in `folders` record of the earlier parts (the latest of them: a head of
    several members checkpoints in a folder each). Read before the loop writes new ones."""
    earlier = 0.0
    for folder in folders if resume else ():
        path = Path(folder) / f"{CHECKPOINT}.json"
        try:
            earlier = max(earlier, float(json.loads(path.read_text()).get(MINUTES_KEY, 0.0)))
        except (OSError, ValueError, TypeError, AttributeError):
            continue  # no checkpoint there, or one from before runs recorded their minutes
    return time.monotonic() - 60 * earlier


def learning_rate(step: int, settings: LoopSettings) -> float:
    if step < settings.warmup:
        return settings.lr * (step + 1) / settings.warmup
    progress = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
    return settings.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def run(
    stage: str,
    model: torch.nn.Module,
    parameters: list[torch.nn.Parameter],
    train_step: Callable[[int], tuple[torch.Tensor, dict]],
    evaluate: Callable[[], dict],
    settings: LoopSettings,
    no_decay: list[torch.nn.Parameter] = (),
) -> dict:
    """Runs `train_step` for the remaining steps; returns the last validation metrics.

    `train_step(step)` returns the loss to minimise and scalar statistics to log;
    `evaluate(scheduled)` returns validation metrics (it must not touch test data);
    `scheduled` is False only at a --max-minutes stop between evaluation steps, whose score a
    stage keeping its best state must not keep for --resume: the resumed run then selects as
    the uninterrupted one would. Every process
    evaluates (the same data, so the same metrics): nobody idles at a barrier meanwhile.
    """
    out_dir = Path(settings.out_dir)
    if distributed.is_main():  # rank 0 alone writes into it
        out_dir.mkdir(parents=True, exist_ok=True)
    optimizer = torch.optim.AdamW(_decay_groups(parameters, no_decay), lr=settings.lr, weight_decay=settings.weight_decay)
    start = 0
    parts = [settings.part or this_part()]
    run_record = None if settings.run_record is None else as_recorded(settings.run_record)
    if settings.resume and (out_dir / f"{CHECKPOINT}.json").is_file():
        check_resume(out_dir / CHECKPOINT, run_record, settings.steps, by_epochs=stage == "finetune")
        state, meta = load_training_state(out_dir / CHECKPOINT, optimizer)
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise resume_mismatch(out_dir / CHECKPOINT, error) from None
        start = meta["step"]
        parts = [*_parts_in(meta), *parts]
        if distributed.is_main():
            _forget_logged_after(out_dir / LOG, stage, start)
        if RUN_KEY not in meta:
            run_record = None  # a checkpoint from before runs were recorded: what its run was stays unknown
    main = distributed.is_main()
    train_step = distributed.data_parallel(model, parameters, train_step)
    began = last_checkpoint = time.monotonic()
    run_began = began if settings.run_began is None else settings.run_began
    metrics: dict = {}
    progress = _progress(stage, settings.quiet or not main)
    saved = [start]  # the step of the latest checkpoint: the one resumed from, then each one written
    # the log is closed however the loop ends (an error, Ctrl-C), not only when it finishes
    with (open(out_dir / LOG, "a") if main else nullcontext()) as log, progress, \
            _resume_hint(progress.console, stage, out_dir, saved):
        task = progress.add_task(stage, total=settings.steps, completed=start, status="")
        heartbeat = _Heartbeat(progress.console, stage, start, settings.steps)
        for step in range(start, settings.steps):
            model.train()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, settings)
            loss, stats = train_step(step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            done = step + 1
            # Each process's loss and statistics are its share of the batch mean (see
            # distributed.part_of): their average over processes is the global value.
            shown = distributed.mean_over_processes({"loss": loss.item(), **stats})
            if not math.isfinite(shown["loss"]):  # NaN weights from here on: stop before any are saved
                again = "" if stage == "finetune" else " (--force)"  # a head's folder is written only at the end
                raise TrainingError(f"{stage}: the loss is {shown['loss']} at step {done}: training diverged and no "
                                    f"weights were written; start again{again} with a lower --lr than "
                                    f"{settings.lr:g}")
            progress.update(task, advance=1, status=f"loss {shown['loss']:.3f}")
            heartbeat.tick(done, shown["loss"])
            out_of_time = settings.max_minutes is not None and distributed.from_main(
                (time.monotonic() - began) / 60 > settings.max_minutes)
            scheduled = done % settings.eval_every == 0 or done == settings.steps
            if scheduled or out_of_time:
                model.eval()
                with torch.no_grad():
                    metrics = evaluate(scheduled)
                record = {"stage": stage, "step": done, **shown, **metrics,
                          "minutes": round((time.monotonic() - run_began) / 60, 2)}
                if main:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                progress.console.print(_summary(record), soft_wrap=True)  # a log line each, unfolded
            checkpoint_due = settings.checkpoint_minutes is not None and distributed.from_main(
                (time.monotonic() - last_checkpoint) / 60 > settings.checkpoint_minutes)
            if done % settings.checkpoint_every == 0 or done == settings.steps or out_of_time or checkpoint_due:
                last_checkpoint = time.monotonic()
                if main:
                    meta = {"stage": stage, "step": done, MINUTES_KEY: round((time.monotonic() - run_began) / 60, 4),
                            PARTS_KEY: parts, **({RUN_KEY: run_record} if run_record is not None else {})}
                    save_training_state(out_dir / CHECKPOINT, model.state_dict(), optimizer, meta)
                saved[0] = done
                distributed.barrier()  # nobody runs ahead of (or exits before) a checkpoint being written
            if out_of_time:
                progress.console.print(f"{PREFIX}{stage}: time limit reached at step {done}; continue with --resume",
                                       soft_wrap=True)
                break
    if settings.steps <= start:  # resumed at its last checkpoint (its weights not yet written): scored again
        model.eval()
        with torch.no_grad():
            metrics = evaluate(True)
    return {**metrics, "steps": done if settings.steps > start else start}


def _forget_logged_after(log: Path, stage: str, step: int) -> None:
    """The log lines of `stage` past the checkpoint resumed from: a run stopped after logging
    a step but before its next checkpoint logs those steps again, so they go (with a line
    cut short by the stop)."""
    if not log.is_file():
        return
    lines = log.read_text().splitlines(keepends=True)

    def kept(line: str) -> bool:
        try:
            record = json.loads(line)
        except ValueError:
            return False
        return not (isinstance(record, dict) and record.get("stage") == stage
                    and isinstance(record.get("step"), int) and record["step"] > step)

    left = [line for line in lines if line.endswith("\n") and kept(line)]
    if left != lines:
        with atomic_file(log, "w") as handle:
            handle.writelines(left)


def recorded_parts(folder: Path) -> list[dict]:
    """Every part of the run whose last checkpoint is in `folder` (provenance.this_part;
    empty for a checkpoint written before they were recorded)."""
    try:
        meta = json.loads((Path(folder) / f"{CHECKPOINT}.json").read_text())
    except (OSError, ValueError):
        return []
    return _parts_in(meta) if isinstance(meta, dict) else []


def _parts_in(meta: dict) -> list[dict]:
    """A checkpoint's parts; one written before their settings were recorded gives each
    part's command alone."""
    parts = meta.get(PARTS_KEY)
    if isinstance(parts, list):
        return [part for part in parts if isinstance(part, dict) and isinstance(part.get("command"), str)]
    commands = meta.get(COMMANDS_KEY)
    return [{"command": command} for command in commands if isinstance(command, str)] \
        if isinstance(commands, list) else []


@contextmanager
def _resume_hint(console, stage: str, out_dir: Path, saved: list[int]):
    """Ctrl-C, SIGTERM or SIGHUP: say which step --resume continues from (the CLI then
    says why it stopped and exits 130, 143 or 129)."""
    try:
        yield
    except KeyboardInterrupt:
        if saved[0]:
            console.print(f"{PREFIX}{stage}: stopped; the checkpoint of step {saved[0]} is in {out_dir}: continue with --resume",
                          soft_wrap=True)  # one line, however long the path
        raise


def _decay_groups(parameters: list[torch.nn.Parameter], no_decay) -> list[dict]:
    """AdamW parameter groups: weight decay off for `no_decay` (norms, biases, positions)."""
    exempt = {id(p) for p in no_decay}
    groups = [{"params": [p for p in parameters if id(p) not in exempt]},
              {"params": [p for p in parameters if id(p) in exempt], "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def _progress(stage: str, quiet: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = stderr_console(quiet=quiet, markup=False)  # printed lines are plain text
    # Off a terminal (a cluster or workflow log) no bar is drawn, not even its last frame at
    # the end: _Heartbeat prints plain lines there instead.
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
        console=console, transient=False, disable=not draws_a_bar(console),
    )


class _Heartbeat:
    """Off a terminal (a cluster or workflow log) rich draws no bar, so a run would print
    nothing between validations: a plain line every PLAIN_EVERY_S seconds instead."""

    def __init__(self, console, stage: str, start: int, total: int):
        self.console, self.stage, self.start, self.total = console, stage, start, total
        self.on = not draws_a_bar(console) and not console.quiet
        self.began = self.last = time.monotonic()

    def tick(self, done: int, loss: float) -> None:
        now = time.monotonic()
        if not self.on or now - self.last < PLAIN_EVERY_S:
            return
        self.last = now
        left = (self.total - done) * (now - self.began) / max(done - self.start, 1)
        self.console.print(f"{PREFIX}{self.stage}: step {done} of {self.total}, loss {loss:.3f}, "
                           f"{clock(now - self.began)} elapsed, about {clock(left)} left", soft_wrap=True)


def _summary(record: dict) -> str:
    parts = [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k != "stage"]
    return f"{PREFIX}{record['stage']}: " + ", ".join(parts)
