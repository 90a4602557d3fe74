"""Protein changes at the edges of a CDS: its start codon, its stop codon, a frameshift that
meets a stop at once, and a gene read by two CDSs (ORF1ab's pp1ab through the ribosomal slip
and pp1a to its own stop). Each fixture is written out base by base so the expected amino
acids can be read off the comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from vqdna_cli.mutations.annotate import Annotator, read_gff, so_terms, translate
from vqdna_cli.mutations.variants import Call, Reference, normalise

CHROM = "v"
START = 10  # 0-based first base of every CDS below
UTR5 = "GCGCGCGCGC"
# G: M1 K2 W3 G4 L5 P6 *7, the stop TAA followed by A (a deletion of either A keeps TAA)
GENE_G = "ATG" "AAA" "TGG" "GGC" "TTA" "CCC" "TAA"
UTR3 = "ACCGTTGCATGCCGATCGGCAGCGCCG"
# P, read as pp1ab: part 1 is bases 0-12 (ATG GCA TTT AAA C), part 2 starts again at base 12,
# the C read twice: M1 A2 F3 K4 P5 (CCG) V6 (GTA) S7 (AGC) *8 (TAA). pp1a reads on in part 1's
# frame to its own stop: M1 A2 F3 K4 R5 (CGG) *6 (TAA at bases 15-17).
GENE_P = "ATGGCATTTAAA" "C" "GGTAAGCTAA"


def _fixture(tmp_path: Path, body: str, gff_lines: list[tuple[int, int, str]]) -> tuple[str, list]:
    sequence = UTR5 + body + UTR3
    gff = tmp_path / "genes.gff"
    gff.write_text("".join("\t".join([CHROM, "t", "CDS", str(START + first), str(START + last), ".", "+", "0",
                                      attributes]) + "\n" for first, last, attributes in gff_lines))
    return sequence, read_gff(gff, Reference(tmp_path / "ref.fa", {CHROM: sequence}))


def _annotate(sequence: str, coding: list, at: int, ref: str, alt: str) -> dict:
    """The annotation of one sample's variant replacing `ref` by `alt` at CDS offset `at`."""
    call = Call("s", normalise(sequence, CHROM, START + at, ref, alt))
    Annotator(coding).annotate([call])
    return call.annotation


@pytest.fixture
def gene_g(tmp_path: Path):
    return _fixture(tmp_path, GENE_G, [(1, len(GENE_G), "ID=g;gene=G")])


@pytest.fixture
def gene_p(tmp_path: Path):
    return _fixture(tmp_path, GENE_P, [(1, 13, "ID=pp1ab;gene=P;protein_id=YP_1"),
                                       (13, len(GENE_P), "ID=pp1ab;gene=P;protein_id=YP_1"),
                                       (1, 18, "ID=pp1a;gene=P;protein_id=YP_2")])


@pytest.mark.parametrize("at, ref, alt, protein, effect, hgvs", [
    (2, "G", "A", "G:M1?", "start_lost", "G:p.Met1?"),  # ATG > ATA
    (1, "T", "", "G:M1?", "start_lost", "G:p.Met1?"),  # the start codon's T deleted
    (0, "ATG", "", "G:M1?", "start_lost", "G:p.Met1?"),
    # TAA|A losing an A reads TAA again: the protein is the same (was G:*7fs)
    (19, "A", "", "G:*7*", "stop_retained", "G:p.Ter7="),
    # TGG > T|A|GG: the first codon the new frame reads is TAG (was G:W3fs)
    (7, "", "A", "G:W3*", "stop_gained", "G:p.Trp3Ter"),
    # the stop's T deleted: CC|CTAA|ACC > CC|CAA|ACC, the protein reads on (AAA, K)
    (18, "T", "", "G:*7K", "stop_lost", "G:p.Ter7Lysext*?"),
    # the stop's last A and the 2 bases after it deleted: TA|AAC|CG > TAC, read from the bases
    # the deletion leaves, not from those right after the CDS (TAA)
    (20, "AAC", "", "G:*7Y", "stop_lost", "G:p.Ter7Tyrext*?"),
    (9, "G", "", "G:G4fs", "frameshift", "G:p.Gly4fs"),
    (3, "A", "C", "G:K2Q", "missense", "G:p.Lys2Gln"),  # codon 1's neighbour: not a start loss
])
def test_changes_at_the_start_and_the_stop_codon(gene_g, at, ref, alt, protein, effect, hgvs):
    sequence, coding = gene_g
    assert sequence[START + at : START + at + len(ref)] == ref
    annotation = _annotate(sequence, coding, at, ref, alt)
    assert (annotation["protein"], annotation["effect"], annotation["hgvs_p"]) == (protein, effect, [hgvs])


