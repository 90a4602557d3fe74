"""Genes and amino-acid changes from a GFF3 annotation.

CDS features are grouped by their ID into coding sequences read in coding order; a CDS made of
several parts that overlap (SARS-CoV-2's ORF1ab: 266-13468 then 13468-21555, the -1
ribosomal frameshift) reads the shared base twice, so ORF1ab is numbered through the
frameshift as the pp1ab polyprotein (Nextclade's ORF1b:P314L is ORF1ab:P4715L here); an
indel that removes that base keeps the slip on the base left before it, so the reading
changes length as the genome does. When several CDSs carry the same gene name (pp1a and
pp1ab both say ORF1ab) the longest is the gene; the others are second readings named
GENE/PROTEIN_ID (ORF1ab/YP_009725295.1), reported only where they read a variant otherwise
(A13482C: ORF1ab:V4406V and pp1a's stop lost, ORF1ab/YP_009725295.1:*4406S).

Protein changes are computed per sample: the variants of one sample that touch the same or
overlapping codons are applied together (two substitutions in one codon make one amino
acid), and every variant of the group gets the group's change; two ALT alleles at one site
(GT 1/3) are alternatives, each translated on its own. A CDS's phase (column 8) is honoured:
its first codon starts that many bases after the feature's start. Notation (1-based codons):

    N501Y             substitution; Q27* a stop gained; L212L synonymous; *1274* a stop
                      retained (another stop codon)
    R203K,G204R       several amino acids changed by one group of variants
    Y144del           in-frame deletion of one amino acid; H69_V70del of several
    ins214EPE         in-frame insertion after amino acid 214
    N211_L212delinsI  in-frame deletion with a changed amino acid at the junction
    F157fs            frameshift: the first amino acid changed, then fs (S13* where that
                      amino acid is a stop; *62* where the new reading rebuilds the stop)
    M1?               start_lost: the start codon changed (HGVS p.Met1?)

An in-frame indel that brings in a stop codon is stop_gained, named by the protein it leaves:
nothing after the new stop is read (S:ins9G*), and a stop right after the amino acids kept is a
nonsense change (TAA inserted after P9: S:L10*, p.Leu10Ter). A frameshift, or
any change of the stop codon or past it, is read on into the bases after the CDS that the
variants leave: a stop removed is stop_lost, named by the amino acid read in its place
(S:*1274T, HGVS p.Ter1274Thrext*?: the new stop is left unknown). An indel that a later one
brings back into frame, with no stop read between, is translated with it (one change).

Prefixed by the gene (S:N501Y); a variant in two overlapping genes gets both, comma-joined.

Each change is also written in HGVS.p (`hgvs_p`, for the VCF), the gene standing for the
protein's reference sequence: S:p.Asn501Tyr, ORF8:p.Gln27Ter, ORF1ab:p.Phe924=,
S:p.Tyr144del, S:p.His69_Val70del, S:p.Arg214_Asp215insGluProGlu (the two amino acids
either side), S:p.Asn211_Leu212delinsIle, S:p.Phe157fs (HGVS's short frameshift form) and
p.Ter1274Glnext*? for a lost stop; one description per changed amino acid (N:p.Arg203Lys,
N:p.Gly204Arg), as VCF INFO values may not hold HGVS's `[...;...]` allele form. Indels are
not shifted to their most C-terminal place (HGVS's 3' rule): they stay where the
left-aligned DNA variant puts them.
"""

from __future__ import annotations

import urllib.parse
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqdna_cli.errors import InputError, VqdnaWarning
from vqdna_cli.mutations.variants import INSERTION, Call, Reference


def _codon_table() -> dict[str, str]:
    from Bio.Data.CodonTable import standard_dna_table

    table = dict(standard_dna_table.forward_table)
    table.update({codon: "*" for codon in standard_dna_table.stop_codons})
    return table


CODONS = _codon_table()


def _three_letter_codes() -> dict[str, str]:
    from Bio.Data.IUPACData import protein_letters_1to3

    return {**protein_letters_1to3, "*": "Ter", "X": "Xaa"}


