"""`vqdna mutations` on small fixtures the tests write: a random 2 kb reference with one
gene, genomes made by editing it, reads simulated from them (BAM written with pysam), VCFs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pysam
import pytest

from conftest import fasta_text, random_dna
from vqdna_cli import api
from vqdna_cli.options import MutationsOptions, RunOptions
from vqdna_cli.errors import InputError, OutputError
from vqdna_cli.mutations.annotate import CODONS
from vqdna_cli.mutations.variants import normalise

CHROM = "ref1"
CDS_START = 100  # 0-based first base of the gene's ATG; the CDS is 900 bp (GFF 101-1000)
SENSE = sorted(c for c, aa in CODONS.items() if aa != "*")


def reference_sequence() -> str:
    rng = np.random.default_rng(7)
    cds = "ATG" + "".join(rng.choice(SENSE, 298)) + "TAA"
    return random_dna(CDS_START, 1) + cds + random_dna(2000 - CDS_START - len(cds), 2)


REF = reference_sequence()


def codon(number: int) -> str:
    """The reference codon of 1-based amino acid `number` of the gene."""
    at = CDS_START + 3 * (number - 1)
    return REF[at : at + 3]


def other_base(base: str) -> str:
    return {"A": "C", "C": "G", "G": "T", "T": "A"}[base]


def missense_at(number: int) -> tuple[int, str, str]:
    """A substitution of the first base of codon `number` that changes its amino acid:
    (0-based position, alt base, expected protein change)."""
    ref_codon = codon(number)
    for alt in "ACGT":
        new = alt + ref_codon[1:]
        if alt != ref_codon[0] and CODONS[new] not in ("*", CODONS[ref_codon]):
            return CDS_START + 3 * (number - 1), alt, f"G:{CODONS[ref_codon]}{number}{CODONS[new]}"
    raise AssertionError("no missense change found")


SNV_POS, SNV_ALT, SNV_PROTEIN = missense_at(11)
INS_AFTER = CDS_START + 3 * 50 - 1  # 0-based last base of codon 50
# 9 bases, in frame: Ala Ala Ala; the last one differs from the base before the insertion,
# so the insertion cannot shift left and stays between codons 50 and 51.
INSERTED = "GCTGCAGC" + other_base(REF[INS_AFTER])
DEL_AT = CDS_START + 3 * 80  # 0-based first base of codon 81; 3 bases deleted
NONCODING_SNV = 1800


def edits() -> list[tuple[int, int, str]]:
    """(0-based start, end, replacement) of the variant genome, left to right."""
    return [(SNV_POS, SNV_POS + 1, SNV_ALT), (INS_AFTER + 1, INS_AFTER + 1, INSERTED), (DEL_AT, DEL_AT + 3, ""),
            (NONCODING_SNV, NONCODING_SNV + 1, other_base(REF[NONCODING_SNV]))]


def apply(reference: str, changes) -> tuple[str, list[int]]:
    """The edited sequence and, for each of its bases, the reference position (-1 if inserted)."""
    pieces, origin, at = [], [], 0
    for start, end, replacement in changes:
        pieces.append(reference[at:start])
        origin.extend(range(at, start))
        pieces.append(replacement)
        origin.extend([-1] * len(replacement) if end - start != len(replacement) else range(start, end))
        at = end
    pieces.append(reference[at:])
    origin.extend(range(at, len(reference)))
    return "".join(pieces), origin


VARIANT, VARIANT_ORIGIN = apply(REF, edits())


def expected_sites() -> set[tuple[int, str, str]]:
    ins = normalise(REF, CHROM, INS_AFTER + 1, "", INSERTED)
    deletion = normalise(REF, CHROM, DEL_AT, REF[DEL_AT : DEL_AT + 3], "")
    return {(SNV_POS + 1, REF[SNV_POS], SNV_ALT), (ins.pos, ins.ref, ins.alt), (deletion.pos, deletion.ref, deletion.alt),
            (NONCODING_SNV + 1, REF[NONCODING_SNV], other_base(REF[NONCODING_SNV]))}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mutations")
    paths = {"ref": root / "ref.fa", "gff": root / "genes.gff", "genomes": root / "genomes.fa"}
    paths["ref"].write_text(fasta_text({CHROM: REF}))
    paths["gff"].write_text("##gff-version 3\n" + "\t".join(
        [CHROM, "test", "CDS", str(CDS_START + 1), str(CDS_START + 900), ".", "+", "0", "ID=cds1;gene=G"]) + "\n")
    paths["genomes"].write_text(fasta_text({"variant": VARIANT, "same": REF[30:1970]}))
    return paths


def rows(tsv: Path) -> list[dict]:
    lines = [line for line in tsv.read_text().splitlines() if not line.startswith("# ")]
    return list(csv.DictReader(lines, delimiter="\t"))


def run(files, inputs, out: Path, model: Path, force: bool = False, **options) -> dict:
    return api.mutations([str(p) for p in inputs], out, MutationsOptions(files["ref"], **options),
                         RunOptions(model, threads=1), force=force)


# --- calling ---------------------------------------------------------------------------------


def test_normalise_shifts_indels_left_through_repeats():
    sequence = "GGGCACACACATTT"
    # Deleting any "CA" of the repeat is one event: written at the base before the repeat.
    assert normalise(sequence, "c", 7, "CA", "") == normalise(sequence, "c", 3, "CA", "")
    site = normalise(sequence, "c", 7, "CA", "")
    assert (site.pos, site.ref, site.alt, site.kind) == (3, "GCA", "G", "deletion")
    insertion = normalise(sequence, "c", 11, "", "CA")  # after the last repeat unit
    assert (insertion.pos, insertion.ref, insertion.alt) == (3, "G", "GCA")
    assert normalise(sequence, "c", 5, "C", "T").label() == "C6T"


def test_atoms_split_a_base_replaced_by_several_or_several_by_one_gap_first():
    from vqdna_cli.mutations.variants import Site, atoms

    sequence = "GGGCATGCCC"
    complex_insertion = normalise(sequence, "c", 5, "T", "AGG")  # 6 T>AGG
    assert complex_insertion.kind == "complex"
    assert atoms(complex_insertion, sequence) == [Site("c", 5, "A", "AAG"), Site("c", 6, "T", "G")]
    complex_deletion = normalise(sequence, "c", 4, "ATG", "T")  # 5 ATG>T: AT deleted, then G>T
    assert atoms(complex_deletion, sequence) == [Site("c", 4, "CAT", "C"), Site("c", 7, "G", "T")]
    assert atoms(normalise(sequence, "c", 3, "CAT", "GTA"), sequence) == [
        Site("c", 4, "C", "G"), Site("c", 5, "A", "T"), Site("c", 6, "T", "A")]
    two_by_three = normalise(sequence, "c", 4, "AT", "CGG")
    assert atoms(two_by_three, sequence) == [two_by_three]


def test_an_indels_ambiguous_end_reaches_through_its_repeat():
    from vqdna_cli.mutations.variants import ambiguous_end

    sequence = "GGGCACACACATTTCAAAAA"
    deletion = normalise(sequence, "c", 7, "CA", "")  # 3 GCA>G, any CA of the repeat
    assert ambiguous_end(sequence, deletion) == 11  # up to the T after the last CA
    insertion = normalise(sequence, "c", 11, "", "CA")
    assert ambiguous_end(sequence, insertion) == 11
    assert ambiguous_end(sequence, normalise(sequence, "c", 5, "C", "T")) == 6  # a substitution: its base
    tail = normalise(sequence, "c", 17, "AA", "")  # two A's of the tail: the tail runs to the end
    assert (tail.pos, tail.ref) == (15, "CAA") and ambiguous_end(sequence, tail) == len(sequence)
    assert ambiguous_end(sequence, normalise(sequence, "c", 20, "", "A")) == len(sequence)


def test_a_genome_that_stops_inside_a_tail_is_not_called_reference_at_an_indel_there(tmp_path):
    """A genome whose poly-A tail is shorter than the reference's may be truncated or carry a
    deletion there: at another sample's deletion in the tail it is unknown (.), not 0."""
    from vqdna_cli.io.records import SequenceRecord
    from vqdna_cli.mutations.align import GenomeAligner
    from vqdna_cli.mutations.pipeline import Sample
    from vqdna_cli.mutations.variants import Reference, ambiguous_end

    reference = REF[:1960] + "C" + "A" * 39
    path = tmp_path / "tail.fa"
    path.write_text(fasta_text({CHROM: reference}))
    ref = Reference.load(path)
    aligner = GenomeAligner(ref)
    deletion = normalise(reference, CHROM, 1980, "AAAA", "")
    assert (deletion.pos, deletion.ref) == (1961, "CAAAA")
    for name, genome, known in [("whole", reference, True), ("short tail", reference[:-4], False),
                                ("no tail", reference[:1961], False)]:
        found = aligner.call(SequenceRecord(name, genome, name), "test")
        sample = Sample(name, "test", "genomes", found.calls, found.covered)
        assert found.calls == [] and sample.covers(deletion, ambiguous_end(reference, deletion)) is known, name
    substitution = normalise(reference, CHROM, 1000, REF[1000], other_base(REF[1000]))
    found = aligner.call(SequenceRecord("s", reference[:-4], "s"), "test")
    assert Sample("s", "test", "genomes", found.calls, found.covered).covers(substitution,
                                                                             ambiguous_end(reference, substitution))


