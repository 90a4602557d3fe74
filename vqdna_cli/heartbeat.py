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

import contextlib
import os
import sys
from collections.abc import Iterator

PLAIN_EVERY_S = 10.0
PREFIX = "vqdna: "  # the start of every line vqdna writes on stderr


def clock(seconds: float) -> str:
    """3725.4 -> '1:02:05'."""
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


_LIVE: list = []  # the console of a progress bar on screen, if one is


@contextlib.contextmanager
def messages_above(console) -> Iterator[None]:
    """While a progress bar is on screen, messages print above it through its `console`, one
    line each: written to stderr, which the bar redirects, rich wrapped them at the terminal's
    width (a warning in five pieces at 40 columns)."""
    _LIVE.append(console)
    try:
        yield
    finally:
        _LIVE.remove(console)


def to_stderr(line: str) -> None:
    """One message line on stderr, or nothing once it cannot be written: its reader has gone,
    its disk is full (a log on a full home), or it was closed at start (`2>&-`, where a plain
    print would write the message into stdout, the data)."""
    if _LIVE:
        from rich.text import Text

        _LIVE[-1].print(Text(line), soft_wrap=True)  # its file drops what cannot be written
        return
    if sys.stderr is None:
        return
    try:
        # one write: print's separate newline let two torchrun processes' lines run together
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except OSError:
        stderr_gone()


def stderr_gone() -> None:
    """Point stderr at /dev/null: what is left in its buffer, and what follows, is dropped."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):  # no descriptor to point elsewhere: messages are dropped anyway
        pass
    finally:
        os.close(devnull)


class _Messages:
    """stderr for rich, whose own handling ends the process (exit 1) on a broken pipe and lets
    a full disk's error through: a message that cannot be written is dropped. The stream is
    the one stderr was when the console was made (a live progress display puts a proxy that
    writes into the console in sys.stderr's place: writing there would loop)."""

    def __init__(self):
        self.stream = getattr(sys.stderr, "rich_proxied_file", sys.stderr)

    def write(self, text: str) -> int:
        if self.stream is not None:
            try:
                return self.stream.write(text)
            except OSError:
                stderr_gone()
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            try:
                self.stream.flush()
            except OSError:
                stderr_gone()

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"


def draws_a_bar(console) -> bool:
    """Whether rich draws a live bar on `console`: a terminal, but not TERM=dumb, where it
    draws none and the plain lines stand in (a long run showed no progress at all)."""
    return console.is_terminal and not console.is_dumb_terminal


def stderr_console(**options):
    """A rich Console on stderr whose messages are dropped once stderr cannot take them (its
    reader gone, its disk full, closed), instead of ending the process or failing the run."""
    from rich.console import Console

    return Console(file=_Messages(), **options)
