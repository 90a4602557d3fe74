"""The `vqdna` command: the Typer app and `--version`; errors become exits in `handling`."""

from __future__ import annotations

import signal
from typing import Annotated, Optional

import typer

from vqdna_cli import __version__
from vqdna_cli.cli import classify, embed, mutations, tokenize, train
from vqdna_cli.cli.handling import one_line_errors
from vqdna_cli.errors import Terminated

app = typer.Typer(
    name="vqdna",
    help="Genome language modelling with a learned DNA vocabulary (VQDNA, hierarchical residual quantization).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help text is plain text: rich markup would eat brackets (`pip install 'vqdna[plot]'`).
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        print(f"vqdna {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", "-V", callback=_print_version, is_eager=True, help="Print `vqdna X.Y.Z` and exit.")] = None,
) -> None:
    """Tokenize, embed and classify DNA from FASTA or BAM with a learned HRQ vocabulary."""


app.command("tokenize", no_args_is_help=True)(one_line_errors(tokenize.command))
app.command("embed", no_args_is_help=True)(one_line_errors(embed.command))
app.command("classify")(one_line_errors(classify.command))
app.command("mutations", no_args_is_help=True)(one_line_errors(mutations.command))
app.add_typer(train.app, name="train")


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    finally:
        # The command is over: its output is in place or its error reported. A Ctrl-C or a
        # kill from here on would only turn the interpreter's shutdown (torch's exit hooks)
        # into a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _terminate(signum, frame) -> None:
    """`kill` (SIGTERM) ends a run as Ctrl-C does: temporary files removed, one line."""
    raise Terminated()
