"""Reads aligned to the reference (BAM/CRAM): a pileup through pysam, counted here.

At every reference position each fragment is counted once (secondary, supplementary,
QC-failed and duplicate alignments are skipped; of two overlapping mates, one: counted by
read name: the mate further inside its alignment, as one ending within a few bases of an
indel may not show it, then the one with the better base quality). A base counts when its base quality reaches `min_baseq` and it is A, C, G or T
(an N is no evidence, as in genomes); a read inside a deletion counts towards the depth of
the deleted bases. An insertion or deletion is counted at its anchor (the base before it)
for the reads whose anchor base passed the quality filter; an insertion with the read's own
anchor base (after a substituted base it is one event, as a genome's alignment gives it). An
indel that reads place at different anchors in a repeat normalises to one site, whose
supporting reads are added up. A variant is called when the position's depth reaches
`min_depth` and the allele's share of it (allele frequency) reaches `min_af`. Reads whose
mapping quality is below `min_mapq` are left out (by default none: MAPQ 0 reads count, as in
`samtools mpileup`); a read without base qualities (QUAL `*`) passes `min_baseq`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pysam

from vqdna_cli.errors import InputError, VqdnaWarning
from vqdna_cli.mutations.variants import COMPLEX, Call, Reference, file_sample, normalise
from vqdna_cli.options import MutationsOptions

BASES = "ACGT"  # the columns of ReadCalls.base_counts, then one of the fragments showing none of them (below)

MAX_DEPTH = 1_000_000  # amplicon data runs to tens of thousands of reads per base


@dataclass(frozen=True)
class ReadFilters:
    """Which reads' bases count in a pileup: `MutationsOptions`' values (and defaults)."""

    min_depth: int
    min_af: float
    min_baseq: int
    min_mapq: int = 0

    @classmethod
    def of(cls, options: MutationsOptions) -> "ReadFilters":
        return cls(min_depth=options.min_depth, min_af=options.min_af, min_baseq=options.min_baseq,
                   min_mapq=options.min_mapq)


@dataclass
class ReadCalls:
    sample: str
    calls: list[Call]
    covered: dict[str, np.ndarray]
    # What the reads say where they make no call, for the VCF's DP and AF of that sample:
    # per contig, the fragments that show each base (A, C, G, T passing --min-baseq) at every
    # reference position, and those that show none of them alone (they delete it, or their
    # other base there begins an insertion: one event), (L, 5): their sum is the depth
    # variants are called on; and (depth, ALT reads) of each indel seen in some reads but below
    # --min-depth or --min-af.
    base_counts: dict[str, np.ndarray]
    uncalled_indels: dict


def open_checked(path: str, reference: Reference) -> pysam.AlignmentFile:
    """Open a BAM/CRAM and refuse, with the fix, what a pileup cannot use."""
    from vqdna_cli.io.htslib import quiet_htslib

    try:
        with quiet_htslib():
            alignments = pysam.AlignmentFile(path, "r", reference_filename=str(reference.path))
    except (OSError, ValueError) as error:
        raise InputError(f"{path} is not a readable BAM or CRAM file ({error})") from None
    order = alignments.header.to_dict().get("HD", {}).get("SO")
    # "unknown" and "unsorted" (as many tools write, whatever the order) say nothing: the index
    # below can only be of a file sorted by coordinate, and without one the reads are looked at
    if order not in (None, "coordinate", "unknown", "unsorted"):
        alignments.close()
        raise InputError(f"{path} is sorted by {order}, not by coordinate: run `samtools sort -o sorted.bam {path}` "
                         "and `samtools index sorted.bam`")
    with quiet_htslib():  # htslib's own line about a missing .crai would precede ours
        indexed = alignments.has_index()
    if not indexed:
        binary = alignments.is_bam or alignments.is_cram  # read before closing, which clears them
        alignments.close()
        with quiet_htslib():  # its line about the index it could not load, on opening the file again
            in_order = _in_coordinate_order(path, reference)
        if not in_order:
            raise InputError(f"{path} is not sorted by coordinate: run `samtools sort -o sorted.bam {path}` "
                             "and `samtools index sorted.bam`")
        if not binary:  # SAM text cannot be indexed
            raise InputError(f"{path} is SAM text, which has no index: run `samtools sort -o sorted.bam {path}` "
                             "and `samtools index sorted.bam`, and give sorted.bam")
        raise InputError(f"{path} has no index: run `samtools index {path}`")
    # Every contig that carries reads must be the reference's (same name, same length).
    used = ([s.contig for s in alignments.get_index_statistics() if s.mapped] if alignments.is_bam
            else [contig for contig in alignments.references if _carries_reads(alignments, contig)])
    lengths = dict(zip(alignments.references, alignments.lengths))
    try:
        if alignments.is_bam and not used:  # as every reader of vqdna refuses a BAM without reads
            raise InputError(f"no mapped reads in {path}: there is nothing to call variants from")
        for name in used:
            reference.check_contig(name, path, lengths[name])
    except InputError:
        alignments.close()
        raise
    _warn_of_other_sequences(alignments, used, reference, path)
    return alignments


def _carries_reads(alignments: pysam.AlignmentFile, contig: str) -> bool:
    """Whether a CRAM holds a read on `contig` (its index has no per-contig counts): a header
    listing a contig without reads (a host+virus reference's chrM) is no contig to check. A
    read that cannot be decoded (a contig the reference lacks) is one."""
    from vqdna_cli.io.htslib import quiet_htslib

    try:
        with quiet_htslib():
            return next(alignments.fetch(contig, multiple_iterators=False), None) is not None
    except (ValueError, OSError):
        return True


def _warn_of_other_sequences(alignments: pysam.AlignmentFile, used: list[str], reference: Reference, path: str) -> None:
    """Name and length can match while the sequence does not (another assembly's patch, a
    masked copy): where the header's @SQ gives M5 (the MD5 of the sequence the reads were
    aligned to, upper case, as samtools dict writes it), compare it with the reference's. The
    reference is held with U read as T, so an RNA reference's M5 (hashed as written, with U) is
    matched by its U form too."""
    import hashlib

    def is_same(sequence: str, md5: str) -> bool:
        text = sequence.upper()
        return any(hashlib.md5(form.encode()).hexdigest() == md5 for form in (text, text.replace("T", "U")))

    given = {line.get("SN"): str(line["M5"]).lower() for line in alignments.header.to_dict().get("SQ", []) if "M5" in line}
    differing = [name for name in used if name in given and not is_same(reference.sequences[name], given[name])]
    if differing:
        shown = ", ".join(differing[:3]) + (", ..." if len(differing) > 3 else "")
        warnings.warn(f"{path}: its header's MD5 (M5) of {shown} is not that of the same contig in the reference "
                      f"{reference.path}: the reads were aligned to another sequence of that name and length, so "
                      "calls against this reference may be wrong; use the reference the BAM was made against",
                      VqdnaWarning, stacklevel=2)


def _in_coordinate_order(path: str, reference: Reference) -> bool:
    with pysam.AlignmentFile(path, "r", reference_filename=str(reference.path)) as alignments:
        last = (-1, -1)
        for read in alignments.fetch(until_eof=True):
            if read.is_unmapped:
                continue
            here = (read.reference_id, read.reference_start)
            if here < last:
                return False
            last = here
    return True


def sample_name(alignments: pysam.AlignmentFile, path: str) -> str:
    """The read groups' SM when they name one, else the file name without its extension
    (`pt.rep1.bam` is pt.rep1). Read groups of several samples are refused: their reads
    would be counted as one sample's."""
    samples = sorted({group.get("SM") for group in alignments.header.to_dict().get("RG", [])} - {None})
    if len(samples) > 1:
        shown = ", ".join(samples[:3]) + (", ..." if len(samples) > 3 else "")
        raise InputError(f"{path} holds reads of {len(samples)} samples (read groups with SM {shown}): vqdna calls "
                         f"one sample per file; split it by read group first (`samtools split -f '%!.bam' {path}`)")
    return samples[0] if samples else file_sample(path, (".bam", ".cram", ".sam"))


