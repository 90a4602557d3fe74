"""Reading FASTA: streaming whole files (plain, gzip, BGZF or stdin; regions of indexed
files are indexed_fasta's); streaming FASTQ too, where asked for (sequences only: reads are what
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


from vqdna_cli.errors import InputError
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.unique import SeenNames

ALLOWED_BASES = "ACGTNRYSWKMBDHVU"
"""IUPAC nucleotide codes (U for RNA). Gaps and protein letters are rejected."""

_EITHER_CASE = ALLOWED_BASES + ALLOWED_BASES.lower()
_ALLOWED_BYTES = _EITHER_CASE.encode("ascii")
_FIRST_BAD = re.compile(f"[^{_EITHER_CASE}]")
_PROTEIN_ONLY = re.compile("[EFILPQefilpq]")
WHITESPACE = b" \t\r\n\v\f"
GZIP_MAGIC = b"\x1f\x8b"
BYTE_ORDER_MARK = b"\xef\xbb\xbf"  # UTF-8's; some editors (Notepad) start every file with it
_BUFFER_SIZE = 1 << 20
_HEADER_WINDOW = 4096
# Formats vqdna does not decompress, by their magic bytes: (magic, name, the command that
# writes the contents to stdout). `compress` (.Z) is read by gzip's own decompressor.
_FOREIGN_COMPRESSION = (
    (b"BZh", "bzip2", "bzcat"),
    (b"\xfd7zXZ\x00", "xz", "xzcat"),
    (b"\x28\xb5\x2f\xfd", "zstd", "zstdcat"),
    (b"PK\x03\x04", "zip", "unzip -p"),
    (b"PK\x05\x06", "zip", "unzip -p"),
    (b"\x04\x22\x4d\x18", "lz4", "lz4cat"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip", "7z x -so"),
    (b"Rar!\x1a\x07", "RAR", "unrar p -inul"),
    (b"LZIP", "lzip", "lzip -dc"),
    (b"\x1f\x9d", "compress (.Z)", "gzip -dc"),
)
_TAR_MAGIC_AT = 257  # "ustar" (and its version) in a tar member's header block
MAGIC_BYTES = 512
"""Enough leading bytes for `check_text` to recognise every format it names."""
# Bytes no text file holds: the C0 controls except tab, line feed, vertical tab, form
# feed, carriage return and escape (terminal colours), and DEL.
_BINARY_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_NON_ASCII = bytes(range(0x80, 0x100))
_NCBI_TITLE_SEPARATOR = b"\x01"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def validate_sequence(seq: str | bytes, record_name: str, source: str, *, reads: bool = False, at: int = 0) -> str:
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
        raise _bad_character_error(text, record_name, source, seq if isinstance(seq, bytes) else None, reads, at)
    return data.upper().decode("ascii")


def _bad_character_error(seq: str, record_name: str, source: str, raw: bytes | None = None,
                         reads: bool = False, at: int = 0) -> InputError:
    """`reads`: a sequencer's reads (FASTQ, SAM), where '.' is a base not called, not a gap;
    `at`: where `seq` starts in its record (0-based; a stretch read through an index)."""
    match = _FIRST_BAD.search(seq)
    assert match is not None, "called only for sequences with a bad character"
    shown = _character_at(raw, match.start()) if raw is not None else match.group()
    message = (
        f"record {record_name!r} in {source} has invalid character {shown!r} "
        f"at position {at + match.start() + 1:,}; allowed are the IUPAC nucleotide codes "
        f"{ALLOWED_BASES}"
    )
    if match.group() in "@+":  # a FASTQ record's header or separator line read as bases
        message += " (a FASTQ record among FASTA ones? give FASTQ as a file of its own)"
    elif _PROTEIN_ONLY.search(seq):
        message += " (this looks like a protein sequence; vqdna needs DNA or RNA)"
    elif reads and match.group() == ".":
        message += " (a base the sequencer did not call: write it as N, e.g. `seqkit replace -s -p '\\.' -r N`)"
    elif match.group() in "-.":
        message += " (remove alignment gaps, e.g. with `seqkit seq -g`)"
    return InputError(message)


def _character_at(data: bytes, at: int) -> str:
    """The character whose first byte is data[at], as the user's editor shows it: a UTF-8
    letter (é) rather than the Latin-1 reading of its first byte (Ã)."""
    for width in (1, 2, 3, 4):
        try:
            return data[at : at + width].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return data[at : at + 1].decode("latin-1")


# --- streaming reader ------------------------------------------------------------------


def read_fasta(path: str, *, fastq: bool = False) -> Iterator[SequenceRecord]:
    """Stream the records of a FASTA file (with `fastq`, or a FASTQ file); `-` reads stdin.

    Compression is detected from the gzip magic bytes rather than the extension, so
    `.fa.gz`, `.fa.bgz`, misnamed files and piped gzip all work; FASTQ from a first line
    starting with '@'. A missing file is reported here, before iteration starts, so the CLI
    fails before loading a model.
    """
    if path != "-":
        require_file(path)
    return _iter_fasta(path, fastq)


def _iter_fasta(path: str, fastq: bool) -> Iterator[SequenceRecord]:
    with _open_binary(path) as raw:
        yield from read_stream(raw, "stdin" if path == "-" else path, fastq=fastq)


def read_stream(raw: BinaryIO, source: str, *, fastq: bool = False) -> Iterator[SequenceRecord]:
    """The records of an open FASTA (with `fastq`, or FASTQ) stream, plain or gzip."""
    head = raw.read(MAGIC_BYTES)
    check_text(head, source)
    rewound = Rewound(head, raw)
    stream = io.BufferedReader(rewound, buffer_size=_BUFFER_SIZE)
    compressed = head.startswith(GZIP_MAGIC)
    if compressed:
        lines = _gzip_lines(gzip.GzipFile(fileobj=stream), source)
        if is_bgzf(head):  # a file was checked when opened; a pipe is, once it has all come
            lines = ending_in_bgzf_end(lines, rewound, source)
    else:
        lines = iter(stream)
    first = first_line(lines, source, compressed)
    lines = itertools.chain([first], lines)
    if fastq and first.startswith(b"@"):
        yield from _parse_fastq(lines, source)
    else:
        yield from _parse_records(lines, source)


def first_line(lines: Iterator[bytes], source: str, compressed: bool = False) -> bytes:
    """The first non-blank line, without a byte-order mark. Binary data (what gzip held,
    for a compressed file) is refused first; then a CR inside a header line means the file
    ends its lines with CR alone (classic Mac): read as one line, its records would
    otherwise be reported as empty or as not FASTA."""
    first = next((line for line in lines if line.strip()), b"").removeprefix(BYTE_ORDER_MARK)
    check_text(first, source, inside="gzip" if compressed else None)
    if first.startswith((b">", b"@", b";")) and b"\r" in first.rstrip(b"\r\n"):
        raise InputError(f"{source} ends its lines with carriage returns alone (old Mac line endings); "
                         f"convert them, e.g. {_line_feeds_fix(source, compressed)}")
    return first


def _line_feeds_fix(source: str, compressed: bool) -> str:
    """The command that gives `source` line feeds: on what gzip holds, and into a new file
    (`tr < x.fa > x.fa` would empty the only copy)."""
    if source == "stdin":
        return "put `tr '\\r' '\\n'` in the pipe before vqdna"
    root, extension = os.path.splitext(source.removesuffix(".gz").removesuffix(".bgz") if compressed else source)
    fixed = f"{root}.lf{extension or '.fa'}"
    return f"`gzip -dc {source} | tr '\\r' '\\n' > {fixed}`" if compressed else f"`tr '\\r' '\\n' < {source} > {fixed}`"


def check_text(head: bytes, source: str, *, inside: str | None = None) -> None:
    """Refuse, naming the format and the fix, data that is no FASTA/FASTQ text: a format
    compressed other than by gzip (bzip2, xz, zstd, zip, ...), a tar archive, UTF-16 text
    or other binary data (judged on the first non-blank line, so a bad byte in a record
    still gets the record's own message). `head` is the first bytes of the file (or, with
    `inside`, of what that compression held); plain and gzip text pass. Run before any
    line-ending diagnosis, which would otherwise blame a CR byte in binary data."""
    what = f"{source} holds {inside} data that" if inside else source
    compression = foreign_compression(head)
    if compression:
        name, command = compression
        fix = (f"`{command} {source} | vqdna ... -`" if not inside and source != "stdin"
               else f"put `{command}` in the pipe before vqdna")
        raise InputError(f"{what} is {name}-compressed: vqdna reads plain, gzip or BGZF FASTA/FASTQ; "
                         f"decompress it first, e.g. {fix}")
    if head[_TAR_MAGIC_AT:].startswith((b"ustar\x0000", b"ustar  \x00")):  # POSIX, GNU
        raise InputError(f"{what} is a tar archive, not FASTA/FASTQ: extract its files first "
                         f"(`tar -xf ARCHIVE`) and give vqdna the FASTA/FASTQ files")
    if head.startswith(_UTF16_BOMS):
        raise InputError(f"{what} is UTF-16 text; vqdna reads ASCII (UTF-8) FASTA/FASTQ: convert it, e.g. "
                         f"`iconv -f UTF-16 -t UTF-8 {'FILE' if inside or source == 'stdin' else source} > fixed.fa`")
    if head.startswith(GZIP_MAGIC):
        if not inside:
            return
        fix = f"`gzip -dc {source} | gzip -dc | vqdna ... -`" if source != "stdin" else "put `gzip -dc` in the pipe"
        raise InputError(f"{what} is gzip-compressed again (compressed twice): vqdna undoes one gzip; undo the "
                         f"other first, e.g. {fix}")
    first = next((line for line in head.split(b"\n") if line.strip()), b"").removeprefix(BYTE_ORDER_MARK)
    if _is_binary(first[:_HEADER_WINDOW]):
        raise _binary_error(source, inside)


def foreign_compression(head: bytes) -> tuple[str, str] | None:
    """(format, the command that decompresses it to stdout) of data compressed other than by
    gzip, from its first bytes; None for anything else."""
    return next(((name, command) for magic, name, command in _FOREIGN_COMPRESSION if head.startswith(magic)), None)


def _is_binary(data: bytes) -> bool:
    """Whether `data` (a first line) holds bytes no text file does, or, outside a header
    line, mostly non-ASCII bytes (random data: half of them; Latin-1 text: a few)."""
    header = data.startswith((b">", b"@", b";"))
    if header:  # NCBI joins the titles of merged entries with Ctrl-A (`blastdbcmd -ctrl_a`)
        data = data.replace(_NCBI_TITLE_SEPARATOR, b"")
    if len(data.translate(None, _BINARY_BYTES)) != len(data):
        return True
    if header:
        return False  # a header may be in any encoding; the bases are checked record by record
    return len(data) - len(data.translate(None, _NON_ASCII)) >= 0.3 * len(data) > 0


def _binary_error(source: str, inside: str | None = None) -> InputError:
    what = f"what its {inside} compression holds" if inside else "it"
    return InputError(f"{source} is not a FASTA file: {what} is binary data, not FASTA/FASTQ text; give a plain, "
                      "gzip or BGZF FASTA/FASTQ file")


def require_file(path: str) -> None:
    if not os.path.exists(path):
        raise InputError(f"input file not found: {path}")
    if os.path.isdir(path):
        raise InputError(f"input {path} is a directory; give a FASTA, BAM, SAM or CRAM file")
    _check_bgzf_end(path)


# BGZF (bgzip, samtools) ends every file with this empty block. Its blocks are gzip members,
# so a file cut at a block boundary decompresses without error, one record short or with a
# record cut: only the missing end block tells.
_BGZF_HEADER = b"\x1f\x8b\x08\x04"
_BGZF_SUBFIELD_AT, _BGZF_SUBFIELD = 12, b"BC"
_BGZF_END = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _check_bgzf_end(path: str) -> None:
    """A BGZF file without its end block is refused, as htslib warns of a BAM without one."""
    if not os.path.isfile(path):  # a pipe or device: read as it comes
        return
    try:
        with open(path, "rb") as handle:
            head = handle.read(_BGZF_SUBFIELD_AT + 2)
            if not (head.startswith(_BGZF_HEADER) and head[_BGZF_SUBFIELD_AT:] == _BGZF_SUBFIELD):
                return
            size = os.path.getsize(path)
            handle.seek(-min(len(_BGZF_END), size), os.SEEK_END)
            cut_short = handle.read() != _BGZF_END and _only_bgzf_blocks(handle, size)
    except OSError as error:
        raise InputError(f"cannot open {path}: {error.strerror}") from None
    if cut_short:
        raise InputError(f"{path} is BGZF without its end-of-file block: the file was cut short (an interrupted "
                         "copy or download?); get it again, or recompress it with bgzip")


def _only_bgzf_blocks(handle: BinaryIO, size: int) -> bool:
    """Whether every gzip member of the file is a BGZF block (each says its own size): a
    BGZF file then, not one with plain gzip after it (`cat part1.fa.bgz part2.fa.gz`),
    which ends as plain gzip does, without BGZF's end block."""
    at = 0
    while at < size:
        handle.seek(at)
        size_of_block = _bgzf_block_size(handle.read(_BGZF_BLOCK_HEADER))
        if size_of_block is None:
            return False
        at += size_of_block
    return True


