"""The one entry point every subcommand uses to read sequences, whatever the input."""

from __future__ import annotations

import io
import os
import warnings
import zlib
from collections.abc import Iterator

from vqdna_cli.errors import InputError, VqdnaError, VqdnaWarning
from vqdna_cli.io.bam import read_alignment_regions, read_alignment_stream
from vqdna_cli.io.fasta import (GZIP_MAGIC, Rewound, ending_in_bgzf_end, is_bgzf, read_fasta, read_stream, stdin_bytes,
                                validate_sequence)
from vqdna_cli.io.indexed_fasta import read_fasta_regions
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.writers import is_special
from vqdna_cli.io.regions import Region, parse_region, read_bed, resolve_region

FASTA = "fasta"
ALIGNMENT = "alignment"

_ALIGNMENT_EXTENSIONS = (".bam", ".sam", ".cram")
_SAM_HEADER_TAGS = (b"@HD\t", b"@SQ\t", b"@RG\t", b"@PG\t", b"@CO\t")  # a FASTQ name ends at a space
_SAM_MIN_FIELDS = 11
SNIFF_BYTES = 64 * 1024


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
            head = handle.read(SNIFF_BYTES)
    except OSError:
        return FASTA  # read_fasta reports the missing or unreadable file
    return ALIGNMENT if looks_like_alignment(head) else FASTA


def looks_like_alignment(head: bytes) -> bool:
    """Whether the first bytes of a file or stream are CRAM, BAM (BGZF) or SAM (plain or
    compressed, as `samtools view` reads it)."""
    if head.startswith(b"CRAM"):
        return True
    if head.startswith(GZIP_MAGIC):
        inner = gunzip_prefix(head, len(head))
        return inner.startswith(b"BAM\x01") or (not inner.startswith(GZIP_MAGIC) and looks_like_alignment(inner))
    if head.startswith(_SAM_HEADER_TAGS):
        return True
    # a headerless SAM: its first read's 11 fields, FLAG, POS and MAPQ numbers (a FASTA or
    # FASTQ header can hold as many tabs: metadata written key=value)
    fields = head.split(b"\n", 1)[0].rstrip(b"\r").split(b"\t")
    return len(fields) >= _SAM_MIN_FIELDS and all(fields[column].isdigit() for column in (1, 3, 4))


def gunzip_prefix(head: bytes, size: int) -> bytes:
    """Up to `size` first decompressed bytes of a gzip/BGZF prefix ("" if they cannot be read)."""
    try:
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(head, size)
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
    """Read sequences from FASTA or FASTQ (plain or gzip) or BAM/SAM/CRAM, from a file,
    `-` (stdin) or a pipe (a FIFO, `<(zcat x.fa.gz)`).

    `region` (samtools syntax) and `bed` select intervals, which needs an indexed file;
    both may be given (the region first, then the BED intervals). Argument problems are
    raised here, before the first record, so the CLI fails fast.
    """
    regions = _requested_regions(region, bed)
    if regions and (path == "-" or is_special(path)):
        raise InputError("--region and --bed need an indexed file, not stdin or a pipe; pass a file path")
    if path == "-":
        return _stream_records(stdin_bytes(), "stdin", mapped_only, reference)
    if is_special(path):
        return _pipe_records(path, mapped_only, reference)
    if detect_format(path) == ALIGNMENT:
        records = read_alignment_regions(path, regions or None, mapped_only, reference)
        return _validated(records, path)
    _refuse_mapped_only(mapped_only, path)
    _say_reference_unused(reference, path)
    if regions:
        _refuse_fastq_regions(path)
        return read_fasta_regions(path, regions)
    return read_fasta(path, fastq=True)


