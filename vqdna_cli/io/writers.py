"""Writing outputs: refused when they exist (unless forced), checked before any work, and
written atomically (a temporary file in the same folder, then a rename), so an error or
Ctrl-C never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from vqdna_cli.errors import OutputError


def check_output(path: Path | str | None, force: bool) -> None:
    """Fail early, before a model is loaded: existing file without --force, missing folder."""
    if path is None or str(path) == "-":
        return
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output {path} is a directory: give a file name")
    if path.exists() and not force:
        raise OutputError(f"output {path} exists: use --force to overwrite it")
    check_parent_writable(path)


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
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    with atomic_file(path) as handle, zipfile.ZipFile(handle, "w", compression=method, allowZip64=True) as archive:
        for name, array in payload.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIMESTAMP)
            member.compress_type = method
            with archive.open(member, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)