_BGZF_BLOCK_HEADER = _BGZF_SUBFIELD_AT + 6  # ... 'BC', its length (2 bytes), the block's size - 1 (2 bytes)


def _bgzf_block_size(header: bytes) -> int | None:
    """The size of the BGZF block that starts with `header`; None where it is none."""
    if len(header) < _BGZF_BLOCK_HEADER or not header.startswith(_BGZF_HEADER) or \
            header[_BGZF_SUBFIELD_AT : _BGZF_SUBFIELD_AT + 2] != _BGZF_SUBFIELD:
        return None
    return int.from_bytes(header[_BGZF_BLOCK_HEADER - 2 : _BGZF_BLOCK_HEADER], "little") + 1


def stdin_bytes() -> BinaryIO:
    """The process's stdin as bytes (`check_stdin`)."""
    check_stdin()
    return sys.stdin.buffer


def check_stdin() -> None:
    """Refuse, in one line, a stdin closed at start (`<&-`, which leaves Python no stream at
    all) or a terminal (`vqdna tokenize -` with nothing piped in would wait silently)."""
    if sys.stdin is None:
        raise InputError("cannot read stdin (-): it is closed; give a file, or pipe the sequences in")
    if _is_terminal(sys.stdin):  # nothing is piped in: the run would wait for typed input, silently
        raise InputError("stdin (-) is a terminal, not a pipe: give a file, or pipe the sequences in "
                         "(zcat reads.fa.gz | vqdna ... -)")
    if not hasattr(sys.stdin, "buffer"):  # a text stand-in (a notebook's, io.StringIO): no bytes to read
        raise InputError("cannot read stdin (-) as bytes here (a notebook's or a text stand-in); give a file")


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # a stand-in stream (tests, notebooks) or a closed one
        return False


