"""A VCF given to `vqdna mutations` that htslib cannot read, or that holds nothing to score:
one line that names the fault (and the line it is on), exit 2 and no output; a warning when
alleles or labels are dropped."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import pysam
import pytest

from test_mutations import CHROM, REF, SNV_POS, SNV_ALT, files, rows, run, write_vcf  # noqa: F401  (files: the fixture)
from vqdna_cli.errors import InputError, VqdnaWarning
from vqdna_cli.mutations.variants import Reference
from vqdna_cli.mutations.vcf import read_vcf

META = ["##fileformat=VCFv4.2", f"##contig=<ID={CHROM},length={len(REF)}>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">']
COLUMNS = "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", "s1", "s2"])
GOOD = "\t".join([CHROM, str(SNV_POS + 1), ".", REF[SNV_POS], SNV_ALT, ".", "PASS", ".", "GT", "1", "0"])


def record(pos, ref: str, alt: str, genotypes: str = "1\t0") -> str:
    return "\t".join([CHROM, str(pos), ".", ref, alt, ".", "PASS", ".", "GT", genotypes])


def vcf(tmp_path: Path, lines: list[str], name: str = "in.vcf") -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def read(files, path: str):
    return read_vcf(path, Reference.load(files["ref"]))


def refused(files, path: str) -> str:
    with pytest.raises(InputError) as caught:
        read(files, path)
    message = str(caught.value)
    assert "\n" not in message and "b'" not in message  # one line, no Python bytes repr
    return message


def test_plain_gzip_vcf_is_refused_with_the_bgzip_fix(run_vqdna, files, tiny_model_dir, tmp_path):
    plain = vcf(tmp_path, [*META, COLUMNS, GOOD])
    for name in ("calls.vcf.gz", "fake.vcf"):  # named as compressed or not: the content decides
        (tmp_path / name).write_bytes(gzip.compress(Path(plain).read_bytes()))
        out = tmp_path / f"out-{name}"
        failed = run_vqdna("mutations", "--reference", files["ref"], tmp_path / name, "-o", out, "-m", tiny_model_dir,
                           "--no-plot")
        assert failed.returncode == 2, failed.stderr
        assert len(failed.stderr_lines) == 1, failed.stderr
        assert "is gzip but not BGZF" in failed.stderr and f"zcat {tmp_path / name} | bgzip" in failed.stderr
        assert not out.exists()
    # BGZF itself is read
    pysam.tabix_compress(plain, str(tmp_path / "calls.bgz.vcf.gz"))
    assert [len(sample.calls) for sample in read(files, str(tmp_path / "calls.bgz.vcf.gz"))] == [1, 0]


@pytest.mark.parametrize("error", [NotImplementedError, OSError, ValueError])
def test_any_pysam_error_on_opening_is_one_line(files, tmp_path, monkeypatch, error):
    def fails(path):
        raise error("seek not implemented")

    monkeypatch.setattr(pysam, "VariantFile", fails)
    message = refused(files, vcf(tmp_path, [*META, COLUMNS, GOOD]))
    assert "is not a readable VCF or BCF file (seek not implemented)" in message


def test_missing_chrom_line_is_named(files, tmp_path):
    message = refused(files, vcf(tmp_path, [*META, GOOD]))
    assert "lacks its `#CHROM POS ID REF ALT ...` line" in message and "bcftools view -h" in message


def test_duplicate_sample_name_is_named(files, tmp_path):
    message = refused(files, vcf(tmp_path, [*META, COLUMNS.replace("s2", "s1"), GOOD]))
    assert "duplicate sample name s1" in message


@pytest.mark.parametrize("bad, fault", [
    (record("abc", REF[9], "A"), "POS 'abc' is not a position"),
    (record(-5, REF[9], "A"), "POS '-5' is not a position"),
    ("\t".join([CHROM, "10", "."]), "3 columns where a VCF record has at least 8"),
    (record(10, REF[9], "A", "X\t1"), "GT 'X' is not a genotype"),
    (record(10, REF[9], "A", "1"), "1 sample column where the #CHROM line names 2 samples (after FORMAT)"),
    ("", "an empty line among the records"),
])
def test_unparsable_record_names_its_line_and_fault(files, tmp_path, bad, fault):
    message = refused(files, vcf(tmp_path, [*META, COLUMNS, GOOD, bad, GOOD]))
    assert f"in.vcf line 6: {fault}" in message
    assert "truncated" not in message and "cut short" not in message


def test_record_cut_off_at_the_end_of_the_file_says_so(files, tmp_path):
    path = tmp_path / "cut.vcf"
    cut = "\t".join(GOOD.split("\t")[:3])
    path.write_text("\n".join([*META, COLUMNS, GOOD, cut]))  # no newline after the last line
    message = refused(files, str(path))
    assert "line 6: 3 columns" in message and "the file ends within this line: was it cut short?" in message


def test_pos_zero_is_refused_as_a_position_not_a_reference_mismatch(files, tmp_path):
    message = refused(files, vcf(tmp_path, [*META, COLUMNS, record(0, "N", "A")]))
    assert f"line 5: POS 0 at {CHROM}: POS must be 1 or more" in message
    assert "disagrees" not in message


def test_symbolic_and_star_alleles_are_counted_in_a_warning(files, tmp_path):
    path = vcf(tmp_path, [*META, COLUMNS, record(10, REF[9], "<DEL>"), record(20, REF[19], "*", "0\t1")])
    skipped = (r"in\.vcf: skipped 2 ALT alleles without definite bases \(<DEL>, \*\): symbolic, \* and ambiguous "
               r"\(N, R, \.\.\.\) alleles are not scored")
    with pytest.warns(VqdnaWarning, match=skipped):
        assert [len(sample.calls) for sample in read(files, path)] == [0, 0]


def test_symbolic_only_vcf_warns_on_one_stderr_line(run_vqdna, files, tiny_model_dir, tmp_path):
    path = vcf(tmp_path, [*META, COLUMNS, record(10, REF[9], "<DEL>")])
    done = run_vqdna("mutations", "--reference", files["ref"], path, "-o", tmp_path / "out", "-m", tiny_model_dir,
                     "--no-plot")
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr_lines if "warning" in line] == [
        f"vqdna: warning: {path}: skipped 1 ALT allele without definite bases (<DEL>): symbolic, * and ambiguous "
        "(N, R, ...) alleles are not scored"]


def test_labels_naming_no_input_sample_warn(files, tiny_model_dir, tmp_path):
    calls = write_vcf(tmp_path / "calls.vcf", [(SNV_POS + 1, REF[SNV_POS], SNV_ALT, "1:30\t0:25")])
    labels = tmp_path / "labels.tsv"
    labels.write_text("X1\tA\nX2\tB\n")
    with pytest.warns(VqdnaWarning, match=r"no sample in the labels file .*labels\.tsv matches a sample of the input"
                                          r".*labels name X1, X2; the input has s1, s2\)"):
        result = run(files, [calls], tmp_path / "out", tiny_model_dir, labels=labels, plot=False)
    assert result["lineage"]["labelled_samples"] == 0
    assert {row["sample"] for row in rows(tmp_path / "out" / "samples.tsv")} == {"s1", "s2"}
    labels.write_text("s1\tA\nX2\tB\n")  # one match is enough: no warning
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        run(files, [calls], tmp_path / "again", tiny_model_dir, labels=labels, plot=False)
    assert not [w for w in shown if "labels file" in str(w.message)]


def test_records_failing_a_filter_are_counted_in_a_warning(files, tmp_path):
    failed = "\t".join([CHROM, "20", ".", REF[19], other(REF[19]), ".", "LowQual", ".", "GT", "1\t1"])
    passed_by_dot = "\t".join([CHROM, "30", ".", REF[29], other(REF[29]), ".", ".", ".", "GT", "1\t0"])
    meta = [*META, '##FILTER=<ID=LowQual,Description="low quality">']
    path = vcf(tmp_path, [*meta, COLUMNS, GOOD, failed, passed_by_dot])
    warned = (r"in\.vcf: skipped 1 record that failed a FILTER \(LowQual\): only PASS or \. records are scored; "
              r"to score them, clear FILTER first \(`bcftools annotate -x FILTER .*in\.vcf`\)")
    with pytest.warns(VqdnaWarning, match=warned):
        assert [len(sample.calls) for sample in read(files, path)] == [2, 0]


def test_records_without_gt_are_counted_in_a_warning_not_read_as_no_variants(files, tmp_path):
    meta = [*META, '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="depths">']
    no_gt = "\t".join([CHROM, "20", ".", REF[19], other(REF[19]), ".", "PASS", ".", "AD", "0,9\t9,0"])
    path = vcf(tmp_path, [*meta, COLUMNS, no_gt, GOOD])
    warned = (r"in\.vcf: skipped 1 record without GT in FORMAT: no sample is known to carry their ALT alleles; "
              r"add GT, or drop the samples \(`bcftools view -G`\)")
    with pytest.warns(VqdnaWarning, match=warned):
        assert [len(sample.calls) for sample in read(files, path)] == [1, 0]


def test_gt_naming_an_alt_the_record_lacks_is_refused(files, tmp_path):
    # htslib reads the 3 of 0/3 on a one-ALT record as missing: s1's call would vanish.
    message = refused(files, vcf(tmp_path, [*META, COLUMNS, GOOD, record(20, REF[19], other(REF[19]), "0/3\t1")]))
    assert message.endswith(f"in.vcf line 6: GT 0/3 of sample s1 names allele 3, but the record has 1 ALT allele "
                            f"({other(REF[19])})")


def test_missing_genotypes_are_read_as_not_called(files, tmp_path):
    samples = read(files, vcf(tmp_path, [*META, COLUMNS, GOOD, record(20, REF[19], other(REF[19]), "./.\t0/1")]))
    assert [len(sample.calls) for sample in samples] == [1, 1]
    assert samples[0].called == {CHROM: {SNV_POS}}  # not at 20: its GT there is missing
    assert samples[1].called == {CHROM: {SNV_POS, 19}}


def test_a_gvcf_reference_block_calls_its_sample_up_to_end(files, tmp_path):
    """A gVCF's reference block (ALT <*>, INFO/END) said its sample's bases were called at its
    first base alone: at another sample's variant inside the block, GT 0 was written `.`. A
    symbolic deletion carried over a span calls nothing of the reference there."""
    meta = [*META, '##INFO=<ID=END,Number=1,Type=Integer,Description="End of the block">',
            '##ALT=<ID=*,Description="Any other allele">', '##ALT=<ID=DEL,Description="Deletion">']
    block = "\t".join([CHROM, "11", ".", REF[10], "<*>", ".", ".", "END=60", "GT", "0\t."])
    deletion = "\t".join([CHROM, "101", ".", REF[100], "<DEL>", ".", ".", "END=150", "GT", ".\t1"])
    samples = read(files, vcf(tmp_path, [*meta, COLUMNS, block, deletion]))
    assert samples[0].called == {CHROM: set(range(10, 60))}
    assert samples[1].called == {CHROM: {100}}


def test_a_vcf_samples_reference_genotype_stays_0_in_variants_vcf(files, tiny_model_dir, tmp_path):
    """s2 is called reference (GT 0) at the SNV that s1 carries: variants.vcf says 0, not
    `.` (not covered); a sample whose GT is missing there stays `.`."""
    columns = COLUMNS + "\ts3"
    path = vcf(tmp_path, [*META, columns, GOOD + "\t."])
    out = tmp_path / "out"
    run(files, [path], out, tiny_model_dir, plot=False, vcf=True)
    written = pysam.VariantFile(str(out / "variants.vcf"))
    (only,) = list(written)
    assert [only.samples[name]["GT"] for name in ("s1", "s2", "s3")] == [(1,), (0,), (None,)]
    assert {row["sample"]: row["covered_bases"] for row in rows(out / "samples.tsv")} == {"s1": ".", "s2": ".", "s3": "."}


def other(base: str) -> str:
    return "A" if base != "A" else "C"


def test_depth_fields_the_header_leaves_undeclared_or_mistyped_are_read_as_numbers(files, tiny_model_dir, tmp_path):
    """htslib gives an undeclared INFO/FORMAT field as text ("10", "4,6") and DP declared as a
    Float as a float: each is read as the number it says (was a traceback)."""
    columns = "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"])
    sites_only = vcf(tmp_path, ["##fileformat=VCFv4.2", f"##contig=<ID={CHROM},length={len(REF)}>", columns,
                                "\t".join([CHROM, str(SNV_POS + 1), ".", REF[SNV_POS], SNV_ALT, "50", "PASS",
                                           "DP=10;AF=0.5"])], name="lofreq.vcf")
    undeclared_format = vcf(tmp_path, [*META, COLUMNS, "\t".join([CHROM, str(SNV_POS + 1), ".", REF[SNV_POS], SNV_ALT,
                                                                 ".", "PASS", ".", "GT:DP:AD", "1:10:4,6", "0:9:9,0"])],
                            name="format.vcf")
    float_depth = vcf(tmp_path, ["##fileformat=VCFv4.2", f"##contig=<ID={CHROM},length={len(REF)}>",
                                 '##INFO=<ID=DP,Number=1,Type=Float,Description="depth">', columns,
                                 "\t".join([CHROM, str(SNV_POS + 1), ".", REF[SNV_POS], SNV_ALT, "50", "PASS",
                                            "DP=10.4"])], name="float.vcf")
    expected = {"lofreq": ("10", "5"), "format": ("10", "6"), "float": ("10", ".")}
    for path in (sites_only, undeclared_format, float_depth):
        out = tmp_path / Path(path).stem
        run(files, [path], out, tiny_model_dir, plot=False, vcf=True)
        first = next(r for r in rows(out / "variants.tsv"))
        assert (first["depth"], first["alt_depth"]) == expected[Path(path).stem]
        assert len(list(pysam.VariantFile(str(out / "variants.vcf")))) == 1


def test_freebayes_counts_give_the_read_support(files, tmp_path):
    meta = [*META, '##FORMAT=<ID=RO,Number=1,Type=Integer,Description="ref">',
            '##FORMAT=<ID=AO,Number=A,Type=Integer,Description="alt">']
    line = "\t".join([CHROM, str(SNV_POS + 1), ".", REF[SNV_POS], SNV_ALT, ".", "PASS", ".", "GT:RO:AO", "1:3:12", "0:9:0"])
    (first, second) = read(files, vcf(tmp_path, [*meta, COLUMNS, line]))
    assert [(c.depth, c.alt_depth) for c in first.calls] == [(15, 12)] and second.calls == []


def left_shifting_deletion() -> tuple[int, str, str]:
    """(POS, REF, ALT) of a 1-base deletion written at the second base of a run of two: its
    normalised form starts one base further left."""
    j = next(j for j in range(10, len(REF) - 3) if REF[j] == REF[j + 1] != REF[j - 1])
    return j + 1, REF[j : j + 2], REF[j]


def test_gt_0_stays_0_at_an_indel_that_normalising_shifts_left(files, tiny_model_dir, tmp_path):
    pos, ref, alt = left_shifting_deletion()
    out = tmp_path / "out"
    run(files, [vcf(tmp_path, [*META, COLUMNS, record(pos, ref, alt, "1\t0")])], out, tiny_model_dir, plot=False,
        vcf=True)
    (written,) = list(pysam.VariantFile(str(out / "variants.vcf")))
    assert written.pos == pos - 1  # shifted left
    assert [written.samples[name]["GT"] for name in ("s1", "s2")] == [(1,), (0,)]


def test_ambiguous_alts_are_skipped_with_a_warning_and_uncarried_ones_not_counted(files, tmp_path):
    lines = [record(20, REF[19], "N", "1\t0"), record(30, REF[29], "R", "0\t1"),
             record(40, REF[39], "<*>", "0\t0")]  # gVCF's <*>: carried by nobody, nothing lost
    warned = r"skipped 2 ALT alleles without definite bases \(N, R\)"
    with pytest.warns(VqdnaWarning, match=warned):
        assert [len(sample.calls) for sample in read(files, vcf(tmp_path, [*META, COLUMNS, *lines]))] == [0, 0]


def test_an_alt_equal_to_ref_is_skipped_with_a_warning(files, tmp_path):
    """`A>A` changes nothing: no call, but said (was dropped silently); one nobody carries is
    no loss and not counted."""
    lines = [record(20, REF[19], REF[19], "1\t0"), record(30, REF[29:31], REF[29:31], "0\t0"), GOOD]
    with pytest.warns(VqdnaWarning, match=r"skipped 1 ALT allele equal to REF: it changes nothing"):
        samples = read(files, vcf(tmp_path, [*META, COLUMNS, *lines]))
    assert [[c.site.pos for c in sample.calls] for sample in samples] == [[SNV_POS + 1], []]


def test_a_variant_given_twice_keeps_the_first_record_and_says_so(files, tmp_path):
    """Two records of one site (a merged or concatenated VCF) with other depths: the second was
    dropped without a word."""
    meta = [*META, '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="depths">']
    first = "\t".join([CHROM, str(SNV_POS + 1), ".", REF[SNV_POS], SNV_ALT, ".", "PASS", ".", "GT:AD", "1:4,6", "0:9,0"])
    again = "\t".join([CHROM, str(SNV_POS + 1), ".", REF[SNV_POS], SNV_ALT, ".", "PASS", ".", "GT:AD", "1:1,20", "1:2,8"])
    with pytest.warns(VqdnaWarning, match=r"1 call of a variant an earlier record already gave the same sample .*the "
                                          r"first record's read support is kept"):
        s1, s2 = read(files, vcf(tmp_path, [*meta, COLUMNS, first, again]))
    assert [(c.depth, c.alt_depth) for c in s1.calls] == [(10, 6)] and [(c.depth, c.alt_depth) for c in s2.calls] == [(10, 8)]


def test_no_substitution_of_a_reference_n(files, tmp_path):
    reference = tmp_path / "with_n.fa"
    reference.write_text(f">{CHROM}\n{REF[:99]}N{REF[100:]}\n")
    path = vcf(tmp_path, [*META, COLUMNS, record(100, "N", "A"), GOOD])
    with pytest.warns(VqdnaWarning, match="skipped 1 substitution of a reference base that is N"):
        calls = read_vcf(path, Reference.load(reference))
    assert [[c.site.pos for c in sample.calls] for sample in calls] == [[SNV_POS + 1], []]


def test_a_record_failing_two_filters_counts_once(files, tmp_path):
    meta = [*META, '##FILTER=<ID=q10,Description="q">', '##FILTER=<ID=sb,Description="s">']
    failed = "\t".join([CHROM, "20", ".", REF[19], other(REF[19]), ".", "q10;sb", ".", "GT", "1\t1"])
    with pytest.warns(VqdnaWarning, match=r"skipped 1 record that failed a FILTER \(q10, sb\)"):
        read(files, vcf(tmp_path, [*meta, COLUMNS, failed, GOOD]))


def test_a_sites_only_vcf_is_one_sample_named_after_the_file_without_its_extension(files, tmp_path):
    columns = "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"])
    plain = vcf(tmp_path, ["##fileformat=VCFv4.2", f"##contig=<ID={CHROM},length={len(REF)}>", columns,
                           "\t".join([CHROM, str(SNV_POS + 1), ".", REF[SNV_POS], SNV_ALT, ".", "PASS", "."])],
                name="pt.rep1.vcf")
    pysam.tabix_compress(plain, str(tmp_path / "pt.rep2.vcf.gz"))
    assert [s.name for s in read(files, plain)] == ["pt.rep1"]
    assert [s.name for s in read(files, str(tmp_path / "pt.rep2.vcf.gz"))] == ["pt.rep2"]


def test_an_af_without_depth_is_kept_as_the_frequency(files, tiny_model_dir, tmp_path):
    """A caller that writes AF but no DP (or AD): its AF is the call's allele frequency in
    variants.tsv and variants.vcf (was dropped: the frequency was only made from counts)."""
    meta = [*META, '##FORMAT=<ID=AF,Number=A,Type=Float,Description="frequency">']
    line = "\t".join([CHROM, str(SNV_POS + 1), ".", REF[SNV_POS], SNV_ALT, ".", "PASS", ".", "GT:AF", "1:0.35", "0:0"])
    out = tmp_path / "out"
    run(files, [vcf(tmp_path, [*meta, COLUMNS, line])], out, tiny_model_dir, plot=False, vcf=True)
    (row,) = list(rows(out / "variants.tsv"))
    assert (row["sample"], row["depth"], row["alt_depth"], float(row["allele_frequency"])) == ("s1", ".", ".", 0.35)
    (written,) = list(pysam.VariantFile(str(out / "variants.vcf")))
    assert written.samples["s1"]["AF"] == pytest.approx((0.35,)) and "DP" not in written.format
