"""`vqdna classify --scan`: windows in the head's layout, both strands, sorted BED6+, flat
streaming (vqdna_cli/scan.py, api.scan)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pysam
import pytest

from conftest import fasta_text, random_dna
from vqdna_cli.errors import UsageError, VqdnaError
from vqdna_cli.head_info import HeadInfo
from vqdna_cli.io.regions import Region
from vqdna_cli.scan import (ScanLayout, ScanSettings, Skipped, background_classes, interval_windows, sorted_merged,
                            window_starts)

TOY_KEYS = {"class_names": ["neg", "pos"], "labels": ["0", "1"], "train_window_lengths": [40, 40], "adapter": "frozen"}


def head(**keys) -> HeadInfo:
    return HeadInfo.from_json({"sha256": {"head.safetensors": "0" * 64}, **keys}, Path("head.json"))


TOY_INFO = head(**TOY_KEYS)


def test_window_starts_step_by_the_stride_and_cover_the_tail():
    layout = ScanLayout(300, 150, ("+", "-"))
    assert list(window_starts(0, 1000, layout)) == [0, 150, 300, 450, 600, 700]
    assert list(window_starts(100, 700, layout)) == [100, 250, 400]
    assert list(window_starts(0, 299, layout)) == []
    assert list(window_starts(0, 300, layout)) == [0]


def test_window_starts_take_no_memory_for_a_long_interval():
    """A chromosome at stride 1 has as many window starts as bases: they are made as they are
    read, not held in a list (which grew a 40 Mb scan to a gigabyte)."""
    import tracemalloc

    layout = ScanLayout(window=300, stride=1, strands=("+", "-"))
    tracemalloc.start()
    try:
        count = sum(1 for _ in window_starts(0, 2_000_000, layout))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 2_000_000 - 300 + 1
    assert peak < 1_000_000, peak


def test_the_layout_comes_from_the_head_and_bad_values_are_one_line_errors():
    layout = ScanLayout.of(TOY_INFO, 64, ScanSettings())
    assert (layout.window, layout.stride, layout.strands) == (40, 20, ("+", "-"))
    both = ScanLayout.of(head(**TOY_KEYS, both_strands=True), 64, ScanSettings(window=50, stride=7))
    assert (both.window, both.stride, both.strands) == (50, 7, (".",))
    for settings, message in ((ScanSettings(window=0), "--window 0"), (ScanSettings(window=65), "--window 65")):
        with pytest.raises(VqdnaError, match=message) as error:
            ScanLayout.of(TOY_INFO, 64, settings)
        assert "\n" not in str(error.value)
    for fields, message in (({"stride": -3}, "--stride -3"), ({"min_prob": 1.5}, "--min-prob")):  # need no head
        with pytest.raises(VqdnaError, match=message) as error:
            ScanSettings(**fields)
        assert "\n" not in str(error.value)


def test_windows_read_the_minus_strand_reverse_complemented_and_skip_gaps():
    seq = "ACGTTGCA" * 5 + "N" * 20 + "GGGAAACCCT" * 4
    layout = ScanLayout(20, 20, ("+", "-"))
    skipped = Skipped()
    windows = list(interval_windows(lambda a, b: seq[a:b], "c", 0, len(seq), layout, skipped))
    starts = [w.record.offset for w in windows]
    assert starts == [0, 0, 20, 20, 60, 60, 80, 80] and 40 not in starts  # the all-N window is skipped
    assert skipped.ambiguous == 2  # on each strand, as the windows written are counted
    plus, minus = windows[0].record.seq, windows[1].record.seq
    assert (windows[0].strand, windows[1].strand) == ("+", "-")
    assert plus == seq[:20] and minus == plus[::-1].translate(str.maketrans("ACGTN", "TGCAN"))


def test_the_minus_strand_window_is_the_reverse_complement_not_the_same_bases():
    """A window that is not its own reverse complement: the minus strand reads other bases."""
    seq = "AAACCCGGGT" * 4
    windows = list(interval_windows(lambda a, b: seq[a:b], "c", 0, len(seq), ScanLayout(20, 20, ("+", "-")),
                                    Skipped()))
    assert [(w.strand, w.record.seq) for w in windows[:2]] == [("+", "AAACCCGGGTAAACCCGGGT"),
                                                                ("-", "ACCCGGGTTTACCCGGGTTT")]


def test_regions_are_sorted_in_the_files_order_and_merged():
    regions = [Region("b", 50, 80), Region("a", 10, 30), Region("b", 0, 60), Region("a", 40, 50)]
    assert sorted_merged(regions, ["b", "a"]) == [Region("b", 0, 80), Region("a", 10, 30), Region("a", 40, 50)]


def test_background_classes():
    def classes(names: list[str], labels: list[str]) -> HeadInfo:
        return head(class_names=names, labels=labels, adapter="frozen")

    assert background_classes(classes(["acceptor", "donor", "non-splice"], ["0", "1", "2"])) == {2}
    assert background_classes(classes(["unbound", "bound"], ["0", "1"])) == {0}
    assert background_classes(classes(["Alpha", "Beta", "Delta"], ["0", "1", "2"])) == set()
    # labels that are words: the user names the background
    words = classes(["enhancer", "other"], ["enhancer", "other"])
    assert background_classes(words) == set() and background_classes(words, ("other",)) == {1}
    assert background_classes(classes(["unbound", "bound"], ["0", "1"]), ("bound",)) == {1}  # named, not the rule
    with pytest.raises(UsageError, match=r"--background others: the head has no such class \(its classes: enhancer, "
                                         r"other\)"):
        background_classes(words, ("others",))
    with pytest.raises(UsageError, match="--background names every class of the head: no window could be a call"):
        background_classes(words, ("other", "enhancer"))


# --- the command --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def genome(tmp_path_factory) -> Path:
    """A small real-like genome: two contigs, soft-masked stretches, an N gap; indexed."""
    chr1 = random_dna(700, 1)
    chr1 = chr1[:100].lower() + chr1[100:300] + "N" * 90 + chr1[390:]
    path = tmp_path_factory.mktemp("scan") / "genome.fa"
    path.write_text(fasta_text({"chr2": random_dna(300, 2), "chr1": chr1}))
    pysam.faidx(str(path))
    return path


def bed_rows(path: Path) -> list[list[str]]:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# vqdna ") and lines[1].startswith("#chrom\tstart\tend\tname\tscore\tstrand\tp_neg\tp_pos")
    return [line.split("\t") for line in lines[2:]]


def test_scan_writes_sorted_bed_that_tabix_indexes_and_the_same_bytes_on_rerun(run_vqdna, tiny_model_dir, genome,
                                                                              tmp_path):
    bed = tmp_path / "want.bed"
    bed.write_text("chr1\t400\t700\nchr2\t0\t300\nchr1\t0\t450\n")  # unsorted, overlapping
    out = tmp_path / "calls.bed"
    args = ("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, "--bed", bed, "-o", out, "-q")
    result = run_vqdna(*args)
    assert result.returncode == 0, result.stderr
    rows = bed_rows(out)
    order = {"chr2": 0, "chr1": 1}  # the FASTA's order
    keys = [(order[r[0]], int(r[1]), r[5]) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    for chrom, start, end, name, score, strand, p_neg, p_pos in rows:
        assert int(end) - int(start) == 40 and strand in "+-"
        p = [float(p_neg), float(p_pos)]
        assert sum(p) == pytest.approx(1, abs=2e-4) and name == ["neg", "pos"][int(np.argmax(p))]
        assert int(score) == pytest.approx(1000 * max(p), abs=1)
    starts = {int(r[1]) for r in rows if r[0] == "chr1"}
    assert 0 in starts and 660 in starts and not any(300 <= s <= 350 for s in starts)  # the N gap
    assert {r[5] for r in rows} == {"+", "-"}
    first = out.read_bytes()
    assert run_vqdna(*args, "--force").returncode == 0 and out.read_bytes() == first
    indexed = Path(pysam.tabix_index(str(shutil.copy(out, tmp_path / "copy.bed")), preset="bed", force=True))
    with pysam.TabixFile(str(indexed)) as tabix:
        assert len(list(tabix.fetch("chr1", 0, 700))) == sum(r[0] == "chr1" for r in rows)


def test_scan_min_prob_keeps_only_calls_and_whole_file_scans_work(run_vqdna, tiny_model_dir, genome, tmp_path):
    plain = tmp_path / "plain.fa"  # no index: read record by record
    plain.write_text(genome.read_text())
    everything, calls = tmp_path / "all.bed", tmp_path / "calls.bed"
    common = ("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", plain, "--stride", "40", "-q")
    assert run_vqdna(*common, "-o", everything).returncode == 0
    rows = bed_rows(everything)
    values = sorted({float(r[7]) for r in rows})  # a threshold between two printed values, not on one
    threshold = (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
    assert run_vqdna(*common, "--min-prob", str(threshold), "-o", calls).returncode == 0
    kept = bed_rows(calls)
    assert kept == [r for r in rows if float(r[7]) >= threshold] and 0 < len(kept) < len(rows)


def test_background_names_the_classes_that_are_not_calls(run_vqdna, tiny_model_dir, genome, tmp_path):
    """--background pos makes neg the call: the rows kept are the windows where neg has the
    threshold, named neg; the first line and the .json say which class was background."""
    everything, calls = tmp_path / "all.bed", tmp_path / "calls.bed"
    common = ("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, "--stride", "40", "-q")
    assert run_vqdna(*common, "-o", everything).returncode == 0
    rows = bed_rows(everything)
    values = sorted({float(r[6]) for r in rows})
    threshold = (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
    assert run_vqdna(*common, "--min-prob", str(threshold), "--background", "pos", "-o", calls).returncode == 0
    kept = bed_rows(calls)
    assert [r[:3] for r in kept] == [r[:3] for r in rows if float(r[6]) >= threshold] and 0 < len(kept) < len(rows)
    assert {r[3] for r in kept} == {"neg"}
    assert " min_prob " in calls.read_text().splitlines()[0] and " background pos " in calls.read_text().splitlines()[0]
    assert json.loads(Path(f"{calls}.json").read_text())["background"] == ["pos"]
    assert " background neg " in everything.read_text().splitlines()[0]  # the head's own rule: label 0
    refused = run_vqdna(*common, "--background", "promoter", "-o", tmp_path / "x.bed")
    assert refused.returncode == 2 and refused.stderr_lines == [
        "vqdna: error: --background promoter: head toy has no such class (its classes: neg, pos)"]
    assert not (tmp_path / "x.bed").exists()


def test_a_head_of_word_labels_says_it_has_no_background(run_vqdna, model_copy, genome, tmp_path):
    """Labels other/enhancer sort enhancer first, and neither is labelled 0: every window was a
    call, 'other' too, without a word."""
    rows = tmp_path / "words.csv"
    rows.write_text("sequence,label\n" + "".join(f"{random_dna(40, 7500 + i)},{('other', 'enhancer')[i % 2]}\n"
                                                 for i in range(20)))
    trained = run_vqdna("train", "finetune", "--task", "words", "--train", rows, "-m", model_copy, "--epochs", "1",
                        "--threads", "1", "-q")
    assert trained.returncode == 0, trained.stderr
    common = ("classify", "--task", "words", "--model", model_copy, "--scan", genome, "--min-prob", "0.5")
    warned = run_vqdna(*common, "-o", tmp_path / "calls.bed")
    assert warned.returncode == 0 and warned.stderr_lines[0] == (
        "vqdna: warning: head words has no background class (none named non-..., nor labelled 0 of two): every "
        "window is a call of its most probable class (enhancer, other); name the classes that are not calls with "
        "--background")
    named = run_vqdna(*common, "--background", "other", "-o", tmp_path / "enhancers.bed")
    assert named.returncode == 0 and not any("warning" in line for line in named.stderr_lines)
    assert {line.split("\t")[3] for line in (tmp_path / "enhancers.bed").read_text().splitlines()[2:]} <= {"enhancer"}


def test_a_head_whose_every_class_is_an_answer_scans_without_the_background_warning(run_vqdna, model_copy, genome,
                                                                                     tmp_path):
    """A head of lineages (the variant head) has no class that is not a call: --min-prob keeps
    the windows whose lineage is that sure, and the warning told to name a background it has
    not. One class named 'other' among three still warns."""
    def finetune(task: str, names: tuple[str, ...]) -> None:
        rows = tmp_path / f"{task}.csv"
        rows.write_text("sequence,label\n" + "".join(f"{random_dna(40, 7600 + i)},{names[i % 3]}\n" for i in range(30)))
        trained = run_vqdna("train", "finetune", "--task", task, "--train", rows, "-m", model_copy, "--epochs", "1",
                            "--threads", "1", "-q")
        assert trained.returncode == 0, trained.stderr

    finetune("lineages", ("Alpha", "Beta", "Delta"))
    finetune("with-other", ("enhancer", "other", "silencer"))
    common = ("classify", "--model", model_copy, "--scan", genome, "--min-prob", "0.3")
    quiet = run_vqdna(*common, "--task", "lineages", "-o", tmp_path / "lineages.bed")
    assert quiet.returncode == 0 and not any("warning" in line for line in quiet.stderr_lines), quiet.stderr_lines
    warned = run_vqdna(*common, "--task", "with-other", "-o", tmp_path / "other.bed")
    assert warned.returncode == 0 and warned.stderr_lines[0].startswith(
        "vqdna: warning: head with-other has no background class")


@pytest.mark.parametrize("stride, left_out", [(50, "10 bases of every 50 are"), (41, "1 base of every 41 is")])
def test_a_stride_longer_than_the_window_says_what_it_leaves_out(run_vqdna, tiny_model_dir, genome, tmp_path,
                                                                 stride, left_out):
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, "--stride", stride,
                       "-o", tmp_path / "gaps.bed")
    assert result.returncode == 0 and result.stderr_lines[-2] == (
        f"vqdna: warning: --stride {stride} is longer than the 40 bp window: {left_out} not scanned")


@pytest.mark.parametrize("extra, message", [
    (("--window", "0"), "--window 0: must be between 1 and the model window (64)"),
    (("--window", "500"), "--window 500: must be between 1 and the model window (64)"),
    (("--stride", "0"), "--stride 0: must be 1 or more"),
])
def test_bad_scan_values_give_a_one_line_error(run_vqdna, tiny_model_dir, genome, extra, message):
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, *extra)
    assert result.returncode != 0 and result.stderr_lines == [f"vqdna: error: {message}"]


@pytest.mark.parametrize("option", [("--window", "30"), ("--min-prob", "0.5"), ("--min-prob", "0"),
                                    ("--background", "neg")])
def test_scan_options_need_scan(run_vqdna, tiny_model_dir, short_fasta, option):
    """`--min-prob 0` (its default value) was taken without --scan and did nothing."""
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, short_fasta, *option)
    assert result.returncode != 0 and result.stderr_lines == ["vqdna: error: --window, --min-prob and --background apply to --scan only"]


def test_scan_records_what_made_it_beside_the_bed(run_vqdna, tiny_model_dir, genome, tmp_path):
    import json

    out = tmp_path / "calls.bed"
    assert run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, "-o", out,
                     "-q").returncode == 0
    made_by = json.loads((tmp_path / "calls.bed.json").read_text())
    assert made_by["task"] == "toy" and made_by["input"] == str(genome) and made_by["window"] == 40
    assert made_by["rows"] == len(bed_rows(out)) and "model_hash" in made_by and "vqdna_version" in made_by
    assert made_by["head_hash"] == made_by["head_sha256"][:16]
    assert (made_by["format"], made_by["format_version"], made_by["class_names"]) == ("vqdna-scan", 1, ["neg", "pos"])
    assert made_by["columns"] == out.read_text().splitlines()[1].split("\t")
    again = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, "-o", out)
    assert again.returncode == 4 and again.stderr_lines == [f"vqdna: error: output {out} exists: use --force to overwrite it"]


def test_a_scan_on_stdout_says_which_genome_and_regions_it_read(run_vqdna, tiny_model_dir, genome, tmp_path):
    """On stdout (piped to bgzip, as README shows) no .json goes beside the BED: its first line
    names the genome and regions besides the model."""
    import json

    bed = tmp_path / "want.bed"
    bed.write_text("chr1\t0\t450\n")
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, "--bed", bed,
                       "-r", "chr2:1-300", "-o", "-", "-q")
    assert result.returncode == 0, result.stderr
    first = result.stdout.decode().splitlines()[0]
    head = json.loads((tiny_model_dir / "heads" / "toy" / "head.json").read_text())["sha256"]["head.safetensors"]
    assert first.startswith("# vqdna ") and f" task toy head {head[:16]} " in first
    # what can move the probabilities' last digits, for a rerun to match
    assert " precision fp32 batch_tokens " in first
    assert first.endswith(f" input {genome} region chr2:1-300 bed {bed}"), first


def test_a_head_that_reads_a_fixed_place_is_warned_of_for_any_other_length(run_vqdna, model_copy, genome, tmp_path):
    """--window 299 for a 300 bp promoter head was called "far from" its training length: it is
    one base off, and a head that reads bases at a fixed place reads every one of them off."""
    from test_classify_checks import frozen_head

    frozen_head(model_copy, "fixed", center_tokens=8)
    result = run_vqdna("classify", "--task", "fixed", "--model", model_copy, "--scan", genome, "--window", "39",
                       "-o", tmp_path / "off.bed")
    assert result.returncode == 0 and result.stderr_lines[-2] == (
        "vqdna: warning: 39 bp windows are not of the length the fixed head was trained on (40 bp), and it reads "
        "bases at a fixed place of each window; its probabilities are extrapolations")


def test_scan_warns_when_its_window_is_far_from_the_heads_training_length(run_vqdna, tiny_model_dir, genome,
                                                                          tmp_path):
    args = ("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome)
    far = run_vqdna(*args, "--window", "12", "-o", tmp_path / "short.bed")
    assert far.returncode == 0
    assert far.stderr_lines[-2] == ("vqdna: warning: 12 bp windows are far from the lengths the toy head was trained "
                                    "on (40 bp); its probabilities are extrapolations")
    near = run_vqdna(*args, "-o", tmp_path / "usual.bed")
    assert near.returncode == 0 and not any("warning" in line for line in near.stderr_lines)


def test_scan_names_a_damaged_index_in_one_line(run_vqdna, tiny_model_dir, genome, tmp_path):
    copy = tmp_path / "genome.fa"
    copy.write_bytes(genome.read_bytes())
    Path(f"{copy}.fai").write_bytes(b"\x00garbage\n")
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", copy, "-o", tmp_path / "c.bed")
    assert result.returncode == 2 and result.stderr_lines == [
        f"vqdna: error: the index {copy}.fai is damaged (not a FASTA index); rebuild it with `samtools faidx {copy}`"]
    assert not (tmp_path / "c.bed").exists()


def test_scan_of_regions_shorter_than_a_window_says_nothing_fits(run_vqdna, tiny_model_dir, genome, tmp_path):
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, "--region",
                       "chr2:1-30", "-o", tmp_path / "empty.bed")
    assert result.returncode == 0 and result.stderr_lines[-2].startswith(
        "vqdna: warning: no 40 bp window fits the scanned sequence")
    assert len((tmp_path / "empty.bed").read_text().splitlines()) == 2  # the two header lines only


@pytest.mark.parametrize("option, named", [(("--header-comments",), "drop --header-comments"),
                                           (("--mapped-only",), "drop --mapped-only and --reference"),
                                           (("--reference", "ref.fa"), "drop --mapped-only and --reference")])
def test_scan_refuses_options_it_would_ignore(run_vqdna, tiny_model_dir, genome, tmp_path, option, named):
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, *option,
                       "-o", tmp_path / "calls.bed")
    assert result.returncode == 2 and len(result.stderr_lines) == 1 and named in result.stderr
    assert not (tmp_path / "calls.bed").exists()


def test_scan_names_the_regions_too_short_for_a_window(run_vqdna, tiny_model_dir, genome, tmp_path):
    bed = tmp_path / "some_short.bed"
    bed.write_text("chr1\t390\t600\nchr2\t0\t30\n")  # the second is shorter than the 40 bp window
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, "--bed", bed,
                       "-o", tmp_path / "calls.bed")
    assert result.returncode == 0, result.stderr
    assert result.stderr_lines[-2] == ("vqdna: warning: 1 of the regions is shorter than a 40 bp window and not "
                                       "scanned (classify their sequences without --scan, or widen them)")
    assert {row[0] for row in bed_rows(tmp_path / "calls.bed")} == {"chr1"}


def test_a_whole_sequence_head_cannot_scan(run_vqdna, model_copy, genome, tmp_path):
    from test_classify_checks import frozen_head

    frozen_head(model_copy, "whole", whole_record=True)  # the variant head's layout
    result = run_vqdna("classify", "--task", "whole", "--model", model_copy, "--scan", genome, "-o", tmp_path / "x.bed")
    assert result.returncode == 2 and result.stderr_lines == [
        "vqdna: error: the whole head classifies whole sequences, not windows of a genome: it cannot scan; classify "
        "the sequences instead (without --scan)"]
    assert not (tmp_path / "x.bed").exists()


def test_scan_counts_the_windows_it_leaves_out_for_their_n(run_vqdna, tiny_model_dir, tmp_path):
    """A contig of N (an unplaced scaffold's gap) gives no rows: the closing line says why."""
    fasta = tmp_path / "gaps.fa"
    fasta.write_text(fasta_text({"bases": random_dna(200, 3), "gap": "N" * 200}))
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", fasta, "-o",
                       tmp_path / "gaps.bed")
    assert result.returncode == 0, result.stderr
    closing = next(line for line in result.stderr_lines if "windows written" in line)
    # the windows left out are among those counted: "0 of 0 written ...; 266 left out" read as a contradiction
    written, counted, left_out = map(int, re.search(r"(\d+) of (\d+) windows written .*; (\d+) of them more than "
                                                  r"10 % N or other IUPAC codes, left out$", closing).groups())
    assert written == counted - left_out and left_out > 0, closing
    rows = [line for line in (tmp_path / "gaps.bed").read_text().splitlines() if not line.startswith("#")]
    assert rows and all(line.startswith("bases\t") for line in rows)


