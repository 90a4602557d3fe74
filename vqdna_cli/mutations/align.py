"""Assembled genomes: align each to the reference with minimap2 (`mappy`) and read its
substitutions, insertions and deletions off the alignment's CIGAR.

minimap2 is the field's standard aligner for whole viral genomes against a reference (as in
Nextclade-free pipelines and UShER's input tools); `mappy` is its official Python binding.
The `asm10` preset is used: assembly-to-reference scoring for up to ~10 % divergence, whose
gap costs still open a gap for a real deletion instead of smearing it into mismatches.

Bases the genome does not resolve (N and the other IUPAC codes) are never called: they mark
the reference positions as *not covered*, which the report keeps (a sample without a call
at an uncovered site is "unknown", not "reference").

asm10 costs a mismatch as much as nine matches, so minimap2 clips a genome's last few bases
when one of them differs from the reference: a substitution within about ten bases of either
end would be lost and its bases counted uncovered. Where a genome aligns in one piece, its
unaligned ends are therefore laid base for base beside the reference's next bases (as far
as both go, at most END_STRETCH) and read as substitutions when they agree with it closely
enough to be the same sequence (at most one mismatch per ten bases); a more different end is
a flank that is not the reference's (a primer, an adapter) and stays uncovered. Where the
genome's end and the reference's are not equally far from the alignment, an indel near the
end is as likely: the bases are laid beside the reference only when that agrees better than
laying the genome's last bases against the reference's last ones.

minimap2 also stops short of an indel a few dozen bases from an end (a 3' UTR deletion with
60 sequenced bases after it): the whole clipped end then agrees with the reference only
past a gap. An end that does not lie gaplessly is tried after each deletion or insertion of
up to END_INDEL bases; where all of it (at least END_AFTER_INDEL resolved bases) then agrees
as the genome's own bases would, the indel is called and the end read as above. A shorter
end stays uncovered: too few bases to tell an indel from chance.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from vqdna_cli.data.alphabet import reverse_complement
from vqdna_cli.errors import InputError, OutputError
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.mutations.variants import Call, Reference, normalise

PRESET = "asm10"
_ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)
# CIGAR operations as minimap2 numbers them.
_MATCH_OPS, _INSERTION, _DELETION, _SKIP = (0, 7, 8), 1, 2, 3
END_STRETCH = 20  # bases of a clipped end laid beside the reference, at most
END_BASES_PER_MISMATCH = 10
END_INDEL = 100  # the longest indel tried between the alignment and a clipped end
END_AFTER_INDEL = 20  # resolved bases of the end that must agree past that indel


@dataclass
class GenomeCalls:
    sample: str
    calls: list[Call]
    covered: dict[str, np.ndarray]  # per contig: reference positions the genome resolves


class GenomeAligner:
    def __init__(self, reference: Reference):
        import mappy

        self.reference = reference
        self.aligner = _index(reference, mappy)
        if not self.aligner:
            raise InputError(f"minimap2 could not index the reference {reference.path}")

    def call(self, record: SequenceRecord, source: str) -> GenomeCalls:
        hits = _kept_hits(self.aligner.map(record.seq))
        if not hits:
            raise InputError(f"genome {record.name!r} in {source} does not align to the reference "
                             f"{self.reference.path}: is it the same virus, and the whole genome?")
        covered = {}
        calls: dict = {}
        for hit in hits:
            chrom_seq = self.reference.sequences[hit.ctg]
            mask = covered.setdefault(hit.ctg, np.zeros(len(chrom_seq), dtype=bool))
            query = record.seq[hit.q_st : hit.q_en]
            if hit.strand < 0:
                query = reverse_complement(query)
            sites = _walk(hit, chrom_seq, query, mask)
            if len(hits) == 1:
                sites = [*sites, *_clipped_ends(hit, chrom_seq, record.seq, mask)]
            for site in sites:
                calls.setdefault(site, Call(record.name, site))
        return GenomeCalls(record.name, sorted(calls.values(), key=lambda c: c.site), covered)


def _index(reference: Reference, mappy):
    """A minimap2 index of the reference's sequences as vqdna reads them, not of its file:
    minimap2 would count a space inside a sequence line as a base (and keep U), shifting
    every position after it from the reference the calls are read against."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory(prefix="vqdna-reference-") as folder:
            path = f"{folder}/reference.fa"
            with open(path, "w", encoding="utf-8") as handle:
                for name, sequence in reference.sequences.items():
                    handle.write(f">{name}\n{sequence}\n")
            return mappy.Aligner(path, preset=PRESET)
    except OSError as error:
        raise OutputError(f"cannot write minimap2's copy of the reference in {tempfile.gettempdir()}: "
                          f"{error.strerror}; set TMPDIR to a writable folder") from None


