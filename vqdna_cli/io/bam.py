"""Reading read sequences from BAM, SAM and CRAM files with pysam."""

from __future__ import annotations

import errno
import os
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from typing import BinaryIO

import numpy as np
import pysam

from vqdna_cli.errors import InputError, VqdnaWarning
from vqdna_cli.io.htslib import quiet_htslib
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.regions import Region, resolve_regions
from vqdna_cli.io.sam_text import SamTextBases
from vqdna_cli.io.unique import SeenNames

_NOT_PRIMARY, _WITHOUT_BASES = "not primary", "without bases (SEQ *)"  # what _kept leaves out, as messages say
_PULLED = "read"  # _kept's count of every record htslib gave it

UNMAPPED_CHROM = "*"
"""`chrom` of an unmapped read, as in the SAM RNAME column."""


def read_alignments(
    path: str,
    region: Region | None = None,
    mapped_only: bool = False,
    reference: str | None = None,
) -> Iterator[SequenceRecord]:
    """Yield each read of a BAM/SAM/CRAM file once, as a `SequenceRecord`.

    Secondary and supplementary alignments are skipped so every read appears once, as
    are reads stored without a sequence (`*`). Reads on the reverse strand keep pysam's
    `query_sequence`, which the SAM format already stores reverse-complemented, i.e. on
    the reference forward strand, so all sequences share one orientation. `offset` is the
    0-based reference start of the first aligned base; where soft clips or indels shift the
    bases from there, `reference_positions` maps each base (`SequenceRecord`); unmapped reads
    get chrom `*` and offset 0.
    Mates are named `NAME/1` and `NAME/2` so paired reads keep distinct names.

    `region` (needs a `.bai`/`.csi`/`.crai` index) restricts to reads overlapping it; `*`
    to the unmapped reads without a position, as in samtools.
    `reference` is the FASTA a CRAM file was compressed against. The file is opened and
    the region checked before the iterator is returned, so errors surface immediately.
    """
    regions = None if region is None else [region]
    return read_alignment_regions(path, regions, mapped_only, reference)


def read_alignment_regions(
    path: str,
    regions: list[Region] | None,
    mapped_only: bool = False,
    reference: str | None = None,
) -> Iterator[SequenceRecord]:
    """Like `read_alignments`, over several regions in order (None: the whole file).

    One open file serves every region, and all regions are checked against the header
    before the first read, so a bad line deep in a BED file fails fast. A read that
    overlaps several regions is yielded only for the first, keeping names unique.
    """
    if not os.path.exists(path):
        raise InputError(f"input file not found: {path}")
    alignments = _open_alignments(path, reference)
    try:
        resolved = None if regions is None else _resolve_regions(alignments, regions, path, mapped_only)
    except InputError:
        alignments.close()
        raise
    return _records(alignments, resolved, mapped_only, path, reference)


def read_alignment_stream(stream: BinaryIO, mapped_only: bool = False, reference: str | None = None,
                          source: str = "stdin") -> Iterator[SequenceRecord]:
    """Each read of a BAM or SAM stream once, as `read_alignments` (`samtools view -b ... |
    vqdna embed -`). htslib reads a file descriptor, not a Python stream, and telling the
    format apart already took the stream's first bytes: a thread copies the stream, those
    bytes included, into a pipe that htslib reads."""
    read_end, write_end = os.pipe()
    bases = SamTextBases(source)
    threading.Thread(target=_copy_into, args=(stream, write_end, bases), daemon=True).start()
    alignments = _open_alignments(read_end, reference, source)
    return _records(alignments, None, mapped_only, source, reference, bases)


def _copy_into(stream: BinaryIO, fd: int, bases: SamTextBases) -> None:
    """Each chunk is checked before htslib can read it, so a read htslib yields was checked."""
    try:
        with os.fdopen(fd, "wb") as pipe:
            while chunk := stream.read(1 << 20):
                bases.feed(chunk)
                pipe.write(chunk)
            bases.close()
    except OSError:  # htslib stopped reading (a corrupt stream, or the reader failed)
        pass