def _open_binary(path: str) -> AbstractContextManager[BinaryIO]:
    if path == "-":
        # Leave the process's stdin open when the reader finishes.
        return nullcontext(stdin_bytes())
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
        self.tail = b""  # the last bytes given out: BGZF's end block, where the stream was whole
        self.blocks = BgzfBlocks()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        if self._head:
            data, self._head = self._head[: len(buffer)], self._head[len(buffer) :]
        else:
            data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self.tail = (self.tail + data)[-len(_BGZF_END):]
        self.blocks.feed(data)
        return len(data)


class BgzfBlocks:
    """Follows the gzip members of bytes fed in order while each is a BGZF block (each says
    its own size): `only_bgzf` turns False at plain gzip after BGZF (`cat a.fa.bgz b.fa.gz`),
    which ends as plain gzip does, without BGZF's end block."""

    def __init__(self) -> None:
        self.only_bgzf = True
        self._skip = 0  # bytes left of the block whose header was read
        self._header = b""

    def feed(self, data: bytes) -> None:
        at = 0
        while at < len(data) and self.only_bgzf:
            if self._skip:
                step = min(self._skip, len(data) - at)
                self._skip, at = self._skip - step, at + step
                continue
            step = _BGZF_BLOCK_HEADER - len(self._header)
            self._header, at = self._header + data[at : at + step], at + step
            if len(self._header) == _BGZF_BLOCK_HEADER:
                size = _bgzf_block_size(self._header)
                self.only_bgzf, self._skip, self._header = size is not None, (size or 0) - _BGZF_BLOCK_HEADER, b""