def call_reads(path: str, reference: Reference, filters: ReadFilters) -> ReadCalls:
    import gc

    alignments = open_checked(path, reference)
    # The pileup makes a few Python objects per read and column, with no cycles among them;
    # each of Python's collections then walked every object of the process (torch's
    # included): most of a deep pileup's time. The collector waits until it is done (and is
    # left as the caller had it: a user's own gc.disable() stays).
    collecting = gc.isenabled()
    gc.disable()
    try:
        sample = sample_name(alignments, path)
        calls, covered, base_counts, uncalled_indels = [], {}, {}, {}
        unread = _Unread()
        for chrom in alignments.references:
            if chrom not in reference.sequences:
                continue
            sequence = reference.sequences[chrom]
            mask = np.zeros(len(sequence), dtype=bool)
            seen_at = np.zeros((len(sequence), len(BASES) + 1), dtype=np.uint32)
            indels: dict = {}  # normalised site -> [depth, reads], over the anchors reads chose
            for column in _columns(alignments, chrom, path, reference):
                position = column.reference_pos
                if position >= len(sequence):  # an aligner's read hanging off the end: no base to compare with
                    unread.past_end.add(chrom)
                    continue
                depth, counts, seen_at[position] = _count(column, filters, sequence, position, unread)
                if depth >= filters.min_depth:
                    mask[position] = True
                for (ref, alt), n in sorted(counts.items()):
                    if len(ref) == len(alt) == 1:  # a substitution has one place
                        if depth >= filters.min_depth and n / depth >= filters.min_af:
                            calls.append(Call(sample, normalise(sequence, chrom, position, ref, alt), depth=depth,
                                              alt_depth=n))
                        continue
                    support = indels.setdefault(normalise(sequence, chrom, position, ref, alt), [0, 0])
                    support[0], support[1] = max(support[0], depth), support[1] + n
            for site, (depth, n) in indels.items():
                n = min(n, depth)
                if depth >= filters.min_depth and n / depth >= filters.min_af:
                    calls.append(Call(sample, site, depth=depth, alt_depth=n))
                else:
                    uncalled_indels[site] = (depth, n)
            # kept for every sample until the VCF is written: in the smallest type that holds
            # this contig's counts
            covered[chrom] = mask
            base_counts[chrom] = seen_at.astype(np.min_scalar_type(int(seen_at.max(initial=0))))
    finally:
        if collecting:
            gc.enable()
        _close(alignments)
    if unread.baseless:
        count = len(unread.baseless)
        warnings.warn(f"{path}: {count:,} read{'s' if count > 1 else ''} stored without bases (SEQ *) show no "
                      "allele and count for no depth", VqdnaWarning, stacklevel=2)
    if unread.past_end:
        warnings.warn(f"{path}: reads aligned past the end of {', '.join(sorted(unread.past_end))} in the reference: "
                      "their bases beyond it are left out", VqdnaWarning, stacklevel=2)
    if unread.ambiguous_insertions:
        count = unread.ambiguous_insertions
        warnings.warn(f"{path}: {count:,} inserted sequence{'s' if count > 1 else ''} holding N (or another IUPAC "
                      "code) not counted: an insertion is called from definite bases only", VqdnaWarning,
                      stacklevel=2)
    # one call per site: a substitution comes from its own column alone, and every indel
    # (whatever anchor its reads chose) from the sum over its normalised site
    return ReadCalls(sample, sorted(calls, key=lambda c: c.site), covered, base_counts, uncalled_indels)