THREE_LETTER = _three_letter_codes()

# Sequence Ontology terms of the effects (what VCF consumers such as VEP and SnpEff write);
# an in-frame deletion-insertion is SO's protein_altering_variant.
SO_TERMS = {"missense": "missense_variant", "synonymous": "synonymous_variant",
            "frameshift": "frameshift_variant", "stop_gained": "stop_gained", "stop_lost": "stop_lost",
            "inframe_deletion": "inframe_deletion", "inframe_insertion": "inframe_insertion",
            "inframe_delins": "protein_altering_variant", "stop_retained": "stop_retained_variant",
            "start_lost": "start_lost"}


def so_terms(effect: str) -> list[str]:
    """A call's `effect` (comma-joined over genes) -> its Sequence Ontology terms; none
    outside every CDS ("noncoding": the annotation names no other feature to place it in)."""
    return list(dict.fromkeys(SO_TERMS[name] for name in effect.split(",") if name in SO_TERMS))


# Bases after a CDS's last base kept for reading a frameshift on (a deletion in the stop
# codon can make a new stop of the bases after it), and before its first base for telling
# an indel at the start codon from one in the UTR; enough for any indel the model scores.
FLANK = 1000


@dataclass
class CodingSequence:
    gene: str
    chrom: str
    strand: int
    positions: np.ndarray  # 0-based reference position of every CDS base, in coding order
    sequence: str  # the CDS's bases on the coding strand
    downstream: str = ""  # up to FLANK reference bases after the CDS, on its strand
    upstream: str = ""  # up to FLANK reference bases before the CDS, on its strand
    # Set on another CDS of a gene (pp1a beside pp1ab): the gene it is a second reading of.
    alternative_of: str | None = None

    def indices_at(self) -> dict[int, list[int]]:
        where: dict[int, list[int]] = defaultdict(list)
        for index, position in enumerate(self.positions.tolist()):
            where[position].append(index)
        return where


def read_gff(path: Path, reference: Reference) -> list[CodingSequence]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"annotation {path} does not exist")
    parts: dict[str, list] = defaultdict(list)
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if line.startswith("##FASTA"):
            break
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 9:
            raise InputError(f"{path} line {number} has {len(fields)} tab-separated columns, GFF3 has 9")
        if fields[2] != "CDS":
            continue
        start, end, strand = fields[3], fields[4], fields[6]
        # GFF3 percent-escapes a seqid's characters outside [a-zA-Z0-9.:^*$@!+_?|-]: a contig
        # named hCoV-19/Wuhan/WIV04/2019 is written hCoV-19%2FWuhan%2FWIV04%2F2019
        chrom = fields[0] if fields[0] in reference.sequences else urllib.parse.unquote(fields[0])
        if not (start.isdigit() and end.isdigit()):
            raise InputError(f"{path} line {number}: start and end must be numbers")
        _check_span(path, number, chrom, int(start), int(end), reference)
        phase = _phase(path, number, fields[7])
        attributes = dict(pair.split("=", 1) for pair in fields[8].split(";") if "=" in pair)
        attributes = {k: urllib.parse.unquote(v) for k, v in attributes.items()}
        identifier = attributes.get("ID") or attributes.get("Parent") or f"line{number}"
        gene = attributes.get("gene") or attributes.get("Name") or identifier
        # What tells two CDSs of one gene apart (no ':', which separates gene and change)
        label = (attributes.get("protein_id") or identifier).replace(":", "_")
        parts[identifier].append((chrom, int(start) - 1, int(end), -1 if strand == "-" else 1, gene, phase, label))
    if not parts:  # every effect would read "noncoding", which looks like a result
        warnings.warn(f"annotation {path} has no CDS lines: no variant gets a protein change", VqdnaWarning,
                      stacklevel=2)
    coding = [_coding_sequence(pieces, reference.sequences[pieces[0][0]]) for pieces in parts.values()]
    # A gene with several CDSs (pp1ab and pp1a both say ORF1ab): the longest is the gene, the
    # others are second readings, named GENE/PROTEIN_ID, reported where they read otherwise.
    readings: dict[str, list[CodingSequence]] = defaultdict(list)
    for cds, label in sorted(coding, key=lambda c: (-len(c[0].positions), c[0].gene, int(c[0].positions[0]))):
        same_gene = readings[cds.gene]
        if any(np.array_equal(other.positions, cds.positions) for other in same_gene):
            continue  # the same CDS under another ID
        if same_gene:
            cds.alternative_of, cds.gene = cds.gene, f"{cds.gene}/{label}"
        same_gene.append(cds)
    genes = [cds for same_gene in readings.values() for cds in same_gene]
    # The genes in reference order, their second readings after them all
    return sorted(genes, key=lambda c: (c.alternative_of is not None, c.chrom, int(c.positions.min()), c.gene))


