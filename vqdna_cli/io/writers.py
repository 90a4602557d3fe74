"""Writing outputs: refused when they exist (unless forced) or are one of the inputs,
checked before any work, and written atomically (a temporary file in the same folder, then
a rename), so an error or Ctrl-C never leaves a half-written file behind. Every command
checks its outputs here."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from vqdna_cli.errors import DISK_ERRORS, OutputError, VqdnaWarning
from vqdna_cli.stops import stops_held


def check_output(path: Path | str | None, force: bool, inputs: Iterable = (), binary: bool = False) -> None:
    """Fail early, before a model is loaded: an output that is one of the `inputs`, an
    existing file without --force, a missing folder; `binary` outputs (`.npz`) are not
    written to a terminal. A device or FIFO (`-o /dev/null`) is written into, never replaced."""
    if path is None or str(path) == "-":
        if sys.stdout is None:  # started with stdout closed (`>&-`): Python has no stream for it
            raise OutputError("cannot write to stdout: it is closed; give -o FILE")
        if binary and path is not None and sys.stdout.isatty():
            raise OutputError("-o -: the output is a binary .npz; redirect stdout to a file or a pipe")
        if binary and path is not None and not hasattr(sys.stdout, "buffer"):  # a notebook's text-only stdout
            raise OutputError("-o -: the output is a binary .npz and stdout here takes text only (a notebook's?); "
                              "give a file name")
        return
    path = Path(path)
    descriptor = descriptor_of(path)
    if descriptor is not None:
        try:
            os.fstat(descriptor)
        except OSError:
            raise OutputError(f"cannot write {path}: file descriptor {descriptor} is not open") from None
        return
    if path.is_dir():
        raise OutputError(f"output {path} is a directory: give a file name")
    if binary and path.suffix.lower() in COMPRESSED_SUFFIXES:
        raise OutputError(f"output {path}: vqdna writes .npz, zip-compressed already; name it {path.with_suffix('')}")
    if binary and path.suffix.lower() == ".npy":  # np.load would give an archive where a name promises one array
        raise OutputError(f"output {path}: vqdna writes an .npz archive of several arrays, not one .npy array; "
                          f"name it {path.with_suffix('.npz')}")
    check_not_an_input(path, inputs)
    if is_special(path):
        return
    if path.is_symlink() and not path.exists() and not force:
        raise OutputError(f"output {path} is a link to a missing file ({os.readlink(path)}): remove the link, "
                          "or use --force to write a file in its place")
    if path.exists() and not force:
        raise OutputError(f"output {path} exists: use --force to overwrite it")
    path = through_link(path)
    check_parent_writable(path)
    claim_parts(path)
    if force:
        _NO_CLOBBER.discard(path.absolute())
    else:
        _NO_CLOBBER.add(path.absolute())


# Outputs checked without --force: a file that appears there while the run works (another run
# with the same -o that finished first, or one written by hand) is kept, never replaced.
_NO_CLOBBER: set[Path] = set()


def check_text_output(path: Path | str | None) -> None:
    """Text tables are written plain: a compressed-looking name would hold uncompressed text."""
    suffix = Path(str(path)).suffix.lower() if path is not None else ""
    if suffix in COMPRESSED_SUFFIXES:
        plain = Path(str(path)).with_suffix("")
        raise OutputError(f"output {path}: vqdna writes plain text; write {plain} and compress it "
                          f"(bgzip {plain}), or pipe -o - into bgzip")


COMPRESSED_SUFFIXES = (".gz", ".bgz", ".bz2", ".xz", ".zst")


def check_weights_output(path: Path) -> None:
    """A training stage's weights output names a folder (checked before it is made)."""
    path = Path(path)
    if str(path) == "-":
        raise OutputError("-o -: training writes a weights folder; give a folder name")
    if path.exists() and not path.is_dir():
        raise OutputError(f"output {path} exists and is not a folder: give a folder name")


def check_weights_folder(path: Path, force: bool, resume: bool) -> None:
    """A weights folder this run holds (`api.train._tidied_on_failure`): one that already
    holds files (a model, or another run's checkpoint) is continued only with --resume and
    overwritten only with --force. Checked under the hold, so that a folder a running run is
    writing is named as such, not taken for an earlier run's. Under torchrun the other
    processes may look before process 0 has made it: a folder not there yet is a new one."""
    path = Path(path)
    if not path.is_dir():
        return
    if any(path.iterdir()) and not (force or resume):
        raise OutputError(f"output folder {path} is not empty: use --resume to continue its training "
                          "or --force to overwrite it")
    if not os.access(path, os.W_OK):
        raise OutputError(f"cannot write into {path}: the folder is not writable")


