"""The `vqdna` command: the Typer app and `--version`; errors become exits in `handling`."""

from __future__ import annotations

import signal
import sys
from typing import Annotated, Optional

import typer

from vqdna_cli import __version__
from vqdna_cli.cli import classify, embed, mutations, tokenize, train
from vqdna_cli.cli.command import OneValueEach
from vqdna_cli.cli.handling import fail, one_line_errors
from vqdna_cli.errors import Terminated
from vqdna_cli.heartbeat import to_stderr

# click's exceptions as the click Typer runs on raises them (recent Typer carries its own
# copy of click, older Typer uses click itself): the bases of the public typer.BadParameter.
_CLICK = {cls.__name__: cls for cls in typer.BadParameter.__mro__}
UsageError, ClickException = _CLICK["UsageError"], _CLICK["ClickException"]

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


app.command("tokenize", no_args_is_help=True, cls=OneValueEach)(one_line_errors(tokenize.command))
app.command("embed", no_args_is_help=True, cls=OneValueEach)(one_line_errors(embed.command))
app.command("classify", cls=OneValueEach)(one_line_errors(classify.command))
app.command("mutations", no_args_is_help=True, cls=OneValueEach)(one_line_errors(mutations.command))
app.add_typer(train.app, name="train")


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = _run()
    finally:
        # The command is over: its output is in place or its error reported. A Ctrl-C or a
        # kill from here on would only turn the interpreter's shutdown (torch's exit hooks)
        # into a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if code:
        sys.exit(code)


def _terminate(signum, frame) -> None:
    """`kill` (SIGTERM) ends a run as Ctrl-C does: temporary files removed, one line."""
    raise Terminated()


def _run() -> int:
    """The app, with click's errors shown here rather than by click: a usage error (bad or
    missing option, value out of range, unknown command) as vqdna's one line, exit 2.

    Not standalone, click returns an exit code (`typer.Exit`, `--version`, `-h`) or the
    command's own return value (vqdna's commands return None: a plain run, exit 0) and
    raises what standalone mode would print; the rest is as click's standalone mode.
    """
    try:
        code = app(standalone_mode=False)
    except UsageError as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # `no_args_is_help`: the help on stderr
            error.show()
            return error.exit_code
        return fail(_usage_message(error), error.exit_code).exit_code
    except ClickException as error:
        error.show()
        return error.exit_code
    except typer.Abort:
        to_stderr("Aborted!")
        return 1
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


def _usage_message(error: UsageError) -> str:
    """`Invalid value for '--steps': ... (see 'vqdna train tokenizer -h')`, on one line."""
    if getattr(error, "option_name", None) in ("--version", "-V"):  # click would suggest a look-alike option
        return f"{error.option_name} is an option of vqdna itself, not of a command: run `vqdna --version`"
    message = " ".join(line.strip() for line in error.format_message().splitlines() if line.strip())
    message = message[:-1] if message.endswith(".") else message
    ctx = error.ctx
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        message += f" (see '{ctx.command_path} {ctx.help_option_names[0]}')"
    return message