def _coding_sequence(pieces: list[tuple], contig: str) -> tuple[CodingSequence, str]:
    """One CDS (its parts read in coding order) and its label."""
    chrom, strand = pieces[0][0], pieces[0][3]
    # Coding order: by start on the + strand, by end descending on the - strand.
    pieces.sort(key=lambda p: p[1] if strand > 0 else -p[2])
    ranges = [np.arange(p[1], p[2]) if strand > 0 else np.arange(p[2] - 1, p[1] - 1, -1) for p in pieces]
    # The first part's phase: bases before its first whole codon (GFF3), not translated.
    positions = np.concatenate(ranges)[pieces[0][5]:]
    bases = "".join(contig[p] for p in positions.tolist())
    first, last = int(positions[0]), int(positions[-1])
    if strand > 0:
        upstream, downstream = contig[max(0, first - FLANK) : first], contig[last + 1 : last + 1 + FLANK]
    else:
        upstream, downstream = contig[first + 1 : first + 1 + FLANK][::-1], contig[max(0, last - FLANK) : last][::-1]
        bases, upstream, downstream = (x.translate(str.maketrans("ACGT", "TGCA")) for x in (bases, upstream, downstream))
    return CodingSequence(pieces[0][4], chrom, strand, positions, bases, downstream, upstream), pieces[0][6]


def _check_span(path: Path, number: int, chrom: str, start: int, end: int, reference: Reference) -> None:
    """A CDS within its contig: GFF is 1-based, so a start of 0 would read the contig's last base."""
    reference.check_contig(chrom, str(path))
    length = len(reference.sequences[chrom])
    if start > end:  # GFF3 gives start <= end on either strand
        raise InputError(f"{path} line {number}: CDS start {start} is after its end {end} (GFF3 gives "
                         "start <= end on both strands)")
    if not 1 <= start <= end <= length:
        raise InputError(f"{path} line {number}: CDS {start}-{end} is outside {chrom} (1-{length}): "
                         "the annotation is of another reference")


def _phase(path: Path, number: int, value: str) -> int:
    if value in ("0", "1", "2"):
        return int(value)
    if value == ".":
        return 0
    raise InputError(f"{path} line {number}: a CDS phase is 0, 1 or 2, not {value!r}")


def translate(bases: str) -> str:
    return "".join(CODONS.get(bases[i : i + 3], "X") for i in range(0, len(bases) - len(bases) % 3, 3))


