"""What gets recorded with trained weights: data, command, commit, time, metrics."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from vqdna_cli import __version__


def git_commit(checkout: Path | None = None) -> str | None:
    """The commit of the vqdna checkout this code runs from (`-dirty` when its tracked files
    have changes); None for an installed package, even one installed inside some other git
    repository (a user's project), whose commit says nothing about vqdna. (The benchmarks'
    tables record it too, `benchmarks/provenance.py`.)"""
    if checkout is None:
        checkout = Path(__file__).resolve().parents[2]  # vqdna_cli/train/provenance.py -> the checkout

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, cwd=checkout)
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if not top or Path(top).resolve() != checkout or not (checkout / "pyproject.toml").is_file():
        return None
    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def command_line(argv: list[str]) -> str:
    """The command as a user reruns it: `vqdna ...` whether it ran as the `vqdna` script, as
    `python -m vqdna_cli` or under torchrun (whose processes the record counts apart); any
    other program (a benchmark script calling the API) by its own arguments."""
    program = Path(argv[0])
    if program.name == "vqdna" or (program.name == "__main__.py" and program.parent.name == "vqdna_cli"):
        return shlex.join(["vqdna", *argv[1:]])
    return shlex.join(argv)


def this_part() -> dict:
    """This process's part of a run: its command and what bit-identical weights depend on
    (--seed's help: the same threads, processes and torch). A resumed run keeps one for each
    part in its checkpoint (loop.recorded_parts), so a run begun with two threads and resumed
    with one says both."""
    import torch  # here: the benchmarks read git_commit without loading torch

    from vqdna_cli import distributed

    return {
        "command": command_line(sys.argv),
        "threads": torch.get_num_threads(),
        "processes": distributed.world(),  # torchrun processes (DDP), each on its own device
        "torch_version": torch.__version__,
        "host": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }


def provenance(stage: str, data: dict, settings: dict, metrics: dict, minutes: float, device: str,
               parts: list[dict] = (), part: dict | None = None) -> dict:
    """`parts`: each part of a run that was resumed (loop.recorded_parts); this run's `part`
    (the one its loop was given; None: this_part() now) is added where no checkpoint of its
    own recorded it (a resumed run with no step left writes none). The last part's settings
    are the record's own; the earlier parts are listed with theirs (a checkpoint from before
    they were recorded gave its commands only)."""
    parts, part = list(parts), part or this_part()
    if not parts or parts[-1] != part:
        parts.append(part)
    last, earlier = parts[-1], parts[:-1]
    return {
        "stage": stage,
        "command": last["command"],
        **({"earlier_commands": [part["command"] for part in earlier], "earlier_parts": earlier} if earlier else {}),
        "vqdna_version": __version__,
        "git_commit": git_commit(),
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_minutes": round(minutes, 2),  # a short run's 0.03 was recorded as 0.0
        "device": device,
        "threads": last["threads"],
        "torch_version": last["torch_version"],
        "processes": last["processes"],
        "host": last["host"],
        "data": data,
        "settings": settings,
        "metrics": metrics,
        # False when --max-minutes stopped the stage early (loading such weights warns)
        "complete": metrics.get("steps") == settings.get("steps") if "steps" in settings else True,
    }
