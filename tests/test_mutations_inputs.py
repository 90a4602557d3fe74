"""`vqdna mutations` on inputs other readers of vqdna already take or refuse: RNA genomes, a
byte-order mark, CR-only lines, BAMs without reads or bases, SAM text, a CRAM against the
wrong reference; spaces inside sequence lines, FASTQ given as genomes; and two runs given the same
output folder."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pysam
import pytest

from conftest import fasta_text, random_dna
from test_mutations import CHROM, REF, VARIANT, files, rows, run, write_bam  # noqa: F401 (files: a fixture)
from vqdna_cli.errors import InputError, OutputError, VqdnaWarning
from vqdna_cli.mutations import report


def called(out: Path) -> set[tuple[str, str, str, str]]:
    return {(r["sample"], r["pos"], r["ref"], r["alt"]) for r in rows(out / "variants.tsv")}


def test_an_rna_genome_and_a_byte_order_mark_read_as_the_dna_genome(files, tiny_model_dir, tmp_path):
    dna = tmp_path / "dna.fa"
    dna.write_text(fasta_text({"v": VARIANT}))
    rna = tmp_path / "rna.fa"
    rna.write_text(fasta_text({"v": VARIANT.replace("T", "U")}))
    marked = tmp_path / "marked.fa"
    marked.write_bytes(b"\xef\xbb\xbf" + dna.read_bytes())
    run(files, [dna], tmp_path / "dna", tiny_model_dir, plot=False)
    run(files, [rna], tmp_path / "rna", tiny_model_dir, plot=False)
    run(files, [marked], tmp_path / "marked", tiny_model_dir, plot=False)
    assert called(tmp_path / "dna") and called(tmp_path / "rna") == called(tmp_path / "dna")
    assert called(tmp_path / "marked") == called(tmp_path / "dna")


def test_cr_only_line_ends_are_refused_with_the_fix(files, tiny_model_dir, tmp_path):
    old_mac = tmp_path / "mac.fa"
    old_mac.write_bytes(fasta_text({"v": VARIANT}).replace("\n", "\r").encode())
    with pytest.raises(InputError, match=r"carriage returns alone .*tr '\\r' '\\n'"):
        run(files, [old_mac], tmp_path / "out", tiny_model_dir, plot=False)
    assert not (tmp_path / "out").exists()


def _rewritten(bam: Path, path: Path, keep, mode: str = "wb") -> Path:
    """The reads of `bam` for which `keep(index, read)` gives a read (possibly changed)."""
    with pysam.AlignmentFile(str(bam)) as source, pysam.AlignmentFile(str(path), mode, template=source) as out:
        for index, read in enumerate(source.fetch(until_eof=True)):
            kept = keep(index, read)
            if kept is not None:
                out.write(kept)
    if mode == "wb":
        pysam.index(str(path))
    return path


def test_a_bam_without_reads_is_refused(files, tiny_model_dir, tmp_path):
    empty = _rewritten(write_bam(tmp_path / "reads.bam"), tmp_path / "empty.bam", lambda i, read: None)
    with pytest.raises(InputError, match="no mapped reads in .*empty.bam"):
        run(files, [empty], tmp_path / "out", tiny_model_dir, plot=False)
    assert not (tmp_path / "out").exists()


def test_reads_stored_without_bases_are_counted_in_a_warning(files, tiny_model_dir, tmp_path):
    def without_bases(index, read):
        if index % 10 == 0:
            read.query_sequence = None  # SEQ `*` (qualities go with it)
        return read

    some = _rewritten(write_bam(tmp_path / "reads.bam"), tmp_path / "some.bam", without_bases)
    with pytest.warns(VqdnaWarning, match=r"some.bam: [\d,]+ reads stored without bases \(SEQ \*\)"):
        summary = run(files, [some], tmp_path / "out", tiny_model_dir, plot=False)
    assert summary["variants"] > 0  # the other reads still call


def test_sam_text_gets_advice_samtools_can_follow(files, tiny_model_dir, tmp_path):
    sam = _rewritten(write_bam(tmp_path / "reads.bam"), tmp_path / "reads.sam", lambda i, read: read, mode="w")
    with pytest.raises(InputError, match=r"reads.sam is SAM text, which has no index: run `samtools sort -o sorted.bam"):
        run(files, [sam], tmp_path / "out", tiny_model_dir, plot=False)


def test_min_af_zero_calls_every_allele_a_read_shows(files, tiny_model_dir, tmp_path):
    bam = write_bam(tmp_path / "reads.bam")
    every = run(files, [bam], tmp_path / "every", tiny_model_dir, min_af=0.0, plot=False)
    usual = run(files, [bam], tmp_path / "usual", tiny_model_dir, plot=False)
    assert every["variants"] >= usual["variants"] > 0


def test_a_cram_read_against_another_reference_is_one_line(files, tiny_model_dir, tmp_path):
    cram = tmp_path / "reads.cram"
    bam = write_bam(tmp_path / "reads.bam")
    pysam.view("-C", "-T", str(files["ref"]), "-o", str(cram), str(bam), catch_stdout=False)
    pysam.index(str(cram))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pysam's "multiple_iterators not implemented for CRAM" among them
        assert run(files, [cram], tmp_path / "right", tiny_model_dir, plot=False)["variants"] > 0
    other = tmp_path / "other.fa"  # the same name and length, other bases
    other.write_text(fasta_text({CHROM: random_dna(len(REF), 99)}))
    wrong = {**files, "ref": other}
    with pytest.raises(InputError, match=r"cannot read the alignments of .*reads.cram on 'ref1' against the "
                                         r"reference .*other.fa .*give the reference the file was written against"):
        run(wrong, [cram], tmp_path / "wrong", tiny_model_dir, plot=False)
    assert not (tmp_path / "wrong").exists()


def test_a_folder_another_run_makes_at_the_output_meanwhile_is_kept(tmp_path):
    """Two jobs of a workflow given the same -o: the one finishing second fails (exit 4)."""
    out = tmp_path / "out"
    with pytest.raises(OutputError, match="appeared while this run worked"):
        with report.atomic_directory(out, force=False) as work:
            (work / "variants.tsv").write_text("this run's")
            out.mkdir()
            (out / "variants.tsv").write_text("the other run's")
    assert (out / "variants.tsv").read_text() == "the other run's"
    with pytest.raises(OutputError, match="appeared while this run worked"):  # finished before this one began writing
        with report.atomic_directory(out, force=False) as work:
            (work / "variants.tsv").write_text("this run's")
    assert (out / "variants.tsv").read_text() == "the other run's"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left
    with report.atomic_directory(out, force=True) as work:
        (work / "variants.tsv").write_text("this run's")
    assert (out / "variants.tsv").read_text() == "this run's"


def test_a_kill_while_force_replaces_the_files_leaves_one_runs_folder(tmp_path, monkeypatch):
    """`-o DIR --force` over an earlier run: a SIGTERM between two of the file moves left the
    new samples.tsv beside the old variants.tsv; it is held until every file is in place."""
    import os
    import signal

    from vqdna_cli.cli.app import _terminate
    from vqdna_cli.errors import Terminated

    out = tmp_path / "out"
    out.mkdir()
    for name in ("samples.tsv", "summary.json", "variants.tsv"):
        (out / name).write_text("the earlier run's")
    real_replace, moved = os.replace, []

    def replace_then_killed(source, target):
        if not moved:
            os.kill(os.getpid(), signal.SIGTERM)  # delivered at the first move
        moved.append(Path(target).name)
        real_replace(source, target)

    before = signal.signal(signal.SIGTERM, _terminate)
    monkeypatch.setattr(report.os, "replace", replace_then_killed)
    try:
        with pytest.raises(Terminated):
            with report.atomic_directory(out, force=True) as work:
                for name in ("samples.tsv", "summary.json", "variants.tsv"):
                    (work / name).write_text("this run's")
    finally:
        signal.signal(signal.SIGTERM, before)
    assert {p.name: p.read_text() for p in out.iterdir()} == {name: "this run's" for name in moved}
    assert moved == ["samples.tsv", "summary.json", "variants.tsv"]


def test_genome_headers_that_name_no_sample_or_hold_tabs(files, tiny_model_dir, tmp_path):
    """A bare '>' ended in a StopIteration traceback. Where IDs repeat the whole header names
    each genome: a tab in it split the tables' rows across columns (and --vcf failed at the
    end, htslib cutting both names at the tab)."""
    nameless = tmp_path / "nameless.fa"
    nameless.write_text(">\n" + VARIANT + "\n")
    with pytest.raises(InputError, match=rf"^a FASTA header in {nameless} has no record name after '>'$"):
        run(files, [nameless], tmp_path / "out", tiny_model_dir, plot=False)
    tabbed = tmp_path / "tabbed.fa"
    tabbed.write_text(f">X\tdescA\n{VARIANT}\n>X\t desc  B\n{REF[30:1970]}\n")
    run(files, [tabbed], tmp_path / "out", tiny_model_dir, plot=False, vcf=True)
    table = (tmp_path / "out" / "samples.tsv").read_text().splitlines()[1:]
    assert [line.split("\t")[0] for line in table[1:]] == ["X descA", "X desc B"]
    assert {len(line.split("\t")) for line in table} == {len(table[0].split("\t"))}
    with pysam.VariantFile(str(tmp_path / "out" / "variants.vcf")) as vcf:
        assert list(vcf.header.samples) == ["X descA", "X desc B"]


def test_a_sample_with_no_variant_the_model_scores_has_no_model_numbers(files, tiny_model_dir, tmp_path):
    """A deletion longer than the model's window gets '.' in variants.tsv; its sample's means
    in samples.tsv and summary.json were 0, as if its variants changed no token."""
    genomes = tmp_path / "g.fa"
    genomes.write_text(fasta_text({"long_deletion": REF[:1000] + REF[1100:], "none": REF}))
    run(files, [genomes], tmp_path / "out", tiny_model_dir, plot=False)
    samples = {row["sample"]: row for row in rows(tmp_path / "out" / "samples.tsv")}
    assert samples["long_deletion"]["variants"] == "1"
    assert {samples["long_deletion"][column] for column in ("L1_sites_changed", "L1_tokens_changed",
                                                             "mean_embedding_shift", "mean_llr")} == {"."}
    assert samples["none"]["variants"] == "0" and samples["none"]["L1_tokens_changed"] == "0"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["samples"]
    assert summary["long_deletion"]["scored_variants"] == 0 and summary["long_deletion"]["mean_llr"] is None
    assert summary["long_deletion"]["levels"]["level1"] == {"sites_changed": None, "mean_window_changed": None,
                                                             "tokens_changed": None}


def test_an_indel_that_fits_the_window_is_scored_and_the_flank_used_is_said(files, tiny_model_dir, tmp_path):
    """The tiny model reads 64 bases: a deletion of 62 fits with a base either side, yet got
    '.' (the VCF anchor base was counted twice); one of 63 does not, and is now warned of.
    The tables and summary.json said flank 64 where the model's window left 31."""
    genomes = tmp_path / "g.fa"
    genomes.write_text(fasta_text({"fits": REF[:1000] + REF[1062:], "too_long": REF[:1000] + REF[1063:]}))
    with pytest.warns(VqdnaWarning) as said:
        run(files, [genomes], tmp_path / "out", tiny_model_dir, plot=False)
    assert [str(w.message) for w in said if "model numbers" in str(w.message)] == [
        "1 variant longer than the model window allows (62 bases with one either side) has no model numbers "
        "('.' in variants.tsv)"]
    scored = {row["sample"]: row["llr"] != "." for row in rows(tmp_path / "out" / "variants.tsv")}
    assert scored == {"fits": True, "too_long": False}
    first_line = (tmp_path / "out" / "variants.tsv").read_text().splitlines()[0]
    assert " flank 31 " in first_line
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["flank"] == 31