def _open_alignments(path: str | int, reference: str | None, source: str | None = None) -> pysam.AlignmentFile:
    """Open a path (or a file descriptor, which pysam then owns) with format
    auto-detection and accept only BAM, SAM or CRAM (htslib would also read FASTA/FASTQ
    here, losing the FASTA reader's checks)."""
    source = source or str(path)
    _check_reference(reference)
    try:
        with quiet_htslib():
            alignments = pysam.AlignmentFile(
                path, "r", check_sq=False, reference_filename=reference,
                duplicate_filehandle=not isinstance(path, int),
            )
    except (OSError, ValueError) as error:
        # htslib reports content it cannot recognise as ENOEXEC ("Exec format error").
        detail = "unrecognised format" if getattr(error, "errno", None) == errno.ENOEXEC else error
        raise InputError(f"{source} is not a readable BAM, SAM or CRAM file ({detail})") from error
    if not (alignments.is_bam or alignments.is_sam or alignments.is_cram):
        alignments.close()
        raise InputError(
            f"{source} is named like an alignment file but holds FASTA/FASTQ; "
            "give FASTA input a .fa or .fasta name"
        )
    return alignments


def _check_reference(reference: str | None) -> None:
    """A --reference htslib cannot use fails later as a 'truncated or corrupt' CRAM, or is
    passed over where the CRAM header's UR finds another copy: named here instead."""
    if reference is None:
        return
    if not os.path.exists(reference):
        raise InputError(f"--reference {reference}: file not found")
    if os.path.isdir(reference):
        raise InputError(f"--reference {reference} is a folder; give the reference FASTA file")
    from vqdna_cli.io.fasta import GZIP_MAGIC, is_bgzf

    with open(reference, "rb") as handle:
        head = handle.read(18)
    if head.startswith(GZIP_MAGIC) and not is_bgzf(head):
        raise InputError(f"--reference {reference} is gzip-compressed, which htslib cannot read a reference from: "
                         f"give it uncompressed, or recompressed with `bgzip`")


def _resolve_regions(
    alignments: pysam.AlignmentFile, regions: list[Region], path: str, mapped_only: bool
) -> list[Region]:
    if alignments.is_sam and not (alignments.is_bam or alignments.is_cram):  # htslib fetches no region of SAM text
        # x.sorted.bam: pasting the advice must not overwrite an x.bam that may lie beside x.sam
        bam = f"{os.path.splitext(path[:-3] if path.endswith('.gz') else path)[0]}.sorted.bam"
        raise InputError(f"{path} is SAM text: vqdna reads regions of an indexed BAM or CRAM only; convert it "
                         f"with `samtools sort -o {bam} {path}` and `samtools index {bam}`, and give the BAM")
    if not alignments.has_index():
        found = [index for index in _index_names(path) if os.path.exists(index)]
        if found:  # htslib found it but could not load it
            raise InputError(f"{found[0]} cannot be read as the index of {path} (corrupt or truncated?); "
                             f"rebuild it with `samtools index {path}`")
        raise InputError(
            f"{path} has no index, which regions need; run `samtools index {path}` "
            "(sort it first with `samtools sort` if needed)"
        )
    _warn_if_index_older(path)
    lengths = dict(zip(alignments.references, alignments.lengths))
    placed = iter(resolve_regions([region for region in regions if region.chrom != UNMAPPED_CHROM], lengths, path))
    return [_unmapped_region(region, mapped_only) if region.chrom == UNMAPPED_CHROM else next(placed)
            for region in regions]


def _unmapped_region(region: Region, mapped_only: bool) -> Region:
    """`--region '*'`: the unmapped reads that have no position (samtools' `*`), which
    have no coordinates to narrow them by."""
    if mapped_only:
        raise InputError("--region '*' selects the unmapped reads, which --mapped-only leaves out; drop one of them")
    if region.start or region.end is not None:
        raise InputError(f"invalid region {region.text or str(region)!r}: '*' (the unmapped reads) takes no "
                         "coordinates: give --region '*' for them (a BED line's START and END cannot name them)")
    return region


