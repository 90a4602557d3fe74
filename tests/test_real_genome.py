"""The real-genome sets (benchmarks/genome_sets.py) and their benchmark (benchmarks/real_genome.py):
coordinates, strands, distances from TSS, the regions kept apart, thresholds chosen on training
windows, and the report. The synthetic tests always run; those on ../shared/data skip with the
reason when it is absent."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import genome_sets as gs
from benchmarks import real_genome as rg
from conftest import random_dna


def test_windows_put_the_anchor_where_the_layout_says_on_either_strand():
    seq = random_dna(2000, 7)
    genome = gs.Genome({"chrT": (1000, seq)})  # base 0 of seq is chrT position 1000 (0-based)
    layout = gs.LAYOUTS["promoter"]
    plus = gs.cut_window(genome, layout, "chrT", 1500, "+", "1", "TSS")
    assert (plus.start, plus.end) == (1251, 1551) and plus.seq == seq[251:551]
    assert plus.seq[249] == seq[500]  # the TSS at base 249
    minus = gs.cut_window(genome, layout, "chrT", 1500, "-", "1", "TSS")
    assert (minus.start, minus.end) == (1450, 1750)
    assert minus.seq == gs.reverse_complement(seq[450:750])
    assert minus.seq[249] == gs.reverse_complement(seq[500])  # the TSS, read on the gene's strand
    assert gs.cut_window(genome, layout, "chrT", 1100, "+", "1", "TSS") is None  # runs off the sequence
    core = gs.cut_window(genome, gs.LAYOUTS["core-promoter"], "chrT", 1500, "+", "1", "TSS")
    assert (core.start, core.end) == (1466, 1536) and core.seq[34] == seq[500]


def _toy_genome_and_annotation():
    """One 60 kb chromosome with two genes: `P` on + (exons 20,000-20,100 and 30,500-30,600,
    TSS 20,000) and `M` on - (exons 40,000-40,100 and 40,400-40,500, TSS 40,499). Every AG
    and GT at the junctions is planted."""
    rng = np.random.default_rng(3)
    seq = list(rng.choice(list("ACGT"), 60_000))
    seq[20_098:20_100] = "AC"  # not used as a site: 20,100 is the exon end, 20,100-20,101 is the GT
    seq[20_100:20_102] = "GT"  # donor of P: intron starts at 20,100
    seq[30_498:30_500] = "AG"  # acceptor of P: exon starts at 30,500
    # M on -: the transcript reads right to left; its acceptor is at 40,099 (exon's right end), with
    # the intron's last bases (reverse strand AG) at 40,100-40,101 = CT on +; its donor's intron
    # starts at 40,399 on -, GT on - = AC at 40,398-40,399 on +.
    seq[40_100:40_102] = "CT"
    seq[40_398:40_400] = "AC"
    genome = gs.Genome({"chrT": (0, "".join(seq))})
    exons = [gs.Exon("chrT", 20_000, 20_100, "+", "P", "protein_coding"),
             gs.Exon("chrT", 30_500, 30_600, "+", "P", "protein_coding"),
             gs.Exon("chrT", 40_000, 40_100, "-", "M", "lincRNA"),
             gs.Exon("chrT", 40_400, 40_500, "-", "M", "lincRNA")]
    tss = [gs.Tss("chrT", 20_000, "+", "P", "protein_coding"), gs.Tss("chrT", 40_499, "-", "M", "lincRNA")]
    return genome, gs.Annotation(tss, exons)


def test_splice_sites_are_internal_exon_boundaries_in_the_genes_orientation():
    _, annotation = _toy_genome_and_annotation()
    assert gs.splice_sites(annotation) == [("chrT", 20_100, "+", gs.DONOR), ("chrT", 30_500, "+", gs.ACCEPTOR),
                                           ("chrT", 40_099, "-", gs.ACCEPTOR), ("chrT", 40_399, "-", gs.DONOR)]
    genome, _ = _toy_genome_and_annotation()
    layout = gs.LAYOUTS["splice"]
    for chrom, pos, strand, label in gs.splice_sites(annotation):
        window = gs.cut_window(genome, layout, chrom, pos, strand, label, "site")
        assert gs._canonical(window), (pos, strand, window.seq[196:204])


def test_windows_at_one_place_sort_the_same_whatever_order_they_come_in():
    """Sets are built through set(), whose order follows Python's hash seed: an acceptor and a
    donor window of the same place must still come out in one order (the splice training
    rows once changed order between runs)."""
    acceptor = gs.Window("chrT", 100, 500, "+", gs.ACCEPTOR, "acceptor", "A" * 400)
    donor = gs.Window("chrT", 100, 500, "+", gs.DONOR, "donor", "A" * 400)
    lncrna = gs.Window("chrT", 100, 500, "+", gs.PROMOTER, "TSS lncRNA", "A" * 400)
    coding = gs.Window("chrT", 100, 500, "+", gs.PROMOTER, "TSS protein_coding", "A" * 400)
    for windows in ([acceptor, donor], [lncrna, coding]):
        assert sorted(windows, key=gs.genome_order) == sorted(windows[::-1], key=gs.genome_order)


def test_backgrounds_keep_away_from_every_tss_and_are_of_their_kind(monkeypatch):
    genome, annotation = _toy_genome_and_annotation()
    monkeypatch.setitem(gs.REGIONS, "validation", (gs.Span("chrT", 0, 60_000),))
    landmarks = gs.Landmarks.of(annotation)
    layout = gs.LAYOUTS["promoter"]
    options = gs.SetOptions(region="validation")
    for kind in ("random", "intergenic", "exonic", "intronic"):
        windows = gs.background_windows(genome, landmarks, layout, kind, 10, options)
        for w in windows:
            for t in annotation.tss:
                assert w.end - 1 < t.pos - gs.MIN_TSS_DISTANCE + 1 or w.start > t.pos + gs.MIN_TSS_DISTANCE - 1
            assert w.strand in "+-" and len(w.seq) == 300
            if kind == "intergenic":
                assert not (w.start < 30_600 and w.end > 20_000) and not (w.start < 40_500 and w.end > 40_000)
            if kind == "intronic":
                assert 20_100 <= w.start and w.end <= 30_500
            if kind == "exonic":
                assert 30_500 <= w.start + (249 if w.strand == "+" else 50) < 30_600  # the anchor base
    both = {w.strand for w in gs.background_windows(genome, landmarks, layout, "random", 20, options)}
    assert both == {"+", "-"}


def test_choose_threshold_takes_the_best_mcc_and_the_smallest_t_on_ties():
    values = np.array([1, 2, 3, 4, 10, 11, 12, 13])
    positive = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=bool)
    t, score = rg.choose_threshold(values, positive)
    assert t == 10 and score == pytest.approx(1.0)
    t, score = rg.choose_threshold(np.array([5, 5, 5, 5]), np.array([0, 1, 0, 1], dtype=bool))
    assert t == 5 and score == 0.0
    t, _ = rg.choose_threshold(np.array([1, 3, 2, 8, 9, 4]), np.array([0, 1, 0, 1, 1, 0], dtype=bool))
    assert t == 3  # >= 3 (one false call) and >= 8 (one missed) tie at MCC 0.707: the smaller wins


def test_mcc_on_redraws_is_the_mcc_of_each_redrawn_set():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
    draws = rng.integers(0, 40, (5, 40))
    expected = [rg.mcc(truth[d], predicted[d], 3) for d in draws]
    assert rg.mcc_draws(truth, predicted, draws, 3) == pytest.approx(expected)
    assert rg.mcc_draws(np.zeros(4, int), np.zeros(4, int), np.zeros((1, 4), int), 2)[0] == 0.0  # undefined: 0


def test_bootstrap_intervals_are_paired_seeded_and_tell_a_clear_gap_from_none():
    truth = np.array([1] * 30 + [0] * 150)
    perfect = truth.copy()
    noisy = truth.copy()
    noisy[::7] = 1 - noisy[::7]
    again = rg.bootstrap_intervals(truth, noisy, {"same": noisy, "perfect": perfect}, 2)
    intervals = rg.bootstrap_intervals(truth, noisy, {"same": noisy, "perfect": perfect}, 2)
    assert intervals == again  # seeded: a rerun writes the same report
    low, high = intervals["head"]
    assert low < rg.mcc(truth, noisy) < high < 1.0
    assert intervals["head_minus"]["same"] == [0.0, 0.0]  # paired: the same calls never differ
    assert intervals["head_minus"]["perfect"][1] < 0  # a clear gap: the whole interval below 0
    assert rg.bootstrap_intervals(truth, perfect, {}, 2)["head"] == [1.0, 1.0]  # class counts kept in each redraw


def test_rules_on_splice_windows_call_the_junctions_class():
    def window(seq, label):
        return gs.Window("c", 0, 400, "+", label, "acceptor", seq)

    acceptor = window("A" * 198 + "AG" + "C" * 200, gs.ACCEPTOR)
    donor = window("A" * 200 + "GT" + "C" * 198, gs.DONOR)
    poor = window("A" * 198 + "AG" + "A" * 200, gs.NON_SPLICE)
    predicted = rg.rule_predictions(gs.LAYOUTS["splice"], "GC", 0.4, [acceptor, donor, poor])
    assert list(predicted) == [gs.ACCEPTOR, gs.DONOR, gs.NON_SPLICE]


def test_the_kmer_reference_learns_a_word_on_training_windows_and_scores_the_others():
    """Positives carry TATAAA repeats, negatives do not: the 1..5-mer regression fitted on training
    windows alone finds it in the scored ones; the markdown shows its column."""
    def windows(seed, count):
        out = []
        for i in range(count):
            seq = random_dna(300, seed + i)
            label = str(i % 2)
            if label == "1":  # the word once in every 60 bases
                seq = "".join(seq[j * 60 : (j + 1) * 60 - 12] + "TATAAATATAAA" for j in range(5))
            out.append(gs.Window("c", i, i + 300, "+", label, "random", seq))
        return out

    score = rg.kmer_reference(windows(0, 200), windows(1000, 60), classes=2)
    assert score > 0.8
    rules = {"CpG": {"threshold": 22.0, "train_mcc": 0.3, "mcc": 0.294}, "GC": {"threshold": 0.6, "train_mcc": 0.3, "mcc": 0.314}}
    intervals = {"head": [0.35, 0.62], "head_minus": {"CpG": [0.05, 0.4], "GC": [-0.08, 0.31]}}
    row = rg.Row("promoter", "TSS of protein-coding genes", "all", 31, 155, 0.5, rules, 0.8, 0.412, intervals).__dict__
    assert ("| 50.0 | 35.0 to 62.0 | 29.4 (>= 22) | 31.4 (>= 0.60) | 41.2 | -8.0 to 31.0 (GC) | 80.0 |"
            in rg._table_line(row, summary=True))  # the interval against the rule that scored higher
    assert "| 29.4 (>= 22) | 31.4 (>= 0.60) | 41.2 | - | 80.0 |" in rg._table_line({**row, "intervals": None}, summary=True)
    assert "| 31.4 (>= 0.60) | - | 80.0 |" in rg._table_line({**row, "kmer_mcc": None})


def test_write_csv_is_what_finetune_reads(tmp_path):
    from vqdna_cli.io.labelled import read_labelled_csv

    windows = [gs.Window("c", 0, 4, "+", "1", "TSS", "ACGT"), gs.Window("c", 9, 13, "-", "0", "random", "TTTT")]
    path = tmp_path / "set.csv"
    assert gs.write_csv(windows, path) == 2
    read = read_labelled_csv(str(path))
    assert read.sequences == ["ACGT", "TTTT"] and read.labels == ["1", "0"]


def test_other_species_windows_skip_human_and_held_out_genomes_and_are_reproducible(tmp_path):
    from conftest import fasta_text, write_gzip

    genomes = tmp_path / "genomes"
    genomes.mkdir()
    for name, seed in (("human_chr1.fa.gz", 1), ("chlamydia_trachomatis_CHLTCG.fa.gz", 2), ("a.fa.gz", 3)):
        write_gzip(genomes / name, fasta_text({"r": random_dna(5_000, seed)}))
    write_gzip(genomes / "b.fna.gz", fasta_text({"x": random_dna(3_000, 4), "y": "N" * 400 + random_dna(600, 5)}))
    files = gs._other_species_files(tmp_path)
    assert [f.name for f in files] == ["a.fa.gz", "b.fna.gz"]  # no human sequence, nothing pre-training holds out
    layout = gs.LAYOUTS["core-promoter"]
    windows = gs.other_species_windows(files, layout, 9, seed=0)
    assert windows == gs.other_species_windows(files, layout, 9, seed=0)
    assert windows != gs.other_species_windows(files, layout, 9, seed=1)
    assert sorted(w.chrom.split(":")[0] for w in windows) == ["a.fa.gz"] * 5 + ["b.fna.gz"] * 4
    assert all(len(w.seq) == 70 and set(w.seq) <= set("ACGT") and w.label == gs.NON_PROMOTER for w in windows)
    assert {w.strand for w in windows} == {"+", "-"}


def test_shifted_tss_windows_move_downstream_on_the_genes_strand():
    genome, annotation = _toy_genome_and_annotation()
    layout, options = gs.LAYOUTS["core-promoter"], gs.SetOptions(region="training", genes="all")
    gs.REGIONS["training"], saved = (gs.Span("chrT", 0, 60_000),), gs.REGIONS["training"]
    try:
        plain = {w.strand: w for w in gs.tss_windows(genome, annotation, layout, options)}
        moved = {w.strand: w for w in gs.tss_windows(genome, annotation, layout, options, shift=5)}
    finally:
        gs.REGIONS["training"] = saved
    assert moved["+"].start == plain["+"].start + 5 and moved["-"].start == plain["-"].start - 5
    assert moved["+"].seq[:-5] == plain["+"].seq[5:] and moved["-"].seq[:-5] == plain["-"].seq[5:]
    assert moved["+"].kind == "TSS protein_coding shifted +5" and moved["+"].label == gs.PROMOTER


def test_training_mix_names_its_file_by_everything_that_makes_it():
    names = {gs.TrainingMix("promoter", 2, 1).file_name, gs.TrainingMix("promoter", 1, 1).file_name,
             gs.TrainingMix("promoter", 2, 0).file_name, gs.TrainingMix("core-promoter", 2, 1).file_name,
             gs.TrainingMix("promoter", 2, 1, genes="protein_coding").file_name,
             gs.TrainingMix("promoter", 2, 1, seed=1).file_name,
             gs.TrainingMix("promoter", 2, 1, shifts=(-3, 3)).file_name}
    assert len(names) == 7
    with pytest.raises(ValueError, match="layout 'enhancer': use one of promoter, core-promoter, splice"):
        gs.TrainingMix("enhancer")


def test_fit_and_selection_split_the_training_region():
    fit, selection = gs.REGIONS["fit"], gs.REGIONS["selection"]
    assert set(fit + selection) >= set(gs.TRAINING_REGION) - {gs.Span("chrX", 0, 30_000_000)}
    assert gs.Span("chrX", fit[0].start, selection[0].end) == gs.TRAINING_REGION[0] and fit[0].end == selection[0].start
    assert gs.RULE_REGION == {"validation": "training", "selection": "fit"}


def test_the_report_has_a_from_scratch_column_only_when_a_baseline_was_scored():
    rules = {"CpG": {"threshold": 22.0, "train_mcc": 0.3, "mcc": 0.294}, "GC": {"threshold": 0.6, "train_mcc": 0.3, "mcc": 0.314}}
    row = rg.Row("promoter", "TSS of protein-coding genes", "all", 31, 155, 0.5, rules, 0.8, 0.4, None, 0.21).__dict__
    report = {"rows": [row], "bases_per_second": {"promoter": 1000.0}, "seconds": 1, "command": "c", "date": "d",
              "commit": "x", "training_region": ["chrX:0-30 Mb"], "validation_region": ["chrX:30-40 Mb"],
              "baseline": "/runs/scratch"}
    summary = [line for line in rg.markdown(report).splitlines() if line.startswith("| promoter |")][0]
    assert summary.endswith("| 80.0 | 21.0 |") and "from-scratch head |" in rg.markdown(report)
    plain = rg.markdown({**report, "baseline": None})
    assert "from-scratch" not in plain and [line for line in plain.splitlines()
                                            if line.startswith("| promoter |")][0].endswith("| 80.0 |")


def test_record_stores_the_summary_score_beside_the_best_rule(tmp_path):
    import json

    head = tmp_path / "heads" / "promoter"
    head.mkdir(parents=True)
    (head / "head.json").write_text(json.dumps({"task": "promoter", "test": {"mcc": 0.8}}))
    rules = {"CpG": {"threshold": 22.0, "train_mcc": 0.3, "mcc": 0.294}, "GC": {"threshold": 0.6, "train_mcc": 0.3, "mcc": 0.314}}
    row = rg.Row("promoter", "TSS of protein-coding genes", "all", 31, 155, 0.5, rules, 0.8)
    assert rg._is_summary(row) and not rg._is_summary(rg.Row("promoter", "TSS of all genes", "all", 1, 5, 0.1))
    assert not rg._is_summary(rg.Row("promoter", "TSS of protein-coding genes", "random", 1, 1, 0.1))
    report = {"validation_region": ["chrX:30-40 Mb"], "command": "python benchmarks/real_genome.py run --record",
              "commit": "abc", "date": "2026-11-30"}
    rg.record_validation(tmp_path, row, report)
    info = json.loads((head / "head.json").read_text())
    assert info["test"] == {"mcc": 0.8}  # the rest of head.json stays
    real = info["real_genome"]
    assert real["region"] == "chrX:30-40 Mb" and real["set"] == "TSS of protein-coding genes vs all backgrounds"
    assert (real["n_positive"], real["n_negative"], real["mcc"]) == (31, 155, 0.5)
    assert real["best_rule"] == {"rule": "GC", "threshold": 0.6, "mcc": 0.314} and "mcc_interval" not in real
    row.intervals = {"head": [0.35, 0.62], "head_minus": {}}
    rg.record_validation(tmp_path, row, report)
    assert json.loads((head / "head.json").read_text())["real_genome"]["mcc_interval"] == [0.35, 0.62]


def test_record_is_for_the_validation_region_only():
    with pytest.raises(SystemExit, match="validation-region"):
        rg.main(["run", "--region", "selection", "--record"])


# --- on the real annotation and genome ----------------------------------------------------------

DATA = gs.data_dir()
needs_data = pytest.mark.skipif(DATA is None, reason="no real data: set VQDNA_DATA or provide ../shared/data "
                                                     "(annotation/ and genomes/)")


@pytest.fixture(scope="module")
def real():
    return gs.load_genome(DATA), gs.load_annotation(DATA)


@needs_data
def test_chrx_is_never_read_beyond_40_mb(real):
    genome, annotation = real
    assert len(genome.pieces["chrX"][1]) == gs.CHRX_READ_LIMIT
    assert max(t.pos for t in annotation.tss if t.chrom == "chrX") < gs.CHRX_READ_LIMIT


@needs_data
def test_real_sets_keep_training_and_validation_apart(real):
    genome, annotation = real
    validation = gs.VALIDATION_REGION[0]
    for region in ("training", "validation"):
        options = gs.SetOptions(region=region, background="all")
        windows = (gs.promoter_set(genome, annotation, gs.LAYOUTS["core-promoter"], options)
                   + gs.splice_set(genome, annotation, options))
        inside = [w for w in windows if w.chrom == "chrX" and w.end > validation.start and w.start < validation.end]
        assert (len(inside) == len(windows)) if region == "validation" else not inside
        assert all(gs.in_region(w, gs.REGIONS[region]) for w in windows)


@needs_data
def test_real_promoter_windows_are_on_the_genes_strand_and_backgrounds_far_from_tss(real):
    genome, annotation = real
    windows = gs.promoter_set(genome, annotation, gs.LAYOUTS["promoter"], gs.SetOptions(background="all"))
    tss = {(t.chrom, t.pos): t for t in annotation.tss}
    positions = np.array(sorted(t.pos for t in annotation.tss if t.chrom == "chrX"))
    for w in windows:
        if w.label == gs.PROMOTER:
            anchor = w.start + 249 if w.strand == "+" else w.end - 1 - 249
            assert tss[(w.chrom, anchor)].strand == w.strand
        else:
            nearest = np.abs(positions - np.clip(positions, w.start, w.end - 1)).min()
            assert nearest >= gs.MIN_TSS_DISTANCE
    promoters = [gs.cpg_count(w.seq) for w in windows if w.label == gs.PROMOTER]
    random = [gs.cpg_count(w.seq) for w in windows if w.kind == "random background"]
    assert np.mean(promoters) > 3 * np.mean(random)  # annotation/README.md: ~20 against ~2.5 per 300 bp


@needs_data
def test_training_sets_are_reproducible_and_stay_in_the_fit_region(real, tmp_path):
    """The genomic rows heads train on (`training-sets`): the same file on every build, every
    human window in the fit part of the training region (none in the selection part, none in
    the validation region, none beyond 40 Mb), promoters at annotated TSS."""
    genome, annotation = real
    fit = gs.REGIONS["fit"]
    for mix in (gs.TrainingMix("core-promoter", 1, 0.5), gs.TrainingMix("splice", 1)):
        windows = gs.training_set(genome, annotation, mix, DATA)
        human = [w for w in windows if w.kind != "other species"]
        assert human and all(gs.in_region(w, fit) for w in human)
        assert all(w.end <= 25_000_000 for w in human if w.chrom == "chrX")
        if mix.layout != "splice":
            other = [w for w in windows if w.kind == "other species"]
            positives = sum(w.label == gs.PROMOTER for w in windows)
            assert len(other) == round(positives * 0.5) and not any("human" in w.chrom for w in other)
            assert {w.kind for w in human} >= {f"{kind} background" for kind in gs.BACKGROUNDS}
        first = gs.ensure_training_set(mix, tmp_path / "a", DATA)
        again = gs.ensure_training_set(mix, tmp_path / "b", DATA)
        assert first.read_bytes() == again.read_bytes() and first.name == mix.file_name
        assert gs.write_csv(windows, tmp_path / "direct.csv") == len(windows)
        assert (tmp_path / "direct.csv").read_bytes() == first.read_bytes()
