"""Reading FASTA: streaming whole files (plain, gzip, BGZF or stdin) and fetching regions
from indexed files; streaming FASTQ too, where asked for (sequences only: reads are what
most users embed or classify, and the model has no use for qualities). Every sequence
passes through `validate_sequence`, the one place that decides which characters count as
DNA."""

from __future__ import annotations

import gzip
import io
import itertools
import os
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import BinaryIO

import pysam

from vqdna_cli.errors import InputError
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.regions import Region, resolve_region
from vqdna_cli.io.unique import SeenNames

ALLOWED_BASES = "ACGTNRYSWKMBDHVU"
"""IUPAC nucleotide codes (U for RNA). Gaps and protein letters are rejected."""

_EITHER_CASE = ALLOWED_BASES + ALLOWED_BASES.lower()
_ALLOWED_BYTES = _EITHER_CASE.encode("ascii")
_FIRST_BAD = re.compile(f"[^{_EITHER_CASE}]")
_PROTEIN_ONLY = re.compile("[EFILPQefilpq]")
_WHITESPACE = b" \t\r\n\v\f"
_GZIP_MAGIC = b"\x1f\x8b"
_BYTE_ORDER_MARK = b"\xef\xbb\xbf"  # UTF-8's; some editors (Notepad) start every file with it
_BUFFER_SIZE = 1 << 20
_HEADER_WINDOW = 4096
_LINE_BREAK_OR_HEADER = re.compile("[\r\n>]")


def validate_sequence(seq: str | bytes, record_name: str, source: str) -> str:
    """Return `seq` uppercased, or raise `InputError` at its first non-nucleotide character.

    Soft-masked (lowercase) bases are uppercased so they tokenize like any other base.
    The check deletes every allowed byte with `bytes.translate` (C speed on a 70 Mb
    chromosome); the slower regex search runs only to describe an error. The check runs
    before uppercasing because Unicode case mapping can turn non-ASCII letters into
    ASCII ones (e.g. 'ſ' into 'S').
    """
    if isinstance(seq, bytes):
        data: bytes | None = seq
    else:
        data = seq.encode("ascii") if seq.isascii() else None  # non-ASCII is never a base
    if data is None or data.translate(None, _ALLOWED_BYTES):
        # latin-1 maps each byte to one character, so error positions stay byte positions.
        text = seq if isinstance(seq, str) else seq.decode("latin-1")
        raise _bad_character_error(text, record_name, source)
    return data.upper().decode("ascii")


def _bad_character_error(seq: str, record_name: str, source: str) -> InputError:
    match = _FIRST_BAD.search(seq)
    assert match is not None, "called only for sequences with a bad character"
    message = (
        f"record {record_name!r} in {source} has invalid character {match.group()!r} "
        f"at position {match.start() + 1}; allowed are the IUPAC nucleotide codes "
        f"{ALLOWED_BASES}"
    )
    if _PROTEIN_ONLY.search(seq):
        message += " (this looks like a protein sequence; vqdna needs DNA or RNA)"
    elif match.group() in "-.":
        message += " (remove alignment gaps, e.g. with `seqkit seq -g`)"
    return InputError(message)


# --- streaming reader ------------------------------------------------------------------


def read_fasta(path: str, *, fastq: bool = False) -> Iterator[SequenceRecord]:
    """Stream the records of a FASTA file (with `fastq`, or a FASTQ file); `-` reads stdin.

    Compression is detected from the gzip magic bytes rather than the extension, so
    `.fa.gz`, `.fa.bgz`, misnamed files and piped gzip all work; FASTQ from a first line
    starting with '@'. A missing file is reported here, before iteration starts, so the CLI
    fails before loading a model.
    """
    if path != "-":
        _require_file(path)
    return _iter_fasta(path, fastq)


def _iter_fasta(path: str, fastq: bool) -> Iterator[SequenceRecord]:
    with _open_binary(path) as raw:
        yield from read_stream(raw, "stdin" if path == "-" else path, fastq=fastq)