def _warn_if_index_older(path: str) -> None:
    """An index made before the file was rewritten points at the old file's reads: regions
    then miss reads without an error (htslib's own warning is silenced with its other noise)."""
    index = next((name for name in _index_names(path) if os.path.exists(name)), None)
    if index is not None and os.path.getmtime(index) < os.path.getmtime(path):
        warnings.warn(f"the index {index} is older than {path}: if the file changed after indexing, regions miss "
                      f"reads; rebuild it with `samtools index {path}`", VqdnaWarning, stacklevel=3)


def _index_names(path: str) -> list[str]:
    """Where samtools puts the index of `path` (`x.bam.bai`, `x.bai`, `x.bam.csi`, `x.cram.crai`)."""
    stem = os.path.splitext(path)[0]
    return [f"{path}.bai", f"{stem}.bai", f"{path}.csi", f"{path}.crai", f"{stem}.crai"]


def _records(
    alignments: pysam.AlignmentFile,
    regions: list[Region] | None,
    mapped_only: bool,
    path: str,
    reference: str | None = None,
    bases: SamTextBases | None = None,
) -> Iterator[SequenceRecord]:
    """`bases`: the SEQ check of a stream's SAM text (a SAM file's is made here)."""
    skipped = Counter()  # reads _kept leaves out, by kind
    try:
        found = 0
        if regions is None:
            reads = alignments.fetch(until_eof=True)
            if alignments.is_sam and not (alignments.is_bam or alignments.is_cram):
                reads = _bases_checked(reads, bases or SamTextBases(path, open(path, "rb")))
            for record in _unique(_kept(reads, mapped_only, skipped, path), path):
                found += 1
                yield record
            if not found:  # as an empty FASTA is refused
                raise InputError(_nothing_kept(path, mapped_only, skipped))
        else:
            # a read met again in an overlapping region is kept once; another read of its name is
            # refused, as is a name twice in one region (`samtools merge a.bam a.bam`: the same
            # place and bases, which only the region tells apart from the same read met again)
            placed: dict[str, tuple] = {}
            for region in regions:
                reads = alignments.fetch(region.chrom, region.start, region.end)
                in_region: set[str] = set()
                for record in _kept(reads, mapped_only, skipped, path):
                    if record.name in in_region:
                        _refuse_duplicate_read(record.name, path)
                    in_region.add(record.name)
                    where = (record.chrom, record.offset, hash(record.seq))
                    if record.name in placed:
                        _refuse_duplicate_read(record.name if placed[record.name] != where else None, path)
                        continue
                    placed[record.name] = where
                    found += 1
                    yield record
            if not found:  # a region without reads is an answer, not an error: said, though
                where = f"overlapping the {len(regions):,} region{'s' if len(regions) > 1 else ''}"
                warnings.warn(_nothing_kept(path, mapped_only, skipped, where), VqdnaWarning, stacklevel=2)
        if skipped[_WITHOUT_BASES] and found:
            count = skipped[_WITHOUT_BASES]
            warnings.warn(f"{path}: skipped {count:,} primary read{'s' if count > 1 else ''} "
                          "stored without bases (SEQ *)", VqdnaWarning, stacklevel=2)
    except (OSError, ValueError) as error:
        raise _read_error(alignments, path, reference, error, skipped[_PULLED] if regions is None else None) from error
    finally:
        with suppress(OSError):  # closing a file htslib failed to read raises again
            alignments.close()


def _bases_checked(reads: Iterator[pysam.AlignedSegment], bases: SamTextBases) -> Iterator[pysam.AlignedSegment]:
    """SAM text's reads, each once its SEQ passed the FASTA reader's check (htslib makes N of
    what is no base)."""
    try:
        for count, read in enumerate(reads, start=1):
            bases.check_through(count)
            yield read
        bases.check_through()
    finally:
        bases.close_file()


