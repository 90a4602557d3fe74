"""The training stages on tiny data: what they write, hold-out, and exact resume."""

from __future__ import annotations

import dataclasses

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from vqdna_cli import api
from vqdna_cli.checkpoint import load_model
from vqdna_cli.errors import VqdnaWarning
from vqdna_cli.options import (ClassifyOptions, EmbedOptions, FinetuneSettings, GenomeSet, HeadRows, InputSpec,
                               RunOptions, StageSettings, TrainControl)

from conftest import fasta_text, random_dna

CPU = RunOptions(device="cpu", threads=1, seed=0)
QUIET = TrainControl(quiet=True)


def train_tokenizer(genomes: list[str], out: Path, steps: int, holdout_files=(), **control) -> dict:
    """The tokenizer stage of a tiny model on `genomes`, quietly on one CPU thread."""
    return api.train_tokenizer(GenomeSet(tuple(genomes), holdout_files), out, "tiny",
                               StageSettings(steps=steps, lr=2e-3, window=64, batch=4),
                               TrainControl(quiet=True, **control), CPU)


def pretrain(genomes: list[str], tokenizer: Path, out: Path, steps: int, batch: int, **options) -> dict:
    return api.pretrain(GenomeSet(tuple(genomes)), out, StageSettings(steps=steps, lr=1e-3, window=64, batch=batch),
                        QUIET, RunOptions(tokenizer, device="cpu", threads=1), **options)


def finetune(model_dir: Path, task: str, train: list[str], rows: dict | None = None, **settings) -> dict:
    """A head `task` on `train` (`rows`: the other HeadRows fields), quietly on one CPU thread."""
    return api.finetune(HeadRows(tuple(train), **(rows or {})), FinetuneSettings(task, **settings),
                        RunOptions(model_dir, device="cpu", threads=1), QUIET)


def classify(fasta: Path, out: Path, task: str, model_dir: Path, **options) -> dict:
    return api.classify(InputSpec(str(fasta)), out, task, RunOptions(model_dir, threads=1), ClassifyOptions(**options))