class Annotator:
    def __init__(self, coding: list[CodingSequence]):
        self.coding = [(cds, cds.indices_at()) for cds in coding]

    def gene_spans(self) -> list[tuple[str, int, int]]:
        """(gene, 0-based start, end) of each coding sequence, for the plot's gene track."""
        return [(cds.gene, int(cds.positions.min()), int(cds.positions.max()) + 1) for cds, _ in self.coding
                if cds.alternative_of is None]

    def annotate(self, calls: list[Call]) -> None:
        """Set `gene`, `protein` and `effect` in each call's annotation (one sample's calls)."""
        for call in calls:
            call.annotation.update({"gene": [], "protein": [], "effect": [], "hgvs_p": []})
        # What each call's gene readings said, so that a second reading (pp1a) is reported
        # only where it differs from its gene's (pp1ab's) reading
        said: dict[tuple[int, str], set] = defaultdict(set)
        for cds, where in self.coding:
            edits = [edit for call in calls if (edit := _edit(call, cds, where)) is not None]
            for group in (group for layer in _alternatives(edits) for group in _overlapping(cds, layer)):
                if _in_utr(cds, group):
                    continue
                protein, effect, hgvs = _change(cds, group)
                reading = (protein.replace(f"{cds.gene}:", ":"), effect)
                for edit in group:
                    annotation = edit[3].annotation
                    if cds.alternative_of is None:
                        said[id(edit[3]), cds.gene].add(reading)
                    elif reading in said[id(edit[3]), cds.alternative_of]:
                        continue
                    annotation["gene"].append(cds.gene)
                    annotation["protein"].append(protein)
                    annotation["effect"].append(effect)
                    annotation["hgvs_p"].extend(f"{cds.gene}:{h}" for h in hgvs)
        for call in calls:
            annotation = call.annotation
            annotation["effect"] = ",".join(dict.fromkeys(annotation["effect"])) if annotation["gene"] else "noncoding"
            annotation["gene"] = ",".join(dict.fromkeys(annotation["gene"]))
            annotation["protein"] = ",".join(dict.fromkeys(annotation["protein"]))
            annotation["hgvs_p"] = list(dict.fromkeys(annotation["hgvs_p"]))


def _edit(call: Call, cds: CodingSequence, where: dict) -> tuple | None:
    """(first CDS index, last CDS index, coding-strand replacement, call, bases it takes
    from `cds.downstream`) or None."""
    site = call.site
    if site.chrom != cds.chrom:
        return None
    inserted = site.inserted
    if cds.strand < 0:
        inserted = inserted.translate(str.maketrans("ACGT", "TGCA"))[::-1]
    if site.kind == INSERTION:
        before, after = where.get(site.start0 - 1), where.get(site.start0)
        earlier, later = (before, after) if cds.strand > 0 else (after, before)
        # Replace nothing, after the base before it in coding order; at a part's edge (an
        # intron beside it) the inserted bases join the part, but never before the CDS's
        # first base or after its last one (those are UTR).
        index = max(earlier) + 1 if earlier else min(later) if later else 0
        if not 0 < index < len(cds.sequence):
            return None
        return index, index - 1, inserted, call, 0
    indices = [i for p in range(site.start0, site.end0) for i in where.get(p, [])]
    if not indices:
        return None
    first, last = min(indices), max(indices)
    if len(site.ref) == len(site.alt) and last - first + 1 != len(inserted):
        # A base the CDS reads twice (ORF1ab's slippage base): a substitution changes it in
        # both readings, one coding base per CDS index, so the frame is kept.
        inserted = "".join(_coding_base(site, cds, int(cds.positions[i])) for i in range(first, last + 1))
    elif (twice := len(indices) - len(set(cds.positions[indices].tolist()))) and (inserted or first > 0):
        # An indel that takes away the base read twice: the ribosome slips back onto the last
        # base left before it, so the reading keeps the genome's change of length (a 3-base
        # deletion stays in frame) rather than losing both readings.
        inserted += (inserted[-1] if inserted else cds.sequence[first - 1]) * twice
    # A deletion on past the stop codon also takes the bases a frameshift would read on into.
    end = int(cds.positions[-1])
    past_end = sum(1 for p in range(site.start0, site.end0) if (p > end if cds.strand > 0 else p < end))
    return first, last, inserted, call, past_end


def _coding_base(site, cds: CodingSequence, position: int) -> str:
    """The ALT base at a reference position of a substitution, on the CDS's strand."""
    base = site.alt[position - site.start0]
    return base.translate(str.maketrans("ACGT", "TGCA")) if cds.strand < 0 else base