@pytest.mark.parametrize("at, ref, alt, protein, hgvs", [
    # TGG|GGC with TAG AAA inserted: the protein ends after W3, as a nonsense G4* makes it
    # (was G:ins3*K, an amino acid read past the stop)
    (9, "", "TAGAAA", "G:G4*", "G:p.Gly4Ter"),
    # AAA TAG AAA inserted: K, then the stop; nothing after it (was G:ins3K*K)
    (9, "", "AAATAGAAA", "G:ins3K*", "G:p.Trp3_Gly4insLysTer"),
    # TGG GGC > TGA AGC: W3* and no G4S after the stop (was G:W3*,G:G4S)
    (8, "GG", "AA", "G:W3*", "G:p.Trp3Ter"),
])
def test_a_stop_brought_in_ends_the_protein(gene_g, at, ref, alt, protein, hgvs):
    sequence, coding = gene_g
    assert sequence[START + at : START + at + len(ref)] == ref
    annotation = _annotate(sequence, coding, at, ref, alt)
    assert (annotation["protein"], annotation["effect"], annotation["hgvs_p"]) == (protein, "stop_gained", [hgvs])


def test_start_lost_has_its_sequence_ontology_term():
    assert so_terms("start_lost") == ["start_lost"]
    assert so_terms("stop_retained,start_lost") == ["stop_retained_variant", "start_lost"]


def test_a_gene_of_two_cdss_reports_the_second_reading_where_it_differs(gene_p):
    sequence, coding = gene_p
    assert [(c.gene, c.alternative_of) for c in coding] == [("P", None), ("P/YP_2", "P")]
    # pp1a's stop TAA > TCA is lost while pp1ab reads GTA > GTC, a synonymous V6
    # (SARS-CoV-2 A13482C, which used to read only ORF1ab:V4406V synonymous)
    stop = _annotate(sequence, coding, 16, "A", "C")
    assert stop["gene"] == "P,P/YP_2"
    assert stop["protein"] == "P:V6V,P/YP_2:*6S"
    assert stop["effect"] == "synonymous,stop_lost"
    assert stop["hgvs_p"] == ["P:p.Val6=", "P/YP_2:p.Ter6Serext*?"]
    # Before the slip both read GCA > GAA, A2E, said once
    same = _annotate(sequence, coding, 4, "C", "A")
    assert (same["gene"], same["protein"], same["effect"]) == ("P", "P:A2E", "missense")


def test_a_deletion_of_the_base_read_twice_keeps_the_genomes_frame(gene_p):
    """Deleting 3 bases that end on the slip base (SARS-CoV-2 13466-13468) is an in-frame
    deletion in both readings; it was a frameshift of pp1ab, the C counted as two bases."""
    sequence, coding = gene_p
    three = _annotate(sequence, coding, 10, "AAC", "")
    # pp1ab slips back onto the A left before: ATG GCA TTT AA|A G|GT AAG CTA A > M A F K V S *
    assert three["protein"] == "P:P5del,P/YP_2:K4del"
    assert three["effect"] == "inframe_deletion"
    one = _annotate(sequence, coding, 12, "C", "")
    assert one["effect"] == "frameshift"
    assert one["protein"].startswith("P:P5fs")


def _annotate_together(sequence: str, coding: list, *variants: tuple[int, str, str]) -> list[dict]:
    """The annotations of several variants of one sample, each (CDS offset, ref, alt)."""
    calls = [Call("s", normalise(sequence, CHROM, START + at, ref, alt)) for at, ref, alt in variants]
    Annotator(coding).annotate(calls)
    return [call.annotation for call in calls]


def test_an_insertion_right_before_a_deletion_keeps_its_bases(gene_g):
    """TGG|TTT|GGC with GGC deleted reads TGG TTT: G4F (the deletion used to take the
    inserted bases instead, G4del)."""
    sequence, coding = gene_g
    inserted, deleted = _annotate_together(sequence, coding, (9, "", "TTT"), (9, "GGC", ""))
    assert inserted["protein"] == deleted["protein"] == "G:G4F"
    assert inserted["effect"] == "missense" and inserted["hgvs_p"] == ["G:p.Gly4Phe"]


def test_an_indel_that_a_later_one_brings_back_into_frame_changes_only_between(gene_g):
    """A|C|AA TGG with the T then deleted: ATG ACA AGG GGC, K2T and W3R, not two frameshifts."""
    sequence, coding = gene_g
    inserted, deleted = _annotate_together(sequence, coding, (4, "", "C"), (6, "T", ""))
    assert inserted["protein"] == deleted["protein"] == "G:K2T,G:W3R"
    assert inserted["effect"] == "missense"
    # Alone, each is a frameshift
    assert _annotate(sequence, coding, 6, "T", "")["effect"] == "frameshift"


