"""Where a results table came from: the command, the day, the commit and the machine, on one
line at the top of the table, so that a number can be traced to the code that made it and
rerun. Tables written before the scripts recorded this say so at their top."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """The checked-out commit (short), with "+changes" where tracked files differ from it (the
    code that ran is then not exactly that commit); "unknown" outside a git checkout of vqdna."""
    from vqdna_cli.train.provenance import git_commit

    found = git_commit(ROOT)
    if found is None:
        return "unknown"
    return found.removesuffix("-dirty")[:7] + ("+changes" if found.endswith("-dirty") else "")


def machine() -> str:
    """The CPU (as /proc/cpuinfo names it), its cores, torch's version and a GPU where torch sees one."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    described = f"{cpu}, {os.cpu_count()} cores"
    torch = sys.modules.get("torch")  # only where the benchmark loaded it: importing torch takes seconds
    if torch is not None:
        described += f", torch {torch.__version__}"
        if torch.cuda.is_available():
            described += f", {torch.cuda.get_device_name(0)}"
    return described


def made_by(module: str, argv: list[str] | None = None) -> str:
    """One line: `Made by `python -m MODULE ARGS` on DAY at commit C, on MACHINE.`"""
    args = sys.argv[1:] if argv is None else argv
    command = " ".join(["python", "-m", module, *map(shlex.quote, args)])
    return f"Made by `{command}` on {datetime.date.today().isoformat()} at commit {commit()}, on {machine()}."


def main() -> None:
    """`python -m benchmarks.provenance`: the commit and machine, for a table written by hand."""
    import argparse

    argparse.ArgumentParser(description=__doc__).parse_args()
    print(f"at commit {commit()}, on {machine()}")


if __name__ == "__main__":
    main()