@pytest.mark.parametrize("region", [None, "c2:51-201", "c2:90-201"])
def test_a_bad_base_is_placed_on_its_contig_in_an_indexed_scan(run_vqdna, tiny_model_dir, tmp_path, region):
    """The scan reads an indexed genome in stretches: the position was counted from the
    stretch's start (51 and 12 here for base 101), sending the user to a valid base."""
    bases = random_dna(300, 8)
    fasta = tmp_path / "bad.fa"
    fasta.write_text(fasta_text({"c1": random_dna(200, 9), "c2": bases[:100] + "X" + bases[101:]}))
    pysam.faidx(str(fasta))
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", fasta,
                       *(["-r", region] if region else []), "-o", tmp_path / "bad.bed")
    assert result.returncode == 2 and result.stderr_lines == [
        f"vqdna: error: record 'c2' in {fasta} has invalid character 'X' at position 101; allowed are the IUPAC "
        "nucleotide codes ACGTNRYSWKMBDHVU"]
    assert not (tmp_path / "bad.bed").exists()


@pytest.mark.parametrize("where", [["-r", "c2:51-201"], ["--bed", "interval.bed"]])
def test_a_bad_base_of_a_region_is_placed_on_its_contig_as_the_scan_places_it(run_vqdna, tmp_path, where):
    """tokenize -r c2:51-201 said 'c2:51-201' and position 51 (within the region), where the
    scan of the same region said c2 and 101: one place to look for the bad base, the contig's."""
    bases = random_dna(300, 8)
    fasta = tmp_path / "bad.fa"
    fasta.write_text(fasta_text({"c1": random_dna(200, 9), "c2": bases[:100] + "X" + bases[101:]}))
    pysam.faidx(str(fasta))
    (tmp_path / "interval.bed").write_text("c2\t50\t201\tmine\n")
    result = run_vqdna("tokenize", fasta, *[str(tmp_path / w) if w.endswith(".bed") else w for w in where],
                       "-o", tmp_path / "t.npz", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr_lines == [
        f"vqdna: error: record 'c2' in {fasta} has invalid character 'X' at position 101; allowed are the IUPAC "
        "nucleotide codes ACGTNRYSWKMBDHVU"]
    assert not (tmp_path / "t.npz").exists()


@pytest.mark.parametrize("scan", [True, False])
def test_a_name_that_bed_readers_take_for_a_comment_is_warned_of_once(run_vqdna, tiny_model_dir, tmp_path, scan):
    """A FASTA ID starting with `#` makes BED rows that bedtools, tabix and pysam skip as comments."""
    fasta = tmp_path / "hash.fa"
    fasta.write_text(fasta_text({"#contig": random_dna(200, 4), "plain": random_dna(200, 5)}))
    out = tmp_path / "calls.bed"
    source = ("--scan", fasta) if scan else (fasta, "--format", "bed")
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, *source, "-o", out)
    warned = [line for line in result.stderr_lines if "starts with #" in line]
    assert result.returncode == 0 and warned == [
        "vqdna: warning: sequence #contig: its name starts with #, so BED readers take its rows for comment lines and "
        "skip them; rename it (e.g. sed 's/^>#/>/' in the FASTA)"]
    assert any(line.startswith("#contig\t") for line in out.read_text().splitlines())  # written as named