def _alternatives(edits: list[tuple]) -> list[list[tuple]]:
    """Edits split so that none of a list replaces the bases another one does: two ALT
    alleles of one sample at one site (GT 1/3) are alternatives, never one haplotype, and
    each is translated on its own."""
    layers: list[list[tuple]] = []
    for edit in edits:
        layer = next((layer for layer in layers if not any(_conflict(edit, other) for other in layer)), None)
        if layer is None:
            layers.append(layer := [])
        layer.append(edit)
    return layers


def _conflict(a: tuple, b: tuple) -> bool:
    """Both replace some of the same CDS bases, or both insert at the same point."""
    a_inserts, b_inserts = a[1] < a[0], b[1] < b[0]
    if a_inserts or b_inserts:
        return a_inserts and b_inserts and a[0] == b[0]
    return a[0] <= b[1] and b[0] <= a[1]


def _overlapping(cds: CodingSequence, edits: list[tuple]) -> list[list[tuple]]:
    """Edits grouped when their codons overlap, and a frameshift grouped with the edits up
    to a later indel that restores the frame (ins C, then 3 bases on del A): the protein
    then changes only between the two."""
    groups: list[list[tuple]] = []
    span = None
    for edit in sorted(edits, key=lambda e: (e[0], e[1])):
        first, last = edit[0] // 3, max(edit[0], edit[1]) // 3
        if groups and first <= span:
            groups[-1].append(edit)
            span = max(span, last)
        else:
            groups.append([edit])
            span = last
    return _frame_restored(cds, groups)


def _shift(group: list[tuple]) -> int:
    """How many bases a group of edits adds to the CDS (negative: removes)."""
    return sum(len(e[2]) - (e[1] - e[0] + 1) for e in group)


def _frame_restored(cds: CodingSequence, groups: list[list[tuple]]) -> list[list[tuple]]:
    """Groups joined from a frameshift to the next group that brings the frame back, where
    the shifted reading between them meets no stop (one that does ends the protein there,
    and the later indel changes nothing of it)."""
    joined: list[list[tuple]] = []
    at = 0
    while at < len(groups):
        group, shift = list(groups[at]), _shift(groups[at])
        end = at + 1
        if shift % 3:
            for later in range(at + 1, len(groups)):
                shift += _shift(groups[later])
                if shift % 3 == 0:
                    candidate = [e for g in groups[at : later + 1] for e in g]
                    if "*" not in _shifted_reading(cds, candidate)[:-1]:
                        group, end = candidate, later + 1
                    break
        joined.append(group)
        at = end
    return joined