def test_genomes_are_aligned_and_their_variants_called(files, tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    summary = run(files, [files["genomes"]], out, tiny_model_dir, annotation=files["gff"], plot=False)
    table = rows(out / "variants.tsv")
    called = {(int(r["pos"]), r["ref"], r["alt"]) for r in table if r["sample"] == "variant"}
    assert called == expected_sites()
    assert not [r for r in table if r["sample"] == "same"]  # the unedited genome (ends trimmed) has none
    assert summary["samples"] == 2 and summary["distinct_variants"] == 4
    by_kind = {r["type"]: r for r in table}
    assert set(by_kind) == {"snv", "insertion", "deletion"}
    assert by_kind["insertion"]["change"].endswith(INSERTED)
    first = (out / "variants.tsv").read_text().splitlines()[0]
    assert first.startswith("# vqdna ") and " precision fp32 batch_tokens " in first  # as summary.json
    assert first == (out / "samples.tsv").read_text().splitlines()[0]


def substituted(sequence: str, *positions: int) -> str:
    bases = list(sequence)
    for position in positions:
        bases[position] = other_base(bases[position])
    return "".join(bases)


@pytest.mark.parametrize("from_end", [0, 3, 8])
@pytest.mark.parametrize("strand", ["+", "-"])
def test_substitutions_near_a_genomes_ends_are_called(files, from_end, strand):
    """minimap2 (asm10) clips an end where a mismatch lies within about ten bases of it; the
    clipped bases are laid beside the reference and their substitutions called."""
    from vqdna_cli.data.alphabet import reverse_complement
    from vqdna_cli.io.records import SequenceRecord
    from vqdna_cli.mutations.align import GenomeAligner
    from vqdna_cli.mutations.variants import Reference

    aligner = GenomeAligner(Reference.load(files["ref"]))
    near_ends = (from_end, len(REF) - 1 - from_end)
    genome = substituted(REF, *near_ends)
    trimmed = substituted(REF[30:1970], from_end)  # a genome shorter than the reference
    if strand == "-":
        genome, trimmed = reverse_complement(genome), reverse_complement(trimmed)
    found = aligner.call(SequenceRecord("g", genome, "g"), "test")
    assert [c.site.pos for c in found.calls] == [p + 1 for p in near_ends]
    assert found.covered[CHROM].all()
    if from_end:  # (a genome's single outermost base, beside a longer reference, may be an indel's)
        found = aligner.call(SequenceRecord("t", trimmed, "t"), "test")
        assert [c.site.pos for c in found.calls] == [30 + from_end + 1]
        assert found.covered[CHROM].sum() == 1940


@pytest.mark.parametrize("from_end", [1, 2, 4])
@pytest.mark.parametrize("kind", ["deletion", "insertion"])
def test_an_indel_near_a_genomes_end_is_not_read_as_substitutions(files, from_end, kind):
    """An indel a few bases from the end leaves ends of unequal length; their bases agree
    with the reference's last ones, not with those beside the alignment: no substitution."""
    from vqdna_cli.io.records import SequenceRecord
    from vqdna_cli.mutations.align import GenomeAligner
    from vqdna_cli.mutations.variants import Reference

    aligner = GenomeAligner(Reference.load(files["ref"]))
    right, left = len(REF) - from_end, from_end
    if kind == "deletion":
        genomes = [REF[:right] + REF[right + 1 :], REF[:left] + REF[left + 1 :]]
    else:
        genomes = [REF[:right] + other_base(REF[right]) + REF[right:], REF[:left] + other_base(REF[left]) + REF[left:]]
    for genome in genomes:
        found = aligner.call(SequenceRecord("g", genome, "g"), "test")
        assert [c.site for c in found.calls if c.site.kind == "snv"] == []


@pytest.mark.parametrize("from_end", [40, 70])
@pytest.mark.parametrize("kind", ["deletion", "insertion"])
@pytest.mark.parametrize("strand", ["+", "-"])
def test_an_indel_a_few_dozen_bases_from_an_end_is_called(files, from_end, kind, strand):
    """minimap2 stops short of an indel with only a few dozen bases after it (a 3' UTR
    deletion with 60 sequenced bases past it): the end was left uncovered, the indel uncalled."""
    from vqdna_cli.data.alphabet import reverse_complement
    from vqdna_cli.io.records import SequenceRecord
    from vqdna_cli.mutations.align import GenomeAligner
    from vqdna_cli.mutations.variants import Reference

    aligner = GenomeAligner(Reference.load(files["ref"]))
    for at, side in ((len(REF) - from_end, "3'"), (from_end, "5'")):
        if kind == "deletion":
            genome, expected = REF[:at] + REF[at + 12 :], normalise(REF, CHROM, at, REF[at : at + 12], "")
        else:
            inserted = random_dna(9, at)
            genome, expected = REF[:at] + inserted + REF[at:], normalise(REF, CHROM, at, "", inserted)
        found = aligner.call(SequenceRecord("g", genome if strand == "+" else reverse_complement(genome), "g"), "test")
        assert [c.site for c in found.calls] == [expected], side
        assert found.covered[CHROM].all(), side


def test_flanks_that_are_not_the_references_stay_uncovered(files):
    from vqdna_cli.io.records import SequenceRecord
    from vqdna_cli.mutations.align import GenomeAligner
    from vqdna_cli.mutations.variants import Reference

    aligner = GenomeAligner(Reference.load(files["ref"]))
    junk = "".join(other_base(b) for b in REF[:12])  # in place of the first 12 bases: all differ
    found = aligner.call(SequenceRecord("g", junk + REF[12:], "g"), "test")
    assert found.calls == [] and not found.covered[CHROM][:12].any() and found.covered[CHROM][12:].all()
    # before a genome trimmed at 10, beside the reference's first 10 bases (its last base differs
    # from the reference's base 10, so that minimap2 itself does not extend into it by chance)
    primer = random_dna(24, 5) + other_base(REF[9])
    found = aligner.call(SequenceRecord("p", primer + REF[10:], "p"), "test")
    assert found.calls == [] and found.covered[CHROM].sum() == len(REF) - 10


def test_genome_that_does_not_align_is_refused_and_leaves_no_output(files, tiny_model_dir, tmp_path):
    other = tmp_path / "other.fa"
    other.write_text(fasta_text({"stranger": random_dna(1500, 99)}))
    with pytest.raises(InputError, match="'stranger'.*does not align"):
        run(files, [files["genomes"], other], tmp_path / "out", tiny_model_dir)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out*"))  # no temporary folder left either


# --- annotation ------------------------------------------------------------------------------


def test_amino_acid_changes(files, tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    run(files, [files["genomes"]], out, tiny_model_dir, annotation=files["gff"], plot=False)
    protein = {r["type"] + ("" if r["gene"] != "." else "-noncoding"): (r["protein"], r["effect"])
               for r in rows(out / "variants.tsv") if r["sample"] == "variant"}
    assert protein["snv"] == (SNV_PROTEIN, "missense")
    assert protein["insertion"] == ("G:ins50AAA", "inframe_insertion")
    assert protein["deletion"][1] in ("inframe_deletion", "inframe_delins")
    assert protein["snv-noncoding"] == (".", "noncoding")


def test_frameshift_and_a_cds_read_through_a_ribosomal_slip(files, tmp_path):
    """Two CDS parts overlapping by one base (as ORF1ab) number the codons after the slip
    in the -1 frame; a 1-base deletion is a frameshift."""
    from vqdna_cli.mutations.annotate import Annotator, read_gff
    from vqdna_cli.mutations.variants import Call, Reference

    gff = tmp_path / "slip.gff"
    # Part 1: 101-400 (100 codons), part 2 starts again at base 400: codon 101 is bases 400-402.
    gff.write_text("\t".join([CHROM, "t", "CDS", "101", "400", ".", "+", "0", "ID=pp;gene=P"]) + "\n"
                   + "\t".join([CHROM, "t", "CDS", "400", "1000", ".", "+", "0", "ID=pp;gene=P"]) + "\n")
    reference = Reference.load(files["ref"])
    coding = read_gff(gff, reference)
    assert len(coding) == 1 and len(coding[0].sequence) == 901
    # 0-based 405: CDS index 306 (base 399 is read twice: indices 299 and 300), the first
    # base of codon 103; without the slip it would be the last base of codon 102.
    at = 405
    call = Call("s", normalise(REF, CHROM, at, REF[at], other_base(REF[at])))
    shift = Call("s", normalise(REF, CHROM, 700, REF[700], ""))
    Annotator(coding).annotate([call, shift])
    ref_codon = REF[at : at + 3]
    new_codon = other_base(REF[at]) + ref_codon[1:]
    assert call.annotation["protein"].startswith(f"P:{CODONS[ref_codon]}103")
    assert call.annotation["protein"].endswith(CODONS[new_codon])
    assert shift.annotation["effect"] == "frameshift" and shift.annotation["protein"].endswith("fs")


def test_a_substitution_at_the_base_read_twice_keeps_the_frame(files, tmp_path):
    """ORF1ab's slippage base (SARS-CoV-2 13468) is read in two codons: C13468A is N4401K
    (and a synonymous change of R4402), not a frameshift, as it was when the base's two CDS
    copies were replaced by one."""
    from vqdna_cli.mutations.annotate import Annotator, read_gff, translate
    from vqdna_cli.mutations.variants import Call, Reference

    gff = tmp_path / "slip.gff"
    gff.write_text("\t".join([CHROM, "t", "CDS", "101", "400", ".", "+", "0", "ID=pp;gene=P"]) + "\n"
                   + "\t".join([CHROM, "t", "CDS", "400", "1000", ".", "+", "0", "ID=pp;gene=P"]) + "\n")
    coding = read_gff(gff, Reference.load(files["ref"]))
    at = 399  # 0-based: the last base of codon 100 and the first of codon 101
    alt = other_base(REF[at])
    call = Call("s", normalise(REF, CHROM, at, REF[at], alt))
    Annotator(coding).annotate([call])
    both = REF[397:400] + REF[399:402]  # codons 100 and 101 as pp reads them
    changed = both[:2] + alt + alt + both[4:]
    expected = [f"P:{x}{100 + i}{y}" for i, (x, y) in enumerate(zip(translate(both), translate(changed))) if x != y]
    assert call.annotation["effect"] in ("missense", "stop_gained") and expected
    assert call.annotation["protein"] == ",".join(expected)


def test_stops_made_kept_or_lost_by_any_kind_of_variant_are_named(files, tmp_path):
    """An in-frame insertion that brings in TAA ends the protein (stop_gained); a deletion of
    the stop codon lets it read on (stop_lost); TAA to TAG keeps the stop (stop_retained)."""
    from vqdna_cli.mutations.annotate import THREE_LETTER, Annotator, read_gff, so_terms, translate
    from vqdna_cli.mutations.variants import Call, Reference

    coding = read_gff(files["gff"], Reference.load(files["ref"]))
    stop_at = CDS_START + 3 * 299  # 0-based first base of the stop codon TAA
    # (after CTT: the deletion of TAA cannot shift left onto the last sense codon)
    assert REF[stop_at - 3 : stop_at + 3] == "CTTTAA"
    calls = {"insertion": Call("s1", normalise(REF, CHROM, CDS_START + 3 * 20, "", "TAA")),
             "stop deleted": Call("s2", normalise(REF, CHROM, stop_at, "TAA", "")),
             "TAA>TAG": Call("s3", normalise(REF, CHROM, stop_at + 2, "A", "G"))}
    for call in calls.values():  # one sample each: translated apart
        Annotator(coding).annotate([call])
    effects = {name: call.annotation["effect"] for name, call in calls.items()}
    assert effects == {"insertion": "stop_gained", "stop deleted": "stop_lost", "TAA>TAG": "stop_retained"}
    assert calls["TAA>TAG"].annotation["protein"] == "G:*300*"
    # Read on into the codon after the CDS, which takes the stop's place
    after = THREE_LETTER[translate(REF[stop_at + 3 : stop_at + 6])]
    assert calls["stop deleted"].annotation["hgvs_p"] == [f"G:p.Ter300{after}ext*?"]
    assert so_terms("stop_retained") == ["stop_retained_variant"]


def test_cds_phase_is_honoured(files, tmp_path):
    """A CDS that starts one base early with phase 1 reads the same codons as the exact one."""
    from vqdna_cli.mutations.annotate import Annotator, read_gff
    from vqdna_cli.mutations.variants import Call, Reference

    gff = tmp_path / "phase.gff"
    gff.write_text("\t".join([CHROM, "t", "CDS", str(CDS_START), str(CDS_START + 900), ".", "+", "1",
                              "ID=cds1;gene=G"]) + "\n")
    call = Call("s", normalise(REF, CHROM, SNV_POS, REF[SNV_POS], SNV_ALT))
    Annotator(read_gff(gff, Reference.load(files["ref"]))).annotate([call])
    assert (call.annotation["protein"], call.annotation["effect"]) == (SNV_PROTEIN, "missense")


def test_two_alt_alleles_of_one_sample_are_translated_each_on_its_own(files, tiny_model_dir, tmp_path):
    """GT 1/2: the two ALTs are alternatives at one base, not one haplotype."""
    ref_codon = codon(11)
    alts = [b for b in "ACGT" if b != ref_codon[0]][:2]
    vcf = write_vcf(tmp_path / "two.vcf", [(SNV_POS + 1, ref_codon[0], ",".join(alts), "1/2:30\t0/0:20")])
    out = tmp_path / "out"
    run(files, [vcf], out, tiny_model_dir, annotation=files["gff"], plot=False)
    protein = {r["alt"]: r["protein"] for r in rows(out / "variants.tsv")}
    assert protein == {alt: f"G:{CODONS[ref_codon]}11{CODONS[alt + ref_codon[1:]]}" for alt in alts}


# --- reads -----------------------------------------------------------------------------------


def _cigar(origin: list[int]) -> tuple[int, list[tuple[int, int]]] | None:
    """Reference start and CIGAR of a read whose bases come from reference positions
    `origin` (-1: inserted base)."""
    if origin[0] < 0 or origin[-1] < 0:
        return None
    ops: list[list[int]] = []

    def add(op, n=1):
        if ops and ops[-1][0] == op:
            ops[-1][1] += n
        else:
            ops.append([op, n])

    previous = None
    for position in origin:
        if position < 0:
            add(1)
            continue
        if previous is not None and position > previous + 1:
            add(2, position - previous - 1)
        add(0)
        previous = position
    return origin[0], [(op, n) for op, n in ops]


def write_bam(path: Path, *, sort: bool = True, index: bool = True, chrom: str = CHROM, quality: int = 30) -> Path:
    header = {"HD": {"VN": "1.6", **({"SO": "coordinate"} if sort else {})}, "SQ": [{"SN": chrom, "LN": len(REF)}],
              "RG": [{"ID": "rg1", "SM": "patient7"}]}
    reads = []
    for name, (sequence, origin), step in (("alt", (VARIANT, VARIANT_ORIGIN), 4), ("ref", (REF, list(range(len(REF)))), 12)):
        for start in range(0, len(sequence) - 100, step):
            placed = _cigar(origin[start : start + 100])
            if placed is None:
                continue
            reads.append((placed[0], f"{name}{start}", sequence[start : start + 100], placed[1]))
    reads.sort(reverse=not sort)
    unsorted = path.with_suffix(".unsorted.bam")
    with pysam.AlignmentFile(str(unsorted if sort else path), "wb", header=header) as out:
        for ref_start, name, sequence, cigar in reads:
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.query_sequence, read.flag = name, sequence, 0
            read.reference_id, read.reference_start, read.mapping_quality = 0, ref_start, 60
            read.cigartuples = cigar
            read.query_qualities = pysam.qualitystring_to_array(chr(33 + quality) * len(sequence))
            read.set_tag("RG", "rg1")
            out.write(read)
    if sort:
        pysam.sort("-o", str(path), str(unsorted))
        unsorted.unlink()
        if index:
            pysam.index(str(path))
    return path


def test_reads_give_the_variants_with_depth_and_frequency(files, tiny_model_dir, tmp_path):
    bam = write_bam(tmp_path / "reads.bam")
    out = tmp_path / "out"
    run(files, [bam], out, tiny_model_dir, annotation=files["gff"], vcf=True, plot=False)
    table = rows(out / "variants.tsv")
    assert {r["sample"] for r in table} == {"patient7"}  # the read group's SM names the sample
    assert {(int(r["pos"]), r["ref"], r["alt"]) for r in table} == expected_sites()
    for row in table:
        assert int(row["depth"]) >= 20
        # Reads of the variant genome every 4 bp, of the reference every 12 bp: ~3/4.
        assert 0.6 < float(row["allele_frequency"]) < 0.9
        assert int(row["alt_depth"]) == round(float(row["allele_frequency"]) * int(row["depth"]))
    records = list(pysam.VariantFile(str(out / "variants.vcf")))
    assert {(r.pos, r.ref, r.alts[0]) for r in records} == expected_sites()
    assert all(r.samples["patient7"]["DP"] >= 20 for r in records)
    assert all("LLR" in r.info and "L1_WINDOW" in r.info for r in records)


def test_read_filters(files, tiny_model_dir, tmp_path):
    bam = write_bam(tmp_path / "reads.bam")
    strict = run(files, [bam], tmp_path / "q", tiny_model_dir, min_baseq=31, plot=False)  # every base has Q30
    assert strict["variants"] == 0
    deep = run(files, [bam], tmp_path / "d", tiny_model_dir, min_depth=1000, plot=False)
    assert deep["variants"] == 0
    rare = run(files, [bam], tmp_path / "af", tiny_model_dir, min_af=0.95, plot=False)
    assert rare["variants"] == 0
    mapped_below = run(files, [bam], tmp_path / "mq", tiny_model_dir, min_mapq=61, plot=False)  # every read has 60
    assert mapped_below["variants"] == 0 and run(files, [bam], tmp_path / "mq60", tiny_model_dir, min_mapq=60,
                                                 plot=False)["variants"] > 0


def test_read_filters_without_reads_are_said_unused_and_not_recorded(files, tiny_model_dir, tmp_path):
    """Given with genomes only, they were taken without a word and summary.json recorded them
    as if they had chosen bases."""
    from vqdna_cli.errors import VqdnaWarning

    with pytest.warns(VqdnaWarning, match=r"^--min-depth 3, --min-af 0.5: these apply to reads \(BAM/SAM/CRAM\) only; "
                                          "no input is reads, so not used$"):
        run(files, [files["genomes"]], tmp_path / "out", tiny_model_dir, min_depth=3, min_af=0.5, plot=False)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["read_filters"] is None


def test_pileup_leaves_pythons_error_hooks_alone_between_columns(files, tmp_path):
    """htslib is quietened (its hooks swapped out) only while a column is read: were the hooks
    off while the caller works on a column, an error of the caller's would vanish unprinted."""
    import sys

    from vqdna_cli.mutations.pileup import _columns
    from vqdna_cli.mutations.variants import Reference

    bam = write_bam(tmp_path / "r.bam")
    hooks = sys.excepthook, sys.unraisablehook
    with pysam.AlignmentFile(str(bam)) as alignments:
        columns = _columns(alignments, CHROM, str(bam), Reference.load(files["ref"]))
        for _ in range(3):
            next(columns)
            assert (sys.excepthook, sys.unraisablehook) == hooks
        columns.close()


@pytest.mark.parametrize("problem, message", [
    ("unindexed", "samtools index"),
    ("unsorted", "samtools sort"),
    ("contig", "contig 'chrX'"),
])
def test_bad_bams_are_refused_with_the_fix(files, tiny_model_dir, tmp_path, problem, message):
    bam = {"unindexed": lambda: write_bam(tmp_path / "r.bam", index=False),
           "unsorted": lambda: write_bam(tmp_path / "r.bam", sort=False),
           "contig": lambda: write_bam(tmp_path / "r.bam", chrom="chrX")}[problem]()
    with pytest.raises(InputError, match=message):
        run(files, [bam], tmp_path / "out", tiny_model_dir)
    assert not (tmp_path / "out").exists()


# --- VCF -------------------------------------------------------------------------------------


def write_vcf(path: Path, records: list[tuple[int, str, str, str]], chrom: str = CHROM) -> Path:
    lines = ["##fileformat=VCFv4.2", f"##contig=<ID={chrom},length={len(REF)}>",
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", "s1", "s2"])]
    for pos, ref, alt, genotypes in records:
        lines.append("\t".join([chrom, str(pos), ".", ref, alt, ".", "PASS", ".", "GT:DP", genotypes]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_vcf_input_per_sample(files, tiny_model_dir, tmp_path):
    deletion = normalise(REF, CHROM, DEL_AT, REF[DEL_AT : DEL_AT + 3], "")
    vcf = write_vcf(tmp_path / "calls.vcf", [
        (SNV_POS + 1, REF[SNV_POS], SNV_ALT, "1:30\t0:25"),
        (deletion.pos, deletion.ref, deletion.alt, "1:12\t1:40"),
    ])
    out = tmp_path / "out"
    run(files, [vcf], out, tiny_model_dir, annotation=files["gff"], plot=False)
    table = rows(out / "variants.tsv")
    assert sorted((r["sample"], int(r["pos"])) for r in table) == sorted(
        [("s1", SNV_POS + 1), ("s1", deletion.pos), ("s2", deletion.pos)])
    snv = next(r for r in table if int(r["pos"]) == SNV_POS + 1)
    assert snv["protein"] == SNV_PROTEIN and snv["depth"] == "30"


def test_an_mnv_in_a_vcf_gets_the_form_and_protein_change_a_genome_gets(files, tiny_model_dir, tmp_path):
    """ACG>TCA (two bases of one codon changed) is two substitutions from a genome's alignment
    and from a pileup; a VCF record of it is read as the same two, annotated together."""
    at = CDS_START + 3 * 20  # the first base of codon 21
    changed = substituted(REF, at, at + 2)
    genome = tmp_path / "g.fa"
    genome.write_text(fasta_text({"s1": changed}))
    vcf = write_vcf(tmp_path / "mnv.vcf", [(at + 1, REF[at : at + 3], changed[at : at + 3], "1:20\t0:20")])
    found = {}
    for name, source in (("genome", genome), ("vcf", vcf)):
        run(files, [source], tmp_path / name, tiny_model_dir, annotation=files["gff"], plot=False)
        found[name] = [(r["pos"], r["ref"], r["alt"], r["protein"], r["llr"]) for r in rows(tmp_path / name / "variants.tsv")
                       if r["sample"] == "s1"]
    assert [(pos, ref, alt) for pos, ref, alt, _, _ in found["vcf"]] == [
        (str(at + 1), REF[at], changed[at]), (str(at + 3), REF[at + 2], changed[at + 2])]
    assert found["vcf"] == found["genome"]


def test_vcf_whose_ref_disagrees_with_the_reference_is_refused(files, tiny_model_dir, tmp_path):
    wrong = other_base(REF[SNV_POS])
    vcf = write_vcf(tmp_path / "bad.vcf", [(SNV_POS + 1, wrong, REF[SNV_POS], "1:3\t0:3")])
    with pytest.raises(InputError, match=f"REF {wrong} at {CHROM}:{SNV_POS + 1} disagrees"):
        run(files, [vcf], tmp_path / "out", tiny_model_dir)
    other_contig = write_vcf(tmp_path / "contig.vcf", [(10, REF[9], other_base(REF[9]), "1:3\t0:3")], chrom="chr9")
    with pytest.raises(InputError, match="contig 'chr9'"):
        run(files, [other_contig], tmp_path / "out2", tiny_model_dir)


# --- model effects and summaries -------------------------------------------------------------


def test_scoring_passes_are_announced_and_counted_to_their_totals(files, tiny_model_dir):
    """site_effects names each of its three passes with its amount, then counts it to the end."""
    from vqdna_cli.mutations.effects import PASSES, ScoringProgress, site_effects
    from vqdna_cli.mutations.variants import Reference
    from vqdna_cli.runner import Runner

    passes: list[list] = []
    progress = ScoringProgress(begin=lambda number, name, total: passes.append([number, name, total, 0]),
                               done=lambda amount: passes[-1].__setitem__(3, passes[-1][3] + amount))
    sites = sorted(normalise(REF, CHROM, start, REF[start:end], replacement) for start, end, replacement in edits())
    effects = site_effects(Runner.load(tiny_model_dir, "cpu"), Reference.load(files["ref"]).sequences, sites,
                           batch_tokens=256, progress=progress)
    assert all(effects.values())
    assert [number for number, *_ in passes] == list(range(1, PASSES + 1))
    assert all(total > 0 and counted == total for _, _, total, counted in passes)


def test_window_token_changes_match_tokenizing_the_whole_genome(files, tiny_model_dir):
    """The windowed comparison sees exactly the token changes whole-genome tokenization shows."""
    from vqdna_cli.data.alphabet import encode
    from vqdna_cli.runner import Runner
    from vqdna_cli.mutations.effects import site_effects

    runner = Runner.load(tiny_model_dir, "cpu")
    site = normalise(REF, CHROM, 1500, REF[1500], other_base(REF[1500]))
    edited = REF[:1500] + site.alt + REF[1501:]
    effect = site_effects(runner, {CHROM: REF}, [site])[site]
    whole_ref, whole_alt = runner.tokens_of([encode(REF), encode(edited)], 8192)
    differs = (whole_ref != whole_alt).sum(axis=0)
    assert effect.window_changed == [int(x) for x in differs]
    assert effect.site_changed == [bool(x) for x in (whole_ref[1500] != whole_alt[1500])]
    assert 0.0 <= effect.embedding_shift <= 2.0
    assert np.isfinite(effect.llr)
    # A substitution's two masked windows are the same input, so alt against ref is a
    # plain ratio: swapping ref and alt flips the sign.
    back = normalise(edited, CHROM, 1500, edited[1500], REF[1500])
    reverse = site_effects(runner, {CHROM: edited}, [back])[back]
    assert reverse.llr == pytest.approx(-effect.llr, abs=1e-4)


@pytest.mark.parametrize("alt_vector, shift", [([0.6, 0.8], 0.4), ([1.0, 0.0], 0.0)])
def test_llr_is_alt_over_ref_per_level_and_the_shift_is_one_minus_the_cosine(
        tiny_model_dir, monkeypatch, alt_vector, shift):
    """With the model's numbers fixed, what site_effects makes of them: the variant's
    log-likelihood less the reference's, level by level, and 1 - cos of the pooled vectors."""
    from vqdna_cli.mutations import effects as effects_module
    from vqdna_cli.runner import Runner

    monkeypatch.setattr(effects_module, "_masked_log_likelihoods",
                        lambda runner, inputs, batch_tokens, progress: [[-3.0, -2.0], [-1.0, -0.5]])
    monkeypatch.setattr(effects_module, "_pooled",
                        lambda runner, windows, batch_tokens, on_batch: np.array([[1.0, 0.0], alt_vector]))
    site = normalise(REF, CHROM, 1500, REF[1500], other_base(REF[1500]))
    effect = effects_module.site_effects(Runner.load(tiny_model_dir, "cpu"), {CHROM: REF}, [site])[site]
    assert effect.llr_levels == pytest.approx([2.0, 1.5]) and effect.llr == pytest.approx(3.5)
    assert effect.embedding_shift == pytest.approx(shift, abs=1e-12)


def test_samples_summary_and_lineage_scores(files, tiny_model_dir, tmp_path):
    # Two "lineages": genomes sharing the lineage's defining SNVs, each with one private one.
    defining = {"A": [300, 700, 1200], "B": [450, 900, 1600]}
    genomes, labels = {}, []
    for lineage, positions in defining.items():
        for k in range(3):
            private = 200 + 97 * k + (40 if lineage == "B" else 0)
            changes = sorted((p, p + 1, other_base(REF[p])) for p in [*positions, private])
            genomes[f"{lineage}{k}"] = apply(REF, changes)[0]
            labels.append(f"{lineage}{k}\t{lineage}")
    fasta = tmp_path / "lineages.fa"
    fasta.write_text(fasta_text(genomes))
    label_file = tmp_path / "labels.tsv"
    label_file.write_text("sample\tlineage\n" + "\n".join(labels) + "\n")
    out = tmp_path / "out"
    result = run(files, [fasta], out, tiny_model_dir, labels=label_file, plot=False)
    summary = json.loads((out / "summary.json").read_text())
    lineage = summary["lineage"]
    assert lineage["labelled_samples"] == 6 and lineage["lineages"] == 2
    assert lineage["baseline_variants"]["nearest_neighbour_accuracy"] == 1.0
    for level in ("level1", "level2"):
        assert 0.0 <= lineage[level]["nearest_neighbour_accuracy"] <= 1.0
        assert -1.0 <= lineage[level]["silhouette"] <= 1.0
    assert result["lineage"] == lineage and lineage["label_column"] is None  # the second column
    by_name = run(files, [fasta], tmp_path / "by_name", tiny_model_dir, labels=label_file, label_column="lineage",
                  plot=False)
    assert by_name["lineage"]["label_column"] == "lineage"
    sample = summary["samples"]["A0"]
    assert sample["variants"] == 4 and sample["label"] == "A"
    assert set(sample["embedding"]) == {"level1", "level2"}
    assert summary["model_hash"] and summary["vqdna_version"]
    samples = rows(out / "samples.tsv")
    assert [r["sample"] for r in samples] == list(genomes)
    assert all(r["variants"] == "4" for r in samples)


def test_lineage_scores_on_known_points():
    from vqdna_cli.mutations.summary import lineage_scores

    points = np.array([[0.0], [0.1], [5.0], [5.2]])
    scores = lineage_scores(points, ["a", "a", "b", "b"])
    assert scores["nearest_neighbour_accuracy"] == 1.0
    assert scores["silhouette"] == pytest.approx(np.mean([1 - 0.1 / 5.1, 1 - 0.1 / 5.0, 1 - 0.2 / 4.95, 1 - 0.2 / 5.15]), abs=1e-4)
    assert lineage_scores(points, ["a", "b", "a", "b"])["nearest_neighbour_accuracy"] == 0.0


# --- outputs, CLI ----------------------------------------------------------------------------


def test_identical_input_gives_identical_output(files, tiny_model_dir, tmp_path):
    bam = write_bam(tmp_path / "reads.bam")
    for name in ("one", "two"):
        run(files, [files["genomes"], bam], tmp_path / name, tiny_model_dir, annotation=files["gff"], vcf=True,
            plot=False)
    for member in ("variants.tsv", "samples.tsv", "summary.json", "variants.vcf"):
        assert (tmp_path / "one" / member).read_bytes() == (tmp_path / "two" / member).read_bytes(), member


def test_drawing_the_plot_leaves_the_users_matplotlib_as_it_was(files, tiny_model_dir, tmp_path):
    """A notebook's backend (inline plots) and matplotlib's logger are the user's: the plot
    switched the process to Agg and set the logger to ERROR for good."""
    import logging

    matplotlib = pytest.importorskip("matplotlib")
    backend, logger = matplotlib.get_backend(), logging.getLogger("matplotlib")
    level = logger.level
    try:
        matplotlib.use("svg")
        logger.setLevel(logging.INFO)
        run(files, [files["genomes"]], tmp_path / "drawn", tiny_model_dir)
        assert (tmp_path / "drawn" / "mutations.png").read_bytes()[:4] == b"\x89PNG"
        assert (matplotlib.get_backend(), logger.level) == ("svg", logging.INFO)
    finally:
        matplotlib.use(backend)
        logger.setLevel(level)


def test_plot_is_drawn_or_skipped_with_a_notice(files, tiny_model_dir, tmp_path, monkeypatch):
    from vqdna_cli.mutations import plot

    if plot.available():
        run(files, [files["genomes"]], tmp_path / "drawn", tiny_model_dir)
        assert (tmp_path / "drawn" / "mutations.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setattr(plot, "available", lambda: False)
    result = run(files, [files["genomes"]], tmp_path / "skipped", tiny_model_dir)
    assert result["notices"] == [plot.MISSING]
    assert not (tmp_path / "skipped" / "mutations.png").exists()
    assert (tmp_path / "skipped" / "variants.tsv").exists()


def test_existing_output_is_kept_unless_forced(files, tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="--force"):
        run(files, [files["genomes"]], out, tiny_model_dir, plot=False)
    assert (out / "keep.txt").exists()
    for earlier in ("variants.vcf", "variants.vcf.gz", "variants.vcf.gz.tbi"):
        (out / earlier).write_text("an earlier run's")
    run(files, [files["genomes"]], out, tiny_model_dir, plot=False, force=True)
    # --force replaces vqdna's own files (an earlier run's VCF, plain or bgzip and its index,
    # too), nothing else
    assert (out / "keep.txt").read_text() == "mine" and (out / "variants.tsv").exists()
    assert not any((out / name).exists() for name in ("variants.vcf", "variants.vcf.gz", "variants.vcf.gz.tbi"))


def test_damaged_inputs_are_one_line_errors(files, tiny_model_dir, tmp_path):
    import gzip

    packed = bytearray(gzip.compress(Path(files["genomes"]).read_bytes()))
    packed[20:40] = bytes(20)  # the deflate stream, not the gzip header
    damaged = tmp_path / "genomes.fa.gz"
    damaged.write_bytes(bytes(packed))
    with pytest.raises(InputError, match="damaged gzip"):
        run(files, [damaged], tmp_path / "a", tiny_model_dir, plot=False)
    binary = tmp_path / "labels.tsv"
    binary.write_bytes(b"sample\tlineage\n\xff\xfe\x00\x81\n")
    with pytest.raises(InputError, match="cannot read as tab-separated text"):
        run(files, [files["genomes"]], tmp_path / "b", tiny_model_dir, labels=binary, plot=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_cli_end_to_end_and_one_line_errors(run_vqdna, files, tiny_model_dir, tmp_path):
    out = tmp_path / "cli"
    done = run_vqdna("mutations", "--reference", files["ref"], "--annotation", files["gff"], files["genomes"],
                     "-o", out, "-m", tiny_model_dir, "--vcf", "--no-plot", "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert {p.name for p in out.iterdir()} == {"variants.tsv", "samples.tsv", "summary.json", "variants.vcf"}
    bad = tmp_path / "bad.vcf"
    write_vcf(bad, [(SNV_POS + 1, other_base(REF[SNV_POS]), REF[SNV_POS], "1:3\t0:3")])
    failed = run_vqdna("mutations", "--reference", files["ref"], bad, "-o", tmp_path / "nothing", "-m", tiny_model_dir)
    assert failed.returncode == 2
    assert len(failed.stderr_lines) == 1 and failed.stderr.startswith("vqdna: error: ")
    assert not (tmp_path / "nothing").exists()
    exists = run_vqdna("mutations", "--reference", files["ref"], files["genomes"], "-o", out, "-m", tiny_model_dir)
    assert exists.returncode == 4 and "--force" in exists.stderr
    made_first = tmp_path / "made_first"  # `mkdir -p` before the run, as a workflow may: taken as new
    made_first.mkdir()
    into = run_vqdna("mutations", "--reference", files["ref"], files["genomes"], "-o", made_first, "-m",
                     tiny_model_dir, "--no-plot", "--quiet")
    assert into.returncode == 0, into.stderr
    assert {p.name for p in made_first.iterdir()} == {"variants.tsv", "samples.tsv", "summary.json"}


# --- stdin, and what htslib says ---------------------------------------------------------------


def test_genomes_from_stdin(run_vqdna, files, tiny_model_dir, tmp_path):
    out = tmp_path / "stdin"
    done = run_vqdna("mutations", "--reference", files["ref"], "-", "-o", out, "-m", tiny_model_dir, "--no-plot",
                     "--quiet", "--threads", "1", stdin=files["genomes"])
    assert done.returncode == 0, done.stderr
    samples = {row["sample"]: row for row in rows(out / "samples.tsv")}
    assert set(samples) == {"variant", "same"} and samples["variant"]["input"] == "-"
    assert {(int(r["pos"]), r["ref"], r["alt"]) for r in rows(out / "variants.tsv")} == expected_sites()


@pytest.mark.parametrize("case", ["reference", "vcf", "twice"])
def test_stdin_mutations_cannot_use_is_one_line(case, run_vqdna, files, tiny_model_dir, tmp_path):
    vcf = write_vcf(tmp_path / "calls.vcf", [(SNV_POS + 1, REF[SNV_POS], SNV_ALT, "1:30\t0:25")])
    args, stdin, message = {
        "reference": (["--reference", "-", files["genomes"]], files["ref"], "the reference must be a FASTA file, not stdin"),
        "vcf": (["--reference", files["ref"], "-"], vcf, "stdin holds variants (VCF/BCF): mutations reads them only from a file"),
        "twice": (["--reference", files["ref"], "-", "-"], files["genomes"], "- is given twice"),
    }[case]
    out = tmp_path / "out"
    failed = run_vqdna("mutations", *args, "-o", out, "-m", tiny_model_dir, "--no-plot", stdin=stdin)
    assert failed.returncode == 2
    assert len(failed.stderr_lines) == 1, failed.stderr
    assert failed.stderr_lines[0].startswith("vqdna: error: ") and message in failed.stderr_lines[0]
    assert not out.exists()


def test_vcf_contig_missing_from_its_header_gives_only_our_line(run_vqdna, files, tiny_model_dir, tmp_path):
    vcf = tmp_path / "z.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n" + f"##contig=<ID={CHROM},length={len(REF)}>\n"
                   '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">\n'
                   "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
                   "chrZ\t241\t.\tC\tT\t.\tPASS\t.\tGT\t1\n")
    failed = run_vqdna("mutations", "--reference", files["ref"], vcf, "-o", tmp_path / "out", "-m", tiny_model_dir,
                       "--no-plot")
    assert failed.returncode == 2
    assert len(failed.stderr_lines) == 1, failed.stderr  # no [W::vcf_parse] lines
    assert "names contig 'chrZ'" in failed.stderr_lines[0]


def test_lineage_scores_are_not_given_when_every_lineage_has_one_genome():
    from vqdna_cli.mutations.pipeline import _lineage

    class Named:
        def __init__(self, name):
            self.name, self.calls = name, []

    samples = [Named(n) for n in ("s1", "s2", "s3")]
    result = _lineage(samples, {"s1": "A", "s2": "B", "s3": "C"}, [np.zeros((3, 4))], "labels.tsv")
    assert "level1" not in result and "baseline_variants" not in result
    assert result["lineages"] == 3 and "undefined" in result["note"]


def test_an_indel_before_the_first_base_is_typed_as_one():
    """VCF anchors an indel at POS 1 on the base after it (`1 AT>T`): a deletion of base 1,
    not a complex change; an insertion before base 1 is ins0."""
    deletion = normalise("ATGCC", "c", 0, "A", "")
    assert (deletion.pos, deletion.ref, deletion.alt) == (1, "AT", "T")
    assert (deletion.kind, deletion.label(), deletion.start0, deletion.end0, deletion.inserted) == (
        "deletion", "del1", 0, 1, "")
    insertion = normalise("ATGCC", "c", 0, "", "GC")
    assert (insertion.kind, insertion.label(), insertion.start0, insertion.end0, insertion.inserted) == (
        "insertion", "ins0:GC", 0, 0, "GC")
    # anchored on the left as everywhere else: base 2 deleted
    assert normalise("ATGCC", "c", 1, "T", "").label() == "del2"


def test_a_vcf_deletion_of_base_1_is_a_deletion(files, tiny_model_dir, tmp_path):
    """(A genome that lacks base 1 is a genome that starts later: base 1 is not covered.)"""
    vcf = write_vcf(tmp_path / "first.vcf", [(1, REF[:2], REF[1], "1:20\t0:20")])
    out = tmp_path / "out"
    run(files, [vcf], out, tiny_model_dir, plot=False)
    (row,) = rows(out / "variants.tsv")
    assert (row["type"], row["change"]) == ("deletion", "del1")


def _reads_bam(path: Path, alt_reads: list[tuple[str, list[tuple[int, int]]]], start: int = 400) -> Path:
    """10 reads of the reference at `start` and, for each (sequence, CIGAR) of `alt_reads`, 10
    reads of it there; sorted and indexed."""
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": CHROM, "LN": len(REF)}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for number, (sequence, cigar) in enumerate([(REF[start : start + 102], [(0, 102)])] * 10 +
                                                   [read for read in alt_reads for _ in range(10)]):
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.query_sequence, read.flag = f"r{number}", sequence, 0
            read.reference_id, read.reference_start, read.mapping_quality = 0, start, 60
            read.cigartuples = cigar
            read.query_qualities = pysam.qualitystring_to_array("I" * len(sequence))
            out.write(read)
    pysam.index(str(path))
    return path


def test_a_deletion_and_an_insertion_side_by_side_in_reads_are_both_called(files, tiny_model_dir, tmp_path):
    """htslib gives one of the two at a column (an insertion after deleted bases on the last
    deleted column, which was skipped; a deletion after an insertion not at all): one of them
    went uncalled, and the reads then said the reference where they differ from it."""
    left, deleted, right = REF[400:450], REF[450:452], REF[452:502]
    deletion = normalise(REF, CHROM, 450, deleted, "")
    cases = (("di", [(0, 50), (2, 2), (1, 3), (0, 50)], normalise(REF, CHROM, 452, "", "GGG")),  # after the gap
             ("id", [(0, 50), (1, 3), (2, 2), (0, 50)], normalise(REF, CHROM, 450, "", "GGG")))  # before it
    for name, cigar, insertion in cases:
        sequence, expected = left + "GGG" + right, {(site.pos, site.ref, site.alt) for site in (deletion, insertion)}
        bam = _reads_bam(tmp_path / f"{name}.bam", [(sequence, cigar)])
        run(files, [bam], tmp_path / name, tiny_model_dir, plot=False)
        table = rows(tmp_path / name / "variants.tsv")
        assert {(int(r["pos"]), r["ref"], r["alt"]) for r in table} == expected, name
        assert {r["allele_frequency"] for r in table} == {"0.5000"}, name


def test_a_substituted_base_then_inserted_bases_has_one_form_from_reads_a_genome_and_a_vcf(files, tiny_model_dir,
                                                                                            tmp_path):
    """A base replaced by three (T>AGG) is AG inserted before it and a substitution of it
    (T>G), the gap first, as a genome's alignment gives it. Reads whose aligner put the
    mismatch first (CIGAR ..M 2I M..) gave one complex T>AGG, and a VCF's T>AGG record stayed
    one: the same sample's variants differed by the file they came from, and its SNV was not
    among the reads' and the VCF's. Each BAM's reads are 20 deep there, 10 carrying the change."""
    at = 450
    substituted = other_base(REF[at])
    haplotype = REF[:at] + substituted + "GG" + REF[at + 1 :]
    carrier = _reads_bam(tmp_path / "reads.bam", [(haplotype[400 : at + 3] + REF[at + 1 : 502],
                                                   [(0, at - 400 + 1), (1, 2), (0, 502 - at - 1)])])
    genome = tmp_path / "genome.fa"
    genome.write_text(fasta_text({"genome": haplotype}))
    vcf = write_vcf(tmp_path / "calls.vcf", [(at + 1, REF[at], substituted + "GG", "1:20\t0:20")])
    snv_only = _reads_bam(tmp_path / "a.bam", [(REF[400:at] + substituted + REF[at + 1 : 502], [(0, 102)])])
    run(files, [carrier, genome, vcf, snv_only], tmp_path / "out", tiny_model_dir, plot=False, vcf=True)
    found: dict[str, set] = {}
    for row in rows(tmp_path / "out" / "variants.tsv"):
        found.setdefault(row["sample"], set()).add((int(row["pos"]), row["ref"], row["alt"]))
    insertion = normalise(REF, CHROM, at, "", substituted + "G")
    expected = {(insertion.pos, insertion.ref, insertion.alt), (at + 1, REF[at], "G")}
    assert found["reads"] == found["genome"] == found["s1"] == expected
    assert found["a"] == {(at + 1, REF[at], substituted)} and "s2" not in found
    with pysam.VariantFile(str(tmp_path / "out" / "variants.vcf")) as output:
        records = {(record.pos, record.alts[0]): record for record in output}
    for sample, alt in (("reads", "G"), ("a", substituted)):
        call = records[(at + 1, alt)].samples[sample]
        assert (call["GT"], call["DP"], call["AF"]) == ((1,), 20, (0.5,)), sample