def test_an_rna_genome_scans_as_its_dna_on_both_strands(run_vqdna, tiny_model_dir, tmp_path):
    """U is read as T: an RNA FASTA gave no rows (its windows counted as mostly N), and a few U
    in a window left the minus strand's U uncomplemented."""
    dna = random_dna(400, 8)
    rows = {}
    for kind, seq in (("dna", dna), ("rna", dna.replace("T", "U")), ("some-u", dna[:100] + dna[100:].replace("T", "U", 5))):
        fasta = tmp_path / f"{kind}.fa"
        fasta.write_text(fasta_text({"virus": seq}))
        out = tmp_path / f"{kind}.bed"
        assert run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", fasta, "-o", out,
                         "-q").returncode == 0
        rows[kind] = bed_rows(out)
    assert len(rows["dna"]) > 2 and rows["rna"] == rows["dna"] and rows["some-u"] == rows["dna"]


@pytest.mark.parametrize("indexed", [True, False])
def test_records_too_short_for_a_window_are_counted_with_or_without_an_index(run_vqdna, tiny_model_dir, tmp_path,
                                                                            indexed):
    """Without a .fai the short records were dropped without the warning the docs promise."""
    fasta = tmp_path / "contigs.fa"
    fasta.write_text(fasta_text({"big": random_dna(300, 1), "short1": random_dna(30, 2), "short2": random_dna(12, 3)}))
    if indexed:
        pysam.faidx(str(fasta))
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", fasta,
                       "-o", tmp_path / "calls.bed")
    assert result.returncode == 0, result.stderr
    assert result.stderr_lines[-2] == ("vqdna: warning: 2 of the sequences are shorter than a 40 bp window and not "
                                       "scanned (classify them without --scan)")


