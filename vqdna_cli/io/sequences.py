"""The one entry point every subcommand uses to read sequences, whatever the input."""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Iterator

from vqdna_cli.errors import InputError
from vqdna_cli.io.bam import read_alignment_regions
from vqdna_cli.io.fasta import read_fasta, read_fasta_regions, read_fasta_stream, validate_sequence
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.regions import Region, parse_region, read_bed

FASTA = "fasta"
ALIGNMENT = "alignment"

_ALIGNMENT_EXTENSIONS = (".bam", ".sam", ".cram")
_SAM_HEADER_TAGS = (b"@HD\t", b"@SQ\t")
_SAM_MIN_FIELDS = 11
_SNIFF_BYTES = 64 * 1024


def detect_format(path: str) -> str:
    """Return `"alignment"` for BAM/SAM/CRAM and `"fasta"` for anything else.

    Content wins over names (a BAM renamed `.dat` is still a BAM), but a `.bam/.sam/.cram`
    extension is trusted too so a damaged alignment file gets the alignment reader's
    error. Unknown content falls to the FASTA reader, whose errors explain what is wrong.
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
    """Read sequences from FASTA (file or `-` for stdin) or BAM/SAM/CRAM.

    `region` (samtools syntax) and `bed` select intervals, which needs an indexed file;
    both may be given (the region first, then the BED intervals). Argument problems are
    raised here, before the first record, so the CLI fails fast.
    """
    regions = _requested_regions(region, bed)
    if regions and (path == "-" or is_stream(path)):
        raise InputError("--region and --bed need an indexed file, not stdin or a pipe; pass a file path")
    if path != "-" and is_stream(path):
        return _read_stream(path, mapped_only)
    if detect_format(path) == ALIGNMENT:
        records = read_alignment_regions(path, regions or None, mapped_only, reference)
        return _validated(records, path)
    if mapped_only:
        raise InputError(f"--mapped-only applies to BAM/SAM/CRAM input, but {path} is FASTA")
    _check_unique_names(regions)
    return read_fasta_regions(path, regions) if regions else read_fasta(path)


def is_stream(path: str) -> bool:
    """A FIFO, `<(...)` (a pipe under /dev/fd) or a character device: what it gives can be
    read only once, so the format is detected on bytes the reader then reuses."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _read_stream(path: str, mapped_only: bool) -> Iterator[SequenceRecord]:
    try:
        raw = open(path, "rb")
    except OSError as error:
        raise InputError(f"cannot open {path}: {error.strerror}") from error
    head = raw.read(_SNIFF_BYTES)
    if not path.lower().endswith(_ALIGNMENT_EXTENSIONS) and not _looks_like_alignment(head):
        if mapped_only:
            raw.close()
            raise InputError(f"--mapped-only applies to BAM/SAM/CRAM input, but {path} is FASTA")
        return read_fasta_stream(raw, head, path)
    raw.close()
    raise InputError(f"{path} is a pipe of BAM/SAM/CRAM: alignment input must be a file (pysam reads it by name)")


def _check_unique_names(regions: list[Region]) -> None:
    """Regions of a FASTA become records named by BED column 4 (else chrom:start-end):
    the names must be unique, as FASTA record IDs must."""
    seen: set[str] = set()
    for region in regions:
        name = region.name or str(region)
        if name in seen:
            raise InputError(f"duplicate region name {name!r} (--region/--bed); record IDs must be unique: "
                             "give each BED line its own name in column 4, or drop the column")
        seen.add(name)


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
