"""Progress on stderr: bases done and their rate, silenced by --quiet or a non-terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


class _Bar:
    """Called with the bases just done; `set_total` turns the spinner into a bar once the
    bases to do are known (a genome scan)."""

    def __init__(self, progress=None, task=None):
        self.progress, self.task = progress, task

    def __call__(self, bases: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, bases)

    def set_total(self, total: int | None) -> None:
        if self.progress is not None and total is not None:
            self.progress.update(self.task, total=total, of=f" of {total:,} bp")


@contextlib.contextmanager
def bases_progress(label: str, quiet: bool) -> Iterator[Callable[[int], None]]:
    if quiet:
        yield _Bar()
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed:,.0f} bp{task.fields[of]}"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        yield _Bar(progress, progress.add_task(label, total=None, of=""))


def report(message: str, quiet: bool) -> None:
    if not quiet:
        from rich.console import Console

        # soft_wrap: one message, one line, whatever the terminal's width (logs are grepped)
        Console(stderr=True, highlight=False, soft_wrap=True).print(message)