def read_stream(raw: BinaryIO, source: str, *, fastq: bool = False) -> Iterator[SequenceRecord]:
    """The records of an open FASTA (with `fastq`, or FASTQ) stream, plain or gzip."""
    magic = raw.read(len(_GZIP_MAGIC))
    stream = io.BufferedReader(Rewound(magic, raw), buffer_size=_BUFFER_SIZE)
    if magic == _GZIP_MAGIC:
        lines = _gzip_lines(gzip.GzipFile(fileobj=stream), source)
    else:
        lines = iter(stream)
    first = _first_line(lines, source)
    lines = itertools.chain([first], lines)
    if fastq and first.startswith(b"@"):
        yield from _parse_fastq(lines, source)
    else:
        yield from _parse_records(lines, source)


def _first_line(lines: Iterator[bytes], source: str) -> bytes:
    """The first non-blank line, without a byte-order mark. A CR inside it means the file
    ends its lines with CR alone (classic Mac): read as one line, its records would
    otherwise be reported as empty or as not FASTA."""
    first = next((line for line in lines if line.strip()), b"").removeprefix(_BYTE_ORDER_MARK)
    if b"\r" in first.rstrip(b"\r\n"):
        raise InputError(
            f"{source} ends its lines with carriage returns alone (old Mac line endings); "
            f"convert them with `tr '\\r' '\\n' < {source} > fixed.fa`"
        )
    return first


def _require_file(path: str) -> None:
    if not os.path.exists(path):
        raise InputError(f"input file not found: {path}")
    if os.path.isdir(path):
        raise InputError(f"input {path} is a directory; give a FASTA, BAM, SAM or CRAM file")


def _open_binary(path: str) -> AbstractContextManager[BinaryIO]:
    if path == "-":
        # Leave the process's stdin open when the reader finishes.
        return nullcontext(sys.stdin.buffer)
    try:
        return open(path, "rb")
    except OSError as error:
        raise InputError(f"cannot open {path}: {error.strerror}") from error


class Rewound(io.RawIOBase):
    """Replays the already-read `head` bytes, then the rest of `stream`.

    Sniffing the first bytes of a pipe consumes them and a pipe cannot seek back; this
    puts them back in front, for files and pipes alike.
    """

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        if self._head:
            data, self._head = self._head[: len(buffer)], self._head[len(buffer) :]
        else:
            data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _gzip_lines(stream: gzip.GzipFile, source: str) -> Iterator[bytes]:
    """Lines of a gzip/BGZF stream, with decompression failures turned into one clear
    message instead of a zlib/EOFError traceback."""
    try:
        yield from stream
    except (EOFError, zlib.error, OSError) as error:
        raise InputError(f"{source} is a truncated or corrupt gzip file ({error})") from error


def _parse_records(lines: Iterable[bytes], source: str) -> Iterator[SequenceRecord]:
    """Group lines into records. Works on bytes so binary garbage cannot raise a
    UnicodeDecodeError, and collects sequence lines in a list so joining a chromosome of
    any size is linear."""
    seen = SeenNames()
    name: str | None = None
    chunks: list[bytes] = []
    for line in lines:
        if line.startswith(b">"):
            if name is not None:
                yield _make_record(name, chunks, source)
            name = _parse_header(line, source, seen)
            chunks = []
        elif line.startswith(b";"):
            continue  # old-style FASTA comment line (still found in NCBI-era files)
        elif name is not None:
            chunks.append(line)
        elif line.strip():
            raise _not_fasta_error(line, source)
    if name is None:
        raise InputError(f"no FASTA records in {source}")
    _refuse_duplicate(seen.finish(), source)
    yield _make_record(name, chunks, source)


def _parse_header(line: bytes, source: str, seen: SeenNames) -> str:
    words = line[1:].split(None, 1)
    if not words:
        kind, mark = ("FASTQ", "@") if line.startswith(b"@") else ("FASTA", ">")
        raise InputError(f"a {kind} header in {source} has no record name after '{mark}'")
    name = words[0].decode("utf-8", errors="replace")
    _refuse_duplicate(seen.add(name), source)
    return name


def _refuse_duplicate(name: str | None, source: str) -> None:
    if name is not None:
        raise InputError(f"duplicate record ID {name!r} in {source}; record IDs must be unique")


