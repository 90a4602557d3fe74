"""The `vqdna` command: the Typer app, `--version`, and the one place errors become exits."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import click
import typer

from vqdna_cli import __version__
from vqdna_cli.cli import classify, embed, tokenize, train
from vqdna_cli.errors import VqdnaError

app = typer.Typer(
    name="vqdna",
    help="Genome language modelling with a learned DNA vocabulary (VQDNA, hierarchical residual quantization).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


app.command("tokenize", no_args_is_help=True)(tokenize.command)
app.command("embed", no_args_is_help=True)(embed.command)
app.command("classify")(classify.command)
app.add_typer(train.app, name="train")


def main() -> None:
    """Entry point: a user error is one line on stderr and a non-zero exit, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except VqdnaError as error:
        _fail(str(error), error.exit_code)
    except click.exceptions.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _fail("interrupted", 130)
    except BrokenPipeError:
        sys.stderr.close()  # downstream closed the pipe (e.g. `| head`): not an error
        sys.exit(0)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    print(f"vqdna: error: {message}", file=sys.stderr)
    sys.exit(code)
