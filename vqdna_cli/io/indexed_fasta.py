"""Regions of an indexed FASTA (plain + `.fai`, or BGZF + `.fai` + `.gzi`): the index
checked before use (present, loadable, still matching the file), then the regions fetched
through pysam. Every sequence passes fasta.validate_sequence."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import pysam

from vqdna_cli.errors import InputError
from vqdna_cli.io.fasta import GZIP_MAGIC, MAGIC_BYTES, WHITESPACE, check_text, is_bgzf, require_file, validate_sequence
from vqdna_cli.io.htslib import quiet_htslib
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.regions import Region, check_unique_names, resolve_regions

_HEADER_WINDOW = 4096  # bytes read back from a record's first base to find its header line
_LINE_BREAK_OR_HEADER = re.compile("[\r\n>]")


def read_fasta_regions(path: str, regions: list[Region]) -> Iterator[SequenceRecord]:
    """Fetch `regions` from an indexed FASTA (plain + `.fai`, or BGZF + `.fai` + `.gzi`).

    The file is opened and every region checked against the index before the iterator
    is returned, so a typo in the last BED line fails before any work is done. The index
    must already exist: pysam would otherwise write one next to the user's data.
    """
    require_file(path)
    compressed = _require_fasta_index(path)
    entries = _read_fai(path + ".fai", path)  # htslib's own complaint would not say how to fix it
    fasta = open_indexed_fasta(path, compressed)
    try:
        _require_current_index(path, entries, {region.chrom for region in regions}, compressed)
        lengths = dict(zip(fasta.references, fasta.lengths))
        resolved = resolve_regions(regions, lengths, path)
        check_unique_names(resolved)
    except InputError:
        fasta.close()
        raise
    return _fetch_regions(fasta, resolved, path)


def indexed_fasta_lengths(path: str, contigs: Iterable[str] = (), every_record: bool = False) -> dict[str, int]:
    """Contig lengths of an indexed FASTA (`--scan`), from its `.fai`, once the index has
    been checked: present, readable, and still matching the file at `contigs`;
    with `every_record` (all of the file is to be read through the index), listing every
    record of the file (`require_index_lists_every_record`)."""
    require_file(path)
    compressed = _require_fasta_index(path)
    entries = _read_fai(path + ".fai", path)
    if every_record:
        require_index_lists_every_record(path, list(entries))
    _require_current_index(path, entries, set(contigs), compressed)
    return {name: entry[0] for name, entry in entries.items()}


def open_indexed_fasta(path: str, compressed: bool | None = None) -> pysam.FastaFile:
    """pysam's reader of an indexed FASTA, htslib's messages off; a failure names the index to rebuild."""
    if compressed is None:
        with open(path, "rb") as handle:
            compressed = handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    try:
        with quiet_htslib():
            return pysam.FastaFile(path)
    except (OSError, ValueError) as error:
        raise _open_error(path, compressed, error) from error


def _require_fasta_index(path: str) -> bool:
    """Refuse a FASTA without its index; return whether it is compressed (BGZF)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(MAGIC_BYTES)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None
    check_text(head, path)
    if head.startswith(GZIP_MAGIC) and not is_bgzf(head):
        raise InputError(
            f"{path} is plain gzip, which cannot be indexed; recompress it with "
            f"`zcat {path} | bgzip > OUT.fa.gz` and run `samtools faidx` on the result"
        )
    needed = [path + ".fai"] + ([path + ".gzi"] if head.startswith(GZIP_MAGIC) else [])
    missing = [index for index in needed if not os.path.exists(index)]
    if missing == [path + ".gzi"]:  # a .fai alone: made before the file was bgzipped, or the .gzi lost
        raise InputError(f"{path} has only part of its index ({path}.gzi missing); delete {path}.fai and run "
                         f"`samtools faidx {path}` to index it again")
    if missing:
        raise InputError(
            f"{path} has no index ({', '.join(missing)} missing); "
            f"run `samtools faidx {path}` to use regions"
        )
    return head.startswith(GZIP_MAGIC)


def _open_error(path: str, compressed: bool, error: Exception) -> InputError:
    """htslib fails to open an indexed FASTA whose index it cannot load with a bare "error
    when opening file": the .fai was checked already, so for BGZF the .gzi is to blame."""
    if not compressed:
        return InputError(f"cannot open indexed FASTA {path} ({error}); if {path}.fai is damaged, "
                          f"rebuild it with `samtools faidx {path}`")
    gzi = path + ".gzi"
    try:
        size = os.path.getsize(gzi)
        with open(gzi, "rb") as handle:
            entries = int.from_bytes(handle.read(8), "little")  # then one 16-byte pair per block
        damaged = "damaged" if size < 8 or size != 8 + 16 * entries else "unreadable by htslib"
    except OSError as failure:
        damaged = f"unreadable ({failure.strerror})"
    return InputError(f"the index {gzi} is {damaged}; delete {gzi} and {path}.fai and rebuild them "
                      f"with `samtools faidx {path}`")


