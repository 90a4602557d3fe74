"""Weights on disk: safetensors files with a JSON description beside them.

A weights directory holds `config.json` (the model config, provenance and the SHA-256 of
`model.safetensors`) and `heads/<task>/` (LoRA adapters + MLP head as `head.safetensors`
and `head.json`). Nothing is ever unpickled, and every file's hash is checked on load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shlex
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from vqdna_cli import __version__
from vqdna_cli.config import WEIGHTS_FORMAT_VERSION, ModelConfig, approximate_parameters
from vqdna_cli.errors import InputError, ModelError, UsageError, VqdnaWarning
from vqdna_cli.io.writers import atomic_file
from vqdna_cli.stops import stops_held

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
HEAD_FILE = "head.safetensors"
HEAD_INFO = "head.json"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as handle:
        handle.write(data)


def _write_json(path: Path, data: dict) -> None:
    _write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> str:
    contiguous = {name: t.detach().contiguous().cpu() for name, t in tensors.items()}
    data = save(contiguous)
    _write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _load_tensors(path: Path, expected_sha256: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        what = "is not a file" if path.exists() else "is missing"
        raise ModelError(f"weights file {path} {what}: restore it from where the folder came from (the shipped "
                         "weights: reinstall vqdna)")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelError(
            f"weights file {path} is corrupted (SHA-256 {actual[:12]}..., expected "
            f"{expected_sha256[:12]}...): restore it or reinstall vqdna"
        )
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise ModelError(f"cannot read weights file {path}: {error}") from None
    # A training that diverged writes NaN: one in a codebook made every token 0, and a NaN
    # model or head answered with NaN probabilities under a class label, all without a word.
    broken = next((name for name, tensor in tensors.items()
                   if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())), None)
    if broken is not None:
        raise ModelError(f"weights file {path} holds NaN or infinite values (in {broken}): the training that wrote "
                         "it diverged; restore the file or train again")
    return tensors


# config.json, head.json and checkpoint.json are a few kB; the cap stops a link to
# /dev/zero (or a huge file) from being read for ever.
MAX_JSON_BYTES = 16 << 20


def _read_json(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        if path.name == CONFIG_FILE and (path.parent / HEAD_INFO).is_file():  # -m weights/heads/promoter
            above = path.parent.parent
            weights = f" ({above.parent})" if above.name == "heads" else ""
            raise ModelError(f"{path.parent} is a task head's folder, not weights: give the weights folder that holds "
                             f"it{weights} and --task {path.parent.name}") from None
        raise ModelError(f"{path} is missing: is {path.parent} a vqdna weights directory?") from None
    except OSError as error:
        raise ModelError(f"cannot read {path}: {error.strerror}") from None
    if len(data) > MAX_JSON_BYTES:
        raise ModelError(f"{path} is larger than {MAX_JSON_BYTES >> 20} MiB: not a vqdna weights description")
    try:
        value = json.loads(data.decode())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path} is not a JSON object")
    return value


def require_keys(info: dict, keys: tuple[str, ...], path: Path) -> None:
    """Keys a weights description cannot do without (a hand-edited or truncated file)."""
    missing = [key for key in keys if key not in info]
    if missing:
        raise ModelError(f"{path} lacks {', '.join(missing)}: restore it or retrain")


def recorded_hash(info: dict, name: str | None, path: Path) -> str:
    """The SHA-256 `info` records for the weights file `name` (None: a checkpoint's, which
    records its one hash as a plain string)."""
    digest = info.get("sha256")
    if name is not None:
        digest = digest.get(name) if isinstance(digest, dict) else None
    if not isinstance(digest, str):
        raise ModelError(f"{path} lacks the SHA-256 of {name or 'its weights'}: restore it or retrain")
    return digest


# --- the shared model -----------------------------------------------------------------


def save_model(directory: Path, model: torch.nn.Module, cfg: ModelConfig, provenance: dict[str, Any]) -> None:
    directory = Path(directory)
    with stops_held():  # a config.json that does not match the model is a broken weights folder
        digest = _save_tensors(model.state_dict(), directory / MODEL_FILE)
        _write_json(directory / CONFIG_FILE, {
            "format_version": WEIGHTS_FORMAT_VERSION,
            "vqdna_version": __version__,
            "model": cfg.to_dict(),
            "sha256": {MODEL_FILE: digest},
            "provenance": provenance,
        })


def read_model_info(directory: Path) -> dict:
    if Path(directory).is_file():
        raise ModelError(f"--model {directory} is a file: give the weights folder (the one that holds {CONFIG_FILE})")
    if not Path(directory).exists():
        raise ModelError(f"--model {directory} does not exist: give the weights folder (the one that holds {CONFIG_FILE})")
    info = _read_json(Path(directory) / CONFIG_FILE)
    if "format_version" not in info and "model" not in info:  # another tool's config.json (a HuggingFace model)
        raise ModelError(f"{Path(directory) / CONFIG_FILE} is not a vqdna weights description (it has no "
                         "format_version or model): give a folder that vqdna train wrote, or the shipped weights")
    if info.get("format_version") != WEIGHTS_FORMAT_VERSION:
        raise ModelError(
            f"{directory} holds weights format {info.get('format_version')}, this vqdna reads "
            f"format {WEIGHTS_FORMAT_VERSION}: retrain or use a matching vqdna version"
        )
    return info


def as_dict(value) -> dict:
    """A record of provenance, or an empty one where an edited file holds something else
    there: provenance informs, and a list in its place is no reason to stop a run."""
    return value if isinstance(value, dict) else {}


def stopped_early(info: dict) -> list[str]:
    """The training stages of these weights that stopped before their planned steps, as
    `STAGE stopped at step N of M` (the stage records' settings and metrics say so)."""
    stages = []
    for stage, record in as_dict(info.get("provenance")).items():
        planned = as_dict(as_dict(record).get("settings")).get("steps")
        done = as_dict(as_dict(record).get("metrics")).get("steps")
        if isinstance(planned, int) and isinstance(done, int) and done < planned:
            stages.append(f"{stage} stopped at step {done} of {planned}")
    return stages


def never_pretrained(info: dict) -> bool:
    """Weights that went through the tokenizer stage and no pre-training: their Transformer
    holds its random initial weights (weights without provenance say nothing either way)."""
    stages = info.get("provenance") or {}
    return isinstance(stages, dict) and "tokenizer" in stages and "pretrain" not in stages


def load_model(directory: Path):
    """Rebuild the model from `config.json` and load its verified weights (eval mode)."""
    from vqdna_cli.model.vqdna import VQDNA

    directory = Path(directory)
    info = read_model_info(directory)
    require_keys(info, ("model",), directory / CONFIG_FILE)
    try:
        cfg = ModelConfig.from_dict(info["model"])
    except ValueError as error:
        raise ModelError(f"{directory / CONFIG_FILE}: {error}") from None
    state = _load_tensors(directory / MODEL_FILE, recorded_hash(info, MODEL_FILE, directory / CONFIG_FILE))
    for stage in stopped_early(info):
        warnings.warn(f"the weights in {directory} are not fully trained: {stage} (stopped by --max-minutes); "
                      "continue it with --resume before trusting its results", VqdnaWarning, stacklevel=2)
    held, described = sum(tensor.numel() for tensor in state.values()), approximate_parameters(cfg)
    if described > 2 * held + 1_000_000:  # refused before a model of the config's size is allocated
        raise ModelError(f"{directory / MODEL_FILE} does not match its config.json: the config describes a model of "
                         f"about {described:,} parameters, the file holds {held:,} values; restore config.json")
    model = VQDNA(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelError(f"{directory / MODEL_FILE} does not match its config.json: {_first_fault(error)}") from None
    return model.eval(), info


def _first_fault(error: RuntimeError) -> str:
    """The first fault PyTorch lists when a state dict does not load (a size mismatch names the
    tensor and both shapes); its first line only says that there are faults."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    fault = lines[1] if len(lines) > 1 and lines[0].startswith("Error(s) in loading") else (lines or ["?"])[0]
    fault = fault.replace("from checkpoint, the shape in current model is", "in the file, the config asks for")
    keys = re.fullmatch(r'((?:Missing|Unexpected) key\(s\) in state_dict: )(.*?)\.?', fault)
    if keys:  # every key of a model of another layout made a line of kilobytes: three, and a count
        names = keys.group(2).split(", ")
        fault = keys.group(1) + ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return fault + ": restore the folder's config.json and model.safetensors as they were written together"


def model_hash(info: dict) -> str:
    """A short, stable name for a weights file: the first 16 hex digits of its SHA-256."""
    return info["sha256"][MODEL_FILE][:16]


def head_fits_weights(trained_on: object, info: dict) -> bool | None:
    """Whether a head trained on the model whose SHA-256 is `trained_on` (head.json's
    model_sha256) reads these weights' features: a head on other weights answers
    meaninglessly, yet as confidently. None where head.json (written before the hash was
    recorded) or the weights do not say."""
    model_sha256 = as_dict(info.get("sha256")).get(MODEL_FILE)
    if not isinstance(trained_on, str) or not isinstance(model_sha256, str):
        return None
    return trained_on == model_sha256


# --- task heads -----------------------------------------------------------------------


def save_head(directory: Path, task: str, tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> Path:
    """Write a head's weights and its head.json (`info`: its keys but the task and the hash,
    checked as `HeadInfo.from_json` checks them on load)."""
    from vqdna_cli.head_info import HeadInfo

    head_dir = Path(directory) / "heads" / task
    # checked before anything is written: a bad description leaves no half-written head
    head = HeadInfo.from_json({**info, "task": task, "sha256": {HEAD_FILE: ""}}, head_dir / HEAD_INFO)
    with stops_held():
        digest = _save_tensors(tensors, head_dir / HEAD_FILE)
        _write_json(head_dir / HEAD_INFO, dataclasses.replace(head, weights_sha256=digest).to_json())
    return head_dir


UNUSABLE_HEAD_NAME = ("its folder name cannot be given to --task (letters, digits, '.', '_' and '-', starting with "
                      "a letter or digit): rename the folder")


def list_heads(directory: Path) -> list[dict]:
    """Every head's head.json as read, unchecked (listing shows even a damaged head), with
    `task` its folder's name: the name `--task` takes, whatever head.json says."""
    from vqdna_cli.options import TASK_NAME, has_line_breaking_character

    heads_dir = Path(directory) / "heads"
    if not heads_dir.is_dir():
        return []
    heads = []
    for folder in sorted(heads_dir.iterdir()):
        if not (folder / HEAD_INFO).is_file():
            continue
        if TASK_NAME.fullmatch(folder.name):
            try:
                heads.append({**_read_json(folder / HEAD_INFO), "task": folder.name})
            except ModelError as error:
                heads.append({"task": folder.name, "damaged": str(error)})
        elif not folder.name.startswith(".") and not has_line_breaking_character(folder.name):
            # a head renamed by hand ("pro moter"): listed, not left out without a word
            heads.append({"task": folder.name, "damaged": UNUSABLE_HEAD_NAME})
    return heads


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name longer than the file system takes
        return False


def load_head(directory: Path, task: str):
    """A head's verified weights and its head.json as a `HeadInfo`."""
    from vqdna_cli.head_info import HeadInfo
    from vqdna_cli.options import TASK_NAME

    head_dir = Path(directory) / "heads" / task
    usable = bool(TASK_NAME.fullmatch(task))
    # a path (`../heads/x`, `/abs/heads/x`, `x/`) read a head folder no --list-tasks names: not looked at
    has_info = "/" not in task and not task.startswith(".") and _is_file(head_dir / HEAD_INFO)
    if has_info and not usable:
        raise ModelError(f"task head {task!r}: {UNUSABLE_HEAD_NAME}")
    found = usable and has_info
    if not found and usable and os.path.lexists(head_dir):
        raise ModelError(f"task head {task!r} has no {HEAD_INFO} in {head_dir}: restore it, or train the head again "
                         "(vqdna train finetune)")
    if not found:
        known = ", ".join(h["task"] for h in list_heads(directory)) or "none"
        raise ModelError(f"unknown task {task!r} (tasks in {directory}: {known}; see `vqdna classify --list-tasks "
                         f"-m {shlex.quote(str(directory))}`)")
    data = _read_json(head_dir / HEAD_INFO)
    tensors = _load_tensors(head_dir / HEAD_FILE, recorded_hash(data, HEAD_FILE, head_dir / HEAD_INFO))
    return tensors, HeadInfo.from_json(data, head_dir / HEAD_INFO)


def record_head_info(directory: Path, task: str, values: dict) -> None:
    """Add or replace keys of a head's head.json (the weights and their hash are untouched)."""
    path = Path(directory) / "heads" / task / HEAD_INFO
    _write_json(path, {**_read_json(path), **values})


def record_head_test(directory: Path, task: str, metrics: dict) -> None:
    """Store a head's test score in its head.json."""
    record_head_info(directory, task, {"test": metrics})


# --- training checkpoints (resume) ----------------------------------------------------


def save_training_state(path: Path, model_state: dict, optimizer: torch.optim.Optimizer, meta: dict) -> None:
    """Model and optimizer state for `--resume`, as safetensors + JSON (no pickle), with the
    CPU random generator's state so that a resumed run draws what the first run would."""
    path = Path(path)
    tensors = {f"model.{k}": v for k, v in model_state.items()}
    tensors["rng.torch"] = torch.get_rng_state()
    opt_state = optimizer.state_dict()
    for index, state in opt_state["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    with stops_held():  # a stop between the two files would leave a checkpoint that cannot be resumed
        digest = _save_tensors(tensors, path.with_suffix(".safetensors"))
        _write_json(path.with_suffix(".json"), {
            **meta, "param_groups": opt_state["param_groups"], "sha256": digest,
        })


def resume_mismatch(path: Path, error: Exception) -> InputError:
    """--resume with options that build another model or optimizer than the checkpoint's."""
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return InputError(f"--resume: the checkpoint {path.with_suffix('.json')} is of another model or optimizer "
                      f"({reason}); resume with the options of the first run, or write a new output folder")


def checkpoint_step(meta_path: Path) -> int:
    """The step a training checkpoint (its JSON) was written at; a damaged one is one line."""
    return int(_read_json(Path(meta_path)).get("step", 0))


def load_training_state(path: Path, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Returns (model state, meta); restores the optimizer and the random generator in place."""
    path = Path(path)
    meta = _read_json(path.with_suffix(".json"))
    require_keys(meta, ("step", "param_groups"), path.with_suffix(".json"))
    expected = recorded_hash(meta, None, path.with_suffix(".json"))
    if path.with_suffix(".safetensors").is_file() and sha256_of(path.with_suffix(".safetensors")) != expected:
        # the two files are written one after the other: a run killed (kill -9) between them leaves
        # a pair that does not match, which no reinstall mends
        raise ModelError(f"the checkpoint in {path.parent} is incomplete ({path.with_suffix('.safetensors').name} "
                         f"does not match {path.with_suffix('.json').name}: a run stopped while writing them); "
                         "start the run over with --force")
    tensors = _load_tensors(path.with_suffix(".safetensors"), expected)
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (ValueError, KeyError, TypeError) as error:
        raise resume_mismatch(path, error) from None
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    return model_state, meta


# What a checkpoint records of the run that wrote it (`RUN_KEY` in its JSON): the options and
# inputs its weights depend on, named as the user gives them ({"--window": 64, ...}). Steps
# (their number, --epochs), time limits, threads, device and process count are not among
# them: they may change on --resume.
RUN_KEY = "run"


def as_recorded(record: dict) -> dict:
    """`record` as the checkpoint's JSON gives it back (tuples as lists, and so on)."""
    return json.loads(json.dumps(record, sort_keys=True))


def _shown(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(map(_shown, value)) or "none"
    if isinstance(value, dict):
        return ",".join(f"{k}:{_shown(v)}" for k, v in value.items()) or "none"
    return str(value)


_ABSENT = object()
# recorded under an option's name, but the value is the run's, given or not: a first run without
# --class-names has its labels as class names ("--class-names 0,1 then" said it was given)
_SHOWN_AS = {"--class-names": "class names"}


def _brief(text: str, limit: int = 160) -> str:
    """A recorded value in a one-line message: the records of a genome of many contigs cut short."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_resume(path: Path, record: dict | None, steps: int | None = None, by_epochs: bool = False) -> None:
    """--resume into the checkpoint at `path` (no checkpoint: nothing to check): refused in one
    line when `record`, what this run's weights depend on, differs from the first run's (a
    checkpoint written before vqdna recorded it is not checked), or when the checkpoint is
    past `steps`, the steps this run asks for (its --steps, or with `by_epochs` its --epochs')."""
    meta_path = Path(path).with_suffix(".json")
    if not meta_path.is_file():
        return
    meta = _read_json(meta_path)
    first = meta.get(RUN_KEY)
    if record is not None and isinstance(first, dict):
        now = as_recorded(record)
        # only what both record: an older vqdna's checkpoint lacks later keys, and the records
        # read from the FASTA are checked once they are read (api.train._resumable_with_records)
        differs = [f"{_SHOWN_AS.get(name, name)} {_brief(_shown(first[name]))} then, {_brief(_shown(now[name]))} now"
                   for name in first if name in now and first[name] != now[name]]
        if differs:
            raise UsageError(f"--resume: the checkpoint {meta_path} is of a run with other settings or inputs ("
                             f"{'; '.join(differs)}): resume with the options of the first run, or write a new "
                             f"output folder (--force starts over)")
    done = meta.get("step")
    if steps is not None and isinstance(done, int) and not isinstance(done, bool) and done > steps:
        wanted = (f"the {steps} steps of these --epochs: give more --epochs" if by_epochs
                  else f"--steps {steps}: give --steps {done} or more")
        raise UsageError(f"--resume: the checkpoint {meta_path} is at step {done}, past {wanted} to continue it")
