"""What long work says off a terminal (Snakemake and Nextflow logs), where rich draws no
bar: a plain line every PLAIN_EVERY_S seconds, with times as h:mm:ss. Shared by the
inference progress (cli/progress.py) and the training loop (train/loop.py).

Every message goes to stderr through `to_stderr` or `stderr_console`: when stderr's reader
has gone (`vqdna ... 2>&1 | head -1`), the messages stop and the run goes on to its outputs
and its exit status. Left alone, the first message after that raised BrokenPipeError (which
vqdna takes, on stdout, for a reader that has all it wants: exit 0, no outputs yet) or, in
rich, ended the run with exit 1.
"""

from __future__ import annotations

import os
import sys

PLAIN_EVERY_S = 10.0


def clock(seconds: float) -> str:
    """3725.4 -> '1:02:05'."""
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def to_stderr(line: str) -> None:
    """One message line on stderr, or nothing once its reader has gone."""
    try:
        print(line, file=sys.stderr, flush=True)
    except BrokenPipeError:
        stderr_gone()


def stderr_gone() -> None:
    """Point stderr at /dev/null: what is left in its buffer, and what follows, is dropped."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stderr.fileno())
    finally:
        os.close(devnull)


def stderr_console(**options):
    """A rich Console on stderr that, when stderr's reader has gone, drops its output instead
    of ending the process (rich's own choice: exit 1)."""
    from rich.console import Console

    class _StderrConsole(Console):
        def on_broken_pipe(self) -> None:
            stderr_gone()

    return _StderrConsole(stderr=True, **options)
