"""The `vqdna` command: the Typer app and `--version`; errors become exits in `handling`."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Annotated, Optional

import typer

from vqdna_cli import __version__
from vqdna_cli.cli import classify, embed, mutations, tokenize, train
from vqdna_cli.cli.command import OneValueEach
from vqdna_cli.cli.handling import INTERRUPTED, fail, one_line_errors, one_process
from vqdna_cli.errors import OutputError, Terminated
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
        if sys.stdout is None:  # started with stdout closed (`>&-`): print() would write nothing, exit 0
            raise typer.Exit(fail("cannot write to stdout: it is closed", OutputError.exit_code).exit_code)
        print(f"vqdna {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", "-V", callback=_print_version, is_eager=True, help="Print `vqdna X.Y.Z` and exit.")] = None,
) -> None:
    """Tokenize, embed and classify DNA from FASTA or BAM with a learned HRQ vocabulary."""


app.command("tokenize", no_args_is_help=True, cls=OneValueEach)(one_line_errors(one_process(tokenize.command)))
app.command("embed", no_args_is_help=True, cls=OneValueEach)(one_line_errors(one_process(embed.command)))
app.command("classify", no_args_is_help=True, cls=OneValueEach)(one_line_errors(one_process(classify.command)))
app.command("mutations", no_args_is_help=True, cls=OneValueEach)(one_line_errors(one_process(mutations.command)))
app.add_typer(train.app, name="train")


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    # A closed terminal or a dropped ssh session (SIGHUP) cleans up as a kill does; under
    # nohup, which ignores SIGHUP, the run goes on as the user asked.
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _hang_up)
    _utf8_stdout()
    try:
        code = _run()
    finally:
        # The command is over: its output is in place or its error reported. A Ctrl-C or a
        # kill from here on would only turn the interpreter's shutdown (torch's exit hooks)
        # into a traceback.
        for stop in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(stop, signal.SIG_IGN)
    if code:
        sys.exit(code)


def _utf8_stdout() -> None:
    """Tables on stdout are UTF-8, as with -o FILE, whatever the locale says: a record ID
    with `é` under an ASCII or Latin-1 locale ended in a traceback after the header line."""
    encoding = getattr(sys.stdout, "encoding", None)
    if encoding and encoding.lower().replace("-", "") != "utf8" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")


def _terminate(signum, frame) -> None:
    """`kill` (SIGTERM) ends a run as Ctrl-C does: temporary files removed, one line."""
    raise Terminated(signal.SIGTERM, "terminated")


def _hang_up(signum, frame) -> None:
    """SIGHUP (its terminal gone) ends a run as SIGTERM does, exit 129 as a shell reports it."""
    raise Terminated(signal.SIGHUP, "hung up (its terminal closed): run it under nohup, screen or tmux to keep it going")


def _run() -> int:
    """The app, with click's errors shown here rather than by click: a usage error (bad or
    missing option, value out of range, unknown command) as vqdna's one line, exit 2.

    Not standalone, click returns an exit code (`typer.Exit`, `--version`, `-h`) or the
    command's own return value (vqdna's commands return None: a plain run, exit 0) and
    raises what standalone mode would print; the rest is as click's standalone mode.
    """
    try:
        code = app(standalone_mode=False)
    except Terminated as stopped:  # while Typer reads the command line, before the command's own handling
        return fail(stopped.what, 128 + stopped.signum).exit_code
    except KeyboardInterrupt:
        return fail("interrupted", INTERRUPTED).exit_code
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
    except OSError as error:  # --help or --version into a pipe whose reader went, or a full disk
        return _stdout_failed(error)
    except SystemExit:
        # click's own answer to EPIPE while it printed help or the version: wrap stdout and
        # stderr to stay quiet, then exit 1. A reader that went has what it wanted: exit 0.
        if type(sys.stdout).__name__ != "PacifyFlushWrapper":
            raise
        sys.stdout, sys.stderr = sys.stdout.wrapped, getattr(sys.stderr, "wrapped", sys.stderr)
        return _stdout_failed(BrokenPipeError())
    try:
        if sys.stdout is not None:  # (None: started with stdout closed)
            sys.stdout.flush()  # what is still buffered (--version's line), here rather than at exit
    except OSError as error:
        return _stdout_failed(error)
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


def _stdout_failed(error: OSError) -> int:
    """A reader that went away has what it wanted (exit 0, as for the commands); a disk that
    refused the text is vqdna's one line, exit 4. Either way stdout goes to /dev/null so that
    the interpreter's last flush does not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if isinstance(error, BrokenPipeError):
        return 0
    if error.filename:  # a path no check foresaw (a name longer than the file system takes): not stdout's
        return fail(f"cannot use {error.filename}: {error.strerror}", OutputError.exit_code).exit_code
    return fail(f"cannot write to stdout: {error.strerror}", OutputError.exit_code).exit_code


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
