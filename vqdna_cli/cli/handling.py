"""Turning failures into what a pipeline expects: one line on stderr and an exit code.

Every command function is wrapped by `one_line_errors`; Typer itself handles usage errors
(exit 2) and help. Anything that is not a `VqdnaError` is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import re
import sys
import threading
import warnings

import typer

from vqdna_cli.errors import DISK_ERRORS, PATH_ERRORS, OutputError, Terminated, UsageError, VqdnaError, VqdnaWarning
from vqdna_cli.heartbeat import to_stderr
from vqdna_cli.launch import launch_rank, launch_world
from vqdna_cli.stops import stops_held

INTERRUPTED = 130
TERMINATED = 143  # 128 + SIGTERM, as a shell reports it
HUNG_UP = 129  # 128 + SIGHUP


def fail(message: str, code: int) -> typer.Exit:
    rank = launch_rank()
    # under torchrun every process says its own error (on several machines one may lack a file
    # the others have), the others naming their process
    to_stderr(f"vqdna: error: {message}" if rank == 0 else f"vqdna: error (process {rank}): {message}")
    return typer.Exit(code)


_PEER_ENDED = ("closed by peer", "reset by peer")  # gloo's and NCCL's words at the next collective


def _peer_ended(error: BaseException) -> bool:
    """A process of a torchrun run whose peer ended (failed, stopped or killed): gloo and NCCL
    say so at the next collective, with a traceback that only repeats the peer's end."""
    return launch_world() > 1 and any(words in str(error).lower() for words in _PEER_ENDED)


# PyTorch's words when an allocation fails: the CPU allocator's, and CUDA's OutOfMemoryError
_OUT_OF_MEMORY = ("can't allocate memory", "out of memory")


def _out_of_memory(error: BaseException) -> bool:
    return isinstance(error, MemoryError) or any(words in str(error).lower() for words in _OUT_OF_MEMORY)


def _out_of_memory_message(error: BaseException) -> str:
    """What failed and the fix: smaller batches (a batch's activations are what outgrows memory)."""
    tried = re.search(r"tried to allocate (\d+) bytes", str(error))
    size = f" (an allocation of {int(tried.group(1)) / 2**30:.1f} GiB failed)" if tried else ""
    where = " on the GPU" if "cuda" in str(error).lower() else ""
    return (f"out of memory{where}{size}: lower the batch size (--batch-tokens; train: --batch) and run again"
            + (", or use --device cpu" if where else ""))


@contextlib.contextmanager
def warnings_as_lines(quiet: bool):
    """vqdna's own warnings as one `vqdna: warning: ...` line each on stderr (none with
    --quiet); other warnings as Python shows them."""
    shown = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if issubclass(category, VqdnaWarning):
            to_stderr(f"vqdna: warning: {message}")
        else:
            shown(message, category, *args, **kwargs)

    with warnings.catch_warnings():
        # under torchrun the processes read the same inputs: process 0 says what they all would
        warnings.simplefilter("ignore" if quiet or launch_rank() else "always", VqdnaWarning)
        warnings.showwarning = show
        yield


def import_torch_holding_ctrl_c() -> None:
    """Import torch (every command uses it) with Ctrl-C, `kill` and SIGHUP held back until the
    import is done, then acted on. A KeyboardInterrupt raised while torch's C++ code calls back
    into Python is not caught there: the process aborts (exit 134, a C++ message) instead of
    ending in one line, 130; a kill's exception raised inside numpy's or torch's import ended
    in a traceback, or was swallowed there and the run went on."""
    if "torch" in sys.modules or not _in_main_thread():
        return
    with stops_held():  # a stop ignored (a job started in the background) stays ignored
        importlib.import_module("torch")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # signal.signal works there only


def one_process(command):
    """A command that is not split over processes (tokenize, embed, classify, mutations, train
    evaluate): under torchrun each process would run it whole, into the same output."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        if launch_world() > 1:
            raise UsageError(f"this command runs as one process, but torchrun started {launch_world()} (WORLD_SIZE): "
                             "each would write the whole output; run it without torchrun, and split a large input "
                             "over jobs with the Snakemake workflow (workflow/README.md)")
        return command(*args, **kwargs)
    return wrapper


def one_line_errors(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with warnings_as_lines(bool(kwargs.get("quiet"))):
                import_torch_holding_ctrl_c()
                return command(*args, **kwargs)
        except VqdnaError as error:
            raise fail(str(error), error.exit_code) from None
        except Terminated as stopped:
            raise fail(stopped.what, 128 + stopped.signum) from None
        except KeyboardInterrupt:
            raise fail("interrupted", INTERRUPTED) from None
        except BrokenPipeError:
            # stdout's reader went away (`| head`): not an error. Point stdout at /dev/null so
            # that the interpreter's final flush does not fail again. (A stderr nobody reads
            # raises nothing: heartbeat.to_stderr drops its messages and the run goes on.)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except OSError as error:
            # The disk refused a write outside the atomic writers (stdout, a log, a checkpoint).
            if error.errno in DISK_ERRORS:
                raise fail(f"cannot write {error.filename or 'the output'}: {error.strerror}",
                           OutputError.exit_code) from None
            if error.errno in PATH_ERRORS and error.filename:
                raise fail(f"cannot use {error.filename}: {error.strerror}", OutputError.exit_code) from None
            raise
        except MemoryError as error:
            raise fail(_out_of_memory_message(error), 1) from None
        except RuntimeError as error:
            if _out_of_memory(error):
                raise fail(_out_of_memory_message(error), 1) from None
            if not _peer_ended(error):
                raise
            if launch_rank() != 0:  # the peer that failed has said why
                raise typer.Exit(1) from None
            # process 0 speaks for the run: a peer killed without a word (kill -9, out of memory)
            raise fail("another process of this torchrun run ended (killed, or out of memory?), so the run "
                       "stopped; continue it from its last checkpoint with the same command and --resume", 1) from None

    return wrapper