def ending_in_bgzf_end(items: Iterator, rewound: Rewound, source: str,
                        fix: str = "get it again, or recompress it with bgzip") -> Iterator:
    """The lines (or reads) of a BGZF stream (stdin, a pipe), then its end checked as a
    file's is when opened: a stream cut at a block boundary (an interrupted `curl | vqdna`)
    ends without error."""
    yield from items
    if rewound.tail != _BGZF_END and rewound.blocks.only_bgzf:
        raise InputError(f"{source} is BGZF without its end-of-file block: the stream was cut short (an interrupted "
                         f"copy or download?); {fix}")


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
    any size is linear. Mates with Casava comments are named NAME/1 and NAME/2 as in FASTQ
    (`seqkit fq2fa` keeps the comments)."""
    seen = SeenNames()
    name: str | None = None
    mate = b""
    chunks: list[bytes] = []
    for line in lines:
        if line.startswith(b">"):
            next_name, next_mate = _header(line, source)
            if name is not None:
                if _mates((name, mate), (next_name, next_mate)):
                    name, next_name = f"{name}/1", f"{name}/2"
                yield _unique(_make_record(name, chunks, source), seen, source)
            name, mate, chunks = next_name, next_mate, []
        elif line.startswith(b";"):
            continue  # old-style FASTA comment line (still found in NCBI-era files)
        elif name is not None:
            chunks.append(line)
        elif line.strip():
            raise _not_fasta_error(line, source)
    if name is None:
        raise InputError(f"no FASTA records in {source}")
    yield _unique(_make_record(name, chunks, source), seen, source)
    _refuse_duplicate(seen.finish(), source)


def _header(line: bytes, source: str) -> tuple[str, bytes]:
    """The record name of a FASTA or FASTQ header, and its Casava read number (b"1", b"2") if any."""
    words = line[1:].split(None, 1)
    if not words:
        kind, mark = ("FASTQ", "@") if line.startswith(b"@") else ("FASTA", ">")
        raise InputError(f"a {kind} header in {source} has no record name after '{mark}'")
    casava = _CASAVA.match(words[1]) if len(words) > 1 else None
    return record_name(words[0]), casava[1] if casava else b""


def _mates(first: tuple[str, bytes], second: tuple[str, bytes]) -> bool:
    """Whether two records in a row, as (name, Casava read number), are read 1 and read 2 of
    one pair: named NAME/1 and NAME/2, in FASTA as in FASTQ."""
    return first[0] == second[0] and (first[1], second[1]) == (b"1", b"2")


def record_name(raw: bytes) -> str:
    """A header's name as text: UTF-8, or where it is not UTF-8 (an old Latin-1 file) each
    byte as its Latin-1 letter, so that no byte is lost and two names stay two."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _refuse_duplicate(name: str | None, source: str) -> None:
    if name is not None:
        raise InputError(f"duplicate record ID {name!r} in {source}; record IDs must be unique")