def _require_current_index(path: str, entries: dict[str, tuple[int, int, int, int]], contigs: set[str],
                           compressed: bool = False) -> None:
    """Refuse a `.fai` made before the FASTA was edited. htslib trusts the byte offsets in
    it, so a stale one returns newlines, another record's bases or, silently, wrong bases.
    Each contig asked for is checked where its entry says its header, first line and last
    base are, and the last entry must end the file (a record added since): a few bytes read
    per contig, whatever the genome's size. BGZF is read at those (uncompressed) offsets
    through its `.gzi`."""
    last = list(entries)[-1:]
    with (_BgzfByOffset(path) if compressed else open(path, "rb")) as handle:
        for name in (contigs & entries.keys()) | set(last):
            if not _entry_matches(handle, name, *entries[name], must_end_file=name in last):
                raise _index_mismatch_error(path, list(entries))


class _BgzfByOffset:
    """A BGZF file read at uncompressed offsets (`seek`, `read`), as a plain file is: the
    `.gzi` says where each block starts in both, so a read decompresses a block or two."""

    def __init__(self, path: str):
        import bisect
        import struct

        self._bisect = bisect.bisect_right
        try:
            with open(path + ".gzi", "rb") as gzi:
                count = struct.unpack("<Q", gzi.read(8))[0]
                pairs = struct.unpack(f"<{2 * count}Q", gzi.read(16 * count))
        except (OSError, struct.error):
            raise _open_error(path, True, OSError("unreadable")) from None
        self._compressed = [0, *pairs[0::2]]
        self._uncompressed = [0, *pairs[1::2]]
        self._raw = open(path, "rb")
        self._position = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._raw.close()

    def seek(self, position: int) -> None:
        self._position = position

    def read(self, size: int) -> bytes:
        import zlib

        block = self._bisect(self._uncompressed, self._position) - 1
        skip = self._position - self._uncompressed[block]
        self._raw.seek(self._compressed[block])
        data, pending = b"", b""
        while len(data) < skip + size:
            pending = pending or self._raw.read(1 << 17)
            if not pending:
                break  # past the last block: what a plain file gives past its end
            member = zlib.decompressobj(31)  # one BGZF block is one gzip member
            try:
                data += member.decompress(pending)
                while not member.eof and (more := self._raw.read(1 << 17)):  # a block cut by the read
                    data += member.decompress(more)
            except zlib.error:
                return b""  # not BGZF where the .gzi says: no base will match, the index is stale
            pending = member.unused_data
        self._position += size
        return data[skip : skip + size]


def _read_fai(index: str, path: str) -> dict[str, tuple[int, int, int, int]]:
    """name -> (length, offset, bases per line, bytes per line), in file order. An index
    htslib could not load (garbage, another file copied over it, an empty one) is refused
    here with the fix, before htslib prints its own complaint."""
    broken = InputError(f"the index {index} is damaged (not a FASTA index); rebuild it "
                        f"with `samtools faidx {path}`")
    entries = {}
    try:
        with open(index, "rb") as handle:
            for line in handle:
                fields = line.rstrip(b"\r\n").split(b"\t")
                numbers = [int(f) if f.isdigit() else -1 for f in fields[1:]]
                # samtools writes 5 columns for FASTA (6 for FASTQ); a line holds its bases and more
                if len(fields) not in (5, 6) or not fields[0] or min(numbers) < 0 or numbers[3] < numbers[2]:
                    raise broken
                entries[fields[0].decode("utf-8", "replace")] = tuple(numbers[:4])
    except OSError as error:
        raise InputError(f"cannot read the index {index}: {error.strerror}") from None
    if not entries:
        raise broken
    return entries


def _entry_matches(handle: BinaryIO, name: str, length: int, offset: int, line_bases: int, line_width: int,
                   *, must_end_file: bool) -> bool:
    """Whether the bytes are where the entry puts them: the `>NAME` header line ending just
    before `offset`, a line end after the first full line and one after the last base (a line
    end: spaces or tabs, which htslib skips as it reads, then a line break)."""
    if length <= 0 or line_bases <= 0:
        return True  # an empty record has no bases to misplace
    full_lines, rest = divmod(length, line_bases)
    end = offset + full_lines * line_width + rest - (0 if rest else line_width - line_bases)  # past the last base
    return (
        _header_names(handle, offset, name)
        and _is_base(_read_at(handle, offset, 1))
        and (length <= line_bases or _line_ends(_read_at(handle, offset + line_bases, line_width - line_bases)))
        and _is_base(_read_at(handle, end - 1, 1))
        and _line_ends(_read_at(handle, end, _HEADER_WINDOW), or_file_ends=True)
        and not (must_end_file and _read_at(handle, end, _HEADER_WINDOW).strip())
    )


