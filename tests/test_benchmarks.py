"""The benchmark scripts' own logic: the GUE task table, the targets' arithmetic and the
bags of tokens of the tokenizer comparison (their runs on real data are not tests)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import gue, head_recipe, heldout
from benchmarks import vocabularies as token_bench
from vqdna_cli.head_info import HeadReads
from vqdna_cli.train import recipes


def test_neighbour_lookup_takes_the_most_frequent_middle_code():
    # level 1 (4 codes): between 1 and 2 the middle is 3 twice and 0 once; level 2 (8 codes)
    # always the left neighbour's code plus one.
    level1 = np.array([[1, 3, 2], [1, 3, 2], [1, 0, 2], [0, 0, 0]])
    level2 = np.array([[5, 6, 7], [2, 3, 4], [0, 1, 2], [6, 7, 0]])
    lookup = heldout.NeighbourLookup(np.stack([level1, level2], axis=-1), (4, 8))
    assert list(lookup.predict(0, np.array([1, 0, 3]), np.array([2, 0, 3]))) == [3, 0, -1]  # (3, 3) never seen
    assert list(lookup.predict(1, np.array([5, 6, 2]), np.array([7, 0, 4]))) == [6, 7, 3]


def test_the_weights_scripts_take_their_hold_outs_from_the_recipes():
    """One list of held-out parts (recipes.HELD_OUT): what heldout.py measures is what
    train_weights.sh and pretrain_gpu.sh keep out."""
    import subprocess

    printed = subprocess.run([sys.executable, "-m", "vqdna_cli.train.recipes", "--holdout-options"],
                             capture_output=True, text=True, check=True).stdout.split()
    assert printed == recipes.holdout_options()
    pairs = dict(zip(printed[1::2], printed[0::2]))  # value -> option
    for file, tail in recipes.HELD_OUT.values():
        assert pairs[file if tail is None else f"{file}:{tail}"] == ("--holdout-file" if tail is None else "--holdout-tail")
    assert heldout.HELD_OUT is recipes.HELD_OUT
    for name in ("train_weights.sh", "pretrain_gpu.sh"):
        script = (Path(recipes.__file__).parents[2] / "scripts" / name).read_text()
        assert "-m vqdna_cli.train.recipes --holdout-options" in script
        assert not any(file in script for file, _ in recipes.HELD_OUT.values())


def test_every_task_the_issue_names_has_a_head_and_a_published_score():
    names = {t.name for t in recipes.TASKS}
    expected = {"promoter", "promoter-tata", "promoter-notata", "core-promoter", "core-promoter-tata",
                "core-promoter-notata", "splice-site", "sars-cov-2-variant",
                *(f"tf-human-{i}" for i in range(5)), *(f"tf-mouse-{i}" for i in range(5)),
                *(f"histone-{m}" for m in recipes.HISTONE_MARKS)}
    assert names == expected and len(recipes.HISTONE_MARKS) == 10
    assert all(t.dnabert2 and t.vqdna_hrq for t in recipes.TASKS)
    assert recipes.BY_NAME["splice-site"].class_names == ("acceptor", "donor", "non-splice")


def test_test_files_never_train_and_dev_only_tasks_hold_out_part_of_dev():
    data = Path("/data")
    for task in recipes.TASKS:
        test = set(task.test_files(data))
        assert not test & set(task.train_files(data)), task.name
        assert not test & set(task.valid_files(data)), task.name
        if not task.has_train_split:
            assert task.valid_files(data) == ()  # 15 % of dev is held out instead


def _row(task, ours, scratch, dnabert2, hrq, full=True, group=None, d2_avg=False):
    return {"task": task, "group": group or task, "vqdna": ours, "from_scratch": scratch, "dnabert2": dnabert2,
            "vqdna_hrq": hrq, "full_training_data": full, "dnabert2_is_group_average": d2_avg}


def test_summary_compares_group_averages_as_groups():
    table = [_row("a", 60.0, 50.0, 70.0, 72.0), _row("b", 40.0, 45.0, 42.0, 44.0, full=False),
             _row("h1", 50.0, 40.0, 56.0, 58.0, full=False, group="histone", d2_avg=True),
             _row("h2", 60.0, 40.0, 56.0, 58.0, full=False, group="histone", d2_avg=True)]
    totals = gue.summary(table)
    assert totals["beats_from_scratch"] == ["a", "h1", "h2"] and totals["not_beating_from_scratch"] == ["b"]
    assert totals["full_data_average_vqdna"] == 60.0 and totals["reaches_hrq_average"] is False
    # "a" is 10 below DNABERT-2; the histone group averages 55, only 1 below its average.
    assert totals["more_than_5_below_dnabert2"] == [{"task": "a", "gap": -10.0}]


def test_a_finished_head_is_kept_only_when_it_was_trained_with_the_recipe():
    """`gue.py train` resumes by skipping heads already trained on this model with this recipe;
    a row cap the task never reached is the same as no cap."""
    recipe = {**gue.DEFAULT_RECIPE, "max_train_rows": None}

    def head(cap, available, center=0, model="m", lr=recipe["lr"]):
        settings = {**recipe, "max_train_rows": cap, "lr": lr, "adapter": "frozen"}
        info = {"model_sha256": model, "adapter": "frozen",
                "provenance": {"settings": settings, "data": {"train_rows_available": available}}}
        return {**info, "center_tokens": center} if center else info

    assert gue._trained_with(head(8000, 4880), "m", HeadReads(), recipe)  # the cap did not bind
    assert not gue._trained_with(head(8000, 30671), "m", HeadReads(), recipe)  # it did: retrain on every row
    assert gue._trained_with(head(None, 30671), "m", HeadReads(), recipe)
    assert not gue._trained_with(head(None, 30671), "m", HeadReads(32), recipe)  # the task now reads central tokens
    assert gue._trained_with(head(None, 30671, center=32), "m", HeadReads(32), recipe)
    assert not gue._trained_with(head(None, 30671, center=32), "m", HeadReads(32, 232), recipe)  # centred elsewhere now
    assert not gue._trained_with(head(None, 30671), "other model", HeadReads(), recipe)
    assert not gue._trained_with(head(None, 30671, lr=1e-2), "m", HeadReads(), recipe)
    assert not gue._trained_with(None, "m", HeadReads(), recipe)
    both = {**head(None, 30671), "both_strands": True}
    assert gue._trained_with(both, "m", HeadReads(both_strands=True), recipe)
    assert not gue._trained_with(both, "m", HeadReads(), recipe)  # the task reads one strand now
    older = head(None, 30671)
    del older["provenance"]["settings"]["dropout"]  # trained before the recipe set the head's dropout
    assert not gue._trained_with(older, "m", HeadReads(), recipe)
    with_files = {**head(None, 30671), "provenance": {**head(None, 30671)["provenance"], "data": {
        "train_rows_available": 30671, "train": ["/data/gue/prom/prom_300_all/dev.csv.gz"]}}}
    assert gue._trained_with(with_files, "m", HeadReads(), recipe, ["/elsewhere/gue/prom/prom_300_all/dev.csv.gz"])
    genome_rows = ["/work/genome-sets/promoter_fit_all_neg2_other1_seed0.csv"]  # now with genomic rows: retrain
    assert not gue._trained_with(with_files, "m", HeadReads(), recipe,
                                 ["/data/gue/prom/prom_300_all/dev.csv.gz", *genome_rows])
    test_split = ["/data/gue/prom/prom_300_all/test.csv.gz"]
    excluding = {**with_files, "provenance": {**with_files["provenance"], "data": {
        **with_files["provenance"]["data"], "exclude": test_split}}}
    train = ["/data/gue/prom/prom_300_all/dev.csv.gz"]
    assert gue._trained_with(excluding, "m", HeadReads(), recipe, train, ["/elsewhere/gue/prom/prom_300_all/test.csv.gz"])
    held_out = ["/work/genome-sets/promoter_rows_in_held_out_regions.csv"]  # now also without those rows: retrain
    assert not gue._trained_with(excluding, "m", HeadReads(), recipe, train, [*test_split, *held_out])


def test_only_heads_of_human_tasks_leave_out_the_held_out_regions_rows(tmp_path: Path):
    """GUE cut the promoter, splice and human TF rows from the human genome; the mouse TF,
    yeast histone and virus heads' training files stay as they were (no rows-in-held-out-
    regions file is made for them)."""
    for name in ("tf-mouse-0", "histone-H3", "sars-cov-2-variant"):
        assert gue.held_out_files(recipes.BY_NAME[name], tmp_path, tmp_path) == []
    assert not any(tmp_path.iterdir())
    human = {t.name for t in recipes.TASKS if t.cut_from_human_genome}
    assert human == {"promoter", "promoter-tata", "promoter-notata", "core-promoter", "core-promoter-tata",
                     "core-promoter-notata", "splice-site", *(f"tf-human-{i}" for i in range(5))}
    assert {t.name for t in recipes.TASKS if t.genome_set is not None} <= human


def test_the_table_can_keep_an_earlier_baseline_column():
    table = [{"task": "a", "vqdna": 80.0, "from_scratch": None, "from_scratch_train_minutes": None},
             {"task": "new", "vqdna": 50.0, "from_scratch": None, "from_scratch_train_minutes": None}]
    earlier = {"tasks": [{"task": "a", "vqdna": 70.0, "from_scratch": 65.0, "from_scratch_train_minutes": 2.0}]}
    kept = gue.keep_baseline(table, earlier)
    assert kept[0] == {"task": "a", "vqdna": 80.0, "from_scratch": 65.0, "from_scratch_train_minutes": 2.0}
    assert kept[1]["from_scratch"] is None and kept[1]["vqdna"] == 50.0
    rescored = [{"task": "a", "vqdna": 80.0, "from_scratch": 77.0, "from_scratch_train_minutes": 1.0}]
    assert gue.keep_baseline(rescored, earlier) == rescored  # a baseline head scored since wins


def test_heads_with_genomic_rows_build_them_in_the_work_folder(tmp_path, monkeypatch):
    import argparse

    from benchmarks import genome_sets

    built = []
    monkeypatch.setattr(genome_sets, "ensure_training_set", lambda mix, work: built.append((mix, work)) or work / mix.file_name)
    args = argparse.Namespace(genome_negatives=None, genome_other_species=None, genome_genes=None, genome_shifts=None)
    assert gue.genome_set_files(recipes.BY_NAME["tf-human-0"], tmp_path, args) == []
    promoter = recipes.BY_NAME["promoter"]
    assert gue.genome_set_files(promoter, tmp_path, args) == [str(tmp_path / "genome-sets" / promoter.genome_set.file_name)]
    args.genome_negatives = 5
    gue.genome_set_files(promoter, tmp_path, args)
    assert built[-1][0].negatives_per_positive == 5 and built[-1][0].layout == "promoter"
    family = [t.name for t in recipes.TASKS if t.genome_set is not None]
    assert family == ["promoter", "promoter-tata", "promoter-notata", "core-promoter", "core-promoter-tata",
                      "core-promoter-notata", "splice-site"]
    assert all(recipes.BY_NAME[name].genome_set.layout == ("splice" if name == "splice-site" else
                                                               "core-promoter" if name.startswith("core") else "promoter")
               for name in family)


def test_the_recipe_benchmark_trains_a_head_per_epoch_curve_and_tabulates_it():
    """head_recipe.py: one validation MCC per epoch through the product's head loop, and a
    table whose 'higher than before' counts tasks against the first recipe."""
    from vqdna_cli.train.head import LabelledFeatures

    rng = np.random.default_rng(0)

    def separable(n: int) -> LabelledFeatures:
        labels = np.arange(n) % 2
        vectors = rng.normal(size=(n, 6)).astype(np.float32)
        vectors[:, 0] += 4 * labels
        return LabelledFeatures(vectors, np.arange(n), labels)

    curve = head_recipe.validation_curve(separable(640), separable(64), 0.5, 3e-3, seed=0)  # 10 steps an epoch
    assert len(curve) == head_recipe.EPOCHS and max(curve) > 0.9
    names = list(head_recipe.RECIPES)
    results = {"a": {n: {"best": 0.5 + 0.1 * i, "last5": 0.4} for i, n in enumerate(names)},
               "b": {n: {"best": 0.5 - 0.1 * i, "last5": 0.4} for i, n in enumerate(names)}}
    table = head_recipe.markdown(results, ["a", "b"], "m", 2)
    assert f"| {names[0]} | 0.500 | 0.400 | 0 of 2 |" in table
    assert f"| {names[1]} | 0.500 | 0.400 | 1 of 2 |" in table


def test_kmer_bags_count_non_overlapping_words_and_skip_ambiguous_ones():
    bags = token_bench.kmer_bags(["AAAAAAAAAAAC", "AAAAAANCCCCC" + "CCCCCC"])
    assert bags[0, 0] == pytest.approx(0.5) and bags[0, 1] == pytest.approx(0.5)  # AAAAAA, AAAAAC
    ccccc = int("111111", 4)
    assert bags[1, 0] == pytest.approx(0.5) and bags[1, ccccc] == pytest.approx(0.5)  # NCCCCC skipped


def test_linear_probe_separates_separable_bags():
    rng = np.random.default_rng(0)
    labels = np.arange(90) % 3
    bags = rng.random((90, 12)).astype(np.float32)
    bags[np.arange(90), labels] += 2.0  # class k is marked by token k
    result = token_bench.linear_probe(bags[:60], labels[:60], bags[60:75], labels[60:75], bags[75:], labels[75:], 3)
    assert result["test_macro_f1"] == 1.0


def test_the_vocabulary_probe_never_trains_on_a_window_that_is_also_in_dev_or_test():
    train = (["AAAA", "CCCC", "GGGG", "TTTT"], np.array([0, 1, 2, 3]))
    dev, test = (["CCCC"], np.array([1])), (["TTTT", "ACGT"], np.array([0, 1]))
    sequences, labels = token_bench.without_copies(train, dev, test)
    assert sequences == ["AAAA", "GGGG"] and labels.tolist() == [0, 2]


def test_a_task_with_its_own_recipe_trains_with_it_unless_the_command_line_says_otherwise():
    recipe = dict(gue.DEFAULT_RECIPE)
    variant, promoter = recipes.BY_NAME["sars-cov-2-variant"], recipes.BY_NAME["promoter"]
    own = gue.recipe_for(variant, recipe, given=set())
    assert own["epochs"] == 100 != recipe["epochs"] and own["dropout"] == 0.0 != recipe["dropout"]
    assert own["batch"] == recipe["batch"]  # what the task does not set comes from the common recipe
    assert gue.recipe_for(recipes.BY_NAME["tf-human-0"], recipe, given=set()) == recipe
    # The 300 bp promoter heads, whose genomic rows make most training rows negatives, train
    # with balanced classes; every other head as the common recipe says.
    assert gue.recipe_for(promoter, recipe, given=set()) == {**recipe, "balance_classes": True}
    balanced = [t.name for t in recipes.TASKS if gue.recipe_for(t, recipe, set()).get("balance_classes")]
    assert balanced == ["promoter", "promoter-tata", "promoter-notata"]
    given = gue.recipe_for(variant, {**recipe, "epochs": 5}, given={"epochs"})
    assert given["epochs"] == 5 and given["dropout"] == 0.0


def test_gue_lengths_records_what_a_head_trained_on_and_leaves_its_weights(model_copy: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch):
    """`gue.py lengths` on a head trained before head.json recorded its window lengths: the
    lengths of the rows it trained on (test sequences removed) are added, the weights untouched."""
    import argparse
    import gzip
    import hashlib
    import json
    import shutil

    from conftest import random_dna

    folder = tmp_path / "data" / "gue" / "prom" / "prom_300_tata"
    folder.mkdir(parents=True)
    lengths = {"train": (48, 52), "dev": (50, 50), "test": (30, 30)}
    for split, (short, long) in lengths.items():
        rows = [f"{random_dna(short if i % 2 else long, 50 * len(split) + i)},{i % 2}" for i in range(10)]
        (folder / f"{split}.csv.gz").write_bytes(gzip.compress(("sequence,label\n" + "\n".join(rows) + "\n").encode()))
    monkeypatch.setenv("VQDNA_DATA", str(tmp_path / "data"))
    head_dir = model_copy / "heads" / "promoter-tata"
    shutil.copytree(model_copy / "heads" / "toy", head_dir)
    info = json.loads((head_dir / "head.json").read_text())
    del info["train_window_lengths"]
    (head_dir / "head.json").write_text(json.dumps(info))
    weights = hashlib.sha256((head_dir / "head.safetensors").read_bytes()).hexdigest()

    gue.lengths(argparse.Namespace(model=str(model_copy), tasks=["promoter-tata"]))
    assert json.loads((head_dir / "head.json").read_text())["train_window_lengths"] == [48, 52]
    assert hashlib.sha256((head_dir / "head.safetensors").read_bytes()).hexdigest() == weights
    assert info["sha256"]["head.safetensors"] == weights


def test_the_seed_table_averages_each_models_seeds(tmp_path: Path):
    import json

    def weights(name: str, scores: dict[str, float]) -> Path:
        for task, mcc in scores.items():
            folder = tmp_path / name / "heads" / task
            folder.mkdir(parents=True)
            (folder / "head.json").write_text(json.dumps({"test": {"mcc": mcc, "macro_f1": mcc}}))
        return tmp_path / name

    ours = [weights("a0", {"tf-mouse-2": 0.70, "histone-H4": 0.72}), weights("a1", {"tf-mouse-2": 0.68, "histone-H4": 0.70})]
    base = [weights("b0", {"tf-mouse-2": 0.71, "histone-H4": 0.70}), weights("b1", {"tf-mouse-2": 0.71})]
    table = gue.seed_rows(ours, base)
    assert [r["task"] for r in table] == ["tf-mouse-2"]  # histone-H4 lacks a baseline seed
    assert table[0]["vqdna"] == pytest.approx([70, 68]) and table[0]["vqdna_mean"] == pytest.approx(69)
    text = gue.seeds_markdown(table)
    assert "| tf-mouse-2 | 70.0 / 68.0 | 69.0 | 71.0 / 71.0 | 71.0 | -2.0 |" in text
    assert "above the baseline's on 0 of 1 tasks" in text


def test_the_strided_probe_model_makes_one_token_per_stride_bases():
    """benchmarks/stride_probe.py: L bases -> ceil(L / stride) tokens, a token counts as real
    when any of its bases is, the decoder gives back one prediction per base, and a sequence
    gets the same tokens alone as padded in a batch."""
    from benchmarks import stride_probe
    import torch

    from vqdna_cli.data.alphabet import PAD_CODE

    torch.manual_seed(0)
    model = stride_probe.StridedVQDNA(4).eval()
    bases = torch.randint(0, 4, (2, 40))
    bases[1, 30:] = PAD_CODE  # 30 real bases: 7 whole tokens and one of 2 bases
    with torch.no_grad():
        quantized = model.quantize(bases)
        valid = model.valid_mask(bases)
        alone = model.quantize(bases[1:, :30]).tokens
        logits = model.reconstruct(quantized.embedding, valid)
    assert quantized.tokens.shape == (2, 10, 2) and logits.shape == (2, 40, 4)
    assert valid.sum(1).tolist() == [10, 8]
    assert torch.equal(alone[0], quantized.tokens[1, :8])


def test_the_strided_probe_features_cover_the_same_bases_as_the_shipped_heads_tokens():
    from benchmarks import stride_probe
    import torch

    torch.manual_seed(0)
    model = stride_probe.StridedVQDNA(4).eval()
    sizes = sum(model.cfg.quantizer.codebook_sizes)
    width, dim = model.cfg.transformer.width, model.cfg.encoder.width
    plain = stride_probe.features(model, 4, ["ACGT" * 20, "GGCA" * 30])
    central = stride_probe.features(model, 4, ["ACGT" * 20, "GGCA" * 30], center_tokens=32, both_strands=True)
    assert plain.shape == (2, width + sizes)
    assert central.shape == (2, width + sizes + 8 * dim)  # 32 bases = 8 tokens of 4
    # each level's code frequencies sum to one
    assert plain[:, width : width + 256].sum(1) == pytest.approx([1, 1], abs=1e-5)


def test_the_stride_table_sets_each_model_beside_the_shipped_one(tmp_path: Path, monkeypatch):
    import json

    from benchmarks import stride_probe

    monkeypatch.setattr(stride_probe, "TASKS", ["tf-mouse-2", "histone-H4"])
    run = tmp_path / "s4"
    run.mkdir()
    (run / "heads.json").write_text(json.dumps({
        "tf-mouse-2/stride4": {"valid_mcc": 0.6}, "tf-mouse-2/shipped": {"valid_mcc": 0.7},
        "histone-H4/stride4": {"valid_mcc": 0.5}, "histone-H4/shipped": {"valid_mcc": 0.7}}))
    (run / "speed.json").write_text(json.dumps({"shipped": {"tokenize_kbp_s": 100.0, "embed_kbp_s": 40.0},
                                                "stride4": {"tokenize_kbp_s": 300.0, "embed_kbp_s": 150.0}}))
    (run / "tokenizer.json").write_text(json.dumps({"minutes": 3.0, "reconstruction_accuracy": 1.0,
                                                    "level1_usage": 1.0, "level2_usage": 0.9}))
    (run / "pretrain.json").write_text(json.dumps({"minutes": 20.0, "level1_masked_acc": 0.013, "level2_masked_acc": 0.012}))
    text = stride_probe.table([run])
    assert "| tf-mouse-2 | 0.700 | 0.600 |" in text
    assert "| **mean** | **0.700** | **0.550** |" in text
    assert "| embed speed, x the shipped model's in the same run | 1.0x | 3.8x (150 kbp/s) |" in text
    assert "| 1 token per 4 bases | 3.0 | 100.00 % | 100 % / 90 % | 20.0 | 1.3 % / 1.2 % |" in text


def test_the_stride_speed_stage_times_both_models_in_one_run(tmp_path: Path):
    """The table gives each strided model's speed as a ratio to the shipped model's, so one
    run must time both."""
    import json

    from benchmarks import stride_probe
    import torch

    torch.save(stride_probe.StridedVQDNA(4).state_dict(), tmp_path / "pretrain.pt")
    stride_probe.stage_speed(tmp_path, 4, windows=1, repeats=1)
    speed = json.loads((tmp_path / "speed.json").read_text())
    assert set(speed) == {"shipped", "stride4"}
    assert all(rate > 0 for rates in speed.values() for rate in rates.values())


def test_the_roofline_counts_the_arithmetic_per_base_and_reports_fractions_of_the_limit(tiny_model_dir: Path):
    from benchmarks import roofline

    window = roofline.flops_per_base(tiny_model_dir)
    read = roofline.flops_per_base(tiny_model_dir, 20)
    assert 0 < window["tokenizer"] and 0 < window["transformer"]
    assert window["embed"] == window["tokenizer"] + window["transformer"]
    assert read["piece_bases"] == 20 and read["tokenizer"] == window["tokenizer"]
    # attention's work per token grows with the piece: counted, not left at zero
    assert window["transformer"] > read["transformer"]
    args = roofline.parse_args(["--threads", "2"])
    rate = {"bases": 1000, "returncode": 0, "seconds_excl_startup": 1.0, "bases_per_second_excl_startup": 1000.0,
            "fraction_of_limit": 0.6}
    io = {"parse_bases_per_second": 1e7, "encode_bases_per_second": 1e8, "npz_bases_per_second": 1e6}
    flops = {"genome": window, "reads": read}
    results = {"matmul_flops_per_second": 1e11, "flops_per_base": flops,
               "limit_bases_per_second": {n: {k: 1e11 / f[k] for k in ("tokenizer", "embed")} for n, f in flops.items()},
               "tokenize_genome": rate, "tokenize_reads": rate, "embed_genome": {"returncode": 1, "error": "boom"},
               "embed_reads": {**rate, "fraction_of_limit": 0.1}, "io_genome": io, "io_reads": io,
               "startup_seconds": {"tokenize": 1.0, "embed": 1.0}, "machine": {"load_average_at_start": (0, 0, 0)}}
    text = "\n".join(roofline.report(results, args, "cmd"))
    assert "| tokenize | genome | 1,000 | 1.0 | 1.0 |" in text and ">= 0.5 PASS" in text
    assert "FAILED: boom" in text and ">= 0.4 FAIL" in text
    assert "pieces of 20 bases" in text
    assert "human genome's worth (3.1 Gb) takes 861.1 hours" in text  # 3.1e9 bases at 1,000 bases/s
    # a GPU's embed limit: the tokenizer at its fp32 rate, the Transformer at its bf16 rate
    gpu = roofline.limits_of({"tokenizer": 100.0, "transformer": 300.0}, {"fp32": 1e4, "bf16": 3e4})
    assert gpu == {"tokenizer": 100.0, "embed": 1 / (100 / 1e4 + 300 / 3e4)}
    assert roofline.limits_of({"tokenizer": 100.0, "transformer": 300.0}, {"fp32": 1e4})["embed"] == 1e4 / 400
    results["ceilings"] = {"fp32": 2e13, "bf16": 6e13}
    assert "fp32 (TF32 off) 20.0 TFLOP/s, bf16 60.0 TFLOP/s" in "\n".join(roofline.report(results, args, "cmd"))
    assert "| FASTA parsing | 10,000 | 10,000 |" in text


def test_gue_train_makes_a_head_for_a_task_without_a_train_split(model_copy: Path, tmp_path: Path, monkeypatch):
    """Dev-only tasks (mouse TF 1, the histone marks) train on part of dev and select on the
    rest: `gue train` must give them no validation file, not fail on the missing one."""
    import gzip

    from conftest import random_dna

    task = recipes.BY_NAME["tf-mouse-1"]
    assert not task.has_train_split
    folder = tmp_path / "data" / task.folder
    folder.mkdir(parents=True)
    for split, seed in (("dev", 1), ("test", 500)):
        rows = [f"{random_dna(60, seed + i, 'AT' if i % 2 else 'GC')},{i % 2}" for i in range(40)]
        with gzip.open(folder / f"{split}.csv.gz", "wt") as handle:
            handle.write("sequence,label\n" + "\n".join(rows) + "\n")
    monkeypatch.setenv("VQDNA_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "argv", ["gue.py", "train", "--model", str(model_copy), "--out", str(model_copy),
                                      "--work-dir", str(tmp_path / "work"), "--tasks", "tf-mouse-1", "--epochs", "2",
                                      "--threads", "1", "--all-layers", "1"])
    gue.main()
    info = json.loads((model_copy / "heads" / "tf-mouse-1" / "head.json").read_text())
    assert info["all_layers"] is True and info["both_strands"] is True
    data = info["provenance"]["data"]
    assert data["valid"] == "15% of the training rows (seed 0)"
    assert data["train_rows"] + data["valid_rows"] == 40 and data["valid_rows"] > 0


def test_the_roofline_times_the_whole_tokens_npz(tmp_path: Path) -> None:
    from benchmarks import roofline

    fasta = tmp_path / "two.fa"
    fasta.write_text(">a\nACGTACGTTTGCA\n>b\nNNACGT\n")
    rates = roofline.io_rates(fasta, tmp_path)
    assert rates["bases"] == 19 and rates["npz_bases_per_second"] > 0
    written = np.load(tmp_path / "io_tokens.npz")
    assert list(written["offsets"]) == [0, 13, 19] and list(written["positions"][13:]) == list(range(6))
    tokens = written["tokens"]
    assert tokens.shape == (19, 2) and tokens[:, 0].max() < 256 and tokens[:, 1].max() < 512
    # level 1 is the 4-mer at each base: equal 4-mers, equal tokens
    assert tokens[0, 0] == tokens[4, 0] and tokens[0, 0] != tokens[1, 0]


def test_the_shipped_genome_scored_heads_trained_without_the_held_out_regions_rows():
    """Each head of a human task records, in its head.json, that GUE's rows of chrX 30-70 Mb
    were excluded (and its test split); the other heads exclude their test split."""
    heads = Path(__file__).resolve().parent.parent / "weights" / "default" / "heads"
    for task in recipes.TASKS:
        info = json.loads((heads / task.name / "head.json").read_text())
        excluded = gue._names(info["provenance"]["data"]["exclude"])
        expected = gue._names(task.test_files(Path("data")))
        if task.cut_from_human_genome:
            expected.append(f"genome-sets/{task.name}_rows_in_held_out_regions.csv")
        assert excluded == expected, task.name


def test_a_results_table_says_which_command_commit_and_machine_made_it(monkeypatch, tmp_path):
    """Tables were written without the commit or machine they were measured at, so a number
    could not be traced to the code that made it; the commit says when files differ from it."""
    import datetime
    import subprocess

    from benchmarks import provenance

    line = provenance.made_by("benchmarks.gue", ["table", "--ours", "my runs/x"])
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=provenance.ROOT, capture_output=True,
                          text=True).stdout.strip()
    assert line.startswith("Made by `python -m benchmarks.gue table --ours 'my runs/x'` on "
                           f"{datetime.date.today().isoformat()} at commit ")
    assert f"cores, torch {__import__('torch').__version__}" in line and line.endswith(".")
    if head:  # a git checkout: its commit, marked where tracked files were changed
        assert provenance.commit().split("+")[0] == head
    repo = tmp_path / "repo"
    repo.mkdir()
    git = lambda *args: subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,  # noqa: E731
                                       check=True).stdout.strip()
    git("init", "-q")
    (repo / "f.txt").write_text("a")
    (repo / "pyproject.toml").write_text("[project]\nname = 'vqdna'\n")  # what marks a checkout of vqdna
    git("add", "f.txt", "pyproject.toml")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    monkeypatch.setattr(provenance, "ROOT", repo)
    assert provenance.commit() == git("rev-parse", "--short", "HEAD")
    (repo / "f.txt").write_text("b")
    assert provenance.commit() == git("rev-parse", "--short", "HEAD") + "+changes"
    monkeypatch.setattr(provenance, "ROOT", tmp_path / "missing")
    assert provenance.commit() == "unknown"