@pytest.mark.parametrize("order", [("chrA", "chrA", "chrB"), ("chrA", "chrB", "chrA")])
def test_an_indexed_genome_with_a_repeated_name_is_refused_not_scanned_in_part(run_vqdna, tiny_model_dir, tmp_path,
                                                                             order):
    """htslib indexes only the first record of a name: the scan left the second out, exit 0
    (or, with the repeat last, blamed an index that rebuilding cannot fix)."""
    fasta = tmp_path / "dup.fa"
    fasta.write_text("".join(f">{name}\n{random_dna(100 + 50 * i, i)}\n" for i, name in enumerate(order)))
    pysam.faidx(str(fasta))
    out = tmp_path / "calls.bed"
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", fasta, "-o", out)
    assert result.returncode == 2 and result.stderr_lines == [
        f"vqdna: error: duplicate record ID 'chrA' in {fasta}; record IDs must be unique (its index holds only the "
        "first)"]
    assert not out.exists()


def test_a_bgzf_genome_changed_after_indexing_is_one_line_in_a_scan(run_vqdna, tiny_model_dir, tmp_path):
    plain = tmp_path / "genome.fa"
    plain.write_text(fasta_text({"q": random_dna(3000, 1)}))
    packed = tmp_path / "genome.fa.gz"
    pysam.tabix_compress(str(plain), str(packed))
    pysam.faidx(str(packed))
    plain.write_text(fasta_text({"q": random_dna(2000, 1)}))  # the same name, shorter: the old index stays
    packed.unlink()
    pysam.tabix_compress(str(plain), str(packed))
    out = tmp_path / "calls.bed"
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", packed, "-o", out)
    assert result.returncode == 2 and len(result.stderr_lines) == 1, result.stderr
    assert f"rebuild its index with `samtools faidx {packed}`" in result.stderr_lines[0] or \
        f"rebuild it with `samtools faidx {packed}`" in result.stderr_lines[0]
    assert not out.exists()