def _make_record(name: str, chunks: list[bytes], source: str) -> SequenceRecord:
    raw = b"".join(chunks).translate(None, _WHITESPACE)
    if not raw:
        raise InputError(f"record {name!r} in {source} has an empty sequence")
    return SequenceRecord(name=name, seq=validate_sequence(raw, name, source), chrom=name)


def _not_fasta_error(line: bytes, source: str) -> InputError:
    if line.startswith(b"@"):  # only where FASTQ is not read (training data, references)
        return InputError(
            f"{source} looks like FASTQ (starts with '@'), not FASTA; convert it with "
            "`seqkit fq2fa` or `samtools fasta`"
        )
    return InputError(f"{source} is not a FASTA file: the first line does not start with '>'")


def _parse_fastq(lines: Iterator[bytes], source: str) -> Iterator[SequenceRecord]:
    """FASTQ records: '@' header, sequence, '+' line, qualities. The sequence and qualities
    may wrap over several lines (old files); qualities are only counted, because a quality
    line may itself start with '@' and only its length says where the record ends."""
    seen = SeenNames()
    for line in lines:
        if not line.strip():
            continue
        if not line.startswith(b"@"):
            raise InputError(f"{source} is not valid FASTQ: a record starts with {line[:20]!r}, not '@'")
        name = _parse_header(line, source, seen)
        sequence = []
        for line in lines:
            if line.startswith(b"+"):
                break
            sequence.append(line)
        else:
            raise InputError(f"record {name!r} in {source} is truncated: no '+' line after its sequence")
        bases = len(b"".join(sequence).translate(None, _WHITESPACE))
        qualities = 0
        while qualities < bases:
            line = next(lines, None)
            if line is None:
                break
            qualities += len(line.translate(None, _WHITESPACE))
        if qualities != bases:
            raise InputError(f"record {name!r} in {source} has {qualities} quality values for {bases} bases "
                             "(a truncated or malformed FASTQ)")
        yield _make_record(name, sequence, source)
    _refuse_duplicate(seen.finish(), source)


# --- indexed region access ---------------------------------------------------------------


def read_fasta_regions(path: str, regions: list[Region]) -> Iterator[SequenceRecord]:
    """Fetch `regions` from an indexed FASTA (plain + `.fai`, or BGZF + `.fai` + `.gzi`).

    The file is opened and every region checked against the index before the iterator
    is returned, so a typo in the last BED line fails before any work is done. The index
    must already exist: pysam would otherwise write one next to the user's data.
    """
    _require_file(path)
    compressed = _require_fasta_index(path)
    try:
        fasta = pysam.FastaFile(path)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot open indexed FASTA {path}: {error}") from error
    try:
        if not compressed:  # .fai offsets of BGZF are not file offsets: _fetch_regions checks those
            _require_current_index(path, {region.chrom for region in regions})
        lengths = dict(zip(fasta.references, fasta.lengths))
        resolved = [resolve_region(region, lengths, path) for region in regions]
    except InputError:
        fasta.close()
        raise
    return _fetch_regions(fasta, resolved, path)


def _require_fasta_index(path: str) -> bool:
    """Refuse a FASTA without its index; return whether it is compressed (BGZF)."""
    with open(path, "rb") as handle:
        head = handle.read(18)
    if head.startswith(_GZIP_MAGIC) and not _is_bgzf(head):
        raise InputError(
            f"{path} is plain gzip, which cannot be indexed; recompress it with "
            f"`zcat {path} | bgzip > OUT.fa.gz` and run `samtools faidx` on the result"
        )
    needed = [path + ".fai"] + ([path + ".gzi"] if head.startswith(_GZIP_MAGIC) else [])
    missing = [index for index in needed if not os.path.exists(index)]
    if missing:
        raise InputError(
            f"{path} has no index ({', '.join(missing)} missing); "
            f"run `samtools faidx {path}` to use regions"
        )
    return head.startswith(_GZIP_MAGIC)


