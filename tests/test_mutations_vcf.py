"""The VCF `vqdna mutations --vcf` / `--vcf-gz` writes: by htslib (pysam), no INFO key used
against its VCF meaning (AA is the ancestral allele), Sequence Ontology effects, HGVS.p
protein changes, INFO/DP and AF kept from an input VCF, bgzip + tabix for `.vcf.gz`."""

from __future__ import annotations

import re
from pathlib import Path

import pysam
import pytest

from test_mutations import (CDS_START, CHROM, DEL_AT, INS_AFTER, NONCODING_SNV, REF, SNV_ALT, SNV_POS, SNV_PROTEIN,
                            codon, files, other_base, rows, run)  # noqa: F401  (files: the fixture)
from vqdna_cli.mutations.annotate import CODONS, THREE_LETTER, Annotator, read_gff, so_terms
from vqdna_cli.mutations.variants import Call, Reference, normalise


def three(amino_acid: str) -> str:
    return THREE_LETTER[amino_acid]


def records_by_pos(path: Path) -> dict[int, pysam.VariantRecord]:
    with pysam.VariantFile(str(path)) as vcf:
        return {record.pos: record for record in vcf}


def test_vcf_has_so_effects_hgvs_and_no_ancestral_allele_key(files, tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    run(files, [files["genomes"]], out, tiny_model_dir, annotation=files["gff"], vcf=True, plot=False)
    text = (out / "variants.vcf").read_text()
    assert text.startswith("##fileformat=VCFv4.2\n")
    with pysam.VariantFile(str(out / "variants.vcf")) as vcf:
        assert "AA" not in vcf.header.info
        assert {"GENE", "PROTEIN", "HGVSP", "EFFECT", "LLR"} <= set(vcf.header.info)
    records = records_by_pos(out / "variants.vcf")
    snv = records[SNV_POS + 1]
    ref_aa, alt_aa = CODONS[codon(11)], CODONS[SNV_ALT + codon(11)[1:]]
    assert snv.info["EFFECT"] == ("missense_variant",)
    assert snv.info["PROTEIN"] == (SNV_PROTEIN,)
    assert snv.info["HGVSP"] == (f"G:p.{three(ref_aa)}11{three(alt_aa)}",)
    assert snv.info["GENE"] == ("G",)
    insertion = next(r for r in records.values() if r.info["TYPE"] == "insertion")
    assert insertion.info["EFFECT"] == ("inframe_insertion",)
    assert insertion.info["HGVSP"] == (f"G:p.{three(CODONS[codon(50)])}50_{three(CODONS[codon(51)])}51insAlaAlaAla",)
    deletion = next(r for r in records.values() if r.info["TYPE"] == "deletion")
    assert deletion.info["EFFECT"][0] in ("inframe_deletion", "protein_altering_variant")
    assert "del" in deletion.info["HGVSP"][0]
    noncoding = records[NONCODING_SNV + 1]
    assert "EFFECT" not in noncoding.info and "HGVSP" not in noncoding.info and "GENE" not in noncoding.info
    assert "LLR" in noncoding.info
    # ESHIFT to 6 significant digits, as close as the TSV's: it had 6 decimals (8e-05 for 8.017e-05)
    shifts = sorted(float(x) for x in re.findall(r"ESHIFT=([^;\t]+)", text))
    tsv = sorted({float(row["embedding_shift"]) for row in rows(out / "variants.tsv")})
    assert len(shifts) == len(tsv) and any(b < 1e-3 for b in tsv)
    assert all(abs(a - b) <= (5e-4 * b if b < 1e-3 else 5e-5) for a, b in zip(shifts, tsv))


def test_vcf_is_the_same_bytes_from_another_folder(files, tiny_model_dir, tmp_path, monkeypatch):
    """A workflow engine runs each task in its own folder, its inputs linked in by name: the
    VCF names the reference as given, so the same inputs give the same file (md5 snapshots)."""
    import shutil

    written = []
    for folder in ("task_a", "task_b"):
        (tmp_path / folder).mkdir()
        for name in ("ref", "genomes"):
            shutil.copy(files[name], tmp_path / folder / files[name].name)
        monkeypatch.chdir(tmp_path / folder)
        run({"ref": Path(files["ref"].name)}, [Path(files["genomes"].name)], Path("out"), tiny_model_dir,
            vcf=True, plot=False)
        written.append((tmp_path / folder / "out" / "variants.vcf").read_bytes())
    assert written[0] == written[1] and f"##reference=file://{files['ref'].name}\n".encode() in written[0]


def test_vcf_gz_is_bgzipped_with_a_tabix_index(files, tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    run(files, [files["genomes"]], out, tiny_model_dir, annotation=files["gff"], vcf_gz=True, plot=False)
    assert {p.name for p in out.iterdir()} >= {"variants.vcf.gz", "variants.vcf.gz.tbi"}
    assert not (out / "variants.vcf").exists()
    head = (out / "variants.vcf.gz").read_bytes()[:16]
    assert head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"  # BGZF, not plain gzip
    with pysam.VariantFile(str(out / "variants.vcf.gz")) as vcf:
        found = list(vcf.fetch(CHROM, SNV_POS, SNV_POS + 1))  # the index answers a region query
    assert [(r.pos, r.alts[0]) for r in found] == [(SNV_POS + 1, SNV_ALT)]
    # The same records as the plain VCF.
    run(files, [files["genomes"]], tmp_path / "plain", tiny_model_dir, annotation=files["gff"], vcf=True, plot=False)
    plain = records_by_pos(tmp_path / "plain" / "variants.vcf")
    packed = records_by_pos(out / "variants.vcf.gz")
    assert {p: str(r) for p, r in plain.items()} == {p: str(r) for p, r in packed.items()}


def test_input_vcf_info_dp_and_af_are_kept(files, tiny_model_dir, tmp_path):
    deletion = normalise(REF, CHROM, DEL_AT, REF[DEL_AT : DEL_AT + 3], "")
    source = tmp_path / "calls.vcf"
    source.write_text("\n".join([
        "##fileformat=VCFv4.2", f"##contig=<ID={CHROM},length={len(REF)}>",
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]),
        "\t".join([CHROM, str(SNV_POS + 1), ".", REF[SNV_POS], SNV_ALT, ".", "PASS", "DP=87;AF=0.75"]),
        "\t".join([CHROM, str(deletion.pos), ".", deletion.ref, deletion.alt, ".", "PASS", "DP=40"]),
    ]) + "\n")
    out = tmp_path / "out"
    run(files, [source], out, tiny_model_dir, vcf=True, plot=False)
    records = records_by_pos(out / "variants.vcf")
    assert records[SNV_POS + 1].info["DP"] == 87
    assert records[SNV_POS + 1].info["AF"] == pytest.approx((0.75,))
    assert records[deletion.pos].info["DP"] == 40 and "AF" not in records[deletion.pos].info
    # Per sample, the depth and frequency come through as before.
    assert records[SNV_POS + 1].samples["calls"]["DP"] == 87