def make_folder(path: Path) -> None:
    """Creates the folder `path` (and its missing parents); one that cannot be made (a file
    in the way, a folder without write permission, a file system that takes none) is one
    OutputError naming why."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocking = next((parent for parent in (path, *path.parents) if parent.exists() and not parent.is_dir()), None)
        reason = f"{blocking} is a file" if blocking is not None else (error.strerror or str(error)).lower()
        raise OutputError(f"cannot create the folder {path}: {reason}") from None


def check_not_an_input(output: Path, inputs: Iterable) -> None:
    """--force must never turn an input, or the index it is read through, into an output:
    compared as resolved paths, so `./x.fa`, a symbolic link or a hard link to it are the same file."""
    for given in inputs:
        if given is None or str(given) == "-":
            continue
        if same_file(output, Path(given)):
            raise OutputError(f"output {output} is also an input ({given}): write the output elsewhere")
        for index in index_files(Path(given)):
            if same_file(output, index):
                raise OutputError(f"output {output} is the index of the input {given}: write the output elsewhere")


# The indexes samtools, bgzip and tabix write beside a file (and samtools' sample.bai for sample.bam).
INDEX_SUFFIXES = (".fai", ".gzi", ".bai", ".csi", ".crai", ".tbi")


def index_files(path: Path) -> list[Path]:
    indexes = [Path(f"{path}{suffix}") for suffix in INDEX_SUFFIXES]
    if path.name not in ("", ".", ".."):  # `.`, `..` and `/` (folders, refused later) have no name to swap a suffix on
        indexes += [path.with_suffix(".bai"), path.with_suffix(".crai")]
    return indexes


def same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def is_special(path: str | Path) -> bool:
    """A device, FIFO or socket (`<(...)` is a pipe under /dev/fd): an output is written into
    it as it is (renaming a file over it would replace `/dev/null` with a regular file), and
    an input can be read only once (its format is detected on bytes the reader then reuses)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def descriptor_of(path: Path | str) -> int | None:
    """The open file descriptor an output path names (`/dev/stdout`, `/dev/stderr`,
    `/dev/fd/N` as bash's `>(cmd)` gives, `/proc/self/fd/N`), else None. Such an output is
    written through the descriptor the shell opened, as `-o -` writes stdout: following the
    link would name a pipe that cannot be opened by name, or replace a redirected file by
    rename (losing what `>>` had there) while the shell's descriptor keeps the old one."""
    text = os.path.normpath(str(path))
    named = {"/dev/stdout": 1, "/dev/stderr": 2}
    if text in named:
        return named[text]
    for folder in ("/dev/fd/", "/proc/self/fd/", f"/proc/{os.getpid()}/fd/"):
        if text.startswith(folder) and text[len(folder):].isdigit():
            return int(text[len(folder):])
    return None


def is_stream_output(path: Path | str) -> bool:
    """stdout (`-`), a descriptor (`/dev/stdout`, `>(cmd)`), a device or a FIFO: written
    through as a stream, never replaced, and given no sidecar or scratch folder beside it."""
    return str(path) == "-" or descriptor_of(path) is not None or is_special(Path(path))


def through_link(path: Path) -> Path:
    """The file a symbolic link output points to: it is written there, as a shell's `>` and
    samtools write, rather than replacing the link with a file and leaving its target stale.
    A link to a missing file is replaced (`check_output` asks for --force first)."""
    return Path(os.path.realpath(path)) if path.is_symlink() and path.exists() else path