def looks_like_fastq(path: str) -> bool:
    """Whether a file (plain or gzip) starts as FASTQ does; False where it cannot be read
    (the reader then says why)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError:
        return False
    return (gunzip_prefix(head, 1) if head.startswith(GZIP_MAGIC) else head[:1]) == b"@"


def _refuse_fastq_regions(path: str) -> None:
    """Reads have no coordinates to cut: said before any advice on indexes (`samtools faidx
    --fastq` makes an index that would pass for a FASTA's)."""
    if looks_like_fastq(path):
        raise InputError(f"--region and --bed cut an indexed FASTA or BAM; {path} looks like FASTQ (reads): leave "
                         "them out, or give the reads' alignments (BAM)")



def _stream_records(raw, source: str, mapped_only: bool, reference: str | None) -> Iterator[SequenceRecord]:
    """A stream of any format read once: `samtools view -b ... | vqdna embed -` as well as
    `zcat reads.fq.gz | vqdna embed -`. Its first bytes tell the format; a pipe cannot seek
    back, so the reader gets them replayed in front of the rest."""
    head = raw.read(SNIFF_BYTES)
    rewound = Rewound(head, raw)
    stream = io.BufferedReader(rewound)
    if looks_like_alignment(head) or source.lower().endswith(_ALIGNMENT_EXTENSIONS):
        reads = read_alignment_stream(stream, mapped_only, reference, source)
        if is_bgzf(head):  # BAM: a stream cut at a block boundary ends without an error from htslib
            reads = ending_in_bgzf_end(reads, rewound, source, fix="get it again")
        return _validated(reads, source)
    _refuse_mapped_only(mapped_only, source)
    _say_reference_unused(reference, source)
    return read_stream(stream, source, fastq=True)


def _pipe_records(path: str, mapped_only: bool, reference: str | None) -> Iterator[SequenceRecord]:
    try:
        raw = open(path, "rb")
    except OSError as error:
        raise InputError(f"cannot open {path}: {error.strerror}") from error
    try:
        records = _stream_records(raw, path, mapped_only, reference)
    except BaseException:
        raw.close()
        raise
    return _closing(records, raw)


def _closing(records: Iterator[SequenceRecord], raw) -> Iterator[SequenceRecord]:
    with raw:
        yield from records


def _say_reference_unused(reference: str | None, source: str) -> None:
    """--reference decodes CRAM; given with FASTA (a workflow's rule passing it to every
    input, say) it changes nothing, which is said rather than left to be guessed."""
    if reference is not None:
        warnings.warn(f"--reference is read for CRAM input only; {source} is FASTA or FASTQ: it is not used",
                      VqdnaWarning, stacklevel=3)


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
        seq = validate_sequence(record.seq, record.name, source, reads=True)
        yield SequenceRecord(record.name, seq, record.chrom, record.offset, record.reference_positions)


def known_bases(path: str, region: str | None = None, bed: str | None = None) -> int | None:
    """How many bases `open_sequences` will yield, where a FASTA's `.fai` says so without
    reading the input (all its records, or the requested regions); None for stdin,
    alignments and FASTA without an index. Only progress uses it, so anything odd (an index
    older than its FASTA, a bad region, which the reader reports) just means no total."""
    index = path + ".fai"
    try:
        # a pipe (the input, or `--bed <(command)`) must not be read here: its bytes would be
        # gone for the reader
        if path == "-" or is_special(path) or (bed is not None and (bed == "-" or is_special(bed))) or \
                detect_format(path) == ALIGNMENT or os.path.getmtime(index) < os.path.getmtime(path):
            return None
        with open(index) as handle:
            lengths = {fields[0]: int(fields[1]) for fields in (line.split("\t") for line in handle)}
        with warnings.catch_warnings():  # the reader warns of what the BED holds, once
            warnings.simplefilter("ignore")
            regions = _requested_regions(region, bed)
        if not regions:
            return sum(lengths.values())
        return sum(r.end - r.start for r in (resolve_region(r, lengths, path) for r in regions))
    except (OSError, ValueError, IndexError, VqdnaError):
        return None