def _make_record(name: str, chunks: list[bytes], source: str, reads: bool = False) -> SequenceRecord:
    raw = b"".join(chunks).translate(None, WHITESPACE)
    if not raw:
        raise InputError(f"record {name!r} in {source} has an empty sequence")
    return SequenceRecord(name=name, seq=validate_sequence(raw, name, source, reads=reads), chrom=name)


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
    line may itself start with '@' and only its length says where the record ends.

    Interleaved pairs whose mates share an ID and say which read they are in an Illumina
    (Casava 1.8) comment, `@r1 1:N:0:ACGT` then `@r1 2:N:0:ACGT`, are named `r1/1` and `r1/2`,
    as the mates of a BAM are; each record is therefore held until the next header is read."""
    seen = SeenNames()
    held: tuple[SequenceRecord, bytes] | None = None  # the last record and its mate number
    for line in lines:
        if not line.strip():
            continue
        if not line.startswith(b"@"):
            raise InputError(f"{source} is not valid FASTQ: a record starts with {line[:20]!r}, not '@'")
        name, mate = _header(line, source)
        record = _fastq_record(name, lines, source)
        if held is not None and _mates((held[0].name, held[1]), (name, mate)):
            yield _unique(_renamed(held[0], f"{name}/1"), seen, source)
            yield _unique(_renamed(record, f"{name}/2"), seen, source)
            held = None
            continue
        if held is not None and held[0].name == name:  # fastq-dump's interleaved pairs: mates without /1, /2
            raise InputError(f"duplicate record ID {name!r} in {source}, twice in a row: interleaved mates? Name "
                             f"them {name}/1 and {name}/2 (or write the Casava comments 1:N:0: and 2:N:0:); "
                             "record IDs must be unique")
        if held is not None:
            yield _unique(held[0], seen, source)
        held = (record, mate)
    if held is not None:
        yield _unique(held[0], seen, source)
    _refuse_duplicate(seen.finish(), source)


# `<read>:<is filtered>:<control number>:<index>`, the comment Illumina's Casava 1.8 writes
_CASAVA = re.compile(rb"([12]):[YN]:[0-9]+:")


def _fastq_record(name: str, lines: Iterator[bytes], source: str) -> SequenceRecord:
    sequence = []
    for line in lines:
        if line.startswith(b"+"):
            break
        sequence.append(line)
    else:
        raise InputError(f"record {name!r} in {source} is truncated: no '+' line after its sequence")
    bases = len(b"".join(sequence).translate(None, WHITESPACE))
    qualities = 0
    if len(sequence) == 1 and bases:
        # a sequence on one line has its qualities on one line: read on, a short one would take
        # the next record's lines as qualities (and lose that record where they add up)
        line = next(lines, None)
        qualities = 0 if line is None else len(line.translate(None, WHITESPACE))
    while len(sequence) != 1 and qualities < bases:
        line = next(lines, None)
        if line is None:
            break
        qualities += len(line.translate(None, WHITESPACE))
    if qualities != bases:
        raise InputError(f"record {name!r} in {source} has {qualities} quality values for {bases} bases "
                         "(a truncated or malformed FASTQ)")
    return _make_record(name, sequence, source, reads=True)


def _renamed(record: SequenceRecord, name: str) -> SequenceRecord:
    return SequenceRecord(name=name, seq=record.seq, chrom=name)


def _unique(record: SequenceRecord, seen: SeenNames, source: str) -> SequenceRecord:
    _refuse_duplicate(seen.add(record.name), source)
    return record


# --- indexed region access ---------------------------------------------------------------


def is_bgzf(head: bytes) -> bool:
    """BGZF is gzip with the FEXTRA flag and a 'BC' extra subfield (SAM spec, 4.1)."""
    has_extra_field = len(head) >= 14 and bool(head[3] & 4)
    return head.startswith(GZIP_MAGIC) and has_extra_field and head[12:14] == b"BC"