def _nothing_kept(path: str, mapped_only: bool, skipped: Counter, where: str = "") -> str:
    """"no reads in x.bam", saying what was there and left out (secondary copies, SEQ *)."""
    left_out = [f"{skipped[kind]:,} {kind}" for kind in (_NOT_PRIMARY, _WITHOUT_BASES) if skipped[kind]]
    return (f"no {'mapped ' if mapped_only else ''}reads in {path}" + (f" {where}" if where else "")
            + (f" ({', '.join(left_out)} left out)" if left_out else ""))


def _read_error(alignments: pysam.AlignmentFile, path: str, reference: str | None, error: Exception,
                pulled: int | None = None) -> InputError:
    """CRAM stores bases as differences from a reference: without it (htslib looks where
    the header's UR/M5 tags point) reading fails as if the file were truncated. A SAM text
    file fails at a line that htslib cannot parse (`pulled` records came before it): named,
    with what is wrong with it where a look at its fields tells."""
    if pulled is not None and alignments.is_sam and not alignments.is_bam and not _compressed_file(path):
        contigs = tuple(alignments.references)
        bad_line = _unparsed_sam_line(path, pulled, contigs)
        if bad_line is None:  # read from a stream, which cannot be read again to look
            check = ("it has no header, no @SQ line for a contig to align to (`samtools view -h` keeps it)"
                     if not contigs else "check its fields against the SAM specification")
            return InputError(f"{path}: SAM record {pulled + 1:,} (after the header) is not one htslib can read: "
                              + check)
        number, problem = bad_line
        return InputError(f"{path} line {number:,} is not a SAM record htslib can read: {problem}")
    if alignments.is_cram and reference is None:
        return InputError(f"{path} is CRAM, which needs --reference: the reference FASTA it was compressed "
                          "against (it is not where the CRAM header points)")
    hint = "; check that --reference is the FASTA it was compressed with" if alignments.is_cram else ""
    return InputError(f"{path} is truncated or corrupt ({error}){hint}")


def _compressed_file(path: str) -> bool:
    """A BGZF-compressed SAM file: where it fails, it is likelier cut short than misparsed."""
    from vqdna_cli.io.fasta import GZIP_MAGIC

    try:
        with open(path, "rb") as handle:
            return handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    except OSError:
        return False


def _unparsed_sam_line(path: str, pulled: int, contigs: tuple[str, ...]) -> tuple[int, str] | None:
    """The line number of the record after the first `pulled` ones of a plain SAM file, and
    what is wrong with it (None for stdin or a pipe, which cannot be read again)."""
    if not os.path.isfile(path):  # stdin ("stdin" or "-"), a pipe
        return None
    try:
        with open(path, "rb") as handle:
            records = 0
            for number, line in enumerate(handle, start=1):
                if line.startswith(b"@"):
                    continue
                if records == pulled:
                    return number, _sam_record_problem(line.rstrip(b"\r\n").decode("utf-8", errors="replace"), contigs)
                records += 1
    except OSError:
        return None
    return None


def _sam_record_problem(line: str, contigs: tuple[str, ...]) -> str:
    """What a look at a SAM line's fields finds wrong with it (htslib says why only on stderr)."""
    fields = line.split("\t")
    if len(fields) < 11:
        return f"it has {len(fields)} tab-separated fields, a SAM record 11 or more"
    if not contigs and fields[2] != "*":
        return f"its RNAME {fields[2][:40]!r} has no @SQ line: the file has no header (`samtools view -h` keeps it)"
    for column, name in ((1, "FLAG"), (3, "POS"), (4, "MAPQ")):
        if not fields[column].isascii() or not fields[column].isdigit():
            return f"its {name} field {fields[column][:20]!r} is not a whole number"
    cigar, sequence = fields[5], fields[9]
    if cigar != "*" and sequence != "*":
        operations = re.findall(r"(\d+)([MIDNSHP=X])", cigar)
        if "".join(n + op for n, op in operations) != cigar:
            return f"its CIGAR {cigar[:30]!r} is not one"
        length = sum(int(n) for n, op in operations if op in "MIS=X")
        if length != len(sequence):
            return f"its CIGAR {cigar[:30]} covers {length:,} bases, its sequence has {len(sequence):,}"
    return "check its fields against the SAM specification"