def _line_ends(following: bytes, or_file_ends: bool = False) -> bool:
    """Whether the bytes after a base end its line: any spaces or tabs, then a line break
    (or nothing, at the end of the file, where `or_file_ends`)."""
    rest = following.lstrip(b" \t")
    return rest[:1] in (b"\r", b"\n") or (or_file_ends and not rest)


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
    return len(byte) == 1 and byte not in WHITESPACE and byte != b">"


def _stale_index_error(path: str) -> InputError:
    older = os.path.getmtime(path + ".fai") < os.path.getmtime(path)
    return InputError(
        f"the index {path}.fai does not match {path}"
        f"{' (the index is older: the FASTA was changed after indexing)' if older else ''}; "
        f"rebuild it with `samtools faidx {path}`"
    )


def _fetch_regions(
    fasta: pysam.FastaFile, regions: list[Region], source: str
) -> Iterator[SequenceRecord]:
    with fasta:
        for region in regions:
            name = region.name or str(region)
            yield SequenceRecord(
                name=name,
                seq=fetch_bases(fasta, Region(region.chrom, region.start, region.end), source),
                chrom=region.chrom,
                offset=region.start,
            )


def fetch_bases(fasta: pysam.FastaFile, region: Region, source: str) -> str:
    """Bases [start, end) of `region.chrom`, validated (uppercase); an index that no longer
    matches the file (htslib fails, or returns line breaks or headers) is named to rebuild."""
    try:
        with quiet_htslib():
            seq = fasta.fetch(region.chrom, region.start, region.end)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read region {region} from {source} ({error}); if {source} changed after it was "
                         f"indexed, rebuild its index with `samtools faidx {source}`") from error
    if _LINE_BREAK_OR_HEADER.search(seq):  # bytes that are not bases: a stale index
        raise _stale_index_error(source)
    # a bad base is told by its contig and its place there, which finds it (a BED line's name
    # and the place within that interval do not), as --scan does
    return validate_sequence(seq, region.chrom, source, at=region.start)


def require_index_lists_every_record(path: str, indexed: list[str]) -> None:
    """A whole-file read through the index (`--scan` without regions) must see every record:
    htslib indexes only the first of two records with one name, so the second would be left
    out without a word. The file's header lines are read once (a pass at disk speed, flat in
    memory) and compared with the index's names, in order."""
    names = _unique_header_names(path)
    if names != indexed:
        raise _index_mismatch_error(path, indexed, names)


def _unique_header_names(path: str) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for name in header_names(path):
        if name in seen:
            raise InputError(f"duplicate record ID {name!r} in {path}; record IDs must be unique (its index "
                             f"holds only the first)")
        seen.add(name)
        names.append(name)
    return names


def _index_mismatch_error(path: str, indexed: list[str], names: list[str] | None = None) -> InputError:
    """Why an index does not match its FASTA. Rebuilding helps where the FASTA changed, but
    htslib's index holds one record of a name given twice and none without bases, so for
    those the file itself must change (the headers are read, only on this failing path, where
    the caller has not read them)."""
    if os.path.getmtime(path + ".fai") < os.path.getmtime(path):
        return _stale_index_error(path)  # the FASTA changed after indexing: rebuilding is the fix
    if names is None:  # the file's record names, unless the caller has read them already
        try:
            names = _unique_header_names(path)  # a name given twice: said here
        except InputError as error:
            return error
    in_index = set(indexed)
    left_out = [name for name in names if name not in in_index]
    if left_out and [name for name in names if name not in left_out] == indexed:
        return InputError(f"record {left_out[0]!r} of {path} is not in its index {path}.fai: if it has no bases, "
                          f"remove it (an index leaves such records out, however often rebuilt); else rebuild the "
                          f"index with `samtools faidx {path}`")
    return _stale_index_error(path)


def header_names(path: str, chunk_bytes: int = 1 << 20) -> Iterator[str]:
    """The record IDs of a FASTA (plain or BGZF/gzip), read from its header lines only."""
    import gzip

    with open(path, "rb") as raw:
        compressed = raw.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    with (gzip.open if compressed else open)(path, "rb") as handle:
        buffer = b"\n"  # the file's start counts as a line start
        while chunk := handle.read(chunk_bytes):
            buffer += chunk
            start = 0
            while (at := buffer.find(b"\n>", start)) >= 0:
                end = buffer.find(b"\n", at + 2)
                if end < 0:
                    break  # the header goes on in the next chunk
                yield _first_word(buffer[at + 2 : end])
                start = end
            else:
                buffer = buffer[-1:]  # a newline here may begin the next chunk's header
                continue
            buffer = buffer[at:]
        if buffer.startswith(b"\n>"):  # a last header without a line break
            yield _first_word(buffer[2:])


def _first_word(header: bytes) -> str:
    words = header.split(None, 1)
    return words[0].decode("utf-8", "replace") if words else ""
