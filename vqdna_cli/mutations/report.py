"""The output folder: variants.tsv, samples.tsv, summary.json, and variants.vcf / mutations.png.

Everything is written into a temporary folder and moved into place at the end, so an error
or Ctrl-C leaves no output behind. An existing OUTDIR is kept unless --force, and then only
vqdna's own files in it (OUTPUT_FILES) are replaced: the folder itself is never deleted.
Numbers are rounded and rows sorted, so the same input and options give byte-identical files.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from vqdna_cli.errors import OutputError
from vqdna_cli.io.writers import check_parent_writable, claim_parts, part_of, umask
from vqdna_cli.stops import stops_held


# Every file the command may write into OUTDIR: --force replaces these and nothing else.
OUTPUT_FILES = ("variants.tsv", "samples.tsv", "summary.json", "variants.vcf", "variants.vcf.gz", "variants.vcf.gz.tbi",
                "mutations.png")


def check_output_dir(path: Path, force: bool, inputs: Iterable = ()) -> None:
    path = Path(path)
    if str(path) == "-":
        raise OutputError("-o -: mutations writes a folder of files; give a folder name")
    if path.exists() and not path.is_dir():
        raise OutputError(f"output {path} exists and is not a folder: give a folder name")
    if _holds_anything(path) and not force:  # an empty one (`mkdir -p report` first) is taken as new
        raise OutputError(f"output folder {path} exists: use --force to replace the vqdna files in it")
    if path.is_dir():
        _check_holds_no_input(path, inputs)
        if not os.access(path, os.W_OK):
            raise OutputError(f"cannot write into {path}: the folder is not writable")
    else:
        check_parent_writable(path)


def _check_holds_no_input(folder: Path, inputs: Iterable) -> None:
    """An output folder that holds an input is refused: its files are rewritten."""
    root = folder.resolve()
    for given in inputs:
        if given is not None and str(given) != "-" and root in Path(given).resolve().parents:
            raise OutputError(f"output folder {folder} holds the input {given}: choose another output folder")


@contextlib.contextmanager
def atomic_directory(path: Path, force: bool) -> Iterator[Path]:
    """A temporary folder whose files become `path`'s only if the block succeeds. A new
    `path` is the temporary folder renamed; in an existing one (--force) each of
    OUTPUT_FILES is replaced, and anything else in it is left alone. A folder another run
    made at `path` since `check_output_dir` (the same -o twice in a workflow) is kept, and
    this run fails (exit 4), as a file output that appears while a run writes it is kept."""
    path = Path(path)
    existing = _holds_anything(path)  # an empty folder is replaced as a whole, as a new one
    if existing and not force:
        raise _appeared(path)
    parent = path if existing else (path.parent if str(path.parent) else Path("."))
    # Named like a file output's temporary file (the writer's process ID inside), so that a
    # later run removes the folder of a killed run and refuses while another run writes.
    staged = parent / path.resolve().name
    claim_parts(staged)
    work = part_of(staged)
    try:
        os.mkdir(work, 0o700)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from None
    try:
        yield work
        os.chmod(work, 0o777 & ~umask())  # made 0700 while it fills; outputs get the usual mode
        for child in work.iterdir():
            os.chmod(child, 0o666 & ~umask())
        if existing:
            _replace_outputs(work, path)
        elif _holds_anything(path) or (path.exists() and not path.is_dir()):  # made by another run meanwhile
            raise _appeared(path)
        else:
            try:
                os.replace(work, path)
            except OSError as error:  # made in the moment since: a folder with files is not replaced
                raise (_appeared(path) if error.errno in (errno.ENOTEMPTY, errno.EEXIST) else error) from None
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _holds_anything(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def _appeared(path: Path) -> OutputError:
    return OutputError(f"output folder {path} appeared while this run worked (another run with the same -o?): "
                       "it is kept; run again with another -o, or with --force to replace its vqdna files")


def _replace_outputs(work: Path, folder: Path) -> None:
    """Move the new files into `folder`; a vqdna file of an earlier run that this run did
    not write (variants.vcf without --vcf now) is removed, so the folder is one run's. A stop
    (Ctrl-C, kill) is held until every file is moved: it left a folder of two runs' files."""
    written = {child.name for child in work.iterdir()}
    with stops_held():
        for name in OUTPUT_FILES:
            old = folder / name
            if name not in written and old.is_file() and not old.is_symlink():
                old.unlink()
        for name in sorted(written):
            os.replace(work / name, folder / name)


def fmt(value) -> str:
    """A table cell: 4 significant digits for small floats, 4 decimals otherwise; "." for none."""
    digits = 4
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