@pytest.mark.parametrize("at, ref, alt, protein, effect, hgvs", [
    # T|AAC|AA: TAA CAA, the stop kept (was G:ins7Q, an in-frame insertion after the stop)
    (19, "", "AAC", "G:*7*", "stop_retained", "G:p.Ter7="),
    # TAA and the A after it: 4 bases, a frameshift by the genome though 3 of the CDS; the
    # reading goes on from CCG (was G:*7del, read as an in-frame deletion of the stop)
    (18, "TAAA", "", "G:*7P", "stop_lost", "G:p.Ter7Proext*?"),
])
def test_changes_at_the_stop_are_read_on_the_genome_they_leave(gene_g, at, ref, alt, protein, effect, hgvs):
    sequence, coding = gene_g
    assert sequence[START + at : START + at + len(ref)] == ref
    annotation = _annotate(sequence, coding, at, ref, alt)
    assert (annotation["protein"], annotation["effect"], annotation["hgvs_p"]) == (protein, effect, [hgvs])


def test_an_insertion_at_the_edge_of_an_intron_is_in_the_cds(tmp_path):
    """G read in two parts around an intron: an insertion beside the intron joins the part
    next to it (it was dropped as noncoding); beside the CDS's own ends it stays UTR."""
    intron = "GTAAGCTTAG"
    body = GENE_G[:9] + intron + GENE_G[9:]
    sequence, coding = _fixture(tmp_path, body, [(1, 9, "ID=g;gene=G"), (20, len(body), "ID=g;gene=G")])
    assert translate("".join(sequence[p] for p in coding[0].positions.tolist())) == "MKWGLP*"
    for at in (9, 19):  # after part 1's last base, before part 2's first base: TGG C GGC
        annotation = _annotate(sequence, coding, at, "", "C")
        assert (annotation["protein"], annotation["effect"]) == ("G:G4fs", "frameshift")
    assert _annotate(sequence, coding, 0, "", "C")["effect"] == "noncoding"
    assert _annotate(sequence, coding, len(body), "", "C")["effect"] == "noncoding"


def _reverse_complement(bases: str) -> str:
    return bases.translate(str.maketrans("ACGT", "TGCA"))[::-1]


@pytest.mark.parametrize("utr5, at, ref, alt, effect", [
    # CA|ATG losing an A of AA: ATG is still there, the UTR one base shorter (was start_lost)
    ("GCGCGCGCCA", 0, "A", "", "noncoding"),
    ("GCGCGCGCCA", 0, "", "A", "noncoding"),  # CA|A|ATG: ATG kept, the UTR one base longer
    ("GCGCGCGATG", 0, "ATG", "", "noncoding"),  # ATG|ATG losing one ATG
    ("GCGCGCGCCA", 1, "T", "", "start_lost"),  # ATG's T deleted: AGA, the start is gone
    ("GCGCGCGCCA", 3, "A", "C", "missense"),  # K2Q, read on the - strand
])
def test_an_indel_at_a_minus_strand_start_codon_that_keeps_it_is_utr(tmp_path, utr5, at, ref, alt, effect):
    """VCF shifts an indel to the left of the reference, which is into the CDS of a - strand
    gene beside its start codon; where the UTR's bases rebuild the start the protein is the
    same, and the variant is not start_lost."""
    gene_strand = utr5 + GENE_G + UTR3
    sequence = _reverse_complement(gene_strand)
    cds_first = len(UTR3) + 1  # 1-based, on the + strand
    gff = tmp_path / "genes.gff"
    gff.write_text("\t".join([CHROM, "t", "CDS", str(cds_first), str(cds_first + len(GENE_G) - 1), ".", "-", "0",
                              "ID=g;gene=G"]) + "\n")
    coding = read_gff(gff, Reference(tmp_path / "ref.fa", {CHROM: sequence}))
    assert translate(coding[0].sequence) == "MKWGLP*"
    # `at`, `ref` and `alt` on the gene's strand, from the CDS's first base; an insertion goes before it
    gene_at = len(utr5) + at
    assert gene_strand[gene_at : gene_at + len(ref)] == ref
    plus_at = len(gene_strand) - gene_at - len(ref)
    call = Call("s", normalise(sequence, CHROM, plus_at, _reverse_complement(ref), _reverse_complement(alt)))
    Annotator(coding).annotate([call])
    assert call.annotation["effect"] == effect


def test_a_percent_escaped_gff3_seqid_names_its_contig(tmp_path):
    """GFF3 escapes a seqid's '/' as %2F (GISAID names: hCoV-19/Wuhan/WIV04/2019); it names
    the reference's contig, which was refused as not in the reference."""
    name = "hCoV-19/Wuhan/WIV04/2019"
    sequence = UTR5 + GENE_G + UTR3
    gff = tmp_path / "genes.gff"
    gff.write_text("\t".join([name.replace("/", "%2F"), "t", "CDS", str(START + 1), str(START + len(GENE_G)), ".",
                              "+", "0", "ID=g;gene=G"]) + "\n")
    coding = read_gff(gff, Reference(tmp_path / "ref.fa", {name: sequence}))
    assert [(c.chrom, translate(c.sequence)) for c in coding] == [(name, "MKWGLP*")]