@pytest.mark.parametrize("stride", [10, 150])
def test_progress_moves_with_the_bases_gone_through_not_the_bases_in_windows(tiny_model_dir, tmp_path, stride):
    """With a stride longer than the window the bar counted only the bases inside windows, a
    fraction of the genome: its time left was many times too long. Runs of N count as they
    are passed, not all at the end."""
    from vqdna_cli import api
    from vqdna_cli.options import InputSpec, RunOptions, ScanSettings

    fasta = tmp_path / "g.fa"
    fasta.write_text(fasta_text({"a": random_dna(1000, 1) + "N" * 500 + random_dna(1000, 2), "b": random_dna(700, 3)}))
    pysam.faidx(str(fasta))
    steps, totals = [], []
    api.scan(InputSpec(str(fasta)), tmp_path / "calls.bed", "toy", RunOptions(tiny_model_dir, device="cpu", threads=1),
             ScanSettings(stride=stride), progress=steps.append, on_total=totals.append)
    window = 40  # the toy head's
    assert totals == [3200] and sum(steps) == 3200 and all(step > 0 for step in steps)
    assert steps[-1] <= stride  # nothing (the windows left out, the gaps between them) was left to the end
    assert max(steps) <= 500 + stride + window  # the N run counted when passed


def test_a_stray_index_beside_plain_gzip_is_passed_over_and_half_a_bgzf_index_named(run_vqdna, tiny_model_dir,
                                                                                    tmp_path):
    """A .fai beside a file it cannot index (plain gzip) forced the indexed reader, which refused
    the file; a BGZF file with a .fai and no .gzi was told to index itself "to use regions"."""
    text = fasta_text({"c": random_dna(300, 1)})
    plain = tmp_path / "plain.fa"
    plain.write_text(text)
    pysam.faidx(str(plain))
    zipped = tmp_path / "zipped.fa.gz"
    zipped.write_bytes(gzip.compress(text.encode()))
    shutil.copy(f"{plain}.fai", f"{zipped}.fai")
    scanned = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", zipped, "-o",
                        tmp_path / "z.bed", "-q")
    assert scanned.returncode == 0, scanned.stderr
    assert run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", plain, "-o",
                     tmp_path / "p.bed", "-q").returncode == 0
    assert bed_rows(tmp_path / "z.bed") == bed_rows(tmp_path / "p.bed")
    packed = tmp_path / "packed.fa.gz"
    pysam.tabix_compress(str(plain), str(packed))
    shutil.copy(f"{plain}.fai", f"{packed}.fai")
    half = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", packed, "-o", tmp_path / "h.bed")
    assert half.returncode == 2 and half.stderr_lines == [
        f"vqdna: error: {packed} has only part of its index ({packed}.gzi missing); delete {packed}.fai and run "
        f"`samtools faidx {packed}` to index it again"]


