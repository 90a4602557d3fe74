"""Progress on stderr: bases done and their rate, silenced by --quiet or a non-terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def bases_progress(label: str, quiet: bool) -> Iterator[Callable[[int], None]]:
    if quiet:
        yield lambda bases: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"),
               TextColumn("{task.completed:,.0f} bp"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(label, total=None)
        yield lambda bases: progress.advance(task, bases)


def report(message: str, quiet: bool) -> None:
    if not quiet:
        from rich.console import Console

        # soft_wrap: one message, one line, whatever the terminal's width (logs are grepped);
        # markup off: messages hold paths and hints such as `pip install 'vqdna[plot]'`.
        Console(stderr=True, highlight=False, soft_wrap=True, markup=False).print(message)