def _close(alignments: pysam.AlignmentFile) -> None:
    """Closing a damaged file fails again in pysam ("Closing failed"): the error that stopped
    the pileup is the one to report."""
    try:
        alignments.close()
    except OSError:
        pass


def _columns(alignments: pysam.AlignmentFile, chrom: str, path: str, reference: Reference):
    """The pileup columns of `chrom`. htslib fails mid-file when it cannot decode a CRAM
    (a reference other than the one it was written against, or a `.fai` older than its
    FASTA): one line naming both, not pysam's bare "error during iteration". One iterator at
    a time: pysam's default of several, each on its own handle, is not there for CRAM.
    htslib is quietened for each step of the iterator, never across a `yield`: its hooks
    would otherwise stay off while the caller runs, and hide the caller's own errors."""
    from vqdna_cli.io.htslib import quiet_htslib

    try:
        with quiet_htslib():  # htslib's lines about a failure would come before ours
            columns = alignments.pileup(chrom, stepper="all", min_base_quality=0, max_depth=MAX_DEPTH,
                                        ignore_orphans=False, ignore_overlaps=False, truncate=False,
                                        multiple_iterators=False)
        while True:
            with quiet_htslib():
                column = next(columns, None)
            if column is None:
                return
            yield column
    except (ValueError, OSError) as error:
        if not alignments.is_cram:
            raise InputError(f"cannot read the alignments of {path} on {chrom!r} ({error}): the file is damaged, "
                             f"or not in the order its index says; re-create it (`samtools sort -o sorted.bam "
                             f"{path}` and `samtools index sorted.bam`)") from None
        if _unsorted(path, reference):
            raise InputError(f"cannot read the alignments of {path} on {chrom!r}: the file is not sorted by "
                             f"coordinate: run `samtools sort -o sorted.cram {path}` and `samtools index "
                             "sorted.cram`") from None
        raise InputError(f"cannot read the alignments of {path} on {chrom!r} against the reference "
                         f"{reference.path} ({error}): give the reference the file was written against; "
                         f"if the FASTA changed after indexing, rebuild its index with `samtools faidx "
                         f"{reference.path}`") from None


