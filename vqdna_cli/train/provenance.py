"""What gets recorded with trained weights: data, command, commit, time, metrics."""

from __future__ import annotations

import datetime
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


def provenance(stage: str, data: dict, settings: dict, metrics: dict, minutes: float, device: str,
               commands: list[str] = ()) -> dict:
    """`commands`: each part's command of a run that was resumed (loop.recorded_commands);
    this process's is added where no checkpoint of its own recorded it (a resumed run with no
    step left writes none), and the earlier ones are recorded too."""
    import torch  # here: the benchmarks read git_commit without loading torch

    from vqdna_cli import distributed

    commands = list(commands)
    if not commands or commands[-1] != command_line(sys.argv):
        commands.append(command_line(sys.argv))
    return {
        "stage": stage,
        "command": commands[-1],
        **({"earlier_commands": commands[:-1]} if len(commands) > 1 else {}),
        "vqdna_version": __version__,
        "git_commit": git_commit(),
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_minutes": round(minutes, 2),  # a short run's 0.03 was recorded as 0.0
        "device": device,
        # bit-identical weights need the same threads and the same torch (--seed's help)
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "processes": distributed.world(),  # torchrun processes (DDP), each on its own device
        "host": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs",
        "data": data,
        "settings": settings,
        "metrics": metrics,
        # False when --max-minutes stopped the stage early (loading such weights warns)
        "complete": metrics.get("steps") == settings.get("steps") if "steps" in settings else True,
    }
