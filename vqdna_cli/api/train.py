"""The training stages: the tokenizer, pre-training, a task head, and scoring a head."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import re
import shlex
import shutil
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from vqdna_cli.api._common import (keeps_global_state, load_runner, read_labelled, save_on_main, setup_training,
                                   warn_if_labels_unused, warn_if_never_pretrained, window_probabilities)
from vqdna_cli.errors import InputError, OutputError, UsageError, VqdnaWarning
from vqdna_cli.options import (PRETRAIN_STAGE, TOKENIZER_STAGE, FinetuneSettings, GenomeSet, HeadRows, RunOptions,
                               StageSettings, TrainControl, check_each_once, check_seed, expect, expect_path,
                               has_line_breaking_character, one_or_more)


def _loop_settings(stage: StageSettings, control: TrainControl, output: Path, run_record: dict, began: float,
                   part: dict):
    from vqdna_cli.train.loop import LoopSettings

    every = max(1, min(200, stage.steps))
    return LoopSettings(steps=stage.steps, lr=stage.lr, out_dir=Path(output), resume=control.resume,
                        quiet=control.quiet, max_minutes=control.max_minutes, eval_every=every,
                        checkpoint_every=every, checkpoint_minutes=control.checkpoint_minutes, run_record=run_record,
                        run_began=began, part=part)


def _genomes_record(genomes: GenomeSet) -> dict:
    """What a tokenizer's or pre-training's weights depend on of its inputs (for `_resumable`):
    the FASTA files by name, in order, and what of them is held out."""
    return {"FASTA inputs": [Path(path).name for path in genomes.fasta],
            "--holdout-file": list(genomes.holdout_files), "--holdout-tail": dict(genomes.holdout_tail)}


def _resumable(folder: Path, record: dict, control: TrainControl, steps: int | None = None) -> None:
    """Refuses --resume into the checkpoint in `folder` when `record` (the options and inputs
    this run's weights depend on) differs from the first run's, or when the checkpoint is past
    `steps` (`checkpoint.check_resume`), or when with `steps` (a tokenizer or pre-training
    run) the run is finished and its weights written (resuming it would only write them
    again, without its validation scores): before anything is read or trained."""
    from vqdna_cli.checkpoint import CONFIG_FILE, check_resume, checkpoint_step
    from vqdna_cli.train.loop import CHECKPOINT

    if not control.resume:
        return
    path = Path(folder) / CHECKPOINT
    check_resume(path, record, steps)
    if steps is not None and path.with_suffix(".json").is_file() and (Path(folder) / CONFIG_FILE).is_file() \
            and checkpoint_step(path.with_suffix(".json")) == steps:
        raise OutputError(f"--resume: the run in {folder} has done all its {steps} steps and written its weights: "
                          "nothing is left to continue; give a larger --steps to train on, or --force to start over")


def _resumable_with_records(folder: Path, run_record: dict, data, control: TrainControl) -> None:
    """`_resumable` again once the FASTA is read, its records (file:name and bases) added to
    `run_record`, which the loop's checkpoints then record: a file of the first run's name
    with other sequences in it is another run's input."""
    run_record["FASTA records"] = data.description
    _resumable(folder, run_record, control)


def _class_names(labels: list[str], given) -> list[str]:
    """Readable names for numeric labels, by position. Labels that are words are their own
    names: names given in another order would rename each class to another's name (with
    labels background,promoter, `--class-names promoter,background` swapped every call), so
    only the same names are taken, and in the labels' order."""
    if given is None:
        return labels
    given = list(given)
    if len(given) != len(labels):
        raise UsageError(f"--class-names gives {len(given)} names for {len(labels)} labels ({', '.join(labels)})")
    from vqdna_cli.head_info import integer_labels

    if integer_labels(labels):
        # a name that is another class's label (labels 0,1 named 1,0) reads as that class in
        # classify's label column, under the other's class_index
        swapped = next((i for i, name in enumerate(given) if name in labels and name != labels[i]), None)
        if swapped is not None:
            raise UsageError(f"--class-names {','.join(given)}: names class {labels[swapped]} {given[swapped]!r}, "
                             f"which is another class's label; give names that are not labels (0,1 as "
                             "background,promoter), in the labels' order")
        return given
    if sorted(given) == sorted(labels):
        return labels
    raise UsageError(f"--class-names: the labels are names already ({', '.join(labels)}); leave --class-names out "
                     "(it names numeric labels, in their order)")


def _parts_of_run(folders: list[Path]) -> list[dict]:
    """Each part of a run (the first and every --resume), in order, from its members'
    checkpoints: a member begun by a later part holds only the parts from then on."""
    from vqdna_cli.train.loop import recorded_parts

    parts = recorded_parts(folders[0])
    for folder in folders[1:]:
        parts += [part for part in recorded_parts(folder) if part not in parts]
    return parts


def _warn_if_nothing_to_resume(folders: list[Path], control: TrainControl) -> None:
    """--resume where no run left a checkpoint starts from the first step: said, not silent."""
    from vqdna_cli import distributed
    from vqdna_cli.train.loop import CHECKPOINT

    if control.resume and distributed.is_main() \
            and not any((Path(folder) / f"{CHECKPOINT}.json").is_file() for folder in folders):
        warnings.warn(f"--resume: no checkpoint in {folders[0]} to continue from: training starts at the first step",
                      VqdnaWarning, stacklevel=2)


# What a failed run leaves to continue from: weights, a checkpoint (`train.loop.CHECKPOINT`),
# a head's best state so far (`train.finetune.BEST`).
WORTH_KEEPING = ("model.safetensors", "config.json", "checkpoint.json", "best.json")


@contextlib.contextmanager
def _tidied_on_failure(folder: Path):
    """Makes `folder` and holds it for this run alone (`_hold`). A run that fails (or is
    interrupted) before `folder` holds anything of WORTH_KEEPING takes away what it made
    there, so that the corrected command can write into the same folder: the folders it
    created (`folder` and any missing parents), or else the training log it started in a
    folder that was there before (the earlier run's log stays, unless --force replaced it:
    `_clear_earlier_run` removes it with the earlier weights once the data has been read).
    A run refused because another holds the folder touches nothing. Under torchrun, process
    0 alone makes and tidies the folder (the process group is not joined yet: `launch_rank`
    says which): another process making it first would leave process 0 nothing to take away
    after a failure."""
    import os

    from vqdna_cli.io.writers import make_folder
    from vqdna_cli.launch import launch_rank
    from vqdna_cli.train.loop import LOG

    folder = Path(folder)
    first_process = launch_rank() == 0
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    if not first_process:
        yield
        return
    make_folder(folder)  # before any work: a folder that cannot be made is named now
    descriptor = _hold(folder)  # another run's folder: refused here, before anything is tidied
    earlier_log = _log_start(folder / LOG)  # read once held: no other run writes it now
    try:
        yield
    except BaseException:
        _tidy(folder, created, earlier_log, LOG)
        raise
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _log_start(path: Path, size: int | None = None) -> tuple[int, str] | None:
    """The length and digest of the log at `path` (of its first `size` bytes), None where there
    is none: a log this run appended to still starts with the earlier run's lines, a log
    --force replaced does not (the inode number alone may be reused)."""
    import hashlib

    try:
        with open(path, "rb") as handle:
            data = handle.read() if size is None else handle.read(size)
    except OSError:
        return None
    return len(data), hashlib.sha256(data).hexdigest()


def _tidy(folder: Path, created: list[Path], earlier_log: tuple | None, log: str) -> None:
    # a head of several members keeps each member's in a folder of its own (member-N)
    kept = any((folder / name).exists() or any(folder.glob(f"member-*/{name}")) for name in WORTH_KEEPING)
    if not kept:
        if created:
            shutil.rmtree(created[-1], ignore_errors=True)
        elif earlier_log is None or _log_start(folder / log, earlier_log[0]) != earlier_log:  # this run's log
            (folder / log).unlink(missing_ok=True)


# What flock gives on file systems without it for folders: NFS emulates it with byte-range
# locks, which need a file open for writing (EBADF); Lustre without -o flock (ENOSYS).
_NO_FOLDER_LOCKS = (errno.EBADF, errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL)


def _hold(folder: Path) -> int | None:
    """One run at a time writes into a training folder: a second one (a workflow's retry
    while the first still runs) is refused instead of mixing its checkpoints, log and
    weights with the first's. An advisory lock on the folder itself, released by the system
    however the run ends (the descriptor returned, to close at the end); on a file system
    without such locks, None: the run goes on unguarded, as before."""
    import fcntl
    import os

    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise OutputError(f"another vqdna run is writing into {folder}: wait for it to end, or give another "
                          "output folder") from None
    except OSError as error:
        os.close(descriptor)
        if error.errno in _NO_FOLDER_LOCKS:
            return None
        raise
    return descriptor


def _clear_earlier_run(folder: Path, control: TrainControl, starting_weights: Path | None = None) -> None:
    """--force starts over: the weights, checkpoint and log an earlier run left in `folder`
    go before the first step (once the data has been read and checked). Kept until the new
    run's end, an interrupted run left them beside its own checkpoint, and `-m folder` read
    the old weights without a word; its log ran on into the new run's. Weights this run
    starts from (`-o` the `-m` folder) stay until the new ones replace them: a run that
    fails must leave its own starting point."""
    from vqdna_cli import distributed
    from vqdna_cli.checkpoint import CONFIG_FILE, MODEL_FILE
    from vqdna_cli.io.writers import same_file
    from vqdna_cli.train.loop import CHECKPOINT, LOG

    if not control.force or not distributed.is_main():
        return
    starts_here = starting_weights is not None and same_file(Path(folder), Path(starting_weights))
    for name in ((LOG, f"{CHECKPOINT}.safetensors", f"{CHECKPOINT}.json") if starts_here else
                 (CONFIG_FILE, MODEL_FILE, LOG, f"{CHECKPOINT}.safetensors", f"{CHECKPOINT}.json")):
        (Path(folder) / name).unlink(missing_ok=True)
    heads = Path(folder) / "heads"
    kept = sorted(p.name for p in heads.iterdir() if p.is_dir() and not p.name.startswith(".")) if heads.is_dir() else []
    if kept:  # a user's folder: not removed, but they will not fit the new weights
        warnings.warn(f"--force keeps the {len(kept)} task head{'s' if len(kept) > 1 else ''} in {heads} "
                      f"({', '.join(kept[:3])}{', ...' if len(kept) > 3 else ''}): they were trained on the earlier "
                      "weights, and classify will refuse them with the new ones; train them again or remove them",
                      VqdnaWarning, stacklevel=3)


def _starting_weights(run: RunOptions) -> Path:
    if run.model_dir is None:
        raise UsageError("--model: give the weights directory to start from")
    return Path(run.model_dir)


@keeps_global_state
def train_tokenizer(genomes: GenomeSet, output: Path, preset: str = "default", stage: StageSettings = TOKENIZER_STAGE,
                    control: TrainControl = TrainControl(), run: RunOptions = RunOptions()) -> dict:
    """Stage 1: the HRQ vocabulary of a fresh `preset` model, learnt from `genomes`."""
    from vqdna_cli.config import PRESETS
    from vqdna_cli.io.writers import check_weights_folder, check_weights_output

    _expect_stage_arguments(genomes, output, stage, control, run)
    expect("preset", preset, str)
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    check_weights_output(output)
    with _tidied_on_failure(output):  # held first: a running run's log is not an earlier run's
        check_weights_folder(output, control.force, control.resume)
        return _train_tokenizer(genomes, output, preset, stage, control, run)


def _train_tokenizer(genomes: GenomeSet, output: Path, preset: str, stage: StageSettings, control: TrainControl,
                     run: RunOptions) -> dict:
    from vqdna_cli.checkpoint import save_model
    from vqdna_cli.config import PRESETS
    from vqdna_cli.model.vqdna import VQDNA
    from vqdna_cli.train.genomes import check_windows, load_genomes
    from vqdna_cli.train.loop import recorded_parts, run_began
    from vqdna_cli.train.provenance import provenance, this_part
    from vqdna_cli.train.tokenizer import train_tokenizer as run_stage

    if stage.window is None:
        raise UsageError("--window: the tokenizer stage needs a window length (TOKENIZER_STAGE.window is its default)")
    _check_window_covers_the_encoder(stage.window, PRESETS[preset].encoder)
    run_record = {**_genomes_record(genomes), "--preset": preset, "--window": stage.window, "--batch": stage.batch,
                  "--lr": stage.lr, "--seed": run.seed}
    _resumable(output, run_record, control, stage.steps)
    torch_device = setup_training(run, stage.batch)
    part = this_part()  # with the threads set for the run
    _warn_if_nothing_to_resume([output], control)
    began = run_began([output], control.resume)
    data = load_genomes(list(genomes.fasta), genomes.holdout_files, genomes.holdout_tail)
    _resumable_with_records(output, run_record, data, control)
    cfg = PRESETS[preset]
    model = VQDNA(cfg).to(torch_device)
    recorded_data = check_windows(data, stage.window, run.seed)
    _clear_earlier_run(output, control)
    metrics = run_stage(model, data, _loop_settings(stage, control, output, run_record, began, part), window=stage.window,
                        batch=stage.batch, seed=run.seed, device=torch_device)
    record = provenance("tokenizer", recorded_data,
                        {"preset": preset, "steps": stage.steps, "lr": stage.lr, "window": stage.window,
                         "batch": stage.batch, "seed": run.seed},
                        metrics, (time.monotonic() - began) / 60, str(torch_device), recorded_parts(output), part)
    save_on_main(save_model, Path(output), model.cpu(), cfg, {"tokenizer": record})
    return metrics


@keeps_global_state
def pretrain(genomes: GenomeSet, output: Path, stage: StageSettings = PRETRAIN_STAGE,
             control: TrainControl = TrainControl(), run: RunOptions = RunOptions(), *,
             transformer_preset: str | None = None, masking: str | None = None) -> dict:
    """Stage 2: masked pre-training of the Transformer over the tokenizer in `run.model_dir`
    (with `transformer_preset`, a fresh Transformer of that size, objective `masking`)."""
    from vqdna_cli.io.writers import check_weights_folder, check_weights_output

    _expect_stage_arguments(genomes, output, stage, control, run)
    expect("transformer_preset", transformer_preset, (str, type(None))), expect("masking", masking, (str, type(None)))
    model_dir = _starting_weights(run)
    check_weights_output(output)
    with _tidied_on_failure(output):  # held first: a running run's log is not an earlier run's
        check_weights_folder(output, control.force, control.resume)
        return _pretrain(genomes, output, stage, control, run, model_dir, transformer_preset, masking)


def _expect_stage_arguments(genomes, output, stage, control, run) -> None:
    """A training stage's arguments of the kinds it takes: a wrong one (a bare path for
    `genomes`, None for `output`) failed deep inside with an AttributeError or TypeError."""
    expect("genomes", genomes, GenomeSet), expect_path("output", output)
    expect("stage", stage, StageSettings), expect("control", control, TrainControl), expect("run", run, RunOptions)


def _check_writable(path: Path) -> None:
    if not os.access(path, os.W_OK):
        raise OutputError(f"--record: cannot write {path} (permission denied or read-only); record into a copy of "
                          "the weights (-m)")


def _check_window_covers_the_encoder(window: int, encoder) -> None:
    """A window no longer than the bases the encoder reads on both sides of a base has no base
    that sees its whole context: it would train on padding (`--window 1` ran, and learned nothing)."""
    least = 2 * encoder.receptive_radius + 1
    if window < least:
        raise UsageError(f"--window {window}: shorter than the {least} bases the encoder reads around each base "
                         f"({encoder.receptive_radius} on either side); give at least {least}")


def _pretrain(genomes: GenomeSet, output: Path, stage: StageSettings, control: TrainControl, run: RunOptions,
              model_dir: Path, transformer_preset: str | None, masking: str | None) -> dict:
    from vqdna_cli.checkpoint import load_model, save_model
    from vqdna_cli.train.genomes import check_windows, load_genomes
    from vqdna_cli.train.loop import recorded_parts, run_began
    from vqdna_cli.train.pretrain import pretrain as run_stage
    from vqdna_cli.train.provenance import provenance, this_part

    _check_fresh_transformer(transformer_preset, masking)
    torch_device = setup_training(run, stage.batch)
    part = this_part()  # with the threads set for the run
    began = run_began([output], control.resume)
    model, info = load_model(model_dir)
    info = _as_first_found(info, output, model_dir, control)
    if transformer_preset is not None:
        model = _with_transformer_of(model, transformer_preset, masking)
    if stage.window is None:  # the model's own context, whatever its preset
        stage = dataclasses.replace(stage, window=model.cfg.transformer.max_tokens)
    if stage.window > model.cfg.transformer.max_tokens:
        raise UsageError(f"--window {stage.window} exceeds the model's max_tokens {model.cfg.transformer.max_tokens}")
    _check_window_covers_the_encoder(stage.window, model.cfg.encoder)
    fresh = transformer_preset is not None or "pretrain" not in (info.get("provenance") or {})
    if fresh and stage.window < model.cfg.transformer.max_tokens:
        model = _with_window_of(model, stage.window)
    run_record = {**_genomes_record(genomes), "--model weights": _weights_id(info),
                  "--transformer-preset": transformer_preset, "--masking": masking, "--window": stage.window,
                  "--batch": stage.batch, "--lr": stage.lr, "--seed": run.seed}
    _resumable(output, run_record, control, stage.steps)
    _warn_if_nothing_to_resume([output], control)
    data = load_genomes(list(genomes.fasta), genomes.holdout_files, genomes.holdout_tail)
    _resumable_with_records(output, run_record, data, control)
    _warn_if_earlier_stages_saw_held_out(info, data.description, model_dir, continues=transformer_preset is None)
    model.to(torch_device)
    recorded_data = check_windows(data, stage.window, run.seed)
    _clear_earlier_run(output, control, model_dir)
    metrics = run_stage(model, data, _loop_settings(stage, control, output, run_record, began, part), window=stage.window,
                        batch=stage.batch, seed=run.seed, device=torch_device)
    record = provenance("pretrain", recorded_data,
                        {"steps": stage.steps, "lr": stage.lr, "window": stage.window, "batch": stage.batch,
                         "seed": run.seed, "transformer_preset": transformer_preset, "masking": masking,
                         "tokenizer": str(model_dir),
                         # the folder can change after this run (-o into -m with --force): its weights' digest cannot
                         "tokenizer_sha256": _weights_id(info)},
                        metrics, (time.monotonic() - began) / 60, str(torch_device), recorded_parts(output), part)
    earlier = (info.get("provenance") or {}).get("pretrain")
    if earlier and transformer_preset is None:  # this Transformer goes on from that pre-training: it stays said
        record["continues"] = earlier
    save_on_main(save_model, Path(output), model.cpu(), model.cfg, {**info.get("provenance", {}), "pretrain": record})
    return metrics


def _as_first_found(info: dict, output: Path, model_dir: Path, control: TrainControl) -> dict:
    """The starting weights' record as the run's first part found them. With -o the -m folder,
    a part stopped by --max-minutes wrote its weights so far over them: --resume would take
    those for other starting weights (and refuse), and their pre-training record for one the
    run goes on from. That record says what the first part started from."""
    from vqdna_cli.io.writers import same_file

    provenance = info.get("provenance") or {}
    stopped = provenance.get("pretrain")
    if not (control.resume and same_file(Path(output), Path(model_dir)) and isinstance(stopped, dict)
            and stopped.get("complete") is False):
        return info
    started = {stage: record for stage, record in provenance.items() if stage != "pretrain"}
    if stopped.get("continues"):
        started["pretrain"] = stopped["continues"]
    weights = (stopped.get("settings") or {}).get("tokenizer_sha256")
    return {**info, "provenance": started, "sha256": {**(info.get("sha256") or {}), "model.safetensors": weights}}


def _warn_if_earlier_stages_saw_held_out(info: dict, data: dict, model_dir: Path, continues: bool) -> None:
    """Held-out scores of pre-training are clean only if the stages under it never trained on
    those bases either: the tokenizer, and the pre-training this run `continues` (and the
    ones that one continued). Said when a recorded training set holds bases held out here:
    a whole held-out record it trained on, or more of a record than this run trains on where
    only its tail is held out (the same --holdout-tail in both stages is no overlap)."""
    provenance = info.get("provenance") or {}
    stages = [("tokenizer", provenance.get("tokenizer"))]
    earlier = provenance.get("pretrain") if continues else None
    while isinstance(earlier, dict):
        stages.append(("pre-training", earlier))
        earlier = earlier.get("continues")
    here = _trained_bases(data["train"])
    for stage, record in stages:
        trained = _trained_bases(((record or {}).get("data") or {}).get("train", []))
        both = []
        for entry in data["heldout"]:
            name, _, how = entry.rpartition(" (")
            if name in trained and (how.startswith("all ") or trained[name] > here.get(name, 0)):
                both.append(name)
        if both:
            warnings.warn(f"the {stage} of {model_dir} trained on {len(both):,} of the records held out here (the "
                          f"first: {both[0]}): held-out scores then measure the Transformer on sequence it "
                          "has seen", VqdnaWarning, stacklevel=3)


def _trained_bases(entries: list[str]) -> dict[str, int]:
    """A recorded training set ("file:record (N bp)", its first N bases) as record -> N."""
    found = (re.fullmatch(r"(.*) \((\d+) bp\)", entry) for entry in entries if isinstance(entry, str))
    return {match[1]: int(match[2]) for match in found if match}


def _weights_id(info: dict) -> str | None:
    """The starting weights as a resumed run must find them again: their SHA-256, shortened."""
    digest = (info.get("sha256") or {}).get("model.safetensors")
    return digest[:16] if isinstance(digest, str) else None


def _check_fresh_transformer(preset: str | None, masking: str | None) -> None:
    """Before any work: each value wrong or missing is named in the order a user reads them."""
    from vqdna_cli.config import PRESETS

    if masking not in (None, "input", "tokens"):
        raise UsageError(f"--masking {masking!r}: use input or tokens")
    if preset is not None and preset not in PRESETS:
        raise UsageError(f"--transformer-preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if preset is None and masking is not None:
        raise UsageError("--masking sets the objective of a fresh Transformer: give --transformer-preset too")


def _with_transformer_of(model, preset: str, masking: str | None = None):
    """The same trained tokenizer under a fresh Transformer of `preset`'s size, pre-trained
    with `masking` ("input", "tokens"; default: the preset's objective)."""
    import dataclasses

    from vqdna_cli.config import LEGACY_MASKING, PRESETS, MaskingConfig
    from vqdna_cli.model.vqdna import VQDNA

    objective = PRESETS[preset].masking
    if masking == "tokens":
        objective = MaskingConfig(fraction=0.25, **LEGACY_MASKING)  # the shipped weights' objective
    cfg = dataclasses.replace(model.cfg, transformer=PRESETS[preset].transformer, masking=objective)
    return VQDNA(cfg).take_tokenizer_of(model)


def _with_window_of(model, window: int):
    """The model with a Transformer `window` tokens long: a fresh Transformer pre-trained on
    shorter windows than its max_tokens would learn no position past them, and every command
    reads max_tokens-long windows, so its window becomes the one it trains on."""
    import dataclasses

    from vqdna_cli.model.vqdna import VQDNA

    transformer = dataclasses.replace(model.cfg.transformer, max_tokens=window)
    shorter = VQDNA(dataclasses.replace(model.cfg, transformer=transformer))
    state = model.state_dict()
    state["transformer.position.weight"] = state["transformer.position.weight"][:window]
    shorter.load_state_dict(state)
    return shorter


# --- task heads -----------------------------------------------------------------------------


def _label_order(labels: list[str]) -> list[str]:
    """Distinct labels, numerically when they are all integers (GUE's 0, 1, 2 ...)."""
    from vqdna_cli.head_info import integer_labels

    distinct = set(labels)
    if integer_labels(distinct):
        return sorted(distinct, key=lambda label: (int(label), label))
    return sorted(distinct)


# A label read as a number by the checks below: digits, a sign, decimals (what a spreadsheet
# writes); float() also reads '1e3', '1_000' and 'inf', which are a class's name to a user.
NUMBER_LABEL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def _refuse_one_number_written_two_ways(labels: list[str]) -> None:
    """Labels '1' and '1.0' (a spreadsheet's export) or '0' and '00' are one class to the
    user, two to a head: refused, naming both."""
    numbers: dict[float, str] = {}
    for label in labels:
        if not NUMBER_LABEL.fullmatch(label):  # 'nan', '1e3' and '1_000' are words here
            continue
        value = float(label)
        if value in numbers:
            raise InputError(f"labels {numbers[value]!r} and {label!r} are one number written two ways, which a head "
                             "would learn as two classes: write each class one way in the training data")
        numbers[value] = label


def _refuse_numbers_written_as_text(labels: list[str]) -> None:
    """Whole numbers written otherwise than as digits (a spreadsheet's 0.0 and 1.0, or +1)
    would be ordered and named as text (10.0 before 2.0, and --class-names refused): the
    user means numbers, so they are asked for as such."""
    from vqdna_cli.head_info import integer_labels

    def whole(label: str) -> bool:
        return NUMBER_LABEL.fullmatch(label) is not None and float(label).is_integer()

    if labels and not integer_labels(labels) and all(map(whole, labels)):
        plain = ", ".join(str(int(label.split(".")[0])) for label in labels)
        raise InputError(f"the labels {', '.join(labels)} are whole numbers written as text: write them as {plain}, "
                         "so that classes are ordered as numbers and --class-names can name them")


@dataclass
class HeadData:
    """A head's labelled rows once cleaned: what it trains on, what selects it, the class order."""

    rows: list[tuple[str, str]]  # (sequence, label)
    valid_rows: list[tuple[str, str]]
    labels: list[str]
    record: dict  # for the head's provenance: the files and how many rows each step kept


@keeps_global_state
def head_training_data(spec: HeadRows, seed: int = 0) -> HeadData:
    """The rows `finetune` trains and selects a head on. Sequences of `exclude_files` (the test
    split, rows of held-out regions) neither train nor select it: they are removed from the
    training and the validation rows; without `valid_files`, a seeded `valid_fraction` of the
    rest selects the head; training rows with an exact copy among the validation rows are
    dropped; `max_train_rows` keeps a seeded subset. With `either_strand`, a sequence and its
    reverse complement count as copies of each other."""
    import numpy as np

    from vqdna_cli.data.alphabet import reverse_complement
    from vqdna_cli.io.labelled import FastaLabels, sequences_to_exclude

    expect("spec", spec, HeadRows)
    check_seed(seed)

    def same(sequence: str) -> str:  # one key for the sequences a head cannot tell apart (U is read as T)
        sequence = sequence.replace("U", "T")
        return min(sequence, reverse_complement(sequence)) if spec.either_strand else sequence

    labels = FastaLabels.read(spec.labels_tsv) if spec.labels_tsv else None
    warn_if_labels_unused([*spec.train_files, *spec.valid_files], labels)
    train = read_labelled(spec.train_files, labels)
    excluded = set()
    for path in spec.exclude_files:
        excluded.update(map(same, sequences_to_exclude(path)))
    rows = [(s, y) for s, y in zip(train.sequences, train.labels) if same(s) not in excluded]
    dropped_excluded = len(train.sequences) - len(rows)
    if spec.valid_files:
        valid = read_labelled(spec.valid_files, labels)
        valid_rows = [(s, y) for s, y in zip(valid.sequences, valid.labels) if same(s) not in excluded]
        dropped_valid_excluded = len(valid.sequences) - len(valid_rows)
    else:  # HeadRows checks that 0 < valid_fraction < 1
        order = np.random.default_rng(seed).permutation(len(rows))
        cut = int(round(len(rows) * spec.held_out_fraction))
        keys = [same(s) for s, _ in rows]  # once each: same() may reverse-complement
        held, kept = _keep_every_class_in_training(rows, list(order[:cut]), list(order[cut:]), keys)
        held, kept = _every_class_in_validation(rows, held, kept, keys)
        valid_rows = [rows[i] for i in held]
        dropped_valid_excluded = 0  # drawn from the training rows, already cleaned
        rows = [rows[i] for i in kept]
    if not rows or not valid_rows:
        raise InputError(f"fine-tuning needs both training and validation rows (have {len(rows)} and "
                         f"{len(valid_rows)}{_why_no_rows(spec, rows, valid_rows, dropped_excluded + dropped_valid_excluded)}"
                         "): give more data or --valid FILE")
    _warn_of_conflicting_labels(rows + valid_rows)  # before copies of validation rows leave training
    valid_sequences = {same(s) for s, _ in valid_rows}
    before, labels_before = len(rows), {y for _, y in rows}
    rows = [(s, y) for s, y in rows if same(s) not in valid_sequences]  # no exact copy on both sides
    available = len(rows)
    if spec.max_train_rows is not None and len(rows) > spec.max_train_rows:
        order = list(np.random.default_rng(seed + 1).permutation(len(rows)))
        keep = sorted(_subset_of_every_class(rows, order, spec.max_train_rows))
        rows = [rows[i] for i in keep]
    record = {"train": list(spec.train_files),
              "valid": list(spec.valid_files) or f"{spec.held_out_fraction:.0%} of the training rows (seed {seed})",
              "exclude": list(spec.exclude_files), "train_rows": len(rows), "train_rows_available": available,
              "valid_rows": len(valid_rows), "dropped_in_exclude": dropped_excluded,
              "valid_dropped_in_exclude": dropped_valid_excluded,
              "dropped_in_valid": before - available,
              **({"copies_on_either_strand": True} if spec.either_strand else {})}
    labels = _label_order([y for _, y in rows] + [y for _, y in valid_rows])
    _refuse_one_number_written_two_ways(labels)
    _refuse_numbers_written_as_text(labels)
    breaking = next((label for label in labels if has_line_breaking_character(label)), None)
    if breaking is not None:  # a class's name is a TSV column's and a BED field's text
        raise InputError(f"label {breaking!r} holds a tab or line break, which would split the columns of classify's "
                         "outputs: rename that class in the training data")
    listed = next((label for label in labels if "," in label), None)
    if listed is not None:  # --class-names, --background and --list-tasks list classes with commas
        raise InputError(f"label {listed!r} holds a comma, which --class-names, --background and --list-tasks take "
                         "to separate classes: rename that class in the training data")
    if len(labels) < 2:
        raise InputError(f"fine-tuning needs at least two classes in the training data (found only {labels[0]!r})")
    if not rows:
        raise InputError(f"every training row's sequence is also among the {len(valid_rows)} validation rows: "
                         "nothing is left to train on; give more distinct sequences or --valid FILE")
    unseen = set(labels) - {y for _, y in rows}
    if unseen and unseen <= labels_before:  # every training row of the class is a validation row's copy
        fix = ("give --valid rows that are not copies of training rows" if spec.valid_files else
               "give that class rows of more than one sequence, or --valid FILE")
        raise InputError(f"every training row of class {', '.join(_label_order(unseen))} has the same sequence as a "
                         f"validation row, and a sequence does not both train and select a head: {fix}")
    if unseen and not spec.valid_files:  # drawn from the rows: the class has too few to share
        names = _label_order(unseen)
        raise InputError(f"{'class' if len(names) == 1 else 'classes'} {', '.join(names)} "
                         f"{'has' if len(names) == 1 else 'have'} rows of a single sequence, which cannot both train "
                         "and select a head: give each class rows of two or more sequences, or --valid FILE")
    if unseen:  # a class no training row has could never be learnt
        trained = _label_order({y for _, y in rows})  # names against numbers says at once the files disagree
        raise InputError(f"the validation rows have labels no training row has ({', '.join(_label_order(unseen))}; "
                         f"the training rows' are {', '.join(trained)}): a head learns the classes of its training "
                         "rows; give training rows of every class")
    if len({y for _, y in valid_rows}) < 2:  # (a file cut from the top of a sorted one)
        warnings.warn(f"every validation row is of one class ({valid_rows[0][1]!r}): its MCC is 0 at every epoch, so "
                      "the first epoch's head is kept; give --valid rows of every class", VqdnaWarning, stacklevel=2)
    return HeadData(rows, valid_rows, labels, record)


def _keep_every_class_in_training(rows: list[tuple[str, str]], held: list[int], kept: list[int],
                                  keys: list[str]) -> tuple[list, list]:
    """A class whose every row the seeded draw put among the validation rows (a rare class of
    a row or two) keeps one of them for training: otherwise whether it can be learnt at all
    would hang on --seed. A training row with the same sequence (`keys`) as a validation row
    leaves training later, so it does not count, and a row moved back brings its copies with
    it. Other draws are left as they were."""
    held_keys = {keys[i] for i in held}
    trained = {rows[i][1] for i in kept if keys[i] not in held_keys}
    for position in range(len(held) - 1, -1, -1):
        if position >= len(held):  # copies of a row moved back went with it
            continue
        label = rows[held[position]][1]
        if label in trained:
            continue
        copies = [p for p, i in enumerate(held) if keys[i] == keys[held[position]]]
        if len(copies) == len(held):  # (validation keeps a row)
            continue
        moved = keys[held[position]]
        for p in reversed(copies):
            kept.append(held.pop(p))
        held_keys.discard(moved)
        trained.update(rows[i][1] for i in kept if keys[i] == moved)
    return held, kept


def _why_no_rows(spec: HeadRows, rows: list, valid_rows: list, excluded: int) -> str:
    """What left training or validation without rows, when an option did: said after the counts."""
    left = len(rows) + len(valid_rows)
    if excluded:
        return f"; --exclude took {excluded} of {left + excluded} rows"
    if not spec.valid_files:
        return f"; --valid-fraction {spec.held_out_fraction:g} of {left} rows is {int(round(left * spec.held_out_fraction))}"
    return ""


def _every_class_in_validation(rows: list[tuple[str, str]], held: list[int], kept: list[int],
                               keys: list[str]) -> tuple[list, list]:
    """A class with training rows of two or more sequences (`keys`: copies are one) and none
    among the drawn validation rows swaps its last drawn training row for the last validation
    row of the class that holds most of them (which keeps one at least): a validation set
    without a class scores its rows at 0 and may pick the wrong epoch's head, by the luck of
    --seed on a small file. A class of one sequence stays in training, where its copies would
    otherwise all leave as copies of that validation row. Draws that hold every class are left
    as they were."""
    in_valid = Counter(rows[i][1] for i in held)
    in_train = Counter(label for label, _ in {(rows[i][1], keys[i]) for i in kept})
    for label in sorted(in_train):
        if in_valid[label] or in_train[label] < 2:
            continue
        most = max(in_valid, key=lambda name: (in_valid[name], name), default=None)
        if most is None or in_valid[most] < 2:
            break
        give = max(p for p, i in enumerate(held) if rows[i][1] == most)
        take = max(p for p, i in enumerate(kept) if rows[i][1] == label)
        held[give], kept[take] = kept[take], held[give]
        in_valid.update({label: 1, most: -1})
        in_train.update({label: -1, most: 1})
    return held, kept


def _subset_of_every_class(rows: list[tuple[str, str]], order: list[int], size: int) -> list[int]:
    """The first `size` rows of the seeded `order`, where a class none of them has takes the
    place of the last row of the class they hold most of: a --max-train-rows draw that left out
    a rare class would train a head that cannot answer it, or fail naming the wrong cause.
    Draws that hold every class are left as they were."""
    kept, rest = order[:size], order[size:]
    classes = {label for _, label in rows}
    if len(classes) > size:
        raise UsageError(f"--max-train-rows {size} is fewer than the {len(classes)} classes of the training rows: "
                         "each class needs a row")
    held = Counter(rows[i][1] for i in kept)
    for index in rest:
        label = rows[index][1]
        if len(held) == len(classes):
            break
        if label in held:
            continue
        most = max(held, key=lambda name: (held[name], name))
        position = max(p for p, i in enumerate(kept) if rows[i][1] == most)
        kept[position] = index
        held[most] -= 1
        held[label] = 1
    return kept


def _warn_of_conflicting_labels(rows: list[tuple[str, str]]) -> None:
    """The same sequence under two labels teaches a head nothing and caps its score: said once."""
    labels_of: dict[str, set[str]] = {}
    for sequence, label in rows:
        labels_of.setdefault(sequence, set()).add(label)
    conflicting = [sequence for sequence, found in labels_of.items() if len(found) > 1]
    if conflicting:
        first = conflicting[0]
        warnings.warn(f"sequences under more than one label in the training and validation rows: "
                      f"{len(conflicting):,} (the first, {first[:30]}{'...' if len(first) > 30 else ''}, as "
                      f"{', '.join(_label_order(labels_of[first]))}); no head can tell them apart",
                      VqdnaWarning, stacklevel=3)


@keeps_global_state
def finetune(data_files: HeadRows, settings: FinetuneSettings, run: RunOptions = RunOptions(),
             control: TrainControl = TrainControl(), *, output_dir: Path | None = None,
             work_dir: Path | None = None) -> dict:
    """Train the task head `settings.task` on the weights in `run.model_dir`; it is written to
    `output_dir/heads/<task>` (default: into `run.model_dir`; `output_dir` must be a weights
    folder of the same model, as a head works only with the model it was trained on).

    `max_train_rows` keeps a seeded random subset of the (cleaned) training rows: a fixed
    compute budget per task on a CPU. `center_tokens` (frozen heads only) adds the HRQ
    embeddings of that many tokens centred on base `center_at` of each window (default: its
    middle) to the head's features (`head_features.central_embeddings`); `both_strands` makes
    them the average of the forward and reverse-complement strands' (as `classify --rc`);
    `whole_record` gives the head one feature vector per sequence (`head_features.head_features`);
    `all_layers` makes its pooled vector that of every Transformer layer, side by side;
    `segments` adds the mean output of each of that many parts of the window.
    `dropout` is the frozen head's, on its input features and hidden layer (default 0.5);
    `balance_classes` trains it to give odds as if every class were equally common
    (`train.head.train_head`); `members` trains that many heads (seeds `run.seed`, + 1, ...)
    and writes one that averages their logits (`train.head.fit_frozen_members`)."""
    expect("data_files", data_files, HeadRows), expect("settings", settings, FinetuneSettings)
    expect("run", run, RunOptions), expect("control", control, TrainControl)
    expect_path("output_dir", output_dir, optional=True), expect_path("work_dir", work_dir, optional=True)
    model_dir = _starting_weights(run)
    head_folder = _head_destination(model_dir, output_dir)
    work = Path(work_dir) if work_dir else head_folder / "heads" / f".{settings.task}.work"
    with _tidied_on_failure(work):  # held first: a running run's checkpoint is not an earlier run's
        _check_head_output(head_folder, settings.task, work, control, settings.members)
        _check_earlier_run(settings.task, work, control)
        return _finetune(data_files, settings, run, control, model_dir, head_folder, work)


def _check_head_output(head_folder: Path, task: str, work: Path, control: TrainControl, members: int = 1) -> None:
    """A head already in the destination (a shipped one with its recorded test score, say)
    is replaced only with --force, or by --resume continuing the run whose checkpoint is in
    `work` (a run stopped by --max-minutes writes its best head so far, and --resume goes on;
    with `members`, the checkpoints of its members' runs)."""
    head_dir = Path(head_folder) / "heads" / task
    if control.force or not head_dir.exists() or (head_dir.is_dir() and not any(head_dir.iterdir())):
        return
    if control.resume:
        if any(checkpoint.is_file() for checkpoint in _run_checkpoints(work, members)):
            return
        raise OutputError(f"--resume: head {task} in {head_dir} has no unfinished run to continue (no checkpoint in "
                          f"{work}): use --force to train it again from the start, which replaces it")
    if _stopped_early(head_dir) and any(checkpoint.is_file() for checkpoint in _run_checkpoints(work, members)):
        raise OutputError(f"head {task} in {head_dir} was stopped by --max-minutes: continue its run with --resume, "
                          "or use --force to train it again from the start, which replaces it")
    raise OutputError(f"head {task} already exists in {head_dir}: use --force to replace it (its validation and "
                      f"recorded test scores go with it), another --task name, or -o a copy of the model")


def _stopped_early(head_dir: Path) -> bool:
    """The head in `head_dir` was written by a run that --max-minutes stopped (head.json says
    it is not complete); an unreadable head.json is left to the refusal that follows."""
    try:
        return json.loads((head_dir / "head.json").read_text()).get("provenance", {}).get("complete") is False
    except (OSError, ValueError, AttributeError):
        return False


def _earlier_checkpoints(work: Path) -> list[Path]:
    """The checkpoints an earlier run of a head left in its work folder (one, or one per
    member, whatever --members that run had)."""
    from vqdna_cli.train.loop import CHECKPOINT

    return sorted(Path(work).glob(f"{CHECKPOINT}.json")) + sorted(Path(work).glob(f"member-*/{CHECKPOINT}.json"))


def _check_earlier_run(task: str, work: Path, control: TrainControl) -> None:
    """A run stopped (killed, out of time) leaves its checkpoint in `work`: a new run without
    --resume would train from the first step over it without a word. Like a weights folder
    that holds files, it is continued (--resume) or discarded (--force), never by default."""
    from vqdna_cli.checkpoint import checkpoint_step

    earlier = _earlier_checkpoints(work)
    if control.resume or control.force or not earlier:
        return
    steps = sum(checkpoint_step(path) for path in earlier)
    other = _task_of_checkpoint(earlier[0])
    if other is not None and other != task:  # a --work-dir shared by two heads: --resume would be refused
        raise OutputError(f"{work} holds the checkpoint of a run of head {other} ({steps} steps done), not of {task}: "
                          f"give {task} a --work-dir of its own, or --force, which discards that run")
    raise OutputError(f"{work} holds the checkpoint of an earlier run of head {task} ({steps} steps done): "
                      "continue that run with --resume, or start again with --force, which discards it")


def _task_of_checkpoint(meta_path: Path) -> str | None:
    """The --task of the command that wrote a head's checkpoint (None where it cannot be told)."""
    from vqdna_cli.train.loop import recorded_parts

    parts = recorded_parts(Path(meta_path).parent)  # the checkpoint's JSON is in the folder it names
    try:
        words = shlex.split(parts[-1]["command"])
    except (IndexError, ValueError):
        return None
    for index, word in enumerate(words):
        if word == "--task" and index + 1 < len(words):
            return words[index + 1]
        if word.startswith("--task="):
            return word.removeprefix("--task=")
    return None


def _clear_earlier_head_run(work: Path, control: TrainControl) -> None:
    """A run that starts over (--force, or nothing to resume) removes what an earlier one left
    in `work` (its checkpoints, best state and log; before the first step, once the data and
    the model have been checked): its log ran on into the new run's."""
    from vqdna_cli import distributed
    from vqdna_cli.train.finetune import BEST
    from vqdna_cli.train.loop import CHECKPOINT, LOG

    if control.resume or not distributed.is_main():
        return
    for folder in [Path(work), *sorted(Path(work).glob("member-*"))]:
        for name in (LOG, f"{CHECKPOINT}.json", f"{CHECKPOINT}.safetensors", f"{BEST}.json", f"{BEST}.safetensors"):
            (folder / name).unlink(missing_ok=True)


def _check_run_left_to_resume(head_folder: Path, task: str, work: Path, control: TrainControl,
                              settings: FinetuneSettings, rows: list[tuple[str, str]], window: int) -> None:
    """--resume replaces an existing head only to continue its unfinished run: a run that has
    done all its steps (those these settings ask for) would only write the same head again,
    without the scores recorded in it."""
    from vqdna_cli.checkpoint import checkpoint_step
    from vqdna_cli.data.windows import transformer_windows
    from vqdna_cli.train.finetune import head_loop_settings

    checkpoints = _run_checkpoints(work, settings.members)
    if control.force or not control.resume or not (Path(head_folder) / "heads" / task).is_dir() \
            or not any(checkpoint.is_file() for checkpoint in checkpoints):
        return
    # Training samples: one per sequence for a whole-record head, else one per model window.
    samples = len(rows) if settings.whole_record else sum(len(transformer_windows(len(x), window, window))
                                                          for x, _ in rows)
    planned = head_loop_settings(settings.epochs, samples, settings.batch, settings.lr, work).steps * settings.members
    done = sum(checkpoint_step(checkpoint) for checkpoint in checkpoints if checkpoint.is_file())
    if done >= planned:
        head_dir = Path(head_folder) / "heads" / task
        raise OutputError(f"--resume: head {task} in {head_dir} has no unfinished run to continue (its run in "
                          f"{work} has done {done} steps of the {planned} these settings ask for): use --force "
                          f"to train it again from the start, which replaces it")


def _run_checkpoints(work: Path, members: int) -> list[Path]:
    """The checkpoint JSON of a head's run in `work`: one per member (`train.head.member_folders`)."""
    from vqdna_cli.train.head import member_folders
    from vqdna_cli.train.loop import CHECKPOINT

    return [folder / f"{CHECKPOINT}.json" for folder in member_folders(work, members)]


def _check_window_reads(s: FinetuneSettings, window: int, longest_row: int) -> None:
    """Parts of a window or central tokens past its last token would be only zeros: refused.
    (One token per base, so a window of the model is `window` bases.)"""
    if s.segments > window:
        raise UsageError(f"--segments {s.segments}: more parts than the model's window has tokens ({window})")
    if s.center_tokens > window:
        raise UsageError(f"--center-tokens {s.center_tokens}: more tokens than the model's window has ({window})")
    reach = min(window, longest_row)
    # the central tokens start half their count before the base (head_features.central_span)
    if s.center_at is not None and s.center_at - s.center_tokens // 2 >= reach:
        raise UsageError(f"--center-at {s.center_at}: its {s.center_tokens} central tokens all lie beyond the "
                         f"last base of every training window ({reach} bases at most): give a base "
                         f"below {reach + s.center_tokens // 2}")


def _head_run_record(data_files: HeadRows, s: FinetuneSettings, run: RunOptions, data: HeadData,
                     class_names: list[str], info: dict) -> dict:
    """What a head's weights depend on (for `_resumable`): its rows and labels (by file name,
    and a digest of the rows themselves), the model, how the head reads it, and the recipe.
    --epochs is not among them: a resumed run may train for more (or fewer) epochs."""
    import hashlib
    import json

    def names(files) -> list[str]:
        return [Path(path).name for path in files]

    rows = hashlib.sha256(json.dumps([data.rows, data.valid_rows, data.labels]).encode()).hexdigest()[:16]
    frozen = s.adapter == "frozen"
    return {"--train": names(data_files.train_files), "--valid": names(data_files.valid_files),
            "--valid-fraction": None if data_files.valid_files else data_files.held_out_fraction,
            "--exclude": names(data_files.exclude_files),
            "--labels": Path(data_files.labels_tsv).name if data_files.labels_tsv else None,
            "--max-train-rows": data_files.max_train_rows, "rows (digest)": rows, "--model weights": _weights_id(info),
            "--adapter": s.adapter, "--lora-rank": None if frozen else s.rank,
            "--lora-alpha": None if frozen else s.alpha, "--dropout": s.head_dropout if frozen else None,
            "--balance-classes": s.balance_classes, "--center-tokens": s.center_tokens, "--center-at": s.center_at,
            "--both-strands": s.both_strands, "--whole-record": s.whole_record, "--all-layers": s.all_layers,
            "--class-names": list(class_names), "--batch": s.batch, "--lr": s.lr, "--seed": run.seed,
            # only where they are not the default, so that checkpoints of runs before them resume
            **({"--members": s.members} if s.members > 1 else {}),
            **({"--segments": s.segments} if s.segments else {})}


def _head_destination(model_dir: Path, output_dir: Path | None) -> Path:
    """The weights folder a head is written into: `output_dir` (default: `model_dir`), which
    must hold the model the head is trained on, or `classify` could never use the head."""
    from vqdna_cli.checkpoint import CONFIG_FILE, MODEL_FILE, read_model_info, recorded_hash
    from vqdna_cli.io.writers import same_file

    model_dir = Path(model_dir)
    if output_dir is None or same_file(Path(output_dir), model_dir):
        return model_dir
    output_dir = Path(output_dir)
    mine = read_model_info(model_dir)  # a --model that is not there is named first, not the -o folder
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"-o {output_dir} is a file, not a weights folder: a head is written into the weights "
                          f"folder of its model; leave -o out to add the head to {model_dir}, or give -o a copy "
                          f"of it (cp -r {shlex.quote(str(model_dir))} COPY)")
    if str(output_dir) == "-":  # no folder to copy the model into
        raise OutputError("-o -: a head is files in a weights folder, which stdout cannot hold; leave -o out to add "
                          f"the head to {model_dir}, or give -o a copy of it")
    if not (output_dir / CONFIG_FILE).is_file():
        source = f"{model_dir}/." if output_dir.exists() else str(model_dir)  # cp -r M F would make F/M
        copy = f"cp -r {shlex.quote(source)} {shlex.quote(str(output_dir))}"
        raise OutputError(f"-o {output_dir} is not a weights folder (no {CONFIG_FILE}): a head is written into the "
                          f"weights folder of its model, which classify needs with it; leave -o out to add the head "
                          f"to {model_dir}, or make a copy of the model first ({copy})")
    theirs = read_model_info(output_dir)
    if recorded_hash(theirs, MODEL_FILE, output_dir / CONFIG_FILE) != recorded_hash(mine, MODEL_FILE,
                                                                                  model_dir / CONFIG_FILE):
        raise OutputError(f"-o {output_dir} holds another model than --model {model_dir}: a head works only "
                          f"with the model it was trained on; leave -o out, or give -o a copy of {model_dir}")
    return output_dir


def _finetune(data_files: HeadRows, settings: FinetuneSettings, run: RunOptions, control: TrainControl,
              model_dir: Path, head_folder: Path, work: Path) -> dict:
    import numpy as np

    from vqdna_cli.checkpoint import load_model, save_head
    from vqdna_cli.head_features import training_window_lengths
    from vqdna_cli.head_info import HeadReads
    from vqdna_cli.runner import Runner
    from vqdna_cli.train.finetune import TaskModel, finetune as run_stage, head_loop_settings, model_windows
    from vqdna_cli.train.head import member_folders
    from vqdna_cli.train.loop import LoopControl, run_began
    from vqdna_cli.train.provenance import provenance, this_part
    from vqdna_cli.train.row_sketch import sketch

    task, s = settings.task, settings
    reads = HeadReads(s.center_tokens, s.center_at, s.both_strands, s.whole_record, s.all_layers, s.segments)
    torch_device = setup_training(run, s.batch)
    part = this_part()  # with the threads set for the run
    began = run_began(member_folders(work, s.members), control.resume)
    data_files = dataclasses.replace(data_files, either_strand=s.both_strands)
    data = head_training_data(data_files, seed=run.seed)
    rows, valid_rows, labels = data.rows, data.valid_rows, data.labels
    class_names = _class_names(labels, s.class_names)
    index_of = {label: i for i, label in enumerate(labels)}

    model, info = load_model(model_dir)
    warn_if_never_pretrained(info, model_dir)
    _check_window_reads(s, model.cfg.transformer.max_tokens, max(len(sequence) for sequence, _ in rows))
    run_record = _head_run_record(data_files, s, run, data, class_names, info)
    for folder in member_folders(work, s.members):  # other inputs: said before the step counts
        _resumable(folder, run_record, control)
    _check_run_left_to_resume(head_folder, task, work, control, s, rows, model.cfg.transformer.max_tokens)
    _warn_if_nothing_to_resume(member_folders(work, s.members), control)
    _clear_earlier_head_run(work, control)
    runner = Runner(model.to(torch_device).eval(), info, torch_device, model_dir)
    train_labels = np.array([index_of[y] for _, y in rows])
    valid_labels = np.array([index_of[y] for _, y in valid_rows])
    # run_record goes into the checkpoints, for a later --resume to check
    loop = LoopControl(resume=control.resume, quiet=control.quiet, max_minutes=control.max_minutes,
                       run_record=run_record, run_began=began, part=part)
    if s.adapter == "frozen":
        from vqdna_cli.runner import window_vectors
        from vqdna_cli.train.head import fit_frozen_members

        train_set = window_vectors(runner, [x for x, _ in rows], train_labels, reads)
        valid_set = window_vectors(runner, [x for x, _ in valid_rows], valid_labels, reads)
        state, metrics = fit_frozen_members(train_set, valid_set, len(labels), s.members, epochs=s.epochs,
                                            batch=s.batch, lr=s.lr, dropout=s.head_dropout, seed=run.seed,
                                            device=torch_device, work=work, balanced=s.balance_classes, control=loop)
    else:
        from vqdna_cli.data.alphabet import encode

        def tokens_of(pairs):
            return runner.tokens_of([encode(x) for x, _ in pairs], 65536)

        # A sequence longer than the model window trains window by window, each window with the
        # sequence's label, and is scored by the mean of its windows' probabilities, as classify
        # and evaluate read it.
        train_tokens, train_owner = model_windows(tokens_of(rows), runner.window)
        valid_tokens, valid_owner = model_windows(tokens_of(valid_rows), runner.window)
        task_model = TaskModel(model, len(labels), s.rank, s.alpha, s.adapter).to(torch_device)
        loop_settings = head_loop_settings(s.epochs, len(train_tokens), s.batch, s.lr, work, loop)
        state, metrics = run_stage(task_model, train_tokens, train_labels[train_owner], valid_tokens, valid_labels,
                                   loop_settings, batch=s.batch, seed=run.seed, device=torch_device,
                                   valid_owner=valid_owner)
    frozen_only = ({"dropout": s.head_dropout, "balance_classes": s.balance_classes, "members": s.members}
                   if s.adapter == "frozen" else {})
    # the loop's steps go to the provenance (complete or stopped by --max-minutes), not to the scores
    steps_done, steps_planned = metrics.pop("steps"), metrics.pop("planned_steps")
    record = provenance("finetune", data.record, {
        "epochs": s.epochs, "batch": s.batch, "lr": s.lr, "adapter": s.adapter, "lora_rank": s.rank,
        "lora_alpha": s.alpha, "center_tokens": s.center_tokens, "center_at": s.center_at,
        "both_strands": s.both_strands, "whole_record": s.whole_record, "all_layers": s.all_layers,
        "segments": s.segments,
        "max_train_rows": data_files.max_train_rows, "seed": run.seed, "steps": steps_planned, **frozen_only,
    }, {**metrics, "steps": steps_done}, (time.monotonic() - began) / 60, str(torch_device),
        _parts_of_run(member_folders(work, s.members)), part)
    save_on_main(save_head, head_folder, task, state, {
        "description": s.description, "labels": labels, "class_names": list(class_names),
        "adapter": s.adapter, "lora_rank": s.rank, "lora_alpha": s.alpha,
        **reads.as_info(),
        "train_window_lengths": training_window_lengths((len(sequence) for sequence, _ in rows),
                                                        None if s.whole_record else runner.window),
        "model_sha256": info["sha256"]["model.safetensors"],
        "validation": metrics, "provenance": record,
        "train_rows_sketch": sketch(sequence for sequence, _ in rows + valid_rows),
    })
    from vqdna_cli import distributed

    # where the head went, for the one process that reports it (the others wrote nothing)
    return {**metrics, "head_dir": str(head_folder / "heads" / task) if distributed.is_main() else None,
            "data": data.record}


def _check_not_training_rows(task: str, sketch: dict | None, sequences: list[str], source: str,
                             record: bool, either_strand: bool = False) -> None:
    """A score on rows the head trained or was selected on is not a test score: refused with
    --record (it would be shown as the head's test score), else warned about. A head that
    reads both strands alike has seen a row's reverse complement too (`either_strand`)."""
    from vqdna_cli.data.alphabet import reverse_complement
    from vqdna_cli.train.row_sketch import share_seen

    if not sketch:
        if record:  # the score is shown as the head's test score: say what could not be checked
            warnings.warn(f"head {task} keeps no sample of the rows it was trained on (it was trained before vqdna "
                          f"kept one): whether {source} holds any of them cannot be checked", VqdnaWarning, stacklevel=3)
        return
    share = share_seen(sketch, [*sequences, *map(reverse_complement, sequences)] if either_strand else sequences)
    if not share:
        return
    amount = f"about {share:.0%}" if share >= 0.01 else "under 1 %"
    said = (f"{source} holds {amount} of the rows head {task} was trained or selected on (estimated from "
            f"the sample of them in its head.json): a score there is not a test score")
    if record:
        raise InputError(f"{said}; remove those rows from the test data, or leave out --record")
    warnings.warn(said, VqdnaWarning, stacklevel=3)


def _check_classes_to_score(task: str, classes: set[str], source: str, record: bool) -> None:
    """Test rows all of one class give MCC 0 whatever the head answers: no score to record
    as the head's (it would replace a real one), and worth a warning otherwise."""
    if len(classes) > 1:
        return
    said = (f"every row of {source} is of one class ({next(iter(classes))!r}): MCC is 0 whatever head {task} "
            "answers, so the score says nothing of it")
    if record:
        raise InputError(f"{said}; give test rows of every class, or leave out --record")
    warnings.warn(said, VqdnaWarning, stacklevel=3)


def _warn_of_rows_unlike_training(task: str, info, unlike: Counter, rows: int, source: str) -> None:
    """As `classify` warns: rows with windows far from the head's training lengths get
    extrapolated answers, and rows mostly N answers that say little; a score on them is not
    the head's on its task."""
    from vqdna_cli.scan import MAX_AMBIGUOUS

    if unlike["far"]:
        from vqdna_cli.head_features import unlike_training

        words = unlike_training(info.train_window_lengths, bool(info.reads.center_tokens), task)
        warnings.warn(f"{_of_rows(unlike['far'], rows, source)} {words}: their answers, and so the score, are "
                      "extrapolations", VqdnaWarning, stacklevel=3)
    if unlike["ambiguous"]:
        warnings.warn(f"{_of_rows(unlike['ambiguous'], rows, source)} more than {MAX_AMBIGUOUS * 100:g} "
                      "% N (or other IUPAC codes): their answers say little", VqdnaWarning, stacklevel=3)


def _of_rows(part: int, rows: int, source: str) -> str:
    """"2 of the 5 rows of test.csv are", "1 of the 1 row of test.csv is"."""
    return f"{part:,} of the {rows:,} row{'' if rows == 1 else 's'} of {source} {'is' if part == 1 else 'are'}"


@keeps_global_state
def evaluate(task: str, test_files: list[str] | str, run: RunOptions = RunOptions(), *, labels_tsv: str | None = None,
             record: bool = False) -> dict:
    """Score a finished head on a labelled test set; `record` stores the score in head.json
    (shown by `classify --list-tasks`). Nothing here feeds back into training or selection."""
    import datetime

    import numpy as np

    from vqdna_cli.checkpoint import record_head_test
    from vqdna_cli.head_features import head_features, head_inputs, spans_unlike_training
    from vqdna_cli.io.labelled import FastaLabels
    from vqdna_cli.io.records import SequenceRecord
    from vqdna_cli.metrics import classification_metrics
    from vqdna_cli.runner import embed_records

    expect("task", task, str), expect("run", run, RunOptions), expect("record", record, bool)
    expect_path("labels_tsv", labels_tsv, optional=True)
    test_files = list(one_or_more(test_files, "test_files"))
    if not test_files:  # (the CLI's --test is required)
        raise UsageError("test_files: give at least one labelled test file")
    check_each_once(tuple(test_files), "the --test files")
    if record and run.model_dir is None and not os.environ.get("VQDNA_WEIGHTS"):
        raise UsageError("--record writes the score into the weights' head.json, and without -m those are the "
                         "weights shipped with vqdna, whose recorded test scores every user of this install reads: "
                         "give -m a copy of them, or your own weights")
    runner = load_runner(run)
    head, info = runner.attach_head(task)
    if record:  # before the work, not after it: the score would be lost with the failure
        _check_writable(Path(runner.model_dir) / "heads" / task / "head.json")
    labels = FastaLabels.read(labels_tsv) if labels_tsv else None
    warn_if_labels_unused(test_files, labels)
    test = read_labelled(test_files, labels)
    index_of = {label: i for i, label in enumerate(info.labels)}
    # a class's name (classify's label column) stands for its label, where no label is spelt so
    index_of.update({name: i for i, name in enumerate(info.class_names) if name not in index_of})
    unknown = set(test.labels) - set(index_of)
    if unknown:
        known = ", ".join(label if label == name else f"{label} ({name})"
                          for label, name in zip(info.labels, info.class_names))
        raise InputError(f"{test.source} has labels the head does not know: {', '.join(sorted(unknown))}; head "
                         f"{task}'s classes are {known}")
    _check_not_training_rows(task, info.train_rows_sketch, test.sequences, test.source, record,
                             either_strand=info.reads.both_strands)
    _check_classes_to_score(task, set(test.labels), test.source, record)
    records = (SequenceRecord(f"row{i}", s, f"row{i}") for i, s in enumerate(test.sequences))
    began = time.monotonic()
    # Scored exactly as `classify` writes its TSV: a longer sequence gets the mean of its
    # windows' probabilities.
    predicted, unlike_training = [], Counter()
    for result in embed_records(runner, records, head_inputs(info), batch_tokens=run.tokens_per_batch()):
        predicted.append(int(window_probabilities(head, head_features(info, result), runner.device).mean(0).argmax()))
        _, far, mostly_n = spans_unlike_training(info, result.record, result.windows)
        unlike_training["far"] += far > 0
        unlike_training["ambiguous"] += mostly_n > 0
    _warn_of_rows_unlike_training(task, info, unlike_training, len(test.sequences), test.source)
    seconds = time.monotonic() - began
    metrics = classification_metrics(np.array([index_of[y] for y in test.labels]), np.array(predicted), len(index_of))
    made_by = runner.describe(transformer=False)
    metrics.update({"task": task, "vqdna_version": made_by["vqdna_version"], "model_hash": made_by["model_hash"],
                    "head_hash": info.made_by()["head_hash"], "test_files": list(test_files), "seconds": round(seconds, 1),
                    "bases_per_second": round(sum(map(len, test.sequences)) / max(seconds, 1e-9)),
                    "evaluated_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
    if record:
        _warn_of_replaced_score(task, info.test, metrics)
        record_head_test(runner.model_dir, task, metrics)
    return metrics


def _warn_of_replaced_score(task: str, earlier: dict | None, metrics: dict) -> None:
    """--record replaces the head's test score, which --list-tasks shows: said with what it
    was and how many rows it stood on (a score of 3 rows looked as good as one of 5,920)."""
    if not isinstance(earlier, dict) or not isinstance(earlier.get("mcc"), (int, float)):
        return
    files = ", ".join(Path(str(path)).name for path in earlier.get("test_files") or []) or "unnamed files"
    rows = earlier.get("n")
    warnings.warn(f"--record replaces head {task}'s test score MCC {earlier['mcc']:.3f}"
                  f"{f' on {rows:,} rows' if isinstance(rows, int) else ''} of {files} with MCC {metrics['mcc']:.3f} on "
                  f"{metrics['n']:,} rows", VqdnaWarning, stacklevel=3)