def _unsorted(path: str, reference: Reference) -> bool:
    """True where the file reads through to its end and is out of coordinate order: the
    reason its index failed, not the reference (which, if wrong, fails this read too)."""
    from vqdna_cli.io.htslib import quiet_htslib

    try:
        with quiet_htslib():
            return not _in_coordinate_order(path, reference)
    except (ValueError, OSError):
        return False


@dataclass
class _Unread:
    """What the pileup could not read, for the warnings that say so."""
    baseless: set = field(default_factory=set)  # reads stored without bases (SEQ *)
    ambiguous_insertions: int = 0  # reads' inserted sequences holding N (or R ...)
    past_end: set = field(default_factory=set)  # contigs with reads aligned past the reference's end


def _count(column, filters: ReadFilters, sequence: str, position: int, unread: _Unread) -> tuple[int, Counter, list[int]]:
    """Depth at `position` (fragments showing a base there or deleting it), the fragments
    supporting each non-reference allele, keyed by the (ref, alt) alleles starting at
    `position`, and the fragments showing each of BASES, then the others (`ReadCalls`); what
    cannot be read goes to `unread`."""
    depth = 0
    seen = [0] * (len(BASES) + 1)
    counts: Counter = Counter()
    ref_base = sequence[position]
    for read, bases in _fragments(column, filters, unread):
        depth += 1
        if read.is_del:
            seen[-1] += 1
            if read.indel > 0:  # an insertion right after deleted bases (CIGAR D then I): after this reference base
                start = read.query_position_or_next
                _count_insertion(read.alignment.query_sequence[start : start + read.indel], ref_base, ref_base, counts,
                             unread)
            continue
        at = read.query_position
        base = bases[at]
        if read.indel > 0:
            inserted = bases[at + 1 : at + 1 + read.indel]
            if base != ref_base and ref_base in "ACGT" and _is_complex(sequence, position, base + inserted):
                # T>AGG: the gap first (AG inserted before the T, then T>G), as a genome's
                # alignment and a VCF's record (variants.atoms) give it, wherever the read's
                # aligner put the mismatch
                _count_insertion(base + inserted[:-1], "", "", counts, unread)
                shown = inserted[-1]
                seen[BASES.index(shown) if shown in BASES else -1] += 1
                if shown in BASES:
                    counts[(ref_base, shown)] += 1
            else:
                # with the read's own anchor base: inserted bases after a substituted one that
                # make one insertion (T>AGGT is an insertion of AGG), which the reference's
                # anchor would shift left across a base the read does not have; such a base is
                # that insertion's, not a substitution's, in the counts a sample without a call
                # is given too
                seen[BASES.index(base) if base == ref_base else -1] += 1
                _count_insertion(inserted, ref_base, base, counts, unread)
            deleted = _deleted_after_insertion(read.alignment, at)  # CIGAR I then D: htslib gives only the I
            if deleted:
                counts[(ref_base + sequence[position + 1 : position + 1 + deleted], ref_base)] += 1
            continue
        seen[BASES.index(base)] += 1
        if base != ref_base and ref_base in "ACGT":  # no change from a reference N
            counts[(ref_base, base)] += 1
        if read.indel < 0:
            deleted = sequence[position + 1 : position + 1 - read.indel]
            counts[(ref_base + deleted, ref_base)] += 1
    return depth, counts, seen