def _kept_hits(hits: Iterable) -> list:
    """The primary alignment plus any others that cover new reference and genome stretches
    (a genome split by a long deletion or a rearrangement), in reference order."""
    kept = []
    for hit in hits:
        if any(hit.ctg == k.ctg and hit.r_st < k.r_en and k.r_st < hit.r_en for k in kept):
            continue
        if any(hit.q_st < k.q_en and k.q_st < hit.q_en for k in kept):
            continue
        kept.append(hit)
    return sorted(kept, key=lambda h: (h.ctg, h.r_st))


def _walk(hit, chrom_seq: str, query: str, covered: np.ndarray) -> Iterator:
    ref_at, query_at = hit.r_st, 0
    for length, op in hit.cigar:
        if op in _MATCH_OPS:
            yield from _substitutions(hit.ctg, chrom_seq, ref_at, query[query_at : query_at + length], covered)
            ref_at += length
            query_at += length
        elif op == _INSERTION:
            inserted = query[query_at : query_at + length]
            # An insertion with unresolved bases is not called: its content is unknown.
            if set(inserted) <= set("ACGT"):
                yield normalise(chrom_seq, hit.ctg, ref_at, "", inserted)
            query_at += length
        elif op == _DELETION:
            covered[ref_at : ref_at + length] = True
            yield normalise(chrom_seq, hit.ctg, ref_at, chrom_seq[ref_at : ref_at + length], "")
            ref_at += length
        elif op == _SKIP:
            ref_at += length


def _substitutions(chrom: str, chrom_seq: str, ref_at: int, query: str, covered: np.ndarray) -> Iterator:
    """The substitutions of `query` laid gaplessly on the reference from `ref_at`; its
    resolved bases are marked covered."""
    r = np.frombuffer(chrom_seq[ref_at : ref_at + len(query)].encode("ascii"), dtype=np.uint8)
    q = np.frombuffer(query.encode("ascii"), dtype=np.uint8)
    resolved = np.isin(q, _ACGT)
    covered[ref_at : ref_at + len(query)] |= resolved
    # where the reference itself is N (or another IUPAC code) no base is a change from it
    for offset in np.flatnonzero(resolved & (q != r) & np.isin(r, _ACGT)).tolist():
        position = ref_at + offset
        yield normalise(chrom_seq, chrom, position, chrom_seq[position], chr(q[offset]))


def _clipped_ends(hit, chrom_seq: str, genome: str, covered: np.ndarray) -> list:
    """The substitutions in the genome's ends that minimap2 clipped (module docstring)."""
    oriented = genome if hit.strand > 0 else reverse_complement(genome)
    start, end = (hit.q_st, hit.q_en) if hit.strand > 0 else (len(genome) - hit.q_en, len(genome) - hit.q_st)
    # Each end as (genome bases, reference bases) outward from the alignment, nearest first.
    ends = [(oriented[:start][::-1], chrom_seq[: hit.r_st][::-1], -1), (oriented[end:], chrom_seq[hit.r_en :], 1)]
    sites = []
    for query, reference, direction in ends:
        n = min(len(query), len(reference), END_STRETCH)
        gapless = n and _same_sequence(reference[:n], query[:n]) and not (
            # the outermost bases agree at least as well where the genome's end meets the
            # reference's: an indel near the end, not substitutions beside the alignment
            len(query) != len(reference)
            and _mismatches(reference[-n:], query[-n:]) <= _mismatches(reference[:n], query[:n]))
        if gapless:
            bases = query[:n] if direction > 0 else query[:n][::-1]
            ref_at = hit.r_en if direction > 0 else hit.r_st - n
            sites += _substitutions(hit.ctg, chrom_seq, ref_at, bases, covered)
            continue
        placed = _past_an_indel(query, reference)
        if placed is None:
            continue
        deleted, inserted, n = placed
        laid = query[inserted : inserted + n]
        alt = query[:inserted]
        if direction > 0:
            indel_at, ref_at = hit.r_en, hit.r_en + deleted
        else:  # the end before the alignment runs outward: back to the reference's direction
            indel_at, ref_at, laid, alt = hit.r_st - deleted, hit.r_st - deleted - n, laid[::-1], alt[::-1]
        covered[indel_at : indel_at + deleted] = True
        sites.append(normalise(chrom_seq, hit.ctg, indel_at, chrom_seq[indel_at : indel_at + deleted], alt))
        sites += _substitutions(hit.ctg, chrom_seq, ref_at, laid, covered)
    return sites