def _annotated(files, changes: list[tuple[int, str, str]]) -> list[Call]:
    reference = Reference.load(files["ref"])
    calls = [Call("s", normalise(REF, CHROM, at, ref, alt)) for at, ref, alt in changes]
    Annotator(read_gff(files["gff"], reference)).annotate(calls)
    return calls


def _codon_change(first: int, wanted) -> tuple[int, int, str, str]:
    """The first one-base substitution in codon `first` or later whose new amino acid
    satisfies `wanted(ref_aa, alt_aa)`: (codon number, 0-based position, ref, alt)."""
    for number in range(first, 290):
        ref_codon = codon(number)
        for offset in range(3):
            for base in "ACGT":
                new = ref_codon[:offset] + base + ref_codon[offset + 1 :]
                if new != ref_codon and wanted(CODONS[ref_codon], CODONS[new]):
                    return number, CDS_START + 3 * (number - 1) + offset, ref_codon[offset], base
    raise AssertionError("the test gene has no such change")


@pytest.mark.parametrize("wanted, term, form", [
    (lambda r, a: a == r, "synonymous_variant", "p.{r}{n}="),
    (lambda r, a: a == "*", "stop_gained", "p.{r}{n}Ter"),
    (lambda r, a: a not in (r, "*"), "missense_variant", "p.{r}{n}{a}"),
])
def test_hgvs_and_so_terms_of_substitutions(files, wanted, term, form):
    number, at, ref, alt = _codon_change(20, wanted)
    (call,) = _annotated(files, [(at, ref, alt)])
    offset = at - CDS_START - 3 * (number - 1)
    new = codon(number)[:offset] + alt + codon(number)[offset + 1 :]
    assert so_terms(call.annotation["effect"]) == [term]
    assert call.annotation["hgvs_p"] == ["G:" + form.format(r=three(CODONS[codon(number)]), a=three(CODONS[new]), n=number)]


