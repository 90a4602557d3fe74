"""What gets recorded with trained weights: data, command, commit, time, metrics."""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
from pathlib import Path

from vqdna_cli import __version__, distributed


def _git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def provenance(stage: str, data: dict, settings: dict, metrics: dict, minutes: float, device: str) -> dict:
    return {
        "stage": stage,
        "command": " ".join(["vqdna", *sys.argv[1:]]) if Path(sys.argv[0]).name == "vqdna" else " ".join(sys.argv),
        "vqdna_version": __version__,
        "git_commit": _git_commit(),
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_minutes": round(minutes, 1),
        "device": device,
        "processes": distributed.world(),  # torchrun processes (DDP), each on its own device
        "host": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs",
        "data": data,
        "settings": settings,
        "metrics": metrics,
        # False when --max-minutes stopped the stage early (loading such weights warns)
        "complete": metrics.get("steps") == settings.get("steps") if "steps" in settings else True,
    }