def test_regions_cut_as_the_docs_say_give_the_windows_of_one_whole_scan(run_vqdna, tiny_model_dir, tmp_path):
    """docs/classify.md: regions starting at a multiple of the stride, each ending window - stride
    bases past the next one's start, are scanned in separate jobs into the rows of one scan."""
    fasta = tmp_path / "g.fa"
    fasta.write_text(fasta_text({"a": random_dna(1003, 1)}))
    pysam.faidx(str(fasta))
    window, stride, cut = 40, 20, 500  # the toy head's window, its default stride (half), a multiple of it
    args = ("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", fasta, "-q")
    assert run_vqdna(*args, "-o", tmp_path / "whole.bed").returncode == 0
    parts = []
    for number, (start, end) in enumerate([(0, cut + window - stride), (cut, 1003)]):
        bed = tmp_path / f"part{number}.bed"
        bed.write_text(f"a\t{start}\t{end}\n")
        assert run_vqdna(*args, "--bed", bed, "-o", tmp_path / f"calls{number}.bed").returncode == 0
        parts += bed_rows(tmp_path / f"calls{number}.bed")
    assert parts == bed_rows(tmp_path / "whole.bed")


def test_overlapping_regions_are_scanned_as_one_and_said_to_be(run_vqdna, tiny_model_dir, genome, tmp_path):
    """Overlapping or touching intervals were merged without a word: windows at some
    intervals' starts were missing, and windows across two touching ones added."""
    bed = tmp_path / "tss.bed"
    bed.write_text("chr1\t400\t500\tt1\nchr1\t420\t520\tt2\nchr1\t520\t600\tt3\nchr2\t0\t100\tt4\n")
    out = tmp_path / "calls.bed"
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, "--bed", bed,
                       "--stride", "30", "-o", out)
    assert result.returncode == 0, result.stderr
    assert ("vqdna: warning: 2 of the regions overlapped or touched another and were scanned as one region with it: "
            "windows start at each merged region's start") in result.stderr
    starts = sorted({int(r[1]) for r in bed_rows(out) if r[0] == "chr1"})
    assert starts == [400, 430, 460, 490, 520, 550, 560]  # one region, 400-600
    alone = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", genome, "--region",
                      "chr1:401-500", "-o", tmp_path / "one.bed")
    assert alone.returncode == 0 and "overlapped" not in alone.stderr