def test_inputs_and_labels_that_cannot_be_right_are_named(files, tiny_model_dir, tmp_path):
    from vqdna_cli.errors import UsageError
    from vqdna_cli.options import MutationsOptions

    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.vcf").write_text("")
    for given, message in [(tmp_path / "folder", "is a folder; give a FASTA, BAM/CRAM or VCF/BCF file"),
                           (tmp_path / "empty.vcf", r"input .*empty.vcf is empty"),
                           ("", r"an input path is empty \(''\)")]:  # not the working folder
        with pytest.raises(InputError, match=message):
            run(files, [given], tmp_path / "out", tiny_model_dir, plot=False)
    twice = tmp_path / "labels.tsv"
    twice.write_text("variant\tA\nsame\tB\nvariant\tC\n")
    with pytest.raises(InputError, match="line 3: sample 'variant' is labelled 'C' here and 'A' on line 1"):
        run(files, [files["genomes"]], tmp_path / "out", tiny_model_dir, labels=twice, plot=False)
    with pytest.raises(UsageError, match="--label-column names a column of the --labels file"):
        MutationsOptions(files["ref"], label_column="lineage")
    with pytest.raises(UsageError, match="^--min-mapq 256: mapping qualities run from 0 to 255, so no read would count$"):
        MutationsOptions(files["ref"], min_mapq=256)
    assert MutationsOptions(files["ref"], min_mapq=255).min_mapq == 255
    assert not (tmp_path / "out").exists()