def _past_an_indel(query: str, reference: str) -> tuple[int, int, int] | None:
    """(bases deleted, bases inserted, bases laid after them) for the indel beside the
    alignment after which the whole end agrees best with the reference (the shorter indel
    where two agree as well); None where none lets it agree (module docstring). `query` and
    `reference` run outward from the alignment, nearest first."""
    best = None
    for deleted, inserted in [*((d, 0) for d in range(1, END_INDEL + 1)), *((0, i) for i in range(1, END_INDEL + 1))]:
        if not set(query[:inserted]) <= set("ACGT"):  # an insertion of unknown bases is not called
            continue
        laid, beside = query[inserted:], reference[deleted:]
        n = min(len(laid), len(beside))
        head = min(n, END_AFTER_INDEL)
        if n < END_AFTER_INDEL or not _same_sequence(beside[:head], laid[:head]):  # (cheap test first)
            continue
        if sum(base in "ACGT" for base in laid[:n]) < END_AFTER_INDEL or not _same_sequence(beside[:n], laid[:n]):
            continue
        score = (_mismatches(beside[:n], laid[:n]), deleted + inserted)
        if best is None or score < best[0]:
            best = (score, (deleted, inserted, n))
    return None if best is None else best[1]


def _same_sequence(reference: str, query: str) -> bool:
    """Whether an end agrees with the reference beside it as a genome's own bases would: at
    most one mismatch per END_BASES_PER_MISMATCH bases (unresolved bases are no mismatch)."""
    return _mismatches(reference, query) <= -(-len(query) // END_BASES_PER_MISMATCH)


def _mismatches(reference: str, query: str) -> int:
    return sum(q != r and q in "ACGT" and r in "ACGT" for q, r in zip(query, reference))


def read_genomes(path: str, data: bytes | None = None) -> list[SequenceRecord]:
    """The genomes of a FASTA file (plain or gzip), named by their ID; `data`: its bytes,
    already read (stdin, `-`, or a pipe, which can be read only once).

    Real collections repeat IDs (a GenBank accession once per recombinant parent, as
    `OU219033 (XA)` and `OU219033 (XB)`): when the IDs of a file are not unique, every
    record of that file is named by its whole header line instead, and only a repeated
    header line is refused.
    """
    import gzip
    import zlib

    from vqdna_cli.io.fasta import (BYTE_ORDER_MARK, GZIP_MAGIC, MAGIC_BYTES, WHITESPACE, check_text, first_line,
                                    validate_sequence)

    if data is None:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            raise InputError(f"cannot read {path}: {error.strerror}") from None
    if path == "-":
        path = "stdin"  # the name messages give it
    check_text(data[:MAGIC_BYTES], path)
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise InputError(f"{path} is a damaged gzip file ({error})") from None
        check_text(data[:MAGIC_BYTES], path, inside="gzip")
    # as every FASTA reader of vqdna: a byte-order mark is dropped, CR-only line ends refused
    # (judged on the first line alone: the lines themselves are split once, below)
    data = data.lstrip(b"\r\n\t ")
    end = data.find(b"\n")
    first_line(iter([data if end < 0 else data[:end]]), path)
    data = data.removeprefix(BYTE_ORDER_MARK)
    headers, chunks = [], []
    for line in data.splitlines():
        if line.startswith(b">"):
            headers.append(line[1:].strip().decode("utf-8", errors="replace"))
            chunks.append([])
        elif line.startswith(b";") or not line.strip():
            continue
        elif not chunks and line.startswith(b"@"):
            raise InputError(f"{path} looks like FASTQ (reads), not assembled genomes: align the reads to the "
                             "reference and give the BAM, e.g. `minimap2 -a REFERENCE READS.fq | samtools sort "
                             "-o reads.bam && samtools index reads.bam`")
        elif not chunks:
            raise InputError(f"{path} is not a FASTA file: the first line does not start with '>'")
        else:
            # as every FASTA reader of vqdna: whitespace inside a sequence line is layout
            chunks[-1].append(line.translate(None, WHITESPACE))
    if not headers:
        raise InputError(f"no FASTA records in {path}")
    if not all(header.split() for header in headers):
        raise InputError(f"a FASTA header in {path} has no record name after '>'")
    ids = [header.split()[0] for header in headers]
    # where IDs repeat, the whole header names the genome: its tabs made as one space, as a
    # tab would split the name across the tables' columns (and VCF sample names)
    names = ids if len(set(ids)) == len(ids) else [" ".join(header.split()) for header in headers]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise InputError(f"record {duplicate!r} occurs twice in {path}: genomes need distinct names")
    records = []
    for name, pieces in zip(names, chunks):
        raw = b"".join(pieces)
        if not raw:
            raise InputError(f"record {name!r} in {path} has an empty sequence")
        # U is T (an RNA genome written as RNA), as the model reads it (data.alphabet)
        records.append(SequenceRecord(name, validate_sequence(raw, name, path).replace("U", "T"), name))
    return records