def _require_current_index(path: str, contigs: set[str]) -> None:
    """Refuse a `.fai` made before the FASTA was edited. htslib trusts the byte offsets in
    it, so a stale one returns newlines, another record's bases or, silently, wrong bases.
    Each contig asked for is checked where its entry says its header, first line and last
    base are, and the last entry must end the file (a record added since): a few bytes read
    per contig, whatever the genome's size."""
    entries = _read_fai(path + ".fai", path)
    last = list(entries)[-1:]
    with open(path, "rb") as handle:
        for name in (contigs & entries.keys()) | set(last):
            if not _entry_matches(handle, name, *entries[name], must_end_file=name in last):
                raise _stale_index_error(path)


def _read_fai(index: str, path: str) -> dict[str, tuple[int, int, int, int]]:
    """name -> (length, offset, bases per line, bytes per line), in file order."""
    entries = {}
    with open(index, "rb") as handle:
        for line in handle:
            fields = line.split(b"\t")
            try:
                entries[fields[0].decode("utf-8", "replace")] = tuple(int(f) for f in fields[1:5])
            except (ValueError, IndexError):
                raise InputError(f"{index} is not a FASTA index (.fai); "
                                 f"rebuild it with `samtools faidx {path}`") from None
    return entries


def _entry_matches(handle: BinaryIO, name: str, length: int, offset: int, line_bases: int, line_width: int,
                   *, must_end_file: bool) -> bool:
    """Whether the bytes are where the entry puts them: the `>NAME` header line ending just
    before `offset`, a line break after the first full line and one after the last base."""
    if length <= 0 or line_bases <= 0:
        return True  # an empty record has no bases to misplace
    full_lines, rest = divmod(length, line_bases)
    end = offset + full_lines * line_width + rest - (0 if rest else line_width - line_bases)  # past the last base
    line_breaks = (b"\r", b"\n")
    return (
        _header_names(handle, offset, name)
        and _is_base(_read_at(handle, offset, 1))
        and (length <= line_bases or _read_at(handle, offset + line_bases, 1) in line_breaks)
        and _is_base(_read_at(handle, end - 1, 1))
        and _read_at(handle, end, 1) in (b"", *line_breaks)
        and not (must_end_file and _read_at(handle, end, _HEADER_WINDOW).strip())
    )


def _header_names(handle: BinaryIO, offset: int, name: str) -> bool:
    """Whether the line ending at `offset` is a header whose record name is `name` (taken
    as true for a header longer than the window read, whose start is not seen)."""
    start = max(offset - _HEADER_WINDOW, 0)
    window = _read_at(handle, start, offset - start)
    if not window.endswith(b"\n"):
        return False
    _, newline, line = window[:-1].rpartition(b"\n")
    if not newline and start > 0:
        return True
    words = line[1:].split(None, 1)
    return line.startswith(b">") and bool(words) and words[0] == name.encode()


def _read_at(handle: BinaryIO, position: int, size: int) -> bytes:
    handle.seek(max(position, 0))
    return handle.read(size)


def _is_base(byte: bytes) -> bool:
    return len(byte) == 1 and byte not in _WHITESPACE and byte != b">"


def _stale_index_error(path: str) -> InputError:
    older = os.path.getmtime(path + ".fai") < os.path.getmtime(path)
    return InputError(
        f"the index {path}.fai does not match {path}"
        f"{' (the index is older: the FASTA was changed after indexing)' if older else ''}; "
        f"rebuild it with `samtools faidx {path}`"
    )


def _is_bgzf(head: bytes) -> bool:
    """BGZF is gzip with the FEXTRA flag and a 'BC' extra subfield (SAM spec, 4.1)."""
    has_extra_field = len(head) >= 14 and bool(head[3] & 4)
    return head.startswith(_GZIP_MAGIC) and has_extra_field and head[12:14] == b"BC"


def _fetch_regions(
    fasta: pysam.FastaFile, regions: list[Region], source: str
) -> Iterator[SequenceRecord]:
    with fasta:
        for region in regions:
            name = region.name or str(region)
            try:
                seq = fasta.fetch(region.chrom, region.start, region.end)
            except (OSError, ValueError) as error:
                raise InputError(f"cannot read region {region} from {source} ({error})") from error
            if _LINE_BREAK_OR_HEADER.search(seq):  # bytes that are not bases: a stale index
                raise _stale_index_error(source)
            yield SequenceRecord(
                name=name,
                seq=validate_sequence(seq, name, source),
                chrom=region.chrom,
                offset=region.start,
            )