def test_no_change_is_called_where_the_reference_is_n(files, tiny_model_dir, tmp_path):
    gapped = REF[:500] + "N" * 10 + REF[510:]  # bases 501..510 unknown in the reference
    reference = tmp_path / "gapped.fa"
    reference.write_text(fasta_text({CHROM: gapped}))
    genome = tmp_path / "genome.fa"
    genome.write_text(fasta_text({"g": REF}))  # the genome knows them
    run({**files, "ref": reference}, [genome], tmp_path / "out", tiny_model_dir, plot=False)
    assert called(tmp_path / "out") == set()


def test_an_annotation_without_cds_warns_and_a_reversed_cds_is_named(files, tiny_model_dir, tmp_path):
    genes_only = tmp_path / "genes.gff"
    genes_only.write_text("##gff-version 3\n" + "\t".join([CHROM, "t", "gene", "101", "1000", ".", "+", ".", "ID=g"]) + "\n")
    with pytest.warns(VqdnaWarning, match="genes.gff has no CDS lines: no variant gets a protein change"):
        run(files, [files["genomes"]], tmp_path / "a", tiny_model_dir, annotation=genes_only, plot=False)
    reversed_cds = tmp_path / "reversed.gff"
    reversed_cds.write_text("\t".join([CHROM, "t", "CDS", "1000", "101", ".", "-", "0", "ID=c"]) + "\n")
    with pytest.raises(InputError, match="line 1: CDS start 1000 is after its end 101"):
        run(files, [files["genomes"]], tmp_path / "b", tiny_model_dir, annotation=reversed_cds, plot=False)


