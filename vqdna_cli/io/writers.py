"""Writing outputs: refused when they exist (unless forced) or are one of the inputs,
checked before any work, and written atomically (a temporary file in the same folder, then
a rename), so an error or Ctrl-C never leaves a half-written file behind. Every command
checks its outputs here."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import stat
import sys
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from vqdna_cli.errors import DISK_ERRORS, OutputError


def check_output(path: Path | str | None, force: bool, inputs: Iterable = (), binary: bool = False) -> None:
    """Fail early, before a model is loaded: an output that is one of the `inputs`, an
    existing file without --force, a missing folder; `binary` outputs (`.npz`) are not
    written to a terminal. A device or FIFO (`-o /dev/null`) is written into, never replaced."""
    if path is None or str(path) == "-":
        if binary and path is not None and sys.stdout.isatty():
            raise OutputError("-o -: the output is a binary .npz; redirect stdout to a file or a pipe")
        return
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output {path} is a directory: give a file name")
    check_not_an_input(path, inputs)
    if is_special(path):
        return
    if path.exists() and not force:
        raise OutputError(f"output {path} exists: use --force to overwrite it")
    check_parent_writable(path)
    claim_parts(path)


def check_weights_output(path: Path, force: bool, resume: bool) -> None:
    """A training stage's weights folder: a folder that already holds files (a model, or
    another run's checkpoint) is continued only with --resume and overwritten only with --force."""
    path = Path(path)
    if str(path) == "-":
        raise OutputError("-o -: training writes a weights folder; give a folder name")
    if path.exists() and not path.is_dir():
        raise OutputError(f"output {path} exists and is not a folder: give a folder name")
    if path.is_dir():
        if any(path.iterdir()) and not (force or resume):
            raise OutputError(f"output folder {path} is not empty: use --resume to continue its training "
                              "or --force to overwrite it")
        if not os.access(path, os.W_OK):
            raise OutputError(f"cannot write into {path}: the folder is not writable")


def check_not_an_input(output: Path, inputs: Iterable) -> None:
    """--force must never turn an input into an output: compared as resolved paths, so
    `./x.fa`, a symbolic link or a hard link to it are the same file."""
    for given in inputs:
        if given is not None and str(given) != "-" and same_file(output, Path(given)):
            raise OutputError(f"output {output} is also an input ({given}): write the output elsewhere")


def same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def is_special(path: Path) -> bool:
    """A device, FIFO or socket: it is written into as it is (renaming a file over it would
    replace `/dev/null` with a regular file)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_parent_writable(path: Path) -> None:
    """The folder that will hold `path` exists and may be written to."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: folder {parent} is not writable")


@contextlib.contextmanager
def atomic_file(path: Path | str, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    if is_special(path):
        try:
            with open(path, mode) as handle:
                yield handle
        except OSError as error:
            raise write_error(path, error) from None
        return
    claim_parts(path)
    tmp = part_of(path)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # this process's own, of an earlier failed write
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise write_error(path, error) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def part_of(path: Path) -> Path:
    """The temporary file of `path` written by this process: the writer's process ID in
    its name tells a later run whether it is stale (its writer is gone: kill -9) or another
    run's, still writing."""
    return path.parent / f".{path.name}.{os.getpid()}.part"


def claim_parts(path: Path) -> None:
    """Remove the stale temporary files of `path`; refuse when another running process
    writes it (two runs with one -o would overwrite each other's output)."""
    prefix = f".{path.name}."
    for part in (path.parent if str(path.parent) else Path(".")).glob(f"{glob.escape(prefix)}*.part"):
        pid = part.name[len(prefix) : -len(".part")]
        if not pid.isdigit():
            if _stale_unnumbered(part, pid):
                _remove_part(part)
            continue
        if int(pid) == os.getpid():
            continue
        if _running(int(pid)):
            raise OutputError(f"another vqdna run (process {pid}) is writing {path}: wait for it or choose another output")
        _remove_part(part)


# Earlier versions named the temporary file with random letters (mkstemp), not the writer's
# process ID: such a part cannot say whether its writer still runs, so only one untouched for a
# day is taken as left behind by a killed run.
UNNUMBERED_PART_STALE_SECONDS = 24 * 3600


def _stale_unnumbered(part: Path, middle: str) -> bool:
    if len(middle) != 8 or not all(c.isalnum() or c == "_" for c in middle):
        return False  # not a name vqdna ever gave
    with contextlib.suppress(OSError):
        return time.time() - part.lstat().st_mtime > UNNUMBERED_PART_STALE_SECONDS
    return False


def _remove_part(part: Path) -> None:
    if part.is_dir() and not part.is_symlink():  # a folder output's staging folder (mutations -o DIR)
        shutil.rmtree(part, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            part.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _mode_for(path: Path) -> int:
    """The permissions of the file being replaced (--force), else the usual ones for the
    umask (a temporary file is created 0600)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def write_error(path: Path | str, error: OSError) -> Exception:
    """An OSError while writing `path`: OutputError when the disk refused (full, quota,
    read-only), else the error itself (a bug keeps its traceback)."""
    if error.errno in DISK_ERRORS:
        return OutputError(f"cannot write {path}: {error.strerror}")
    return error


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def binary_output(path: Path | str) -> Iterator[IO[bytes]]:
    """stdout for '-', else an atomic file."""
    if str(path) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with atomic_file(path) as handle:
        yield handle


@contextlib.contextmanager
def text_output(path: Path | str | None) -> Iterator[IO[str]]:
    """stdout for None or '-', else an atomic file."""
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_file(path, "w") as handle:
        yield handle


# numpy.savez stamps each member with the current time; a fixed stamp makes identical
# input and options give a byte-identical file (pipelines compare md5 sums).
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


def write_npz(path: Path | str, arrays: dict[str, np.ndarray], metadata: dict, compress: bool = True) -> None:
    """One `.npz` that plain `numpy.load` reads (no pickle): arrays plus a JSON `metadata`
    entry, a 0-d string array (`json.loads(str(npz["metadata"]))`)."""
    payload = {**arrays, "metadata": np.array(json.dumps(metadata, sort_keys=True))}
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with binary_output(path) as handle, zipfile.ZipFile(handle, "w", compression=method, allowZip64=True) as archive:
        for name, array in payload.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIMESTAMP)
            member.compress_type = method
            with archive.open(member, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)