def test_hgvs_of_frameshift_and_deletions(files):
    start = CDS_START + 3 * 29  # first base of codon 30
    frameshift, deletion, two = _annotated(files, [(start + 1, REF[start + 1], ""),
                                                   (CDS_START + 3 * 39, REF[CDS_START + 117 : CDS_START + 120], ""),
                                                   (CDS_START + 3 * 59, REF[CDS_START + 177 : CDS_START + 183], "")])
    assert so_terms(frameshift.annotation["effect"]) == ["frameshift_variant"]
    assert frameshift.annotation["hgvs_p"][0].startswith("G:p.") and frameshift.annotation["hgvs_p"][0].endswith("fs")
    assert deletion.annotation["hgvs_p"][0].endswith("del") or "delins" in deletion.annotation["hgvs_p"][0]
    if deletion.annotation["effect"] == "inframe_deletion" and deletion.site.start0 % 3 == CDS_START % 3:
        assert deletion.annotation["hgvs_p"] == [f"G:p.{three(CODONS[codon(40)])}40del"]
    if two.annotation["effect"] == "inframe_deletion" and two.site.start0 % 3 == CDS_START % 3:
        assert two.annotation["hgvs_p"] == [f"G:p.{three(CODONS[codon(60)])}60_{three(CODONS[codon(61)])}61del"]


def test_synonymous_hgvs_is_percent_encoded_in_the_vcf(tmp_path):
    """`=` may not stand in an INFO value: p.Phe924= is written p.Phe924%3D, as VEP does."""
    from vqdna_cli.mutations.vcf_out import write_vcf
    from vqdna_cli.mutations.variants import Site

    fasta = tmp_path / "r.fa"
    fasta.write_text(">c\nACGTACGTAC\n")
    site = Site("c", 3, "G", "A")
    path = tmp_path / "x.vcf"
    write_vcf(path, Reference.load(fasta), ["source=test"], ["s"], [site], {("s", site): Call("s", site)},
              lambda name, site: False,
              [("HGVSP", ".", "String", "x"), ("GENE", ".", "String", "x")],
              lambda s: {"HGVSP": ["G:p.Phe3="], "GENE": ["a b;c"]})
    line = path.read_text().splitlines()[-1]
    assert "HGVSP=G:p.Phe3%3D;GENE=a%20b%3Bc" in line
    assert line.endswith("\t1")


def test_cli_vcf_gz(run_vqdna, files, tiny_model_dir, tmp_path):
    out = tmp_path / "cli"
    done = run_vqdna("mutations", "--reference", files["ref"], files["genomes"], "-o", out, "-m", tiny_model_dir,
                     "--vcf-gz", "--no-plot", "--quiet")
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} == {"variants.tsv", "samples.tsv", "summary.json", "variants.vcf.gz",
                                               "variants.vcf.gz.tbi"}


def test_no_so_term_outside_coding_sequences():
    assert so_terms("noncoding") == []
    assert so_terms("missense,inframe_delins,missense") == ["missense_variant", "protein_altering_variant"]
    assert other_base("A") != "A"
