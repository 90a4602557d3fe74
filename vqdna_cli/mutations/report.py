"""The output folder: variants.tsv, samples.tsv, summary.json, and variants.vcf / mutations.png.

Everything is written into a temporary folder beside OUTDIR and renamed at the end, so an
error or Ctrl-C leaves no output folder behind (and an existing OUTDIR, kept unless
--force, is only replaced by a complete one). Numbers are rounded and rows sorted, so the
same input and options give byte-identical files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vqdna_cli.errors import OutputError
from vqdna_cli.io.writers import check_parent_writable


def check_output_dir(path: Path, force: bool) -> None:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"output {path} exists and is not a folder: give a folder name")
    if path.exists() and not force:
        raise OutputError(f"output folder {path} exists: use --force to replace it")
    check_parent_writable(path)


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """A temporary folder that becomes `path` only if the block succeeds."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        work = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.", suffix=".part"))
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from None
    try:
        yield work
        os.chmod(work, 0o777 & ~_umask())  # mkdtemp makes 0700; outputs get the usual mode
        for child in work.iterdir():
            os.chmod(child, 0o666 & ~_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / "previous")
            os.replace(work, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(work, path)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "."
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        text = f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"
        return "0" if text.lstrip("-").strip("0.") == "" else text
    return str(value)


def write_table(path: Path, comment: str, header: list[str], rows: list[list]) -> None:
    with open(path, "w") as handle:
        handle.write(f"# {comment}\n")
        handle.write("\t".join(header) + "\n")
        for row in rows:
            handle.write("\t".join(fmt(v) for v in row) + "\n")


def write_json(path: Path, data: dict) -> None:
    with open(path, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