def test_a_row_kept_by_min_prob_is_named_for_its_call():
    """With --min-prob, a row kept for its call was named for the background class when that
    was more probable ("non-splice 723" for an acceptor call of 0.277)."""
    import io

    from vqdna_cli.io.records import SequenceRecord
    from vqdna_cli.io.writers import ScanBed

    out = io.StringIO()
    table = ScanBed(out, ["acceptor", "donor", "non-splice"])
    window = SequenceRecord("w", "ACGT", "chr1", offset=100)
    table.write_row(window, "+", np.array([0.277, 0.0002, 0.7228]))
    table.write_row(window, "+", np.array([0.277, 0.0002, 0.7228]), among=[0, 1])
    assert [line.split("\t")[3:5] for line in out.getvalue().splitlines()] == [["non-splice", "723"],
                                                                               ["acceptor", "277"]]


@pytest.mark.parametrize("kind", ["fastq", "fastq.gz", "bam"])
def test_reads_are_no_genome_to_scan(run_vqdna, tiny_model_dir, tmp_path, kind):
    """With --region, a FASTQ or a BAM was told to get a .fai (`samtools faidx`)."""
    import gzip

    path = tmp_path / f"reads.{kind}"
    fastq = b"@r1\n" + random_dna(80, 3).encode() + b"\n+\n" + b"I" * 80 + b"\n"
    if kind == "bam":
        header = {"HD": {"VN": "1.6"}, "SQ": [{"SN": "chr1", "LN": 1000}]}
        with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
            read = pysam.AlignedSegment(bam.header)
            read.query_name, read.query_sequence, read.flag = "r1", random_dna(80, 3), 4
            bam.write(read)
    else:
        path.write_bytes(gzip.compress(fastq) if kind.endswith(".gz") else fastq)
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", path, "--region", "r1:1-50")
    what = "is an alignment file (BAM/SAM/CRAM)" if kind == "bam" else "looks like FASTQ (reads)"
    assert result.returncode == 2 and result.stderr_lines == [
        f"vqdna: error: --scan reads a genome FASTA; {path} {what}: classify {'its reads' if kind == 'bam' else 'them'} "
        "without --scan"]