@pytest.fixture(scope="module")
def genomes(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("genomes")
    train = folder / "train.fa"
    train.write_text(fasta_text({f"chr{i}": random_dna(2000, 100 + i) for i in range(2)}))
    heldout = folder / "heldout.fa"
    heldout.write_text(fasta_text({"other": random_dna(800, 200)}))
    return [str(train), str(heldout)]


def test_a_tail_as_long_as_its_record_is_described_as_all_of_it(genomes) -> None:
    """--holdout-tail past a record's length held it all out, but the record said "last 800
    bp" where --holdout-file says "all": the two wholes read differently."""
    from vqdna_cli.train.genomes import load_genomes

    whole = load_genomes(genomes, holdout_tail={"heldout.fa": 5000}).description["heldout"]
    part = load_genomes(genomes, holdout_tail={"heldout.fa": 300}).description["heldout"]
    assert (whole, part) == (["heldout.fa:other (all 800 bp)"], ["heldout.fa:other (last 300 bp)"])


def test_tokenizer_stage_writes_a_loadable_model_with_provenance(genomes, tmp_path: Path):
    out = tmp_path / "tok"
    metrics = train_tokenizer(genomes, out, steps=4, holdout_files=("heldout.fa",))
    model, info = load_model(out)
    record = info["provenance"]["tokenizer"]
    assert record["data"]["heldout"] == ["heldout.fa:other (all 800 bp)"]
    assert all("heldout.fa" not in entry for entry in record["data"]["train"])
    import torch

    assert record["threads"] == CPU.threads and record["torch_version"] == torch.__version__
    assert set(metrics) >= {"reconstruction_accuracy", "level1_usage", "level2_usage", "level1_perplexity"}
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4


def test_holdout_tail_is_cut_from_training(genomes, tmp_path: Path):
    from vqdna_cli.train.genomes import load_genomes

    split = load_genomes(genomes, holdout_tail={"train.fa": 500})
    assert [len(r) for r in split.train] == [1500, 1500, 800]
    assert [len(r) for r in split.heldout] == [500, 500]


def test_a_force_run_its_data_refuses_leaves_the_earlier_model(genomes, tmp_path: Path):
    """--force removes the earlier run's files once the data is read: a window longer than
    every record, refused before any step, had already removed them."""
    from vqdna_cli.errors import InputError

    out = tmp_path / "tok"
    train_tokenizer(genomes, out, steps=2)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    with pytest.raises(InputError, match="no training sequence is at least 5000 bases long"):
        api.train_tokenizer(GenomeSet(tuple(genomes)), out, "tiny", StageSettings(steps=2, lr=2e-3, window=5000,
                            batch=4), TrainControl(quiet=True, force=True), CPU)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    unknown = tmp_path / "unknown.fa"  # held out, and nothing but N: no window to score on
    unknown.write_text(fasta_text({"gap": "N" * 1000}))
    with pytest.raises(InputError, match="almost all N"):
        api.pretrain(GenomeSet((genomes[0], str(unknown)), ("unknown.fa",)), out,
                     StageSettings(steps=2, lr=1e-3, window=64, batch=4), TrainControl(quiet=True, force=True),
                     RunOptions(out, device="cpu", threads=1))
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_resumed_training_equals_uninterrupted_training(genomes, tmp_path: Path):
    """Stopping after one step and resuming gives the same weights as one run: batches,
    masks and the random generator all continue where they stopped."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_tokenizer(genomes, straight, steps=5)
    train_tokenizer(genomes, resumed, steps=5, max_minutes=0.0)
    assert json.loads((resumed / "checkpoint.json").read_text())["step"] == 1
    train_tokenizer(genomes, resumed, steps=5, resume=True)
    a, b = load_file(str(straight / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_resumed_run_logs_each_step_once(genomes, tmp_path: Path):
    """A run stopped after logging a step but before the next checkpoint logged that step
    again on --resume (and kept a line cut short by the stop)."""
    out = tmp_path / "tok"
    train_tokenizer(genomes, out, steps=4, max_minutes=0.0)
    log = out / "train_log.jsonl"
    first = json.loads(log.read_text().splitlines()[-1])
    assert first["step"] == 1
    with log.open("a") as handle:  # what the stopped run had logged past its checkpoint
        handle.write(json.dumps({**first, "step": 2}) + "\n" + '{"stage": "tok')
    train_tokenizer(genomes, out, steps=4, resume=True)
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[0] == 1 and steps[-1] == 4


def test_a_resumed_run_records_the_minutes_of_all_its_parts(genomes, tmp_path: Path):
    """wall_minutes counts the stopped part too: each checkpoint records the run's minutes so
    far, and the resumed part adds its own (the first part here is said to have taken 30)."""
    out = tmp_path / "tok"
    train_tokenizer(genomes, out, steps=5, max_minutes=0.0)
    checkpoint = out / "checkpoint.json"
    meta = json.loads(checkpoint.read_text())
    assert 0 <= meta["minutes"] < 30
    checkpoint.write_text(json.dumps({**meta, "minutes": 30.0}))
    train_tokenizer(genomes, out, steps=5, resume=True)
    _, info = load_model(out)
    assert 30 <= info["provenance"]["tokenizer"]["wall_minutes"] < 35
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["minutes"] < 30 <= log[-1]["minutes"]


def test_pretrain_then_finetune_give_a_working_head(genomes, tmp_path: Path):
    train_tokenizer(genomes, tmp_path / "tok", steps=3)
    metrics = pretrain(genomes, tmp_path / "tok", tmp_path / "pre", steps=3, batch=4)
    assert {"heldout_loss", "heldout_base_acc", "heldout_hidden_base_acc"} <= set(metrics)
    rows = ["sequence,label"] + [f"{random_dna(40, i, 'AT' if i % 2 else 'ACGT')},{i % 2}" for i in range(40)]
    test_rows = rows[:1] + rows[1:5]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "test.csv").write_text("\n".join(test_rows) + "\n")
    finetune(tmp_path / "pre", "demo", [str(tmp_path / "train.csv")], {"exclude_files": (str(tmp_path / "test.csv"),)},
             class_names=("mixed", "at-rich"), epochs=1, batch=8)
    head = json.loads((tmp_path / "pre/heads/demo/head.json").read_text())
    assert head["class_names"] == ["mixed", "at-rich"] and head["labels"] == ["0", "1"]
    assert head["provenance"]["data"]["dropped_in_exclude"] == 4  # the test rows never train
    assert head["provenance"]["data"]["train_rows"] + head["provenance"]["data"]["valid_rows"] == 36


def test_excluded_sequences_do_not_select_the_head_either(tmp_path: Path):
    """Rows of held-out data (a test split, a held-out region) are removed from the validation
    rows too: they must not choose the epoch a head keeps."""
    seqs = [random_dna(30, 50 + i) for i in range(12)]
    (tmp_path / "train.csv").write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(seqs[:8])))
    (tmp_path / "valid.csv").write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(seqs[8:])))
    (tmp_path / "held_out.csv").write_text(f"sequence,label\n{seqs[1]},1\n{seqs[9]},1\n{seqs[10]},0\n")
    data = api.head_training_data(HeadRows((str(tmp_path / "train.csv"),), valid_files=(str(tmp_path / "valid.csv"),),
                                           exclude_files=(str(tmp_path / "held_out.csv"),)))
    assert [s for s, _ in data.valid_rows] == [seqs[8], seqs[11]]
    assert seqs[1] not in {s for s, _ in data.rows} and len(data.rows) == 7
    assert data.record["dropped_in_exclude"] == 1 and data.record["valid_dropped_in_exclude"] == 2


@pytest.mark.filterwarnings("ignore:sequences under more than one label")  # seqs[10] is 0 in train, 1 in valid
def test_head_training_data_keeps_test_and_validation_copies_out_of_training(tmp_path: Path):
    """Rows whose sequence is in the test split never train; nor do copies of validation rows."""
    seqs = [random_dna(30, i) for i in range(20)]
    train = seqs + seqs[:3] + [seqs[10]]  # three copies of rows that will be in test, one of a valid row
    (tmp_path / "train.csv").write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(train)))
    (tmp_path / "test.csv").write_text("sequence,label\n" + "".join(f"{s},0\n" for s in seqs[:3]))
    (tmp_path / "valid.csv").write_text("sequence,label\n" + "".join(f"{s},1\n" for s in seqs[10:12]))
    data = api.head_training_data(HeadRows((str(tmp_path / "train.csv"),), valid_files=(str(tmp_path / "valid.csv"),),
                                           exclude_files=(str(tmp_path / "test.csv"),)))
    trained = {s for s, _ in data.rows}
    assert not trained & set(seqs[:3]) and not trained & set(seqs[10:12])
    assert data.record["dropped_in_exclude"] == 6 and data.record["dropped_in_valid"] == 3
    assert data.record["valid_dropped_in_exclude"] == 0
    assert len(data.rows) == data.record["train_rows"] == 24 - 6 - 3 and data.labels == ["0", "1"]
    split = api.head_training_data(HeadRows((str(tmp_path / "train.csv"),), valid_fraction=0.25), seed=4)
    again = api.head_training_data(HeadRows((str(tmp_path / "train.csv"),), valid_fraction=0.25), seed=4)
    assert split.valid_rows == again.valid_rows and len(split.valid_rows) == 6  # seeded: the same rows each time
    assert not {s for s, _ in split.rows} & {s for s, _ in split.valid_rows}


def test_rows_written_with_u_are_the_rows_written_with_t(tmp_path: Path):
    """U is read as T, but --exclude and the head's record of its rows compared the letters:
    training rows written as RNA kept the test rows they copy, and `evaluate --record` on them
    was taken as a test score."""
    from vqdna_cli.train.row_sketch import share_seen, sketch

    seqs = [random_dna(30, i) for i in range(20)]
    (tmp_path / "train.csv").write_text("sequence,label\n" + "".join(f"{s.replace('T', 'U')},{i % 2}\n"
                                                                    for i, s in enumerate(seqs)))
    (tmp_path / "test.csv").write_text("sequence,label\n" + "".join(f"{s},0\n" for s in seqs[:4]))
    data = api.head_training_data(HeadRows((str(tmp_path / "train.csv"),), valid_fraction=0.25,
                                           exclude_files=(str(tmp_path / "test.csv"),)))
    assert data.record["dropped_in_exclude"] == 4
    kept = {s.replace("U", "T") for s, _ in data.rows + data.valid_rows}
    assert not kept & set(seqs[:4]) and len(kept) == 16
    assert share_seen(sketch([s.replace("T", "U") for s in seqs]), seqs) == 1.0


def test_max_train_rows_keeps_a_row_of_every_class(tmp_path: Path):
    """The seeded subset could leave a class out: the head then lacked it without a word, or
    the run failed saying to give rows the file has. A subset that holds every class is the
    seeded draw as it was; fewer rows than classes is refused."""
    from vqdna_cli.api.train import _subset_of_every_class
    from vqdna_cli.errors import UsageError

    rows = [(random_dna(30, i), "at" if i % 2 else "gc") for i in range(40)] + \
        [(random_dna(30, 100 + i), "rare") for i in range(2)]
    (tmp_path / "train.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    (tmp_path / "valid.csv").write_text("sequence,label\n" + "".join(f"{random_dna(30, 200 + i)},{y}\n"
                                                                    for i, y in enumerate(["at", "gc", "rare"])))
    left_out = 0
    for seed in range(10):
        spec = HeadRows((str(tmp_path / "train.csv"),), valid_files=(str(tmp_path / "valid.csv"),), max_train_rows=10)
        data = api.head_training_data(spec, seed=seed)
        assert len(data.rows) == 10 and {y for _, y in data.rows} == {"at", "gc", "rare"}, seed
        order = list(np.random.default_rng(seed + 1).permutation(len(rows)))
        if {rows[i][1] for i in order[:10]} == {"at", "gc", "rare"}:
            assert sorted(data.rows) == sorted(rows[i] for i in order[:10])
        else:
            left_out += 1
    assert left_out  # some seed's plain draw left "rare" out
    with pytest.raises(UsageError, match="^--max-train-rows 2 is fewer than the 3 classes"):
        _subset_of_every_class(rows, list(range(len(rows))), 2)


def test_a_rare_class_keeps_a_training_row_whatever_the_seed(tmp_path: Path):
    """A class of one row trains under every seed, not only where the draw leaves it out of
    the validation rows; a draw that already keeps every class is unchanged."""
    rows = [(random_dna(30, i), str(i % 2)) for i in range(40)] + [(random_dna(30, 99), "2")]
    (tmp_path / "train.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    spec = HeadRows((str(tmp_path / "train.csv"),), valid_fraction=0.25)
    held_rare = 0
    for seed in range(12):
        order = np.random.default_rng(seed).permutation(len(rows))
        drawn = {rows[i] for i in order[:10]}
        data = api.head_training_data(spec, seed=seed)
        assert ("2" in {y for _, y in data.rows}) and data.labels == ["0", "1", "2"]
        if rows[-1] in drawn:
            held_rare += 1
            assert set(data.valid_rows) == drawn - {rows[-1]}
        else:
            assert set(data.valid_rows) == drawn
    assert held_rare  # some seed drew it into the validation rows


def test_sequences_under_two_labels_are_warned_about(tmp_path: Path):
    rows = [(random_dna(40, i), str(i % 2)) for i in range(20)]
    twice = rows[3][0]
    (tmp_path / "train.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows) + f"{twice},0\n")
    said = rf"more than one label in the training and validation rows: 1 \(the first, {twice[:30]}\.\.\., as 0, 1\)"
    with pytest.warns(VqdnaWarning, match=said):
        api.head_training_data(HeadRows((str(tmp_path / "train.csv"),), valid_fraction=0.25))
    (tmp_path / "same.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows + rows[:2]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        api.head_training_data(HeadRows((str(tmp_path / "same.csv"),), valid_fraction=0.25))  # copies, one label


@pytest.mark.parametrize("adapter", ["lora", "full", "frozen"])
def test_every_adapter_writes_a_head_that_classify_uses(tiny_model_dir: Path, tmp_path: Path, adapter: str):
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    rows = ["sequence,label"] + [f"{random_dna(40, i, 'AT' if i % 2 else 'ACGT')},{i % 2}" for i in range(30)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    finetune(model_dir, "strand", [str(tmp_path / "train.csv")], adapter=adapter, epochs=1, batch=8)
    tensors = load_file(str(model_dir / "heads/strand/head.safetensors"))
    has_lora = any("lora" in name for name in tensors)
    assert has_lora == (adapter == "lora")
    has_transformer = any(name.startswith("transformer.") for name in tensors)
    assert has_transformer == (adapter != "frozen")  # a frozen head is the MLP alone
    settings = json.loads((model_dir / "heads/strand/head.json").read_text())["provenance"]["settings"]
    assert settings.get("dropout") == (0.5 if adapter == "frozen" else None)  # recorded where it applies
    assert settings.get("balance_classes") == (False if adapter == "frozen" else None)
    assert json.loads((model_dir / "heads/strand/head.json").read_text())["train_window_lengths"] == [40, 40]
    (tmp_path / "x.fa").write_text(">x\n" + random_dna(40, 99) + "\n")
    classify(tmp_path / "x.fa", tmp_path / "out.tsv", "strand", model_dir)
    rows = [line.split("\t") for line in (tmp_path / "out.tsv").read_text().splitlines()[1:]]  # after the header
    assert len(rows) == 1 and abs(float(rows[0][3]) + float(rows[0][4]) - 1) < 1e-3


@pytest.mark.parametrize("adapter", ["lora", "full"])
def test_a_lora_or_full_head_trains_window_by_window_on_sequences_longer_than_the_model_window(
        tiny_model_dir: Path, tmp_path: Path, adapter: str):
    """150 bp is three windows of the tiny model (64 tokens): each window trains with its
    sequence's label (the Transformer never sees more than its window), and validation scores a
    sequence by the mean of its windows' probabilities, exactly as `train evaluate` scores it."""
    import shutil

    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    rows = ["sequence,label"] + [f"{random_dna(150, i, 'AT' if i % 2 else 'GC')},{i % 2}" for i in range(20)]
    valid = ["sequence,label"] + [f"{random_dna(150, 300 + i, 'AT' if i % 2 else 'GC')},{i % 2}" for i in range(8)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "valid.csv").write_text("\n".join(valid) + "\n")
    metrics = finetune(model_dir, "long", [str(tmp_path / "train.csv")], {"valid_files": (str(tmp_path / "valid.csv"),)},
                       adapter=adapter, epochs=2, batch=8)
    info = json.loads((model_dir / "heads/long/head.json").read_text())
    assert info["train_window_lengths"] == [64, 64]
    log = [json.loads(line) for line in (model_dir / "heads/.long.work/train_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [8, 16]  # 20 sequences x 3 windows in batches of 8, two epochs
    assert metrics["valid_n"] == 8  # validation sequences, not windows
    with pytest.warns(VqdnaWarning, match="holds about 29% of the rows head long was trained or selected on"):
        # the validation rows, 8 of the 28 the head was trained or selected on: a score, with a warning
        scored = api.evaluate("long", [str(tmp_path / "valid.csv")], RunOptions(model_dir, device="cpu", threads=1))
    assert scored["n"] == 8
    assert (scored["mcc"], scored["accuracy"]) == pytest.approx((metrics["valid_mcc"], metrics["valid_accuracy"]))


def test_bf16_transformer_on_the_cpu_stays_close_to_fp32(tiny_model_dir: Path, tmp_path: Path):
    """--precision bf16 is an opt-in speed-up: vectors within bf16 rounding, recorded in metadata."""
    (tmp_path / "x.fa").write_text(fasta_text({"a": random_dna(150, 1), "b": random_dna(60, 2)}))
    for precision in ("fp32", "bf16"):
        api.embed(InputSpec(str(tmp_path / "x.fa")), tmp_path / f"{precision}.npz",
                  RunOptions(tiny_model_dir, precision=precision, threads=1), EmbedOptions())
    fp32, bf16 = np.load(tmp_path / "fp32.npz"), np.load(tmp_path / "bf16.npz")
    assert json.loads(str(bf16["metadata"]))["transformer_precision"] == "bf16"
    assert json.loads(str(fp32["metadata"]))["transformer_precision"] == "fp32"
    np.testing.assert_allclose(bf16["embeddings"], fp32["embeddings"], rtol=0.05, atol=0.05)


def test_pretrain_can_start_a_transformer_of_another_size(genomes, tmp_path: Path):
    """--transformer-preset keeps the trained tokenizer and gives it a fresh Transformer."""
    from vqdna_cli.config import PRESETS

    train_tokenizer(genomes, tmp_path / "tok", steps=2)
    pretrain(genomes, tmp_path / "tok", tmp_path / "pre", steps=1, batch=2, transformer_preset="default")
    tokenizer, _ = load_model(tmp_path / "tok")
    pretrained, info = load_model(tmp_path / "pre")
    settings = info["provenance"]["pretrain"]["settings"]  # said by the command alone before
    assert (settings["transformer_preset"], settings["masking"]) == ("default", None)
    # the preset's Transformer, its window the 64 bases it trained on
    assert pretrained.cfg.transformer == dataclasses.replace(PRESETS["default"].transformer, max_tokens=64)
    assert pretrained.cfg.encoder == tokenizer.cfg.encoder
    for name, tensor in tokenizer.encoder.state_dict().items():
        assert np.array_equal(tensor.numpy(), pretrained.encoder.state_dict()[name].numpy()), name


def test_pretrain_windows_default_to_the_models_context(genomes, tmp_path: Path):
    """A tiny model's context is 64 tokens: the default --window (512 before) was refused."""
    train_tokenizer(genomes, tmp_path / "tok", steps=2)
    api.pretrain(GenomeSet(tuple(genomes)), tmp_path / "pre", StageSettings(steps=1, window=None, batch=2), QUIET,
                 RunOptions(tmp_path / "tok", device="cpu", threads=1))
    model, info = load_model(tmp_path / "pre")
    assert info["provenance"]["pretrain"]["settings"]["window"] == model.cfg.transformer.max_tokens == 64


def test_a_fresh_transformer_pretrained_on_shorter_windows_takes_them_as_its_window(genomes, tmp_path: Path):
    """--window 32 under a 64-token model left positions 32-63 as initialised, and every
    command still read 64-base windows; a pre-trained Transformer keeps its window."""
    train_tokenizer(genomes, tmp_path / "tok", steps=2)
    tokenizer, _ = load_model(tmp_path / "tok")
    api.pretrain(GenomeSet(tuple(genomes)), tmp_path / "pre", StageSettings(steps=1, window=32, batch=2), QUIET,
                 RunOptions(tmp_path / "tok", device="cpu", threads=1))
    model, info = load_model(tmp_path / "pre")
    assert model.cfg.transformer.max_tokens == info["provenance"]["pretrain"]["settings"]["window"] == 32
    assert tuple(model.transformer.position.weight.shape) == (32, tokenizer.cfg.transformer.width)
    api.pretrain(GenomeSet(tuple(genomes)), tmp_path / "again", StageSettings(steps=1, window=24, batch=2), QUIET,
                 RunOptions(tmp_path / "pre", device="cpu", threads=1))
    assert load_model(tmp_path / "again")[0].cfg.transformer.max_tokens == 32


def test_pretrain_says_when_its_held_out_records_trained_the_tokenizer(genomes, tmp_path: Path):
    stage = StageSettings(steps=1, window=None, batch=2)
    for tokenizer_held_out, warned in (((), True), (("heldout.fa",), False)):
        tokenizer = tmp_path / f"tok{len(tokenizer_held_out)}"
        train_tokenizer(genomes, tokenizer, steps=2, holdout_files=tokenizer_held_out)
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            api.pretrain(GenomeSet(tuple(genomes), ("heldout.fa",)), tokenizer / "pre", stage, QUIET,
                         RunOptions(tokenizer, device="cpu", threads=1))
        leak = [w for w in said if "trained on 1 of the records held out here (the first: heldout.fa:other)"
                in str(w.message)]
        assert bool(leak) is warned


def test_held_out_bases_are_checked_against_each_earlier_stage_and_recorded(genomes, tmp_path: Path):
    """The same --holdout-tail in both stages is no overlap (it was warned of: only record
    names were compared); pre-training that continues a pre-trained model whose training held
    the records held out now is warned of, and its record is kept under `continues` (it was
    overwritten: the provenance no longer said the Transformer had trained on them)."""
    stage = StageSettings(steps=1, window=None, batch=2)
    tail = GenomeSet(tuple(genomes), holdout_tail={"train.fa": 500})
    api.train_tokenizer(tail, tmp_path / "tok", "tiny", StageSettings(steps=2, lr=2e-3, window=64, batch=4), QUIET, CPU)

    def leaks(genome_set: GenomeSet, start: Path, out: Path) -> list[str]:
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            api.pretrain(genome_set, out, stage, QUIET, RunOptions(start, device="cpu", threads=1))
        return [str(w.message) for w in said if "of the records held out here" in str(w.message)]

    assert leaks(tail, tmp_path / "tok", tmp_path / "pre") == []
    assert leaks(GenomeSet(tuple(genomes), holdout_tail={"train.fa": 800}), tmp_path / "tok", tmp_path / "pre2") == [
        f"the tokenizer of {tmp_path / 'tok'} trained on 2 of the records held out here (the first: train.fa:chr0): "
        "held-out scores then measure the Transformer on sequence it has seen"]
    said = leaks(GenomeSet(tuple(genomes), ("heldout.fa",)), tmp_path / "pre", tmp_path / "pre3")
    assert [line.split(" trained on")[0] for line in said] == [f"the tokenizer of {tmp_path / 'pre'}",
                                                                 f"the pre-training of {tmp_path / 'pre'}"]
    _, info = load_model(tmp_path / "pre3")
    continued = info["provenance"]["pretrain"]["continues"]
    assert continued["data"]["train"][-1] == "heldout.fa:other (800 bp)"


def test_pretraining_into_its_own_model_folder_resumes_after_a_stop(genomes, tmp_path: Path):
    """-o the -m folder: the stop wrote its weights so far there, and --resume took them for
    other starting weights ('other settings or inputs (--model weights ...)'), so the run
    could never be finished."""
    import shutil

    train_tokenizer(genomes, tmp_path / "tok", steps=2)
    for name in ("whole", "stopped"):
        shutil.copytree(tmp_path / "tok", tmp_path / name)
    stage = StageSettings(steps=4, lr=1e-3, window=64, batch=2)

    def pretrain_in_place(folder: Path, **control) -> None:
        api.pretrain(GenomeSet(tuple(genomes)), folder, stage, TrainControl(quiet=True, **control),
                     RunOptions(folder, device="cpu", threads=1))

    pretrain_in_place(tmp_path / "whole", force=True)
    pretrain_in_place(tmp_path / "stopped", force=True, max_minutes=0.0)
    pretrain_in_place(tmp_path / "stopped", resume=True)
    whole, stopped = (load_model(tmp_path / name) for name in ("whole", "stopped"))
    for key in ("tokenizer_sha256", "steps"):
        assert stopped[1]["provenance"]["pretrain"]["settings"][key] == whole[1]["provenance"]["pretrain"]["settings"][key]
    assert "continues" not in stopped[1]["provenance"]["pretrain"]  # its own first part is not another run
    a, b = whole[0].state_dict(), stopped[0].state_dict()
    for name in a:
        np.testing.assert_allclose(a[name].numpy(), b[name].numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_frozen_head_learns_from_the_pooled_vectors_and_respects_the_row_budget(tiny_model_dir: Path, tmp_path: Path):
    """AT-only against GC-only sequences: separable from the frozen model's pooled vectors.
    Sequences longer than the tiny model's window train on each window and score by the mean."""
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    rows = ["sequence,label"] + [f"{random_dna(90 + i, i, 'AT' if i % 2 else 'GC')},{i % 2}" for i in range(80)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    metrics = finetune(model_dir, "gc", [str(tmp_path / "train.csv")], {"max_train_rows": 40, "valid_fraction": 0.25},
                       adapter="frozen", epochs=40, batch=16, lr=3e-3, dropout=0.3)
    assert metrics["valid_mcc"] > 0.9
    provenance = json.loads((model_dir / "heads/gc/head.json").read_text())["provenance"]
    assert provenance["settings"]["dropout"] == 0.3
    data = provenance["data"]
    assert data["train_rows"] == 40 and data["train_rows_available"] == 60 and data["valid_rows"] == 20
    test = ["sequence,label"] + [f"{random_dna(120, 500 + i, 'AT' if i % 2 else 'GC')},{i % 2}" for i in range(10)]
    (tmp_path / "test.csv").write_text("\n".join(test) + "\n")
    scored = api.evaluate("gc", [str(tmp_path / "test.csv")], RunOptions(model_dir, device="cpu", threads=1))
    assert scored["mcc"] == 1.0


def test_central_embeddings_take_the_middle_of_a_window_and_pad_a_short_one(tiny_model_dir: Path):
    import torch

    from vqdna_cli.head_features import central_embeddings, central_span
    from vqdna_cli.runner import Runner

    assert central_span(10, 4) == (slice(3, 7), 0) and central_span(9, 4) == (slice(2, 6), 0)
    assert central_span(2, 5) == (slice(0, 2), 1)  # two tokens in the middle of five places
    assert central_span(300, 64, at=232) == (slice(200, 264), 0)  # a promoter's TATA box and TSS
    assert central_span(250, 64, at=232) == (slice(200, 250), 0)  # the window ends early: the rest stays empty
    assert central_span(300, 8, at=2) == (slice(0, 6), 2)
    runner = Runner.load(tiny_model_dir, "cpu")
    tokens = np.stack([np.arange(10) % 8, np.arange(10) % 16], axis=1).astype(np.uint16)
    with torch.inference_mode():
        every = runner.model.embed_tokens(torch.from_numpy(tokens.astype(np.int64))[None])[0].numpy()
    width = every.shape[1]
    both = central_embeddings(runner, [tokens, tokens[:2]], 4)  # one lookup for several windows
    assert np.allclose(central_embeddings(runner, [tokens], 4)[0], every[3:7].reshape(-1))
    assert np.allclose(both[0], every[3:7].reshape(-1))
    short = central_embeddings(runner, [tokens[:2]], 5)[0].reshape(5, width)
    assert np.allclose(short[1:3], every[:2]) and not short[[0, 3, 4]].any()


def test_a_center_token_head_reads_a_site_at_a_fixed_place(tiny_model_dir: Path, tmp_path: Path):
    """Two motifs of the same bases (so the same composition) at base 30 of 60: the class is
    which one. The head is written with its center_tokens, and classify and evaluate give it
    the features it was trained on."""
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    motifs = ("ACGTACGT", "TGCATGCA")

    def rows(count: int, seed: int) -> list[str]:
        out = ["sequence,label"]
        for i in range(count):
            flank = random_dna(52, seed + i)
            out.append(f"{flank[:26]}{motifs[i % 2]}{flank[26:]},{i % 2}")
        return out

    (tmp_path / "train.csv").write_text("\n".join(rows(160, 0)) + "\n")
    (tmp_path / "test.csv").write_text("\n".join(rows(20, 5000)) + "\n")
    metrics = finetune(model_dir, "site", [str(tmp_path / "train.csv")], {"valid_fraction": 0.25}, adapter="frozen",
                       center_tokens=8, epochs=30, batch=16, lr=3e-3)
    info = json.loads((model_dir / "heads/site/head.json").read_text())
    assert info["center_tokens"] == 8 and info["provenance"]["settings"]["center_tokens"] == 8
    cfg = load_model(model_dir)[0].cfg
    features = load_file(str(model_dir / "heads/site/head.safetensors"))["head.fc1.weight"].shape[1]
    assert features == cfg.transformer.width + sum(cfg.quantizer.codebook_sizes) + 8 * cfg.encoder.width
    assert metrics["valid_mcc"] > 0.95  # without the central tokens: 0.75 (measured)
    assert api.evaluate("site", [str(tmp_path / "test.csv")], RunOptions(model_dir, device="cpu", threads=1))["mcc"] > 0.8
    (tmp_path / "x.fa").write_text(">x\n" + rows(2, 9000)[2].split(",")[0] + "\n")
    classify(tmp_path / "x.fa", tmp_path / "out.tsv", "site", model_dir)  # (--rc is refused for such heads)
    assert len((tmp_path / "out.tsv").read_text().splitlines()) == 2  # the header and one row


def test_a_head_reads_tokens_centred_where_it_was_told(tiny_model_dir: Path, tmp_path: Path):
    """The motif sits at bases 10..17 of 60, far from the middle: `--center-at 14` reads it."""
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    motifs = ("ACGTACGT", "TGCATGCA")
    rows = ["sequence,label"]
    for i in range(160):
        flank = random_dna(52, 7000 + i)
        rows.append(f"{flank[:10]}{motifs[i % 2]}{flank[10:]},{i % 2}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    metrics = finetune(model_dir, "early", [str(tmp_path / "train.csv")], {"valid_fraction": 0.25}, adapter="frozen",
                       center_tokens=8, center_at=14, epochs=30, batch=16, lr=3e-3)
    info = json.loads((model_dir / "heads/early/head.json").read_text())
    assert info["center_at"] == 14 and metrics["valid_mcc"] > 0.95
    (tmp_path / "x.fa").write_text(">x\n" + rows[1].split(",")[0] + "\n")
    classify(tmp_path / "x.fa", tmp_path / "out.tsv", "early", model_dir)
    assert (tmp_path / "out.tsv").read_text().splitlines()[1].split("\t")[1] == "0"


def frozen_head_on_at_against_gc(tiny_model_dir: Path, tmp_path: Path, task: str, length: int, seed: int,
                                  **options) -> Path:
    """A copy of the tiny model with a frozen head `task` trained on 40 rows of `length` bp,
    AT-rich (label 1) against GC-rich (label 0)."""
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    rows = ["sequence,label"] + [f"{random_dna(length, seed + i, 'AT' if i % 2 else 'GC')},{i % 2}" for i in range(40)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    finetune(model_dir, task, [str(tmp_path / "train.csv")], adapter="frozen", epochs=3, batch=16, **options)
    return model_dir


def test_a_both_strands_head_gives_a_sequence_and_its_reverse_complement_the_same_answer(tiny_model_dir: Path,
                                                                                         tmp_path: Path):
    """Trained on features averaged over both strands, a head is always given such features
    (by classify and evaluate), so it cannot tell a sequence from its reverse complement."""
    from vqdna_cli.data.alphabet import reverse_complement

    model_dir = frozen_head_on_at_against_gc(tiny_model_dir, tmp_path, "sym", 50, 300, both_strands=True)
    head = json.loads((model_dir / "heads/sym/head.json").read_text())
    assert head["both_strands"] is True
    assert head["provenance"]["data"]["copies_on_either_strand"] is True  # --exclude holds either strand out
    forward = random_dna(60, 5)  # one window of the tiny model
    (tmp_path / "x.fa").write_text(f">f\n{forward}\n>r\n{reverse_complement(forward)}\n")
    classify(tmp_path / "x.fa", tmp_path / "out.tsv", "sym", model_dir)
    f, r = [line.split("\t") for line in (tmp_path / "out.tsv").read_text().splitlines()[1:]]
    # the two strands sit at other places of a batch, so the matrix products may round apart
    # in the last bits: the same label, and probabilities equal to float32 rounding
    assert f[1:3] == r[1:3]
    assert [float(x) for x in f[3:]] == pytest.approx([float(x) for x in r[3:]], rel=1e-4, abs=1e-6)


def test_a_whole_record_head_reads_each_sequence_once(tiny_model_dir: Path, tmp_path: Path):
    """Sequences of 150 bp are three windows of the tiny model (64 tokens); a --whole-record
    head trains on one feature vector per sequence, records sequence lengths, and classify
    gives it one TSV row per sequence whatever the length (BED, a row per window, is refused)."""
    from vqdna_cli.errors import VqdnaError
    from vqdna_cli.head_info import HeadReads
    from vqdna_cli.runner import Runner, window_vectors

    model_dir = frozen_head_on_at_against_gc(tiny_model_dir, tmp_path, "whole", 150, 400, whole_record=True)
    info = json.loads((model_dir / "heads/whole/head.json").read_text())
    assert info["whole_record"] is True and info["train_window_lengths"] == [150, 150]

    runner = Runner.load(model_dir, "cpu")
    sequences = [random_dna(150, 1), random_dna(64, 2)]
    per_window = window_vectors(runner, sequences, np.array([0, 1]))
    whole = window_vectors(runner, sequences, np.array([0, 1]), HeadReads(whole_record=True))
    assert per_window.owner.tolist() == [0, 0, 0, 1] and whole.owner.tolist() == [0, 1]
    assert whole.vectors.shape == (2, per_window.vectors.shape[1])

    (tmp_path / "x.fa").write_text(f">long\n{random_dna(400, 7)}\n>short\n{random_dna(100, 8)}\n")
    summary = classify(tmp_path / "x.fa", tmp_path / "out.tsv", "whole", model_dir)
    lines = (tmp_path / "out.tsv").read_text().splitlines()
    assert lines[0].startswith("id\t") and [line.split("\t")[0] for line in lines[1:]] == ["long", "short"]
    assert summary["read"] == "sequences" and summary["read_count"] == 2 and summary["outside_training_lengths"] == 1
    with pytest.raises(VqdnaError, match="classifies whole sequences, not windows: use --format tsv"):
        classify(tmp_path / "x.fa", tmp_path / "out.bed", "whole", model_dir, output_format="bed")
    with pytest.raises(VqdnaError, match="or a .tsv output"):  # --format auto: .bed asks for windows too
        classify(tmp_path / "x.fa", tmp_path / "out.bed", "whole", model_dir)
    assert not (tmp_path / "out.bed").exists()


def test_an_all_layers_head_reads_every_layer_and_classify_gives_it_the_same(tiny_model_dir: Path, tmp_path: Path):
    """--all-layers: the pooled vector of each Transformer layer (0 to the last) side by side;
    head.json says so, the head's input is that much wider, and classify builds the same
    features (the last layer's block equals the default head's pooled vector)."""
    from vqdna_cli.head_info import HeadReads
    from vqdna_cli.runner import Runner, window_vectors

    model_dir = frozen_head_on_at_against_gc(tiny_model_dir, tmp_path, "layers", 50, 500, all_layers=True)
    info = json.loads((model_dir / "heads/layers/head.json").read_text())
    assert info["all_layers"] is True and info["provenance"]["settings"]["all_layers"] is True
    runner = Runner.load(model_dir, "cpu")
    sequences = [random_dna(50, 3, "AT"), random_dna(50, 4, "GC")]
    plain = window_vectors(runner, sequences, np.array([1, 0]))
    every = window_vectors(runner, sequences, np.array([1, 0]), HeadReads(all_layers=True))
    width, layers = runner.model.cfg.transformer.width, runner.layers
    assert every.vectors.shape[1] == plain.vectors.shape[1] + layers * width
    assert np.allclose(every.vectors[:, layers * width:(layers + 1) * width], plain.vectors[:, :width], atol=1e-5)
    (tmp_path / "x.fa").write_text(f">at\n{sequences[0]}\n>gc\n{sequences[1]}\n")
    classify(tmp_path / "x.fa", tmp_path / "a.tsv", "layers", model_dir)
    classify(tmp_path / "x.fa", tmp_path / "b.tsv", "layers", model_dir)
    rows = (tmp_path / "a.tsv").read_text().splitlines()
    assert len(rows) == 3 and (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()


def test_a_segments_head_reads_each_part_of_the_window_and_classify_gives_it_the_same(tiny_model_dir: Path,
                                                                                      tmp_path: Path):
    """--segments N: beside the default features, the mean Transformer output of each of N
    equal parts of the window, in order; head.json says so, and classify builds the same."""
    from vqdna_cli.head_info import HeadReads
    from vqdna_cli.io.records import SequenceRecord
    from vqdna_cli.runner import Runner, embed_records, window_vectors
    from vqdna_cli.window_request import WindowRequest

    model_dir = frozen_head_on_at_against_gc(tiny_model_dir, tmp_path, "parts", 50, 700, segments=4)
    info = json.loads((model_dir / "heads/parts/head.json").read_text())
    assert info["segments"] == 4 and info["provenance"]["settings"]["segments"] == 4
    runner = Runner.load(model_dir, "cpu")
    sequences = [random_dna(50, 3, "AT"), random_dna(50, 4, "GC")]
    plain = window_vectors(runner, sequences, np.array([1, 0]))
    parts = window_vectors(runner, sequences, np.array([1, 0]), HeadReads(segments=4))
    width = runner.model.cfg.transformer.width
    assert parts.vectors.shape[1] == plain.vectors.shape[1] + 4 * width
    assert np.allclose(parts.vectors[:, : plain.vectors.shape[1]], plain.vectors, atol=1e-6)
    records = [SequenceRecord(f"s{i}", s, f"s{i}") for i, s in enumerate(sequences)]
    for row, result in enumerate(embed_records(runner, records, WindowRequest(per_token=True), batch_tokens=4096)):
        tokens = result.per_token  # one window of 50 tokens: parts of 12, 13, 12 and 13
        expected = np.concatenate([tokens[a:b].mean(0) for a, b in ((0, 12), (12, 25), (25, 37), (37, 50))])
        np.testing.assert_allclose(parts.vectors[row, plain.vectors.shape[1]:], expected, atol=1e-5)
    (tmp_path / "x.fa").write_text(f">at\n{sequences[0]}\n>gc\n{sequences[1]}\n")
    classify(tmp_path / "x.fa", tmp_path / "a.tsv", "parts", model_dir)
    classify(tmp_path / "x.fa", tmp_path / "b.tsv", "parts", model_dir)
    rows = (tmp_path / "a.tsv").read_text().splitlines()
    assert len(rows) == 3 and (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()


def test_segments_read_on_both_strands_give_a_sequence_and_its_reverse_complement_the_same_features(
        tiny_model_dir: Path):
    """Each strand's parts run 5' to 3' along that strand, so averaged over both strands the
    features of a sequence are those of its reverse complement."""
    from vqdna_cli.data.alphabet import reverse_complement
    from vqdna_cli.head_info import HeadReads
    from vqdna_cli.runner import Runner, window_vectors

    runner = Runner.load(tiny_model_dir, "cpu")
    forward = random_dna(50, 8)
    features = window_vectors(runner, [forward, reverse_complement(forward)], np.array([0, 0]),
                              HeadReads(both_strands=True, segments=5)).vectors
    np.testing.assert_allclose(features[0], features[1], rtol=1e-4, atol=1e-5)
    one_strand = window_vectors(runner, [forward, reverse_complement(forward)], np.array([0, 0]),
                                HeadReads(segments=5)).vectors
    assert not np.allclose(one_strand[0], one_strand[1], atol=1e-3)  # the check above can fail


def test_center_tokens_need_a_frozen_head():
    """The settings refuse the combinations when built: before any data or model is read."""
    from vqdna_cli.errors import VqdnaError

    with pytest.raises(VqdnaError, match="--center-tokens works with --adapter frozen"):
        FinetuneSettings("x", adapter="lora", center_tokens=4)
    with pytest.raises(VqdnaError, match="--both-strands works with --adapter frozen"):
        FinetuneSettings("x", adapter="lora", both_strands=True)
    with pytest.raises(VqdnaError, match="--whole-record works with --adapter frozen"):
        FinetuneSettings("x", adapter="lora", whole_record=True)
    with pytest.raises(VqdnaError, match="--all-layers works with --adapter frozen"):
        FinetuneSettings("x", adapter="lora", all_layers=True)
    with pytest.raises(VqdnaError, match="--segments works with --adapter frozen"):
        FinetuneSettings("x", adapter="lora", segments=2)
    with pytest.raises(VqdnaError, match="--whole-record and --segments exclude each other"):
        FinetuneSettings("x", adapter="frozen", whole_record=True, segments=2)
    with pytest.raises(VqdnaError, match="--whole-record and --center-tokens exclude each other"):
        FinetuneSettings("x", adapter="frozen", whole_record=True, center_tokens=4)
    with pytest.raises(VqdnaError, match="--dropout works with --adapter frozen"):
        FinetuneSettings("x", adapter="lora", dropout=0.3)
    with pytest.raises(VqdnaError, match="--balance-classes works with --adapter frozen"):
        FinetuneSettings("x", adapter="lora", balance_classes=True)
    with pytest.raises(VqdnaError, match="--members works with --adapter frozen"):
        FinetuneSettings("x", adapter="lora", members=2)
    with pytest.raises(VqdnaError, match="--members"):
        FinetuneSettings("x", adapter="frozen", members=0)
    with pytest.raises(VqdnaError, match="--dropout 1.0: must be at least 0 and below 1"):
        FinetuneSettings("x", adapter="frozen", dropout=1.0)
    with pytest.raises(VqdnaError, match="--center-at needs --center-tokens"):
        FinetuneSettings("x", adapter="frozen", center_at=3)


def test_a_balanced_head_gives_even_odds_where_its_features_say_nothing(tmp_path: Path):
    """One positive to nine negatives, features that carry no label: trained as it is, the head
    learns the 1:9 share as its answer; with balanced classes its odds stay even, so a mix's
    many background rows do not lower its calls on a user's windows."""
    import torch

    from vqdna_cli.model.heads import FeatureHead
    from vqdna_cli.train.head import LabelledFeatures, fit_frozen_head

    rng = np.random.default_rng(0)

    def noise(n: int) -> LabelledFeatures:
        labels = (np.arange(n) % 10 == 0).astype(np.int64)
        return LabelledFeatures(rng.normal(size=(n, 8)).astype(np.float32), np.arange(n), labels)

    train, valid, fresh = noise(400), noise(100), noise(1000)
    mean_positive = {}
    for balanced in (False, True):
        state, _ = fit_frozen_head(train, valid, 2, epochs=10, batch=50, lr=1e-2, dropout=0.0, seed=0,
                                   device=torch.device("cpu"), work=tmp_path / str(balanced), balanced=balanced)
        head = FeatureHead.from_state({k.removeprefix("head."): v for k, v in state.items()}).eval()
        with torch.no_grad():
            mean_positive[balanced] = torch.softmax(head(torch.from_numpy(fresh.vectors)), 1)[:, 1].mean().item()
    assert mean_positive[False] < 0.25
    assert 0.35 < mean_positive[True] < 0.65


def test_training_off_a_terminal_prints_a_plain_line_between_validations(genomes, tmp_path: Path, capsys, monkeypatch):
    """A cluster log shows the run is alive: steps, loss, elapsed and time left, as plain lines."""
    from vqdna_cli.train import loop

    monkeypatch.setattr(loop, "PLAIN_EVERY_S", 0.0)
    api.train_tokenizer(GenomeSet(tuple(genomes[:1])), tmp_path / "tok", "tiny",
                        StageSettings(steps=3, lr=2e-3, window=64, batch=4), TrainControl(quiet=False), CPU)
    log = capsys.readouterr().err
    beats = [line for line in log.splitlines() if " elapsed, about " in line]
    assert len(beats) == 3
    assert "━" not in log  # no bar: rich drew its last frame into the log at the end
    # the validation summary on one line, not folded at 80 columns
    assert any(line.startswith("vqdna: tokenizer: step 3, loss ") and "reconstruction_accuracy" in line and " minutes " in line
               for line in log.splitlines())
    assert beats[0].startswith("vqdna: tokenizer: step 1 of 3, loss ") and beats[-1].endswith("about 0:00:00 left")


@pytest.mark.parametrize("adapter", ["frozen", "lora"])
def test_a_head_stopped_by_max_minutes_is_recorded_unfinished_and_warns(model_copy: Path, tmp_path: Path,
                                                                       run_vqdna, short_fasta: Path, adapter) -> None:
    from conftest import toy_csv

    api.finetune(HeadRows((str(toy_csv(tmp_path / "train.csv")),)), FinetuneSettings("cut", adapter=adapter, epochs=5,
                                                                                    batch=8),
                 RunOptions(model_copy, device="cpu", threads=1), TrainControl(quiet=True, max_minutes=0.0))
    head = json.loads((model_copy / "heads" / "cut" / "head.json").read_text())
    record = head["provenance"]
    assert record["complete"] is False and record["metrics"]["steps"] < record["settings"]["steps"]
    assert "steps" not in head["validation"] and "planned_steps" not in head["validation"]
    result = run_vqdna("classify", "--task", "cut", "--model", model_copy, short_fasta)
    assert result.returncode == 0
    assert any("task head 'cut' is not fully trained: stopped by --max-minutes at step" in line
               for line in result.stderr_lines)


def test_merged_heads_give_the_mean_of_their_members_logits():
    """Members standardise their features each with their own mean and deviation; the merged
    head, one layer as many times wider, gives exactly the mean of the members' logits."""
    import torch

    from vqdna_cli.train.head import HeadOnly, merged_heads

    torch.manual_seed(0)
    features = torch.randn(50, 12) * 3 + 1
    members = []
    for number in range(3):
        member = HeadOnly(12, 4, dropout=0.5).eval()
        member.head.standardise_on(features[number * 10 : number * 10 + 30])  # each its own rows
        members.append(member)
    merged = HeadOnly.from_state(merged_heads([m.trainable_state() for m in members])).eval()
    assert merged.head.fc1.out_features == 3 * members[0].head.fc1.out_features
    with torch.no_grad():
        expected = torch.stack([m(features) for m in members]).mean(0)
        assert torch.allclose(merged(features), expected, atol=1e-5)


def test_a_head_of_several_members_is_one_wider_head_that_classify_reads(tiny_model_dir: Path, tmp_path: Path):
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    rows = ["sequence,label"] + [f"{random_dna(40, i, 'AT' if i % 2 else 'GC')},{i % 2}" for i in range(40)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    single = finetune(model_dir, "one", [str(tmp_path / "train.csv")], adapter="frozen", epochs=2, batch=8)
    three = finetune(model_dir, "three", [str(tmp_path / "train.csv")], adapter="frozen", epochs=2, batch=8, members=3)
    width = {task: load_file(str(model_dir / f"heads/{task}/head.safetensors"))["head.fc1.weight"].shape[0]
             for task in ("one", "three")}
    assert width["three"] == 3 * width["one"]
    info = json.loads((model_dir / "heads/three/head.json").read_text())
    assert info["provenance"]["settings"]["members"] == 3 and info["provenance"]["complete"] is True
    assert len(three["member_valid_mcc"]) == 3 and "member_valid_mcc" not in single
    # the first member is the single head itself (same seed, rows and recipe)
    assert three["member_valid_mcc"][0] == single["valid_mcc"]
    (tmp_path / "x.fa").write_text(">at\n" + random_dna(40, 7, "AT") + "\n>gc\n" + random_dna(40, 8, "GC") + "\n")
    classify(tmp_path / "x.fa", tmp_path / "out.tsv", "three", model_dir)
    lines = [line.split("\t") for line in (tmp_path / "out.tsv").read_text().splitlines()[1:]]
    assert len(lines) == 2 and all(abs(float(r[3]) + float(r[4]) - 1) < 1e-3 for r in lines)


def test_resume_of_a_finished_head_of_several_members_is_refused(tiny_model_dir: Path, tmp_path: Path):
    """Each member trains in a folder of its own; --resume counts the steps of them all."""
    import shutil

    from vqdna_cli.errors import VqdnaError

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    rows = ["sequence,label"] + [f"{random_dna(40, i, 'AT' if i % 2 else 'GC')},{i % 2}" for i in range(20)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    work = tmp_path / "work"
    settings = FinetuneSettings("pair", adapter="frozen", epochs=1, batch=8, members=2)
    api.finetune(HeadRows((str(tmp_path / "train.csv"),)), settings, RunOptions(model_dir, device="cpu", threads=1),
                 QUIET, work_dir=work)
    assert sorted(p.name for p in work.iterdir() if p.is_dir()) == ["member-1", "member-2"]
    with pytest.raises(VqdnaError, match="no unfinished run to continue"):
        api.finetune(HeadRows((str(tmp_path / "train.csv"),)), settings, RunOptions(model_dir, device="cpu", threads=1),
                     TrainControl(quiet=True, resume=True), work_dir=work)
    # a damaged checkpoint is named in one line, not a JSON traceback
    (work / "member-2" / "checkpoint.json").write_text('{"step": ')
    with pytest.raises(VqdnaError, match="checkpoint.json is not valid JSON"):
        api.finetune(HeadRows((str(tmp_path / "train.csv"),)), settings, RunOptions(model_dir, device="cpu", threads=1),
                     TrainControl(quiet=True, resume=True), work_dir=work)


def members_head_stopped_at_once(tiny_model_dir: Path, tmp_path: Path, members: int):
    """A copy of the tiny model and a frozen head `pair` of `members` members on 40 AT- or
    GC-rich rows, stopped by --max-minutes at its first step; returns what resumes it."""
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    rows = ["sequence,label"] + [f"{random_dna(40, i, 'AT' if i % 2 else 'GC')},{i % 2}" for i in range(40)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    settings = FinetuneSettings("pair", adapter="frozen", epochs=3, batch=4, members=members)
    files, cpu, work = HeadRows((str(tmp_path / "train.csv"),)), RunOptions(model_dir, device="cpu", threads=1), tmp_path / "w"
    api.finetune(files, settings, cpu, TrainControl(quiet=True, max_minutes=1e-9), work_dir=work)
    return model_dir, files, settings, cpu, work


def test_a_head_of_several_members_stopped_by_max_minutes_resumes_to_the_end(tiny_model_dir: Path, tmp_path: Path):
    """--max-minutes bounds the whole run: members stop where the time runs out, the head is
    recorded unfinished, and --resume trains each member to the end."""
    import shutil

    model_dir, files, settings, cpu, work = members_head_stopped_at_once(tiny_model_dir, tmp_path, members=2)
    head = model_dir / "heads/pair/head.json"
    stopped = json.loads(head.read_text())["provenance"]
    assert stopped["complete"] is False and stopped["metrics"]["steps"] < stopped["settings"]["steps"]
    api.finetune(files, settings, cpu, TrainControl(quiet=True, resume=True), work_dir=work)
    finished = json.loads(head.read_text())["provenance"]
    assert finished["complete"] is True and finished["metrics"]["steps"] == finished["settings"]["steps"]
    assert finished["settings"]["steps"] == 2 * 3 * 9  # two members, three epochs of 34 rows in batches of 4
    # the same head as a run never stopped: each member starts from its own seed
    whole = tmp_path / "whole"
    shutil.copytree(tiny_model_dir, whole)
    api.finetune(files, settings, RunOptions(whole, device="cpu", threads=1), QUIET, work_dir=tmp_path / "w2")
    resumed, uninterrupted = (load_file(str(m / "heads/pair/head.safetensors")) for m in (model_dir, whole))
    assert resumed.keys() == uninterrupted.keys()
    assert all(np.array_equal(resumed[name], uninterrupted[name]) for name in resumed)


def test_a_resumed_head_of_several_members_records_the_minutes_of_all_its_parts(tiny_model_dir: Path,
                                                                               tmp_path: Path):
    """The latest member checkpoint says how long the stopped part ran; members that start in
    the resumed part count from there too."""
    model_dir, files, settings, cpu, work = members_head_stopped_at_once(tiny_model_dir, tmp_path, members=3)
    for member, minutes in (("member-1", 12.0), ("member-2", 30.0)):
        checkpoint = work / member / "checkpoint.json"
        checkpoint.write_text(json.dumps({**json.loads(checkpoint.read_text()), "minutes": minutes}))
    api.finetune(files, settings, cpu, TrainControl(quiet=True, resume=True), work_dir=work)
    record = json.loads((model_dir / "heads/pair/head.json").read_text())["provenance"]
    assert record["complete"] is True and 30 <= record["wall_minutes"] < 35
    assert json.loads((work / "member-3/checkpoint.json").read_text())["minutes"] >= 30


@pytest.mark.parametrize("options", [{"balance_classes": True, "both_strands": True}, {"whole_record": True}])
def test_members_train_with_the_other_frozen_options(tiny_model_dir: Path, tmp_path: Path, options: dict):
    """Members read the same features as a single head with these options, and the merged head
    answers a sequence and its reverse complement alike where the members read both strands."""
    import shutil

    from vqdna_cli.data.alphabet import reverse_complement

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    rows = ["sequence,label"] + [f"{random_dna(50, i, 'AT' if i % 4 else 'GC')},{int(i % 4 == 0)}" for i in range(40)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    result = finetune(model_dir, "many", [str(tmp_path / "train.csv")], adapter="frozen", epochs=2, batch=8,
                      members=2, **options)
    assert len(result["member_valid_mcc"]) == 2
    settings = json.loads((model_dir / "heads/many/head.json").read_text())["provenance"]["settings"]
    assert settings["members"] == 2 and all(settings[name] is value for name, value in options.items())
    forward = random_dna(50, 99)
    (tmp_path / "x.fa").write_text(f">f\n{forward}\n>r\n{reverse_complement(forward)}\n")
    classify(tmp_path / "x.fa", tmp_path / "out.tsv", "many", model_dir)
    f, r = [line.split("\t") for line in (tmp_path / "out.tsv").read_text().splitlines()[1:]]
    assert abs(float(f[3]) + float(f[4]) - 1) < 1e-3
    if options.get("both_strands"):
        assert f[1] == r[1] and float(f[3]) == pytest.approx(float(r[3]), rel=1e-4, abs=1e-6)


def test_a_both_strands_head_is_not_scored_on_its_training_rows_reverse_complemented(tiny_model_dir: Path,
                                                                                    tmp_path: Path):
    """Such a head reads a row and its reverse complement alike: its training rows given
    reverse-complemented were taken as unseen test rows, and the score recorded."""
    from vqdna_cli.data.alphabet import reverse_complement
    from vqdna_cli.errors import InputError

    model_dir = frozen_head_on_at_against_gc(tiny_model_dir, tmp_path, "sym", 50, 300, both_strands=True)
    rows = [line.split(",") for line in (tmp_path / "train.csv").read_text().splitlines()[1:]]
    flipped = tmp_path / "flipped.csv"
    flipped.write_text("sequence,label\n" + "".join(f"{reverse_complement(s)},{y}\n" for s, y in rows))
    with pytest.raises(InputError, match=r"flipped.csv holds about 100% of the rows head sym was trained or selected"):
        api.evaluate("sym", [str(flipped)], RunOptions(model_dir, device="cpu", threads=1), record=True)


def test_stdin_is_refused_under_several_processes(monkeypatch):
    """Each torchrun process reads its inputs: one got stdin and the others 'no FASTA records
    in stdin', though stdin held them."""
    from vqdna_cli import distributed
    from vqdna_cli.errors import UsageError
    from vqdna_cli.train.genomes import load_genomes

    monkeypatch.setattr(distributed, "world", lambda: 2)
    with pytest.raises(UsageError, match=r"^stdin \(-\) cannot be read by each of the 2 torchrun processes"):
        load_genomes(["-"])
