"""The one entry point every subcommand uses to read sequences, whatever the input."""

from __future__ import annotations

import io
import os
import sys
import zlib
from collections.abc import Iterator

from vqdna_cli.errors import InputError, VqdnaError
from vqdna_cli.io.bam import read_alignment_regions, read_alignment_stream
from vqdna_cli.io.fasta import Rewound, read_fasta, read_fasta_regions, read_stream, validate_sequence
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.regions import Region, parse_region, read_bed, resolve_region

FASTA = "fasta"
ALIGNMENT = "alignment"

_ALIGNMENT_EXTENSIONS = (".bam", ".sam", ".cram")
_SAM_HEADER_TAGS = (b"@HD\t", b"@SQ\t", b"@RG\t", b"@PG\t", b"@CO\t")  # a FASTQ name ends at a space
_SAM_MIN_FIELDS = 11
_SNIFF_BYTES = 64 * 1024


def detect_format(path: str) -> str:
    """Return `"alignment"` for BAM/SAM/CRAM and `"fasta"` for anything else (FASTQ too).

    Content wins over names (a BAM renamed `.dat` is still a BAM), but a `.bam/.sam/.cram`
    extension is trusted too so a damaged alignment file gets the alignment reader's
    error. Unknown content falls to the FASTA reader, whose errors explain what is wrong.
    Standard input is told apart by `open_sequences`, which must keep the bytes it reads.
    """
    if path == "-":
        return FASTA
    if path.lower().endswith(_ALIGNMENT_EXTENSIONS):
        return ALIGNMENT
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return FASTA  # read_fasta reports the missing or unreadable file
    return ALIGNMENT if _looks_like_alignment(head) else FASTA


def _looks_like_alignment(head: bytes) -> bool:
    if head.startswith(b"CRAM"):
        return True
    if head.startswith(b"\x1f\x8b"):
        return _gunzip_prefix(head).startswith(b"BAM\x01")
    if head.startswith(_SAM_HEADER_TAGS):
        return True
    first_line = head.split(b"\n", 1)[0]
    return len(first_line.split(b"\t")) >= _SAM_MIN_FIELDS


def _gunzip_prefix(head: bytes) -> bytes:
    """The first decompressed bytes of a gzip/BGZF prefix ("" if they cannot be read)."""
    try:
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(head, 4)
    except zlib.error:
        return b""


def open_sequences(
    path: str,
    *,
    region: str | None = None,
    bed: str | None = None,
    mapped_only: bool = False,
    reference: str | None = None,
) -> Iterator[SequenceRecord]:
    """Read sequences from FASTA or FASTQ (plain or gzip) or BAM/SAM/CRAM, from a file or
    (`-`) stdin.

    `region` (samtools syntax) and `bed` select intervals, which needs an indexed file;
    both may be given (the region first, then the BED intervals). Argument problems are
    raised here, before the first record, so the CLI fails fast.
    """
    regions = _requested_regions(region, bed)
    if regions and path == "-":
        raise InputError("--region and --bed need an indexed file, not stdin; pass a file path")
    if path == "-":
        return _stdin_records(mapped_only, reference)
    if detect_format(path) == ALIGNMENT:
        records = read_alignment_regions(path, regions or None, mapped_only, reference)
        return _validated(records, path)
    _refuse_mapped_only(mapped_only, path)
    return read_fasta_regions(path, regions) if regions else read_fasta(path, fastq=True)


def _stdin_records(mapped_only: bool, reference: str | None) -> Iterator[SequenceRecord]:
    """Standard input of any format: `samtools view -b ... | vqdna embed -` as well as
    `zcat reads.fq.gz | vqdna embed -`. Its first bytes tell the format; a pipe cannot seek
    back, so the reader gets them replayed in front of the rest."""
    head = sys.stdin.buffer.read(_SNIFF_BYTES)
    stream = io.BufferedReader(Rewound(head, sys.stdin.buffer))
    if _looks_like_alignment(head):
        return _validated(read_alignment_stream(stream, mapped_only, reference), "stdin")
    _refuse_mapped_only(mapped_only, "stdin")
    return read_stream(stream, "stdin", fastq=True)


def _refuse_mapped_only(mapped_only: bool, source: str) -> None:
    if mapped_only:
        raise InputError(f"--mapped-only applies to BAM/SAM/CRAM input, but {source} is FASTA or FASTQ")


def _requested_regions(region: str | None, bed: str | None) -> list[Region]:
    regions = [parse_region(region)] if region is not None else []
    if bed is not None:
        regions += read_bed(bed)
    return regions


def _validated(records: Iterator[SequenceRecord], source: str) -> Iterator[SequenceRecord]:
    """Alignment input gets the same alphabet check and uppercasing as FASTA input."""
    for record in records:
        seq = validate_sequence(record.seq, record.name, source)
        yield SequenceRecord(record.name, seq, record.chrom, record.offset)


def known_bases(path: str, region: str | None = None, bed: str | None = None) -> int | None:
    """How many bases `open_sequences` will yield, where a FASTA's `.fai` says so without
    reading the input (all its records, or the requested regions); None for stdin,
    alignments and FASTA without an index. Only progress uses it, so anything odd (an index
    older than its FASTA, a bad region, which the reader reports) just means no total."""
    index = path + ".fai"
    try:
        if path == "-" or detect_format(path) == ALIGNMENT or os.path.getmtime(index) < os.path.getmtime(path):
            return None
        with open(index) as handle:
            lengths = {fields[0]: int(fields[1]) for fields in (line.split("\t") for line in handle)}
        regions = _requested_regions(region, bed)
        if not regions:
            return sum(lengths.values())
        return sum(r.end - r.start for r in (resolve_region(r, lengths, path) for r in regions))
    except (OSError, ValueError, IndexError, VqdnaError):
        return None