def test_an_unsorted_cram_with_an_index_is_told_to_sort(files, tiny_model_dir, tmp_path):
    """samtools indexes a CRAM in any order; its pileup then fails: that is the order's fault,
    not the reference's (was reported as a reference mismatch)."""
    bam = write_bam(tmp_path / "reads.bam")
    with pysam.AlignmentFile(bam) as sorted_reads:
        header, reads = sorted_reads.header, list(sorted_reads)
    shuffled = tmp_path / "shuffled.bam"
    with pysam.AlignmentFile(str(shuffled), "wb", header=header) as out:
        for segment in reads[::-1]:
            out.write(segment)
    cram = tmp_path / "shuffled.cram"
    pysam.view("-C", "-T", str(files["ref"]), "-o", str(cram), str(shuffled), catch_stdout=False)
    pysam.index(str(cram))
    with pytest.raises(InputError, match=r"shuffled.cram on 'ref1': the file is not sorted by coordinate: run "
                                         r"`samtools sort"):
        run(files, [cram], tmp_path / "out", tiny_model_dir, plot=False)
    assert not (tmp_path / "out").exists()


def _spaced(sequence: str, every: int = 37) -> str:
    """The sequence in lines of 60 with a space and a tab inside some: layout, not bases."""
    lines = [sequence[at : at + 60] for at in range(0, len(sequence), 60)]
    return "\n".join(line[:every] + " \t" + line[every:] if n % 3 == 0 else line for n, line in enumerate(lines))