def _unique(records: Iterator[SequenceRecord], path: str) -> Iterator[SequenceRecord]:
    """Read names are the output's record IDs: two reads of one name would be two rows
    nobody can tell apart (the regions path keeps each read once instead, as it is met
    again in an overlapping region)."""
    seen = SeenNames()
    for record in records:
        _refuse_duplicate_read(seen.add(record.name), path)
        yield record
    _refuse_duplicate_read(seen.finish(), path)


def _refuse_duplicate_read(name: str | None, path: str) -> None:
    if name is not None:
        raise InputError(f"duplicate read name {name!r} in {path}; record IDs must be unique "
                         "(mates need the read1/read2 FLAG bits: they become NAME/1 and NAME/2)")


def _kept(reads: Iterator[pysam.AlignedSegment], mapped_only: bool, skipped: Counter,
          path: str) -> Iterator[SequenceRecord]:
    """Each read once: no secondary/supplementary copies (their SEQ is often left out), no
    sequence-less records; both counted in `skipped` (counts, not names: a BAM may hold
    millions), as _NOT_PRIMARY and _WITHOUT_BASES."""
    for read in _quietly(reads):
        skipped[_PULLED] += 1
        if read.reference_id < 0 and read.cigartuples:  # htslib's "treated as unmapped", its warning silenced
            raise InputError(f"{path}: read {read.query_name!r} is aligned (POS {read.reference_start + 1:,}, CIGAR "
                             f"{read.cigarstring[:30]}) to a contig the header has no @SQ line for; add the "
                             "contig's @SQ line (`samtools reheader`), or keep the header (`samtools view -h`)")
        if mapped_only and read.is_unmapped:
            continue
        if read.is_secondary or read.is_supplementary:
            skipped[_NOT_PRIMARY] += 1
            continue
        if read.query_sequence is None:
            skipped[_WITHOUT_BASES] += 1
            continue
        yield _to_record(read)


def _quietly(reads: Iterator[pysam.AlignedSegment]) -> Iterator[pysam.AlignedSegment]:
    """Pull reads with htslib's stderr messages off, so a corrupt block yields only our
    one-line error; verbosity is restored between reads so the caller's pysam use is
    unaffected."""
    while True:
        previous = pysam.set_verbosity(0)
        try:
            read = next(reads, None)
        finally:
            pysam.set_verbosity(previous)
        if read is None:
            return
        yield read


def _to_record(read: pysam.AlignedSegment) -> SequenceRecord:
    name = read.query_name or ""
    if read.is_paired and read.is_read1 != read.is_read2:
        name += "/1" if read.is_read1 else "/2"
    if read.is_unmapped or read.reference_name is None:
        return SequenceRecord(name=name, seq=read.query_sequence, chrom=UNMAPPED_CHROM, offset=0)
    return SequenceRecord(name=name, seq=read.query_sequence, chrom=read.reference_name, offset=read.reference_start,
                          reference_positions=_reference_positions(read))


# CIGAR operations that make a read's bases stray from reference_start + i: soft clips and
# insertions (bases not on the reference), deletions and skips (reference not in the read).
_SHIFTING_CIGAR = {pysam.CSOFT_CLIP, pysam.CINS, pysam.CDEL, pysam.CREF_SKIP}


def _reference_positions(read: pysam.AlignedSegment):
    """Each base's reference position (-1: not on the reference), or None where the CIGAR
    keeps base i at reference_start + i (matches alone, hard clips, padding)."""
    if not any(op in _SHIFTING_CIGAR for op, _ in read.cigartuples or ()):
        return None
    positions = read.get_reference_positions(full_length=True)
    return np.array([-1 if p is None else p for p in positions], dtype=np.int64)