def test_an_empty_record_left_out_of_the_index_is_not_blamed_on_the_index(run_vqdna, tiny_model_dir, tmp_path):
    """htslib's index leaves out a record without bases; the scan said to rebuild the index,
    which gives the same index again."""
    fasta = tmp_path / "empty.fa"
    fasta.write_text(f">e1\n>e2\n{random_dna(100, 4)}\n")
    pysam.faidx(str(fasta))
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", fasta, "-o", "-")
    assert result.returncode == 2 and result.stderr_lines == [
        f"vqdna: error: record 'e1' of {fasta} is not in its index {fasta}.fai: if it has no bases, remove it (an "
        f"index leaves such records out, however often rebuilt); else rebuild the index with `samtools faidx {fasta}`"]


def test_a_repeated_name_is_named_with_a_region_too(run_vqdna, tiny_model_dir, tmp_path):
    """With --region, a name given twice was blamed on the index ("rebuild it")."""
    fasta = tmp_path / "dup.fa"
    fasta.write_text("".join(f">{name}\n{random_dna(100, i)}\n" for i, name in enumerate(("a", "b", "a"))))
    pysam.faidx(str(fasta))
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, "--scan", fasta, "--region", "b",
                       "-o", "-")
    assert result.returncode == 2 and result.stderr_lines == [
        f"vqdna: error: duplicate record ID 'a' in {fasta}; record IDs must be unique (its index holds only the first)"]


def test_a_genome_given_as_a_pipe_is_refused_before_any_read(tmp_path):
    """`--scan <(zcat genome.fa.gz)`: the genome is opened more than once, so a pipe hung on
    its second open (its writer gone) or had its first bytes taken by the format check."""
    import os
    import signal

    from vqdna_cli.errors import InputError
    from vqdna_cli.scan import ScanSource

    pipe = tmp_path / "genome.fa"
    os.mkfifo(pipe)

    def hung(*_):
        raise AssertionError("ScanSource.open waited on the pipe")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        with pytest.raises(InputError, match="--scan needs a FASTA file, not a pipe or device: it is read more than once"):
            ScanSource.open(str(pipe), [])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_fixed_place_heads_range_of_lengths_is_called_a_range():
    from vqdna_cli.api.classify import _unlike_training

    one = {"reads_a_fixed_place": True, "train_window_lengths": [300, 300]}
    assert _unlike_training(one, "p").startswith("not of the length the p head was trained on (300 bp), and it reads")
    several = {"reads_a_fixed_place": True, "train_window_lengths": [290, 500]}
    assert _unlike_training(several, "p").startswith("outside the lengths the p head was trained on (290-500 bp)")