def check_parent_writable(path: Path) -> None:
    """The folder that will hold `path` exists and may be written to."""
    path = through_link(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        # the first part of the path that is there but is no folder, if any: `afile/x.npz`
        blocking = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise OutputError(f"cannot write {path}: {blocking} is a file, not a folder")
        raise OutputError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: folder {parent} is not writable")


@contextlib.contextmanager
def atomic_file(path: Path | str, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; it replaces `path` only if the block succeeds."""
    descriptor = descriptor_of(path)
    if descriptor is None:
        path = through_link(Path(path))
    if descriptor is not None or is_special(path):  # a stream: written into as it is
        if descriptor is not None and sys.stdout is not None:
            sys.stdout.flush()  # anything printed before goes first, as with `-o -`
        try:
            with os.fdopen(os.dup(descriptor), mode) if descriptor is not None else open(path, mode) as handle:
                yield handle
        except OSError as error:
            raise write_error(path, error) from None
        return
    with atomic_files([path], mode) as (handle,):
        yield handle


@contextlib.contextmanager
def atomic_files(paths: list[Path], mode: str) -> Iterator[list[IO]]:
    """Temporary files beside the (regular) files `paths`, all open for the block; they replace
    `paths` only if it succeeds, one after the other with stops (Ctrl-C, kill) held, so that
    a stop never leaves some replaced and others not. A file that cannot be moved into place
    takes those moved before it with it: a table without its sidecar says nothing of what made
    it, and would refuse the rerun without --force."""
    temporaries: list[Path] = []
    handles: list[IO] = []
    moved: list[Path] = []
    try:
        for current in paths:
            claim_parts(current)
            tmp = part_of(current)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)  # this process's own, of an earlier failed write
            handles.append(os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), mode))
            temporaries.append(tmp)
    except OSError as error:
        _discard(handles, temporaries, [])
        raise OutputError(f"cannot write {current}: {error.strerror}") from None
    current = paths[0]  # what the block writes into, as far as an error there can tell
    try:
        yield handles
        for current, handle in zip(paths, handles):
            handle.close()  # a full disk may only say so now, as the last bytes go out
        with stops_held():
            for current, tmp in zip(paths, temporaries):
                os.chmod(tmp, _mode_for(current))
                if current.absolute() in _NO_CLOBBER:
                    _rename_unless_present(tmp, current)
                else:
                    os.replace(tmp, current)
                moved.append(current)
    except OSError as error:
        _discard(handles, temporaries, moved)
        raise write_error(current, error) from None
    except BaseException:
        if len(moved) < len(paths):  # (a stop held while they moved is raised once all are in place)
            _discard(handles, temporaries, moved)
        raise


def _discard(handles: list[IO], temporaries: list[Path], moved: list[Path]) -> None:
    """What a failed `atomic_files` wrote: its temporary files, and the files it had moved."""
    for handle in handles:
        with contextlib.suppress(OSError):
            handle.close()
    for path in [*temporaries, *moved]:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _rename_unless_present(tmp: Path, path: Path) -> None:
    """Move `tmp` to `path` unless a file is there now: a hard link fails rather than replace."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputError(f"output {path} appeared while this run was writing it (another run with the same "
                          "output?): kept it; use --force to overwrite it") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        if path.exists():  # a file system without hard links: check, then rename
            raise OutputError(f"output {path} appeared while this run was writing it (another run with the "
                              "same output?): kept it; use --force to overwrite it") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def part_of(path: Path) -> Path:
    """The temporary file of `path` written by this process: the writer's process ID in
    its name tells a later run whether it is stale (its writer is gone: kill -9) or another
    run's, still writing."""
    return path.parent / f"{_part_prefix(path)}{os.getpid()}.part"


# A file name holds at most 255 bytes on the usual file systems; a part adds its dots, the
# process ID (up to 7 digits) and ".part" to the output's name.
_NAME_BYTES = 255
_PART_EXTRA = len("..") + 7 + len(".part")


def _part_prefix(path: Path) -> str:
    """`.NAME.`, the start of every temporary file of `path`; for a name too long to take the
    rest, its first bytes and a digest of the whole (one output, one prefix)."""
    name = os.fsencode(path.name)
    if len(name) + _PART_EXTRA <= _NAME_BYTES:
        return f".{path.name}."
    digest = hashlib.sha256(name).hexdigest()[:12]
    kept = name[: _NAME_BYTES - _PART_EXTRA - len(digest) - 1]
    return f".{os.fsdecode(kept)}~{digest}."


def claim_parts(path: Path) -> None:
    """Remove the stale temporary files of `path`; refuse when another running process
    writes it (two runs with one -o would overwrite each other's output)."""
    prefix = _part_prefix(path)
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
        return 0o666 & ~umask()


def write_error(path: Path | str, error: OSError) -> Exception:
    """An OSError while writing `path`: OutputError when the disk refused (full, quota,
    read-only), else the error itself (a bug keeps its traceback)."""
    if error.errno in DISK_ERRORS:
        return OutputError(f"cannot write {path}: {error.strerror}")
    return error


def umask() -> int:
    """The process's umask (reading it means setting it: set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def binary_output(path: Path | str) -> Iterator[IO[bytes]]:
    """An atomic file; for stdout ('-') or a device or FIFO, a temporary file copied there
    at the end. zipfile writes a `.npz` differently where it cannot seek back (sizes after
    each member instead of before), so without the copy `-o - | cat > x.npz` would not give
    the bytes of `-o x.npz`, and /dev/null, which seeks but always reports position 0,
    broke the archive."""
    if is_stream_output(path):
        with tempfile.TemporaryFile(prefix="vqdna-") as staging:
            try:
                yield staging
            except OSError as error:
                if error.errno not in DISK_ERRORS:
                    raise
                raise OutputError(f"cannot write the .npz in {tempfile.gettempdir()} (TMPDIR), where it is made before "
                                  f"it is copied to {'stdout' if str(path) == '-' else path}: {error.strerror}; set "
                                  "TMPDIR to a folder with room, or give -o FILE") from None
            staging.seek(0)
            with _stdout_bytes() if str(path) == "-" else atomic_file(path) as out:
                shutil.copyfileobj(staging, out, _COPY_CHUNK)
                out.flush()
        return
    with atomic_file(path) as handle:
        yield handle


_COPY_CHUNK = 1 << 20


@contextlib.contextmanager
def text_output(path: Path | str | None) -> Iterator[IO[str]]:
    """stdout for None or '-', else an atomic file. Rows go to stdout as they come (a pipe's
    reader has them at once); where stdout is a file (`> calls.tsv`), a run that fails cuts
    it back to what it held before, as a failed `-o` leaves no file."""
    if path is None or str(path) == "-":
        with _stdout_cut_back_on_failure(sys.stdout) as out:
            yield out
            sys.stdout.flush()
        return
    with atomic_file(path, "w") as handle:
        yield handle


@contextlib.contextmanager
def _stdout_bytes() -> Iterator[IO[bytes]]:
    """stdout's bytes, for the `.npz` copied there: a copy a full disk stops is cut back."""
    with _stdout_cut_back_on_failure(sys.stdout.buffer) as out:
        yield out


class _Counted:
    """A stream that counts the bytes written through it."""

    def __init__(self, stream, encoding: str | None):
        self.stream, self.encoding, self.sent = stream, encoding, 0

    def write(self, data):
        written = self.stream.write(data)
        self.sent += len(data.encode(self.encoding, self.stream.errors)) if self.encoding else len(data)
        return written

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


@contextlib.contextmanager
def _stdout_cut_back_on_failure(stream) -> Iterator:
    """An error, Ctrl-C or full disk while stdout is a file written with `>`: it is truncated
    to its size at the start, with the rows still buffered flushed first. Only where this
    run writes it alone: not `>>` (a log that other jobs append to), not `2>&1` (the warnings
    and the error would go), not `1<>` (old bytes beyond the rows), and not where the file
    grew by other bytes than this run's (`xargs -P` runs sharing one `>`)."""
    start = _size_if_stdout_is_ours()
    if start is None:
        yield stream
        return
    counted = _Counted(stream, getattr(stream, "encoding", None))
    try:
        yield counted
    except BaseException:
        _cut_back(start, counted.sent)
        raise


def _cut_back(start: int, sent: int) -> None:
    fd = sys.stdout.fileno()
    for _ in range(2):  # a flush refused for a full disk goes through once the cut freed room
        try:
            sys.stdout.flush()
            flushed = True
        except (OSError, ValueError):
            flushed = False
        with contextlib.suppress(OSError):
            size = os.fstat(fd).st_size
            # all written: the file is this run's bytes after the start's; a flush cut short: fewer
            if size == start + sent if flushed else start <= size <= start + sent:
                os.ftruncate(fd, start)
                os.lseek(fd, start, os.SEEK_SET)  # a command after this one in `{ ...; } > f` writes there


def _size_if_stdout_is_ours() -> int | None:
    """The size of the regular file stdout writes at the end of, alone (see the caller);
    None for anything else: a pipe, a terminal, a stream that is not the process's own
    stdout file (a notebook's)."""
    import io

    try:
        if not isinstance(sys.stdout, io.TextIOWrapper):
            return None
        sys.stdout.flush()  # what a caller printed before stays
        fd = sys.stdout.fileno()
        out = os.fstat(fd)
        if not stat.S_ISREG(out.st_mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            return None
        for err_fd in {2, *_fileno_of(sys.stderr)}:
            with contextlib.suppress(OSError):
                err = os.fstat(err_fd)
                if (err.st_dev, err.st_ino) == (out.st_dev, out.st_ino):
                    return None
        return out.st_size if os.lseek(fd, 0, os.SEEK_CUR) == out.st_size else None
    except (OSError, ValueError, AttributeError):  # a stream with no file behind it
        return None


def _fileno_of(stream) -> list[int]:
    try:
        return [stream.fileno()]
    except (OSError, ValueError, AttributeError):
        return []


# numpy.savez stamps each member with the current time; a fixed stamp makes identical
# input and options give a byte-identical file (pipelines compare md5 sums).
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ArrayStream:
    """An array written without being held whole: its type and shape, and a function giving
    its values in C order a piece at a time (arrays or bytes). `write_npz` writes it as the
    same bytes as the whole array."""

    dtype: np.dtype
    shape: tuple[int, ...]
    pieces: Callable[[], Iterable[np.ndarray | bytes]]


def write_npz(path: Path | str, arrays: dict[str, np.ndarray | ArrayStream], metadata: dict, compress: bool = True,
              quick: tuple[str, ...] = ()) -> None:
    """One `.npz` that plain `numpy.load` reads (no pickle): arrays plus a JSON `metadata`
    entry, a 0-d string array (`json.loads(str(npz["metadata"]))`). The arrays named in
    `quick` are deflated at zlib's fastest level: for data that a slower level would not
    make smaller (coordinate runs), it only costs time."""
    payload = {**arrays, "metadata": np.array(json.dumps(metadata, sort_keys=True))}
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with binary_output(path) as handle, zipfile.ZipFile(handle, "w", compression=method, allowZip64=True) as archive:
        for name, array in payload.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIMESTAMP)
            member.compress_type = method
            if compress and name in quick:
                _set_compress_level(member, 1)
            with archive.open(member, "w", force_zip64=True) as out:
                if isinstance(array, ArrayStream):
                    _write_stream(out, array)
                else:
                    np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)


def _write_stream(out: IO[bytes], array: ArrayStream) -> None:
    """The `.npy` header numpy writes for such an array, then its values as they come."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(array.dtype)), "fortran_order": False,
              "shape": tuple(array.shape)}
    np.lib.format.write_array_header_1_0(out, header)
    written = 0
    for piece in array.pieces():
        data = piece if isinstance(piece, bytes) else np.ascontiguousarray(piece).reshape(-1).view(np.uint8)
        out.write(data)
        written += len(data)
    expected = int(np.prod(array.shape)) * np.dtype(array.dtype).itemsize
    if written != expected:
        raise RuntimeError(f"an array stream gave {written} bytes for shape {array.shape}, not {expected}")


def _set_compress_level(member: zipfile.ZipInfo, level: int) -> None:
    """zipfile takes a member's own level from the ZipInfo, under a name Python 3.13 made public."""
    if hasattr(member, "compress_level"):
        member.compress_level = level
    else:
        member._compresslevel = level


# --- named writers: one output layout each ------------------------------------------------------

AMBIGUITY_POLICY = ("IUPAC codes (N included) keep their position and enter the model as the "
                    "uniform distribution over the bases they stand for")


def probabilities_text(p) -> list[str]:
    return [f"{x:.6g}" for x in p]  # as precise as the float32 softmax is, in few characters


class PredictionTsv:
    """`classify`'s TSV: one row per sequence, a sequence longer than one window getting the
    mean of its windows' probabilities (a whole-sequence head's one answer from all of them).
    `class_index` is the integer label of each class."""

    FORMAT = {"format": "vqdna-predictions", "format_version": 1}
    FIRST_COLUMNS = ["id", "label", "class_index"]

    def __init__(self, names: list[str], class_index: list[str]):
        self.names, self.class_index = names, class_index
        self.columns = self.FIRST_COLUMNS + [f"p_{name}" for name in names]

    def write_header(self, out: IO[str], provenance: dict | None = None) -> None:
        """The column header, after `provenance` as `##key=value` lines when given."""
        if provenance is not None:
            out.writelines(f"##{key}={value if isinstance(value, str) else json.dumps(value)}\n"
                           for key, value in provenance.items())
        out.write("\t".join(self.columns) + "\n")

    def rows(self, record, windows: list[tuple[int, int]], probabilities: np.ndarray) -> list[str]:
        p = probabilities.mean(0)
        best = int(np.argmax(p))
        return ["\t".join([record.name, self.names[best], self.class_index[best], *probabilities_text(p)]) + "\n"]


class CommentLikeNames:
    """BED readers (bedtools, tabix, pysam) skip a line that starts with `#`: the rows of a
    sequence named so would be lost to them. Said once per name; the rows are written as named."""

    def __init__(self):
        self.seen: set[str] = set()

    def check(self, chrom: str) -> None:
        if chrom.startswith("#") and chrom not in self.seen:
            self.seen.add(chrom)
            warnings.warn(f"sequence {chrom}: its name starts with #, so BED readers take its rows for comment "
                          f"lines and skip them; rename it (e.g. sed 's/^>#/>/' in the FASTA)", VqdnaWarning,
                          stacklevel=3)


class PredictionBed(PredictionTsv):
    """`classify`'s BED6+: one row per window; score is 1000 x the best class's probability."""

    FIRST_COLUMNS = ["#chrom", "start", "end", "name", "score", "strand", "id", "class_index"]

    def __init__(self, names: list[str], class_index: list[str]):
        super().__init__(names, class_index)
        self.comment_like = CommentLikeNames()

    def rows(self, record, windows: list[tuple[int, int]], probabilities: np.ndarray) -> list[str]:
        self.comment_like.check(record.chrom)
        rows = []
        for (start, end), p in zip(windows, probabilities):
            best = int(np.argmax(p))
            chrom_start, chrom_end = record.span(start, end)
            rows.append("\t".join([record.chrom, str(chrom_start), str(chrom_end), self.names[best],
                                   str(int(round(1000 * p[best]))), ".", record.name, self.class_index[best],
                                   *probabilities_text(p)]) + "\n")
        return rows


def sidecar_path(output: Path | str) -> Path:
    """Where `classify -o FILE` records what made FILE: FILE.json beside it."""
    return Path(f"{output}.json")


def has_sidecar(output: Path | str | None) -> bool:
    """Only a regular file gets a sidecar: not stdout, and not a device or FIFO (`-o
    /dev/null` must not leave a /dev/null.json), nor a file descriptor (`-o /dev/stdout`)."""
    return output is not None and not is_stream_output(output)


def check_sidecar(output: Path | str | None, force: bool, inputs: Iterable = ()) -> None:
    """The sidecar is an output like its table: kept if it exists (unless --force), never an input."""
    if has_sidecar(output):
        check_output(sidecar_path(output), force, inputs)


@contextlib.contextmanager
def table_output(output: Path | str | None) -> Iterator[tuple[IO[str], dict]]:
    """classify's table (stdout, a stream, or a file) and the record of what made it: the dict
    the block fills becomes, for a file, its sidecar `<output>.json`. The two are written to
    temporary files and replace the earlier pair together (`atomic_files`): an error, a full
    disk or Ctrl-C leaves the earlier pair as it was, never a table beside another run's
    sidecar or without its own."""
    sidecar: dict = {}
    if not has_sidecar(output):
        with text_output(output) as out:
            yield out, sidecar
        return
    with atomic_files([through_link(Path(output)), through_link(sidecar_path(output))], "w") as (out, record):
        yield out, sidecar
        try:
            record.write(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
            record.flush()
        except OSError as error:
            raise write_error(sidecar_path(output), error) from None


class ScanBed:
    """`classify --scan`'s BED6+: a `# vqdna ...` line saying what made it, the header, then
    one row per window and strand (name: the most probable class, or of the classes `among`;
    score: its probability x 1000)."""

    FORMAT = {"format": "vqdna-scan", "format_version": 1}

    def __init__(self, out: IO[str], names: list[str]):
        self.out, self.names = out, names
        self.columns = ["#chrom", "start", "end", "name", "score", "strand", *(f"p_{n}" for n in names)]
        self.comment_like = CommentLikeNames()

    def write_header(self, made_by: str) -> None:
        self.out.write(f"# {made_by}\n")
        self.out.write("\t".join(self.columns) + "\n")

    def write_row(self, record, strand: str, p: np.ndarray, among: list[int] | None = None) -> None:
        self.comment_like.check(record.chrom)
        best = int(np.argmax(p)) if among is None else among[int(np.argmax(p[among]))]
        self.out.write("\t".join([record.chrom, str(record.offset), str(record.offset + len(record)), self.names[best],
                                  str(int(round(1000 * p[best]))), strand, *probabilities_text(p)]) + "\n")