def _is_complex(sequence: str, position: int, replacement: str) -> bool:
    """Whether the reference base at `position` replaced by several is no single insertion
    wherever it is shifted (T>AGG is not; T>AGGT is AGG inserted before the T)."""
    return normalise(sequence, "", position, sequence[position], replacement).kind == COMPLEX


def _count_insertion(inserted: str, ref_base: str, anchor: str, counts: Counter, unread: _Unread) -> None:
    """An insertion of `inserted` after the read's `anchor` base, where the reference has
    `ref_base` (the anchor is the reference's own base where the read has none: after
    deleted bases; both are empty for an insertion before the column's base)."""
    if set(inserted) <= set("ACGT"):
        counts[(ref_base, anchor + inserted)] += 1
    else:
        unread.ambiguous_insertions += 1


def _deleted_after_insertion(alignment, query_at: int) -> int:
    """The bases a read deletes right after the insertion that follows its base `query_at`
    (CIGAR ...M I D...), else 0."""
    operations, consumed = alignment.cigartuples, 0
    for number, (operation, length) in enumerate(operations):
        if operation in (pysam.CMATCH, pysam.CEQUAL, pysam.CDIFF):
            if consumed <= query_at < consumed + length:
                follows = [op for op, _ in operations[number + 1 : number + 3]]
                at_end = query_at == consumed + length - 1
                return operations[number + 2][1] if at_end and follows == [pysam.CINS, pysam.CDEL] else 0
            consumed += length
        elif operation in (pysam.CINS, pysam.CSOFT_CLIP):
            consumed += length
    return 0


# Of two overlapping mates, one that ends within this many bases of a position may not show
# an indel there (an aligner clips or mismatches a read's last bases rather than open a gap):
# the other mate, further inside, is counted.
MATE_END_BASES = 10


def _fragments(column, filters: ReadFilters, unread: _Unread) -> list[tuple]:
    """(pileup read, its bases) of each fragment at a column, one mate of two overlapping: the
    one whose aligned bases reach further either side of the position (up to MATE_END_BASES),
    then the one with the better base, then the first."""
    position = column.reference_pos
    chosen: dict[str, tuple] = {}
    for read in column.pileups:
        alignment = read.alignment
        if read.is_refskip or alignment.is_supplementary or alignment.mapping_quality < filters.min_mapq:
            continue
        bases = None
        quality = -1  # a deletion shows no base
        if not read.is_del:
            bases = alignment.query_sequence  # pysam builds it anew on every access: once per read
            if bases is None:  # SEQ `*`: an alignment without bases shows no allele
                unread.baseless.add((alignment.query_name, alignment.flag, alignment.reference_start))
                continue
            qualities = alignment.query_qualities
            quality = qualities[read.query_position] if qualities is not None else filters.min_baseq
            if quality < filters.min_baseq or bases[read.query_position] not in "ACGT":
                continue
        inside = min(position - alignment.reference_start, alignment.reference_end - 1 - position, MATE_END_BASES)
        rank = (inside, quality)
        kept = chosen.get(alignment.query_name)
        if kept is None or rank > kept[0]:
            chosen[alignment.query_name] = (rank, read, bases)
    return [(read, bases) for _, read, bases in chosen.values()]
