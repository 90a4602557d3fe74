"""Progress on stderr, silenced by --quiet: a live bar on a terminal; elsewhere (Snakemake
and Nextflow logs) a plain line every PLAIN_EVERY_S seconds, so a long run shows life."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from vqdna_cli.heartbeat import PLAIN_EVERY_S, PREFIX, clock, draws_a_bar, messages_above, stderr_console, to_stderr


class _Silent:
    """What --quiet gets: the progress interface, doing nothing."""

    def __call__(self, bases: int) -> None:
        pass

    def set_total(self, total: int | None) -> None:
        pass

    def stage(self, label: str, total: int | None = None) -> None:
        pass


@contextlib.contextmanager
def bases_progress(label: str, quiet: bool, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A callback that takes the bases just done; `total` (when an index tells it, or later
    through `set_total`, as a genome scan learns it) adds a percentage and the time left."""
    if quiet:
        yield _Silent()
        return
    console = stderr_console()
    if draws_a_bar(console):
        with _bar(label, total, console) as bar:
            yield bar
    else:
        lines = _PlainLines(label, total)
        try:
            yield lines
        finally:
            lines.stop()


class _RichBar:
    def __init__(self, progress, task) -> None:
        self._progress, self._task = progress, task

    def __call__(self, bases: int) -> None:
        self._progress.advance(self._task, bases)

    def set_total(self, total: int | None) -> None:
        if total is not None:
            self._progress.update(self._task, total=total)

    def stage(self, label: str, total: int | None = None) -> None:
        """Other work follows (`mutations` scoring its variants): the bar says what runs and
        how far it is (`total`: its amount, counted from zero through the same callback) or
        for how long, not a rate of bases that falls as the bases stop."""
        self._progress.reset(self._task, description=label, total=total, stage=True)


@contextlib.contextmanager
def _bar(label: str, total: int | None, console) -> Iterator[_RichBar]:
    from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn
    from rich.text import Text

    class StatusColumn(ProgressColumn):
        def render(self, task) -> Text:
            if task.fields.get("stage"):
                total = None if task.total is None else int(task.total)
                said = stage_status(int(task.completed), total, task.elapsed or 0.0)
            else:
                known = None if task.total is None else int(task.total)
                said = status(int(task.completed), known, task.elapsed or 0.0)
            # one line at any width: a status wrapped under the bar left half of it behind
            return Text(said, no_wrap=True, overflow="ellipsis")

    columns = [SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(bar_width=15),
               StatusColumn()]
    with Progress(*columns, console=console, transient=True) as progress, messages_above(progress.console):
        yield _RichBar(progress, progress.add_task(label, total=total))


class _PlainLines:
    """`vqdna: embedding: 1.2 Mb of 4.6 Mb (26%), ...` every PLAIN_EVERY_S seconds once the
    first bases are done, from a thread: a line is due even while one batch runs for longer
    than that. Not before: an input error found while loading stays the log's only line."""

    def __init__(self, label: str, total: int | None) -> None:
        self._label, self._total = label, total
        self._done = 0
        self._began = time.monotonic()
        self._stage_began: float | None = None  # set by `stage`, with its own total
        self._stage_total: int | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._print_until_stopped, daemon=True)
        self._thread.start()

    def __call__(self, bases: int) -> None:
        self._done += bases

    def set_total(self, total: int | None) -> None:
        self._total = total

    def stage(self, label: str, total: int | None = None) -> None:
        """Other work follows: lines say what runs and how far it is (`total`: its amount,
        counted from zero) or for how long."""
        self._label, self._stage_total, self._done = label, total, 0
        self._stage_began = time.monotonic()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _print_until_stopped(self) -> None:
        while not self._stopped.wait(PLAIN_EVERY_S):
            if self._stage_began is not None:
                line = stage_status(self._done, self._stage_total, time.monotonic() - self._stage_began)
            elif self._done:
                line = status(self._done, self._total, time.monotonic() - self._began)
            else:
                continue
            to_stderr(f"{PREFIX}{self._label}: {line}")


def status(done: int, total: int | None, seconds: float) -> str:
    """`1.2 Mb of 4.6 Mb (26%), 0.31 Mb/s, 0:00:11 left`; without a total, bases and rate."""
    parts = [_bases(done) if total is None else f"{_bases(done)} of {_bases(total)} ({100 * done / max(total, 1):.0f}%)"]
    rate = done / seconds if seconds > 0 else 0.0
    if rate > 0:
        parts.append(f"{_bases(rate)}/s")
        if total is not None and total >= done:
            parts.append(f"{clock((total - done) / rate)} left")
    return ", ".join(parts)


def stage_status(done: int, total: int | None, seconds: float) -> str:
    """A stage's `40%, 0:00:12 left`, or `0:00:05 elapsed` while nothing tells how far it is."""
    if not total or not done:
        return f"{clock(seconds)} elapsed"
    share = min(done / total, 1.0)
    return f"{100 * share:.0f}%, {clock(seconds * (1 - share) / share)} left"


def _bases(count: float) -> str:
    for unit, size in (("Gb", 1e9), ("Mb", 1e6), ("kb", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count:.0f} bp"


def destination(output) -> str:
    """Where an output went, for the closing line: `-o -` (or none) is stdout, not a file '-'."""
    return "stdout" if output is None or str(output) == "-" else str(output)


def counted(count: int, noun: str) -> str:
    """"1 record", "2 records", "1,000 windows"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def report(message: str, quiet: bool) -> None:
    """One `vqdna: ...` line on stderr (every line vqdna writes there starts so: logs of a
    pipeline that runs many tools are grepped by it)."""
    if not quiet:
        message = message if message.startswith(PREFIX) else PREFIX + message
        # soft_wrap: one message, one line, whatever the terminal's width (logs are grepped);
        # markup off: messages hold paths and hints such as `pip install 'vqdna[plot]'`.
        stderr_console(highlight=False, soft_wrap=True, markup=False).print(message)