def test_spaces_inside_sequence_lines_are_layout_in_genomes_and_reference(files, tiny_model_dir, tmp_path):
    # minimap2 reading the reference file itself would count the spaces as bases and shift
    # every call after the first one
    reference = tmp_path / "spaced_ref.fa"
    reference.write_text(f">{CHROM}\n{_spaced(REF)}\n")
    genomes = tmp_path / "spaced_genomes.fa"
    genomes.write_text(f">variant\n{_spaced(VARIANT, every=11)}\n")
    run(files, [files["genomes"]], tmp_path / "plain", tiny_model_dir, plot=False)
    run({**files, "ref": reference}, [genomes], tmp_path / "spaced", tiny_model_dir, plot=False)
    expected = {site for site in called(tmp_path / "plain") if site[0] == "variant"}
    assert expected and called(tmp_path / "spaced") == expected


def test_reads_given_as_genomes_are_told_to_align_them(files, tiny_model_dir, tmp_path):
    reads = tmp_path / "reads.fq"
    reads.write_text(f"@r1\n{REF[:50]}\n+\n{'I' * 50}\n")
    with pytest.raises(InputError, match=r"reads.fq looks like FASTQ .*minimap2 -a REFERENCE READS.fq"):
        run(files, [reads], tmp_path / "out", tiny_model_dir, plot=False)
    assert not (tmp_path / "out").exists()


def test_no_writable_temporary_folder_for_minimap2_is_one_line(files, tiny_model_dir, tmp_path, monkeypatch):
    import tempfile

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", full_disk)
    with pytest.raises(OutputError, match="cannot write minimap2's copy of the reference .*set TMPDIR"):
        run(files, [files["genomes"]], tmp_path / "out", tiny_model_dir, plot=False)
    assert not (tmp_path / "out").exists()


def test_a_header_contig_without_reads_and_so_unsorted_are_no_refusal(files, tiny_model_dir, tmp_path):
    """A host+virus reference's header lists contigs without reads (chrM): a CRAM was refused
    for them, as every header contig was checked. `@HD SO:unsorted` over a sorted, indexed
    file (what many tools write) was refused as 'sorted by unsorted'."""
    bam = write_bam(tmp_path / "reads.bam")
    with pysam.AlignmentFile(str(bam)) as source:
        header = source.header.to_dict()
    header["HD"]["SO"] = "unsorted"
    header["SQ"].append({"SN": "chrM", "LN": 16569})
    extended = tmp_path / "extended.bam"
    with pysam.AlignmentFile(str(bam)) as source, pysam.AlignmentFile(str(extended), "wb", header=header) as out:
        for read in source.fetch(until_eof=True):
            out.write(pysam.AlignedSegment.from_dict(read.to_dict(), out.header))
    pysam.index(str(extended))
    cram = tmp_path / "extended.cram"
    pysam.view("-C", "-T", str(files["ref"]), "-o", str(cram), str(extended), catch_stdout=False)
    pysam.index(str(cram))
    expected = called_as(run(files, [bam], tmp_path / "plain", tiny_model_dir, plot=False), tmp_path / "plain")
    for given in (extended, cram):
        out = tmp_path / given.suffix[1:]
        assert called_as(run(files, [given], out, tiny_model_dir, plot=False), out) == expected, given.name


def called_as(result: dict, out: Path) -> set[tuple[str, str, str]]:
    """The (pos, ref, alt) called, whatever the sample is named after (the file's name or SM)."""
    assert result["variants"] > 0
    return {(r["pos"], r["ref"], r["alt"]) for r in rows(out / "variants.tsv")}
