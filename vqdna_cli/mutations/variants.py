"""Variants and the reference they are called against.

One representation everywhere, VCF's: `pos` is 1-based; a substitution has one base on each
side; an insertion or deletion carries the base before it (the anchor) on both sides, so
`22193 AATT>A` deletes 22,194-22,196 and `22204 T>TGAGCCAGAA` inserts 9 bases after 22,204.
Every caller passes its variants through `normalise`, which trims shared bases and shifts
indels left through repeats (as `bcftools norm`), so the same event gets the same key
whichever input it came from. A multi-base substitution of a VCF (ACG>TCA) is read as its
single-base substitutions (`substitutions`, as `bcftools norm -a`), the form a genome's
alignment and a pileup give the same change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vqdna_cli.errors import InputError

SNV, MNV, INSERTION, DELETION, COMPLEX = "snv", "mnv", "insertion", "deletion", "complex"


@dataclass(frozen=True, order=True)
class Site:
    """A distinct variant: what the model effects are computed (and cached) for."""

    chrom: str
    pos: int  # 1-based, VCF POS
    ref: str
    alt: str

    @property
    def kind(self) -> str:
        if len(self.ref) == len(self.alt):
            return SNV if len(self.ref) == 1 else MNV
        if self.right_anchored:
            return DELETION if len(self.alt) == 1 else INSERTION
        if len(self.ref) == 1 and self.alt.startswith(self.ref):
            return INSERTION
        if len(self.alt) == 1 and self.ref.startswith(self.alt):
            return DELETION
        return COMPLEX

    @property
    def right_anchored(self) -> bool:
        """An indel before a contig's first base carries the base after it, as VCF writes it
        at POS 1 (`1 AT>T` deletes base 1)."""
        short, long = sorted((self.ref, self.alt), key=len)
        return (self.pos == 1 and len(short) == 1 and len(long) > 1 and long.endswith(short)
                and not long.startswith(short))

    @property
    def start0(self) -> int:
        """0-based first reference base the variant replaces (after the anchor of an indel)."""
        if self.right_anchored:
            return 0
        return self.pos if self.kind in (INSERTION, DELETION) else self.pos - 1

    @property
    def end0(self) -> int:
        """0-based end (exclusive) of the replaced reference bases (= start0 for an insertion)."""
        return self.pos - 1 + len(self.ref) - (1 if self.right_anchored else 0)

    @property
    def inserted(self) -> str:
        """The bases put in place of reference [start0, end0)."""
        if self.right_anchored:
            return self.alt[:-1]
        return self.alt[1:] if self.kind in (INSERTION, DELETION) else self.alt

    def label(self) -> str:
        """Nextclade-like nucleotide notation: A23063T, del22194-22196, ins22204:GAGCCAGAA."""
        kind = self.kind
        if kind == SNV:
            return f"{self.ref}{self.pos}{self.alt}"
        if kind == DELETION:
            return f"del{self.start0 + 1}" + (f"-{self.end0}" if self.end0 > self.start0 + 1 else "")
        if kind == INSERTION:  # after reference base N (ins0: before the first)
            return f"ins{self.start0}:{self.inserted}"
        return f"{self.ref}{self.pos}{self.alt}"


@dataclass
class Call:
    """A variant found in one sample, with read support when it came from reads."""

    sample: str
    site: Site
    depth: int | None = None  # reads covering the site (reads input), else None
    alt_depth: int | None = None
    # A VCF's AF where it gives no read counts to make it from (an AF without DP)
    stated_frequency: float | None = None
    annotation: dict = field(default_factory=dict)
    # INFO/DP and INFO/AF (of this ALT allele) of the input VCF's record, kept for the VCF out.
    site_info: dict = field(default_factory=dict)

    @property
    def frequency(self) -> float | None:
        if self.depth is None or self.alt_depth is None or self.depth == 0:
            return self.stated_frequency
        return self.alt_depth / self.depth


def normalise(sequence: str, chrom: str, start0: int, ref: str, alt: str) -> Site:
    """Left-aligned, parsimonious VCF form of replacing sequence[start0:start0+len(ref)] by alt.

    Alleles may be empty (a bare insertion or deletion): the anchor base is added here.
    """
    ref, alt = ref.upper(), alt.upper()
    while True:
        changed = False
        if ref and alt and ref[-1] == alt[-1]:
            ref, alt = ref[:-1], alt[:-1]
            changed = True
        if (not ref or not alt) and start0 > 0:
            start0 -= 1
            ref, alt = sequence[start0] + ref, sequence[start0] + alt
            changed = True
        if not changed:
            break
    if not ref or not alt:  # an indel at the very start of the sequence: anchor on the right
        after = sequence[start0 + len(ref)]
        ref, alt = ref + after, alt + after
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt = ref[1:], alt[1:]
        start0 += 1
    return Site(chrom, start0 + 1, ref, alt)


def ambiguous_end(sequence: str, site: Site) -> int:
    """0-based end (exclusive) of the reference bases a sample must hold to tell `site` from
    the reference: its REF bases, and for an indel the whole repeat it could be shifted
    right through. A genome that stops inside that repeat (a poly-A tail it holds fewer
    bases of) could carry the indel or be truncated: nothing says which."""
    end = site.pos - 1 + len(site.ref)
    if site.kind not in (INSERTION, DELETION) or site.right_anchored:
        return end
    start, stop, moving = site.start0, site.end0, site.inserted
    if site.kind == DELETION:  # the deleted bases slide right while the next base repeats them
        while stop < len(sequence) and sequence[start] == sequence[stop]:
            start, stop = start + 1, stop + 1
        return max(end, stop)
    while stop < len(sequence) and sequence[stop] == moving[0]:  # the inserted bases rotate
        moving, stop = moving[1:] + moving[0], stop + 1
    return max(end, stop)


def file_sample(path: str, extensions: tuple[str, ...]) -> str:
    """The sample of a file that names none itself: its file name without the first of
    `extensions` it ends with (`pt.rep1.bam` is pt.rep1)."""
    name = Path(path).name
    for extension in extensions:
        if name.lower().endswith(extension) and len(name) > len(extension):
            return name[: -len(extension)]
    return name


def atoms(site: Site, sequence: str) -> list[Site]:
    """A change in the form a genome's alignment gives it: an MNV as its single-base
    substitutions (the bases that differ, as `bcftools norm -a`), and a base replaced by
    several or several by one (T>AGG, ATG>C) as an indel and a substitution, the gap first
    (AG inserted before the T, then T>G; AT deleted, then G>C); any other site as itself."""
    if site.kind == MNV:
        return [Site(site.chrom, site.pos + offset, r, a)
                for offset, (r, a) in enumerate(zip(site.ref, site.alt)) if r != a]
    if site.kind != COMPLEX or 1 not in (len(site.ref), len(site.alt)):
        return [site]
    last = site.pos + len(site.ref) - 1  # 1-based: the base the substitution is of
    indel = normalise(sequence, site.chrom, site.pos - 1, site.ref[:-1], site.alt[:-1])
    return sorted([indel, Site(site.chrom, last, site.ref[-1], site.alt[-1])])


@dataclass
class Reference:
    path: Path
    sequences: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> "Reference":
        from vqdna_cli.io.fasta import read_fasta
        from vqdna_cli.io.writers import is_special

        if str(path) == "-" or is_special(str(path)):
            raise InputError(f"--reference {path}: the reference must be a FASTA file, not stdin or a pipe: it is "
                             "read more than once (minimap2 indexes it by name for genomes, htslib reads it for "
                             "CRAM)")
        if Path(path).is_dir():
            raise InputError(f"reference {path} is a folder; give the reference FASTA file")
        if not Path(path).is_file():
            raise InputError(f"reference {path} does not exist")
        # U is T, as in the genomes compared with it (align.read_genomes)
        sequences = {record.name: record.seq.replace("U", "T") for record in read_fasta(str(path))}
        if not sequences:
            raise InputError(f"reference {path} holds no sequence")
        return cls(Path(path), sequences)

    def check_contig(self, chrom: str, source: str, length: int | None = None) -> None:
        if chrom not in self.sequences:
            known = ", ".join(list(self.sequences)[:5])
            raise InputError(f"{source} names contig {chrom!r}, which the reference {self.path} does not have "
                             f"(it has {known}): use the reference the input was made against")
        if length is not None and length != len(self.sequences[chrom]):
            raise InputError(f"{source} gives contig {chrom!r} a length of {length:,}, the reference {self.path} "
                             f"{len(self.sequences[chrom]):,}: use the reference the input was made against")