def _shifted_reading(cds: CodingSequence, group: list[tuple]) -> str:
    """The amino acids a group of edits reads, over the codons it spans."""
    start = 3 * (group[0][0] // 3)
    end = min(3 * (max(max(e[0], e[1]) for e in group) // 3) + 3, len(cds.sequence))
    return translate(_edited(cds.sequence[start:end], start, group))


def _edited(bases: str, start: int, group: list[tuple]) -> str:
    """CDS bases from index `start` with a group's edits applied. From the last edit back, so
    that each one's CDS indices still hold; at one index a deletion before an insertion,
    which puts the inserted bases before those left."""
    for first, last, replacement, *_ in sorted(group, key=lambda e: (e[0], e[1]), reverse=True):
        bases = bases[: first - start] + replacement + bases[last + 1 - start :]
    return bases


def _aa3(amino_acids: str) -> str:
    return "".join(THREE_LETTER.get(aa, "Xaa") for aa in amino_acids)


def _hgvs_span(amino_acids: str, number: int) -> str:
    """Asn211 or Asn211_Leu212: the first and last of consecutive amino acids from `number`."""
    first = f"{_aa3(amino_acids[0])}{number}"
    return first if len(amino_acids) == 1 else f"{first}_{_aa3(amino_acids[-1])}{number + len(amino_acids) - 1}"


def _hgvs_insertion(cds: CodingSequence, after: int, inserted: str) -> str:
    """p.Arg214_Asp215insGluProGlu: HGVS names the amino acids either side of an insertion;
    `p.?` where one side is outside the protein."""
    protein = translate(cds.sequence)
    if not 1 <= after < len(protein):
        return "p.?"
    return f"p.{_aa3(protein[after - 1])}{after}_{_aa3(protein[after])}{after + 1}ins{_aa3(inserted)}"


def _in_utr(cds: CodingSequence, group: list[tuple]) -> bool:
    """An indel at the start codon that leaves every CDS base as it was and changes only the
    length of the UTR before it: the same indel shifted out of the CDS. VCF shifts indels to
    the left of the reference, so on the - strand one beside a start codon lands in it
    (CA|ATG losing an A keeps ATG), as far into it as the repeat the indel is of reaches."""
    if group[0][0] > FLANK or _shift(group) == 0 or not cds.upstream:
        return False
    end = min(3 * (max(max(e[0], e[1]) for e in group) // 3) + 3, len(cds.sequence))
    ref_nt = cds.sequence[:end]
    return (cds.upstream + _edited(ref_nt, 0, group)).endswith(ref_nt)


def _change(cds: CodingSequence, group: list[tuple]) -> tuple[str, str, list[str]]:
    """(short notation, effect, HGVS.p descriptions) of a group of edits in one CDS."""
    first_codon = group[0][0] // 3
    last_codon = max(max(e[0], e[1]) for e in group) // 3
    start, end = 3 * first_codon, min(3 * last_codon + 3, len(cds.sequence))
    ref_nt = cds.sequence[start:end]
    alt_nt = _edited(ref_nt, start, group)
    gene = cds.gene
    if first_codon == 0 and translate(ref_nt[:3]) == "M" and not (alt_nt + cds.sequence[end:]).startswith(ref_nt[:3]):
        # Without its ATG the protein may start elsewhere or not at all: HGVS's p.Met1?.
        return f"{gene}:M1?", "start_lost", ["p.Met1?"]
    past_end = max(e[4] for e in group)
    frameshift = (len(alt_nt) - len(ref_nt) - past_end) % 3 != 0
    if frameshift or past_end or _changes_stop_codon(cds, group):
        # The protein's new end lies in what the changed reading reads on into: the rest of
        # the CDS and the bases after it that a deletion leaves.
        ref_aa = _to_stop(translate(ref_nt + cds.sequence[end:]))
        alt_aa = _to_stop(translate(alt_nt + cds.sequence[end:] + cds.downstream[past_end:]))
        ending = _new_ending(gene, first_codon, ref_aa, alt_aa, frameshift)
        if ending is not None:
            return ending
        if len(alt_aa) > len(ref_aa) or not alt_aa.endswith("*"):
            alt_aa = alt_aa[: len(ref_aa)]  # the stop lost: described up to where it was
    else:
        ref_aa, alt_aa = translate(ref_nt), translate(alt_nt)
        if "*" in alt_aa:
            # A stop the change brings in: where the first amino acid that differs is that
            # stop, the protein is a substitution's (TAG AAA inserted after P9 is L10*).
            ending = _new_ending(gene, first_codon, _to_stop(translate(ref_nt + cds.sequence[end:])),
                                 _to_stop(alt_aa), frameshift=False)
            if ending is not None:
                return ending
    prefix = 0
    while prefix < min(len(ref_aa), len(alt_aa)) and ref_aa[prefix] == alt_aa[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < min(len(ref_aa), len(alt_aa)) - prefix
           and ref_aa[len(ref_aa) - 1 - suffix] == alt_aa[len(alt_aa) - 1 - suffix]):
        suffix += 1
    r, a = ref_aa[prefix : len(ref_aa) - suffix], alt_aa[prefix : len(alt_aa) - suffix]
    number = first_codon + prefix + 1  # 1-based codon of r[0]
    if "*" in a[:-1]:  # nothing after a stop the change brings in is translated (ins9G*, not ins9G*K)
        cut = a.index("*") + 1
        r, a = (r[:cut] if len(r) == len(a) else r), a[:cut]
    if not r and not a:
        codon = group[0][0] // 3
        aa = translate(cds.sequence[3 * codon : 3 * codon + 3])
        effect = "stop_retained" if aa == "*" else "synonymous"
        return f"{gene}:{aa}{codon + 1}{aa}", effect, [f"p.{_aa3(aa)}{codon + 1}="]
    if len(r) == len(a):
        changed = [(number + i, x, y) for i, (x, y) in enumerate(zip(r, a)) if x != y]
        changes = [f"{gene}:{x}{n}{y}" for n, x, y in changed]
        effect = "stop_gained" if "*" in a else "stop_lost" if "*" in r else "missense"
        # A lost stop reads on into the 3' sequence to a new stop HGVS leaves unknown (ext*?).
        hgvs = [f"p.{_aa3(x)}{n}{_aa3(y)}" + ("ext*?" if x == "*" else "") for n, x, y in changed]
        return ",".join(changes), effect, hgvs
    span = f"{r[0]}{number}" if len(r) == 1 else f"{r[0]}{number}_{r[-1]}{number + len(r) - 1}" if r else ""
    # An in-frame indel that brings a stop in ends the protein early; one that takes the stop
    # away lets translation read on into the 3' sequence, as a lost stop of a substitution.
    stop = "stop_gained" if "*" in a else "stop_lost" if "*" in r else None
    if not a:
        hgvs = f"p.{_hgvs_span(r, number)}del" if stop is None else f"p.{_aa3(r[0])}{number}Xaaext*?"
        return f"{gene}:{span}del", stop or "inframe_deletion", [hgvs]
    if not r:
        return f"{gene}:ins{number - 1}{a}", stop or "inframe_insertion", [_hgvs_insertion(cds, number - 1, a)]
    return f"{gene}:{span}delins{a}", stop or "inframe_delins", [f"p.{_hgvs_span(r, number)}delins{_aa3(a)}"]


def _changes_stop_codon(cds: CodingSequence, group: list[tuple]) -> bool:
    """Some edit replaces a base of the CDS's stop codon or inserts between two of them."""
    length = len(cds.sequence)
    if length % 3 or translate(cds.sequence[-3:]) != "*":
        return False
    return any(length - 3 < first < length if last < first else first < length and last >= length - 3
               for first, last, *_ in group)


def _to_stop(amino_acids: str) -> str:
    """A protein read up to and with its first stop."""
    stop = amino_acids.find("*")
    return amino_acids if stop < 0 else amino_acids[: stop + 1]


def _new_ending(gene: str, first_codon: int, ref_aa: str, alt_aa: str,
                frameshift: bool) -> tuple[str, str, list[str]] | None:
    """The change of a protein whose end the variants may move: `ref_aa` and `alt_aa` read
    from codon `first_codon` to their first stop. Where the first amino acid that differs is
    a stop the protein just ends there (HGVS names it as a stop gained, S13*); where the
    reference's stop is the first one changed the protein reads on (stop lost); a reading
    that rebuilds the same protein keeps it (TAA|A losing an A: stop retained). A frameshift
    is named by its first changed amino acid; None for an in-frame change of amino acids
    before the stop, which the caller names."""
    at = next((i for i, (a, b) in enumerate(zip(ref_aa, alt_aa)) if a != b), min(len(ref_aa), len(alt_aa)))
    number = first_codon + at + 1
    if at >= len(ref_aa):  # the same protein as far as the CDS reads
        last = ref_aa[-1:] or "X"
        effect = "stop_retained" if last == "*" else "synonymous"
        return f"{gene}:{last}{number - 1}{last}", effect, [f"p.{_aa3(last)}{number - 1}="]
    was, now = ref_aa[at], alt_aa[at : at + 1] or "X"
    if was == "*":
        return f"{gene}:*{number}{now}", "stop_lost", [f"p.Ter{number}{_aa3(now)}ext*?"]
    if now == "*":
        return f"{gene}:{was}{number}*", "stop_gained", [f"p.{_aa3(was)}{number}Ter"]
    if frameshift:
        return f"{gene}:{was}{number}fs", "frameshift", [f"p.{_aa3(was)}{number}fs"]
    return None
