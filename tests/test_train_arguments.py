"""`vqdna train` arguments a run cannot use: refused as usage errors (exit 2) before any folder
or file is written; a run that fails anyway leaves nothing that blocks the corrected rerun;
bad training data is an input error; and a head goes where `classify` finds it."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from collections import Counter
from pathlib import Path

import pytest

from vqdna_cli import api
from vqdna_cli.errors import UsageError
from vqdna_cli.options import FinetuneSettings, GenomeSet, HeadRows, RunOptions, StageSettings, TrainControl

from conftest import fasta_text, random_dna, toy_csv

USAGE_ERROR = INPUT_ERROR = 2  # errors.py
MODEL_ERROR = 3
OUTPUT_ERROR = 4
TOKENIZER = ["--preset", "tiny", "--steps", "1", "--window", "32", "--batch", "2", "--threads", "1", "--quiet"]


def genome(folder: Path, name: str = "g.fa") -> Path:
    path = folder / name
    path.write_text(fasta_text({"chr": random_dna(300, 5)}))
    return path


def assert_one_line(result, exit_code: int, message: str) -> None:
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr_lines) == 1, result.stderr
    assert result.stderr_lines[0].startswith("vqdna: error: ") and message in result.stderr_lines[0], result.stderr


def assert_usage_error(result, option: str) -> None:
    """vqdna's own one line, or Typer's usage message (which ends in `Error: ... '--option' ...`)."""
    assert result.returncode == USAGE_ERROR, result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    assert option in result.stderr_lines[-1], result.stderr


# --- 1. numbers a stage cannot train with ------------------------------------------------------


@pytest.mark.parametrize("stage, bad", [
    ("tokenizer", ["--window", "-5"]), ("tokenizer", ["--window", "0"]), ("tokenizer", ["--batch", "0"]),
    ("tokenizer", ["--lr", "-1"]), ("tokenizer", ["--lr", "nan"]), ("tokenizer", ["--lr", "inf"]),
    ("tokenizer", ["--max-minutes", "-1"]), ("tokenizer", ["--window", "1"]), ("tokenizer", ["--window", "16"]),
    ("pretrain", ["--window", "-1"]), ("pretrain", ["--window", "2"]), ("pretrain", ["--batch", "-1"]), ("pretrain", ["--lr", "0"]),
    ("pretrain", ["--checkpoint-minutes", "0"]),
    ("finetune", ["--lr", "-1"]), ("finetune", ["--lora-alpha", "nan"]), ("finetune", ["--valid-fraction", "1"]),
])
def test_a_bad_number_is_a_usage_error_and_writes_nothing(stage: str, bad: list[str], run_vqdna, tiny_model_dir: Path,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "out"
    fasta = genome(tmp_path)
    if stage == "tokenizer":
        args = ["tokenizer", fasta, "-o", out, *TOKENIZER]
    elif stage == "pretrain":
        args = ["pretrain", fasta, "-m", tiny_model_dir, "-o", out, "--steps", "1", "--window", "32", "--batch", "2",
                "--threads", "1", "--quiet"]
    else:
        shutil.copytree(tiny_model_dir, out)  # -o: a copy of the model, where the head would go
        args = ["finetune", "--task", "t", "--train", toy_csv(tmp_path / "d.csv"), "-m", tiny_model_dir, "-o", out,
                "--adapter", "frozen", "--epochs", "1", "--threads", "1", "--quiet"]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = run_vqdna("train", *args, *bad)
    assert_usage_error(result, bad[0])
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("given, message", [
    (["--masking", "bases"], "--masking 'bases': use input or tokens"),
    (["--masking", "tokens"], "give --transformer-preset too"),
    (["--transformer-preset", "huge", "--masking", "input"], "--transformer-preset 'huge': choose one of"),
])
def test_a_fresh_transformers_options_are_checked_before_any_work(given, message, run_vqdna, tmp_path: Path) -> None:
    """A bad --masking value is named as such (not as a missing --transformer-preset), and
    before the model is read: here --model does not even exist."""
    result = run_vqdna("train", "pretrain", genome(tmp_path), "-m", tmp_path / "nosuchmodel", "-o", tmp_path / "out",
                       "--steps", "1", "--threads", "1", *given)
    assert_one_line(result, USAGE_ERROR, message)
    assert not (tmp_path / "out").exists()


def test_the_settings_refuse_what_no_stage_can_use() -> None:
    """The API checks the same values as the command line, when the settings are built."""
    with pytest.raises(UsageError, match="--lr nan: must be a finite number above 0"):
        StageSettings(lr=float("nan"))
    with pytest.raises(UsageError, match="--window 0: must be 1 or more"):
        StageSettings(window=0)
    with pytest.raises(UsageError, match="--batch 0: must be 1 or more"):
        FinetuneSettings("t", batch=0)
    with pytest.raises(UsageError, match="--lr -1.0: must be a finite number above 0"):
        FinetuneSettings("t", lr=-1.0)
    with pytest.raises(UsageError, match="--max-minutes -1"):
        TrainControl(max_minutes=-1.0)
    with pytest.raises(UsageError, match="--valid-fraction must be between 0 and 1"):
        HeadRows(("a.csv",), valid_fraction=1.5)
    TrainControl(max_minutes=0.0)  # stop after the first step: allowed
    # options that would be silently ignored, or two that contradict each other
    with pytest.raises(UsageError, match="--valid-fraction holds out rows of --train .* leave it out"):
        HeadRows(("a.csv",), valid_files=("v.csv",), valid_fraction=0.2)
    assert HeadRows(("a.csv",), valid_files=("v.csv",)).valid_files == ("v.csv",)
    for adapter in ("frozen", "full"):
        with pytest.raises(UsageError, match="--lora-rank works with --adapter lora only"):
            FinetuneSettings("t", adapter=adapter, lora_rank=4)
        with pytest.raises(UsageError, match="--lora-alpha works with --adapter lora only"):
            FinetuneSettings("t", adapter=adapter, lora_alpha=4.0)
    assert (FinetuneSettings("t", lora_rank=4).rank, FinetuneSettings("t").rank) == (4, 8)
    for names in (("a", "a"), ("", ""), ("a", " ")):
        with pytest.raises(UsageError, match="--class-names .*: give one distinct, non-empty name per label"):
            FinetuneSettings("t", class_names=names)
    with pytest.raises(UsageError, match="--resume continues the run .* --force starts it over: give one"):
        TrainControl(resume=True, force=True)


def test_a_failed_run_leaves_no_folder_that_blocks_the_corrected_rerun(run_vqdna, tmp_path: Path, monkeypatch) -> None:
    """A run that fails before any weights or checkpoint exist takes away the folder it made
    (or the log it started in an empty folder that was there), so the same -o works again."""
    from vqdna_cli.train import tokenizer

    def broken(*args, **kwargs):
        raise RuntimeError("validation broke")

    monkeypatch.setattr(tokenizer, "tokenizer_metrics", broken)
    fasta = genome(tmp_path)
    made, there = tmp_path / "made" / "tok", tmp_path / "there"
    there.mkdir()
    for out in (made, there):
        with pytest.raises(RuntimeError, match="validation broke"):
            api.train_tokenizer(GenomeSet((str(fasta),)), out, "tiny", StageSettings(steps=1, window=32, batch=2),
                                TrainControl(quiet=True), RunOptions(device="cpu", threads=1))
    assert not (tmp_path / "made").exists()
    assert there.is_dir() and not any(there.iterdir())
    monkeypatch.undo()
    rerun = run_vqdna("train", "tokenizer", fasta, "-o", there, *TOKENIZER)
    assert rerun.returncode == 0, rerun.stderr
    assert (there / "model.safetensors").is_file()


def test_a_failed_head_leaves_no_work_folder(model_copy: Path, tmp_path: Path, monkeypatch) -> None:
    from vqdna_cli.train import head

    def broken(*args, **kwargs):
        raise RuntimeError("validation broke")

    monkeypatch.setattr(head, "sequence_probabilities", broken)
    heads = sorted(p.name for p in (model_copy / "heads").iterdir())
    with pytest.raises(RuntimeError, match="validation broke"):
        api.finetune(HeadRows((str(toy_csv(tmp_path / "d.csv")),)), FinetuneSettings("t", adapter="frozen", epochs=1),
                     RunOptions(model_copy, device="cpu", threads=1), TrainControl(quiet=True))
    assert sorted(p.name for p in (model_copy / "heads").iterdir()) == heads  # no heads/.t.work


# --- 2. --holdout-file naming every input --------------------------------------------------------


@pytest.mark.parametrize("option, message", [
    (("--holdout-file", "small.fa"), "--holdout-file holds out every input (small.fa)"),
    (("--holdout-tail", "small.fa:100000000"), "hold out every base of the inputs"),
    (("--holdout-file", "smal.fa"), "name smal.fa, which is not among the inputs (small.fa)"),  # a typo
    (("--holdout-tail", "smal.fa:100"), "name smal.fa, which is not among the inputs (small.fa)"),
    # the last of two tails was kept; 0 held nothing out; a whole file and a tail of it
    (("--holdout-tail", "small.fa:200", "--holdout-tail", "small.fa:100"),
     "--holdout-tail small.fa is given twice (200 and 100 bases): give it once"),
    (("--holdout-tail", "small.fa:0"), "--holdout-tail small.fa:0: the bases held out must be a whole number, 1 or more"),
    (("--holdout-tail", "small.fa:\u00b2"), "--holdout-tail 'small.fa:\u00b2': expected FILE_NAME:BASES"),  # was a traceback
    (("--holdout-file", "small.fa", "--holdout-tail", "small.fa:100"),
     "small.fa is given to both --holdout-file (all of it) and --holdout-tail (its last 100 bases): give one"),
])
def test_hold_outs_that_leave_nothing_or_name_no_input_are_refused(run_vqdna, tmp_path: Path, option,
                                                                   message: str) -> None:
    fasta = genome(tmp_path, "small.fa")
    out = tmp_path / "t9"
    result = run_vqdna("train", "tokenizer", fasta, "-o", out, *TOKENIZER, *option)
    assert_one_line(result, USAGE_ERROR, message)
    assert not out.exists()


# --- 3. bad training data is an input error ----------------------------------------------------


def test_training_data_of_one_class_is_an_input_error(run_vqdna, model_copy: Path, tmp_path: Path) -> None:
    csv = tmp_path / "one.csv"
    csv.write_text("sequence,label\n" + "ACGTACGTACGTAGGCT,0\n" * 10)
    result = run_vqdna("train", "finetune", "--task", "t", "--train", csv, "-m", model_copy, "--adapter", "frozen",
                       "--epochs", "1", "--threads", "1", "--quiet")
    assert_one_line(result, INPUT_ERROR, "at least two classes")
    assert not (model_copy / "heads" / "t").exists() and not (model_copy / "heads" / ".t.work").exists()


def test_training_rows_that_are_all_validation_rows_are_an_input_error(run_vqdna, model_copy: Path,
                                                                      tmp_path: Path) -> None:
    rows = "sequence,label\n" + "".join(f"{random_dna(30, i)},{i % 2}\n" for i in range(4))
    (tmp_path / "train.csv").write_text(rows)
    (tmp_path / "valid.csv").write_text(rows)
    result = run_vqdna("train", "finetune", "--task", "t", "--train", tmp_path / "train.csv", "--valid",
                       tmp_path / "valid.csv", "-m", model_copy, "--adapter", "frozen", "--epochs", "1",
                       "--threads", "1", "--quiet")
    assert_one_line(result, INPUT_ERROR, "nothing is left to train on")


def test_test_labels_the_head_does_not_know_are_an_input_error(run_vqdna, tiny_model_dir: Path,
                                                               tmp_path: Path) -> None:
    csv = tmp_path / "test.csv"
    csv.write_text(f"sequence,label\n{random_dna(40, 1)},7\n")
    result = run_vqdna("train", "evaluate", "--task", "toy", "--test", csv, "-m", tiny_model_dir, "--threads", "1")
    assert_one_line(result, INPUT_ERROR, "labels the head does not know: 7; head toy's classes are 0 (neg), 1 (pos)")


def test_evaluate_takes_the_heads_class_names_as_labels_and_says_what_record_replaces(
        run_vqdna, model_copy: Path, tmp_path: Path) -> None:
    """Rows labelled neg/pos (classify's label column) were 'labels the head does not know';
    --record replaced the recorded score without a word, and said nothing of a head that keeps
    no sample of its training rows."""
    named, numbered = tmp_path / "named.csv", tmp_path / "numbered.csv"
    rows = [(random_dna(40, 9100 + i, "ACGGCC" if i % 2 else "AATTCG"), i % 2) for i in range(12)]
    named.write_text("sequence,label\n" + "".join(f"{s},{'pos' if y else 'neg'}\n" for s, y in rows))
    numbered.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    args = ["train", "evaluate", "--task", "toy", "-m", model_copy, "--threads", "1"]
    by_name, by_number = run_vqdna(*args, "--test", named), run_vqdna(*args, "--test", numbered)
    assert by_name.returncode == 0 and json.loads(by_name.stdout)["mcc"] == json.loads(by_number.stdout)["mcc"]
    head_json = model_copy / "heads" / "toy" / "head.json"
    info = json.loads(head_json.read_text())
    info.pop("train_rows_sketch", None)  # a head trained before the sample was kept
    info["test"] = {"mcc": 0.72, "macro_f1": 0.8, "n": 328, "test_files": ["/data/gue/mouse/2/test.csv.gz"]}
    head_json.write_text(json.dumps(info))
    recorded = run_vqdna(*args, "--test", numbered, "--record")
    assert recorded.returncode == 0, recorded.stderr
    warned = [line for line in recorded.stderr_lines if line.startswith("vqdna: warning: ")]
    assert warned[0] == (f"vqdna: warning: head toy keeps no sample of the rows it was trained on (it was trained "
                         f"before vqdna kept one): whether {numbered} holds any of them cannot be checked")
    assert warned[1].startswith("vqdna: warning: --record replaces head toy's test score MCC 0.720 on 328 rows of "
                                "test.csv.gz with MCC ") and warned[1].endswith(" on 12 rows")


# --- 4. where a head goes ----------------------------------------------------------------------


def test_a_head_output_that_is_not_a_weights_folder_is_refused_up_front(run_vqdna, tiny_model_dir: Path,
                                                                         tmp_path: Path) -> None:
    out = tmp_path / "F"
    result = run_vqdna("train", "finetune", "--task", "t", "--train", toy_csv(tmp_path / "d.csv"), "-m",
                       tiny_model_dir, "-o", out, "--adapter", "frozen", "--epochs", "1", "--threads", "1")
    assert_one_line(result, OUTPUT_ERROR, f"-o {out} is not a weights folder (no config.json)")
    assert f"cp -r {tiny_model_dir} {out}" in result.stderr
    assert not out.exists()
    dash = run_vqdna("train", "finetune", "--task", "t", "--train", toy_csv(tmp_path / "d.csv"), "-m",
                     tiny_model_dir, "-o", "-", "--adapter", "frozen", "--epochs", "1", "--threads", "1", cwd=tmp_path)
    assert_one_line(dash, OUTPUT_ERROR, "-o -: a head is files in a weights folder, which stdout cannot hold")
    assert "cp -r" not in dash.stderr and not (tmp_path / "-").exists()


def test_a_head_output_that_is_a_file_is_refused_as_a_file(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "F"
    out.write_text("not weights")
    result = run_vqdna("train", "finetune", "--task", "t", "--train", toy_csv(tmp_path / "d.csv"), "-m",
                       tiny_model_dir, "-o", out, "--adapter", "frozen", "--epochs", "1", "--threads", "1")
    assert_one_line(result, OUTPUT_ERROR, f"-o {out} is a file, not a weights folder")
    assert "/. " not in result.stderr  # no `cp -r M/. F` onto the file
    assert out.read_text() == "not weights"


def test_more_segments_than_the_model_window_has_tokens_are_refused(run_vqdna, tiny_model_dir: Path,
                                                                     tmp_path: Path) -> None:
    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    window = json.loads((model / "config.json").read_text())["model"]["transformer"]["max_tokens"]
    result = run_vqdna("train", "finetune", "--task", "t", "--train", toy_csv(tmp_path / "d.csv"), "-m", model,
                       "--adapter", "frozen", "--segments", window + 1, "--epochs", "1", "--threads", "1")
    assert_one_line(result, USAGE_ERROR, f"--segments {window + 1}: more parts than the model's window has tokens")
    assert not (model / "heads" / "t").exists()


def test_a_missing_model_is_named_before_the_head_output(run_vqdna, tmp_path: Path) -> None:
    """With -o, a --model that is not there is the fault to name, not the -o folder (whose
    message would suggest copying the missing model)."""
    out, missing = tmp_path / "F", tmp_path / "nosuchdir"
    result = run_vqdna("train", "finetune", "--task", "t", "--train", toy_csv(tmp_path / "d.csv"), "-m", missing,
                       "-o", out, "--adapter", "frozen", "--epochs", "1", "--threads", "1")
    assert_one_line(result, MODEL_ERROR, f"--model {missing} does not exist")
    assert not out.exists()


def test_a_head_output_with_another_model_is_refused(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    other = Path(shutil.copytree(tiny_model_dir, tmp_path / "other"))
    config = json.loads((other / "config.json").read_text())
    config["sha256"]["model.safetensors"] = "0" * 64
    (other / "config.json").write_text(json.dumps(config))
    result = run_vqdna("train", "finetune", "--task", "t", "--train", toy_csv(tmp_path / "d.csv"), "-m",
                       tiny_model_dir, "-o", other, "--adapter", "frozen", "--epochs", "1", "--threads", "1")
    assert_one_line(result, OUTPUT_ERROR, "holds another model than --model")
    assert not (other / "heads" / "t").exists()


def test_rows_that_exclude_left_out_are_counted_on_stderr(run_vqdna, model_copy: Path, tmp_path: Path) -> None:
    """--exclude took 10 of 17 rows without a word: the count was only in head.json."""
    train = toy_csv(tmp_path / "d.csv")
    rows = train.read_text().splitlines()
    (tmp_path / "test.csv").write_text("\n".join(rows[:11]) + "\n")  # the header and 10 rows
    result = run_vqdna("train", "finetune", "--task", "t", "--train", train, "--exclude", tmp_path / "test.csv",
                       "-m", model_copy, "--adapter", "frozen", "--epochs", "1", "--threads", "1")
    assert result.returncode == 0, result.stderr
    record = json.loads((model_copy / "heads" / "t" / "head.json").read_text())["provenance"]["data"]
    assert result.stderr_lines[-2] == (
        f"vqdna: --exclude left out 10 training rows; the head trained on {record['train_rows']} rows and was "
        f"selected on {record['valid_rows']} rows")
    plain = run_vqdna("train", "finetune", "--task", "u", "--train", train, "-m", model_copy, "--adapter", "frozen",
                      "--epochs", "1", "--threads", "1")
    assert plain.returncode == 0 and not any("--exclude" in line for line in plain.stderr_lines)


def test_a_head_in_a_copy_of_the_model_works_and_the_run_says_how(run_vqdna, tiny_model_dir: Path,
                                                                  tmp_path: Path) -> None:
    out = Path(shutil.copytree(tiny_model_dir, tmp_path / "F"))
    result = run_vqdna("train", "finetune", "--task", "t", "--train", toy_csv(tmp_path / "d.csv"), "-m",
                       tiny_model_dir, "-o", out, "--adapter", "frozen", "--epochs", "1", "--threads", "1")
    assert result.returncode == 0, result.stderr
    command = f"vqdna classify -m {out} --task t SEQUENCES.fa"
    assert result.stderr_lines[-1] == f"vqdna: head t written to {out / 'heads' / 't'}; use it with: {command}"
    assert not (tiny_model_dir / "heads" / "t").exists()
    (tmp_path / "x.fa").write_text(f">x\n{random_dna(40, 3)}\n")
    classified = run_vqdna(*command.split()[1:-1], tmp_path / "x.fa", "--threads", "1", "--quiet")
    assert classified.returncode == 0, classified.stderr
    assert len(classified.stdout.decode().splitlines()) == 2  # the header and one row


# --- 5. a head that is already there ------------------------------------------------------------



def test_a_head_that_exists_is_replaced_only_with_force(run_vqdna, model_copy: Path, tmp_path: Path) -> None:
    """A head of the same --task (the shipped ones carry their recorded test score) is refused,
    before any work, with one line; --force replaces it."""
    head = model_copy / "heads" / "toy"
    before = {p.relative_to(model_copy): p.read_bytes() for p in model_copy.rglob("*") if p.is_file()}
    args = ["train", "finetune", "--task", "toy", "--train", toy_csv(tmp_path / "d.csv"), "-m", model_copy,
            "--adapter", "frozen", "--epochs", "1", "--threads", "1"]
    refused = run_vqdna(*args)
    assert_one_line(refused, OUTPUT_ERROR, f"head toy already exists in {head}: use --force to replace it")
    assert {p.relative_to(model_copy): p.read_bytes() for p in model_copy.rglob("*") if p.is_file()} == before
    refused_quietly = run_vqdna(*args, "-q")
    assert_one_line(refused_quietly, OUTPUT_ERROR, "head toy already exists")
    replaced = run_vqdna(*args, "--force", "-q")
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads((head / "head.json").read_text())["adapter"] == "frozen"  # the fixture's was lora


def test_resume_continues_a_head_stopped_early_and_nothing_else(model_copy: Path, tmp_path: Path) -> None:
    """A run stopped by --max-minutes writes its best head so far; --resume continues that run
    (its checkpoint is in the work folder) and replaces the head; an existing head with no run
    to continue is not replaced by --resume."""
    from vqdna_cli.errors import OutputError

    rows = HeadRows((str(toy_csv(tmp_path / "d.csv")),))
    settings = FinetuneSettings("t", adapter="frozen", epochs=2, batch=8)
    run = RunOptions(model_copy, device="cpu", threads=1)
    api.finetune(rows, settings, run, TrainControl(quiet=True, max_minutes=0.0))
    work = model_copy / "heads" / ".t.work"
    assert json.loads((work / "checkpoint.json").read_text())["step"] == 1
    with pytest.raises(OutputError, match=r"head t in .* was stopped by --max-minutes: continue its run with "
                                          r"--resume, or use --force"):
        api.finetune(rows, settings, run, TrainControl(quiet=True))  # not only "head t already exists"
    api.finetune(rows, settings, run, TrainControl(quiet=True, resume=True))
    assert json.loads((work / "checkpoint.json").read_text())["step"] == 14  # 51 rows in batches of 8, two epochs
    with pytest.raises(OutputError, match=r"--resume: head t .* no unfinished run to continue \(its run .* has done "
                                          r"14 steps of the 14 "):
        api.finetune(rows, settings, run, TrainControl(quiet=True, resume=True))  # that run, finished
    stopped = FinetuneSettings("s", adapter="frozen", epochs=1, batch=8)
    api.finetune(rows, stopped, run, TrainControl(quiet=True, max_minutes=0.0))
    fewer = HeadRows((str(toy_csv(tmp_path / "fewer.csv", rows=8)),))  # one step a run: done already
    with pytest.raises(UsageError, match=r"--resume: the checkpoint .* other settings or inputs"):
        api.finetune(fewer, stopped, run, TrainControl(quiet=True, resume=True))  # not "has done 1 steps of the 1"
    shutil.rmtree(model_copy / "heads" / ".toy.work")
    toy = FinetuneSettings("toy", epochs=2, batch=16)  # as conftest trained it
    with pytest.raises(OutputError, match=r"--resume: head toy .* no unfinished run to continue \(no checkpoint in"):
        api.finetune(rows, toy, run, TrainControl(quiet=True, resume=True))
    assert not (model_copy / "heads" / ".toy.work").exists()


def test_a_head_stopped_mid_epoch_and_resumed_is_the_uninterrupted_head(model_copy: Path, tmp_path: Path) -> None:
    """The score taken where --max-minutes stops a run between epochs may pick the head
    written then, but not the one --resume finishes with: it selected a mid-epoch state that
    the uninterrupted run never scored."""
    import hashlib

    import numpy as np

    flips = np.random.default_rng(5).random(80) > 0.6  # labels that often miss GC: scores that move each step
    lines = ["sequence,label", *(f"{random_dna(40, i, 'ACGGCC' if i % 2 else 'AATTCG')},{(i % 2) ^ flips[i]}"
                                 for i in range(80))]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    rows = HeadRows((str(tmp_path / "d.csv"),))
    run = RunOptions(model_copy, device="cpu", threads=1)
    api.finetune(rows, FinetuneSettings("whole", adapter="frozen", epochs=2, batch=8), run, TrainControl(quiet=True))
    cut = FinetuneSettings("cut", adapter="frozen", epochs=2, batch=8)
    api.finetune(rows, cut, run, TrainControl(quiet=True, max_minutes=0.0))
    for _ in range(7):  # one step a run, to step 8 of the first epoch's 9, each stop scored
        api.finetune(rows, cut, run, TrainControl(quiet=True, max_minutes=0.0, resume=True))
    api.finetune(rows, cut, run, TrainControl(quiet=True, resume=True))
    heads = model_copy / "heads"
    assert json.loads((heads / "cut" / "head.json").read_text())["validation"] == \
        json.loads((heads / "whole" / "head.json").read_text())["validation"]
    digest = [hashlib.sha256((heads / name / "head.safetensors").read_bytes()).hexdigest() for name in ("cut", "whole")]
    assert digest[0] == digest[1]


def test_evaluate_takes_quiet_and_seed_as_every_command(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    result = run_vqdna("train", "evaluate", "--task", "toy", "--test", toy_csv(tmp_path / "t.csv", rows=6), "-m",
                       tiny_model_dir, "--threads", "1", "-q", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and json.loads(result.stdout)["n"] == 6


def test_a_test_score_on_the_heads_own_training_rows_is_not_recorded(run_vqdna, model_copy: Path,
                                                                     tmp_path: Path) -> None:
    """The `toy` head trained on toy_csv's 60 rows; toy_csv(rows=6) repeats 6 of them."""
    own = toy_csv(tmp_path / "own.csv", rows=6)
    args = ["train", "evaluate", "--task", "toy", "--test", own, "-m", model_copy, "--threads", "1"]
    refused = run_vqdna(*args, "--record")
    assert_one_line(refused, INPUT_ERROR, f"{own} holds about 10% of the rows head toy was trained or selected on")
    assert "leave out --record" in refused.stderr
    assert "test" not in json.loads((model_copy / "heads" / "toy" / "head.json").read_text())
    warned = run_vqdna(*args)
    assert warned.returncode == 0 and json.loads(warned.stdout)["n"] == 6
    assert [line for line in warned.stderr_lines if line.startswith("vqdna: warning: ")] == [
        f"vqdna: warning: {refused.stderr_lines[0].split(': error: ')[1].split('; remove')[0]}"]
    unseen = tmp_path / "unseen.csv"
    unseen.write_text("sequence,label\n" + "".join(f"{random_dna(40, 5000 + i)},{i % 2}\n" for i in range(6)))
    recorded = run_vqdna("train", "evaluate", "--task", "toy", "--test", unseen, "-m", model_copy, "--threads", "1",
                         "--record")
    assert recorded.returncode == 0 and "warning" not in recorded.stderr, recorded.stderr
    assert json.loads((model_copy / "heads" / "toy" / "head.json").read_text())["test"]["n"] == 6


# --- --resume continues the first run, as it was ------------------------------------------


def test_resume_refuses_a_tokenizer_run_with_other_settings_or_inputs(run_vqdna, tmp_path: Path) -> None:
    """A checkpoint records the options and inputs its weights depend on: --resume with others
    is a one-line usage error naming what differs, before any step; --steps (upwards), time
    limits, threads and --quiet may change; a checkpoint without the record still resumes."""
    fasta, held = genome(tmp_path), genome(tmp_path, "held.fa")
    out = tmp_path / "tok"
    first = ["tokenizer", fasta, held, "-o", out, "--holdout-file", "held.fa", *TOKENIZER]
    assert run_vqdna("train", *first, "--steps", "20", "--max-minutes", "0").returncode == 0
    checkpoint = out / "checkpoint.json"
    assert json.loads(checkpoint.read_text())["step"] == 1
    changed = run_vqdna("train", "tokenizer", fasta, held, "-o", out, *TOKENIZER, "--steps", "20", "--window", "24",
                        "--lr", "0.01", "--resume")
    assert_one_line(changed, USAGE_ERROR, "--resume: the checkpoint")
    for named in ("--window 32 then, 24 now", "--lr 0.002 then, 0.01 now", "--holdout-file held.fa then, none now"):
        assert named in changed.stderr, changed.stderr
    assert json.loads(checkpoint.read_text())["step"] == 1  # nothing trained
    other_input = run_vqdna("train", "tokenizer", fasta, "-o", out, *TOKENIZER, "--resume")
    assert_one_line(other_input, USAGE_ERROR, "FASTA inputs g.fa,held.fa then, g.fa now")
    kept = fasta.read_text()
    fasta.write_text(fasta_text({"plasmid": random_dna(280, 6)}))  # the same name, other sequence
    swapped = run_vqdna("train", *first, "--steps", "20", "--resume")
    assert_one_line(swapped, USAGE_ERROR, "FASTA records heldout:held.fa:chr (all 300 bp),train:g.fa:chr (300 bp) "
                                          "then, heldout:held.fa:chr (all 300 bp),train:g.fa:plasmid (280 bp) now")
    fasta.write_text(kept)
    for option in (["--seed", "3"], ["--batch", "4"], ["--preset", "vq"]):
        assert_one_line(run_vqdna("train", *first, *option, "--resume"), USAGE_ERROR, f"{option[0]} ")
    resumed = run_vqdna("train", *first, "--steps", "3", "--threads", "2", "--max-minutes", "5", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(checkpoint.read_text())["step"] == 3
    # a checkpoint of a vqdna that recorded nothing: resumed unchecked, as before
    checkpoint.write_text(json.dumps({k: v for k, v in json.loads(checkpoint.read_text()).items() if k != "run"}))
    old = run_vqdna("train", *first, "--steps", "4", "--window", "24", "--resume")
    assert old.returncode == 0, old.stderr
    assert "run" not in json.loads(checkpoint.read_text())


def test_resume_refuses_a_pretraining_run_with_other_settings_or_past_its_steps(tiny_model_dir: Path,
                                                                                tmp_path: Path) -> None:
    fasta, held = genome(tmp_path), genome(tmp_path, "held.fa")
    out = tmp_path / "pre"
    genomes = GenomeSet((str(fasta), str(held)), ("held.fa",))
    run = RunOptions(tiny_model_dir, device="cpu", threads=1)
    stage = StageSettings(steps=3, window=32, batch=2)
    api.pretrain(genomes, out, stage, TrainControl(quiet=True), run)
    checkpoint = out / "checkpoint.json"
    assert json.loads(checkpoint.read_text())["step"] == 3
    with pytest.raises(UsageError, match=r"at step 3, past --steps 2: give --steps 3 or more"):
        api.pretrain(genomes, out, StageSettings(steps=2, window=32, batch=2), TrainControl(quiet=True, resume=True),
                     run)
    refused = {"--holdout-file": (GenomeSet((str(fasta), str(held))), stage, run),
               "--window": (genomes, StageSettings(steps=5, window=24, batch=2), run),
               "--batch": (genomes, StageSettings(steps=5, window=32, batch=4), run),
               "--lr": (genomes, StageSettings(steps=5, lr=0.01, window=32, batch=2), run),
               "--seed": (genomes, stage, RunOptions(tiny_model_dir, device="cpu", threads=1, seed=7))}
    for option, (data, settings, options) in refused.items():
        with pytest.raises(UsageError, match=rf"other settings or inputs \({option} "):
            api.pretrain(data, out, settings, TrainControl(quiet=True, resume=True), options)
    with pytest.raises(UsageError, match=r"--transformer-preset none then, tiny now"):
        api.pretrain(genomes, out, stage, TrainControl(quiet=True, resume=True), run, transformer_preset="tiny")
    assert json.loads(checkpoint.read_text())["step"] == 3
    api.pretrain(genomes, out, StageSettings(steps=5, window=32, batch=2), TrainControl(quiet=True, resume=True), run)
    assert json.loads(checkpoint.read_text())["step"] == 5
    provenance = json.loads((out / "config.json").read_text())["provenance"]["pretrain"]
    assert provenance["settings"]["steps"] == 5 and provenance["complete"]


@pytest.mark.parametrize("adapter", ["frozen", "lora"])
def test_resume_refuses_a_head_run_with_other_rows_labels_or_recipe(adapter: str, model_copy: Path,
                                                                    tmp_path: Path) -> None:
    rows = HeadRows((str(toy_csv(tmp_path / "d.csv")),))
    settings = FinetuneSettings("t", adapter=adapter, epochs=2, batch=8)
    run = RunOptions(model_copy, device="cpu", threads=1)
    api.finetune(rows, settings, run, TrainControl(quiet=True, max_minutes=0.0))
    work = model_copy / "heads" / ".t.work"
    assert json.loads((work / "checkpoint.json").read_text())["step"] == 1
    resume = TrainControl(quiet=True, resume=True)
    other_rows = HeadRows((str(toy_csv(tmp_path / "e.csv", rows=50)),))
    with pytest.raises(UsageError, match=r"--train d.csv then, e.csv now; rows \(digest\)"):
        api.finetune(other_rows, settings, run, resume)
    with pytest.raises(UsageError, match=r"--lr 0.001 then, 0.01 now"):
        api.finetune(rows, FinetuneSettings("t", adapter=adapter, epochs=2, batch=8, lr=0.01), run, resume)
    with pytest.raises(UsageError, match=r"inputs \(class names 0,1 then, no,yes now\)"):
        api.finetune(rows, FinetuneSettings("t", adapter=adapter, epochs=2, batch=8, class_names=("no", "yes")), run,
                     resume)
    with pytest.raises(UsageError, match=r"--seed 0 then, 4 now"):
        api.finetune(rows, settings, RunOptions(model_copy, device="cpu", threads=1, seed=4), resume)
    assert json.loads((work / "checkpoint.json").read_text())["step"] == 1
    api.finetune(rows, FinetuneSettings("t", adapter=adapter, epochs=3, batch=8), run, resume)  # more epochs: fine
    assert json.loads((work / "checkpoint.json").read_text())["step"] == 21  # 51 rows in batches of 8, three epochs


def test_resume_of_a_finished_run_or_of_no_run_says_so(run_vqdna, tmp_path: Path) -> None:
    """A finished tokenizer run resumed would only write its weights again, without its
    validation scores: refused. --resume where no run left a checkpoint starts over, warned."""
    fasta, out = genome(tmp_path), tmp_path / "tok"
    first = run_vqdna("train", "tokenizer", fasta, "-o", out, *[a for a in TOKENIZER if a != "--quiet"], "--resume")
    assert first.returncode == 0, first.stderr
    assert f"vqdna: warning: --resume: no checkpoint in {out} to continue from" in first.stderr
    weights = (out / "config.json").read_bytes()
    again = run_vqdna("train", "tokenizer", fasta, "-o", out, *TOKENIZER, "--resume")
    assert_one_line(again, OUTPUT_ERROR, f"--resume: the run in {out} has done all its 1 steps and written its weights")
    assert (out / "config.json").read_bytes() == weights
    more = run_vqdna("train", "tokenizer", fasta, "-o", out, *TOKENIZER, "--resume", "--steps", "2")
    assert more.returncode == 0, more.stderr
    assert json.loads((out / "checkpoint.json").read_text())["step"] == 2


def test_an_output_folder_that_cannot_be_made_is_one_line(run_vqdna, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub"
    result = run_vqdna("train", "tokenizer", genome(tmp_path), "-o", out, *TOKENIZER)
    assert_one_line(result, OUTPUT_ERROR, f"cannot create the folder {out}: {tmp_path / 'afile'} is a file")
    assert (tmp_path / "afile").read_text() == "x"


# --- 6. head options that would be ignored or read nothing -------------------------------------


def test_validation_labels_no_training_row_has_are_refused(run_vqdna, model_copy: Path, tmp_path: Path) -> None:
    train = toy_csv(tmp_path / "train.csv")
    (tmp_path / "valid.csv").write_text("sequence,label\nACGTACGTAC,0\nGGGCCCGGCC,1\nATATATATAT,x\n")
    result = run_vqdna("train", "finetune", "--task", "t", "--train", train, "--valid", tmp_path / "valid.csv",
                       "-m", model_copy, "--adapter", "frozen", "--epochs", "1", "--threads", "1", "--quiet")
    assert_one_line(result, INPUT_ERROR, "the validation rows have labels no training row has (x; the training "
                                         "rows' are 0, 1)")
    one_row = run_vqdna("train", "finetune", "--task", "t", "--train", train, "-m", model_copy, "--adapter", "frozen",
                        "--max-train-rows", "1", "--epochs", "1", "--threads", "1", "--quiet")
    assert_one_line(one_row, INPUT_ERROR, "--max-train-rows 1 is fewer than the 2 classes of the training rows")
    assert not (model_copy / "heads" / "t").exists()


@pytest.mark.parametrize("option, message", [
    (["--center-tokens", "2", "--center-at", "41"], "--center-at 41: its 2 central tokens all lie beyond the last "
                                                    "base of every training window (40 bases at most): give a "
                                                    "base below 41"),
    (["--center-tokens", "100000"], "--center-tokens 100000: more tokens than the model's window has"),
    (["--valid-fraction", "0.2", "--valid", "VALID"], "--valid-fraction holds out rows of --train"),
    (["--lora-rank", "4"], "--lora-rank works with --adapter lora only"),
    (["--class-names", "a,a"], "--class-names 'a,a': give one distinct, non-empty name per label"),
    # written in TSV/BED columns and one --list-tasks line each
    (["--class-names", "a\tb,c"], "--class-names 'a\\tb': holds a tab or line break"),
    (["--description", "line one\nline two"], "--description 'line one\\nline two': holds a tab or line break"),
])
def test_head_options_that_would_read_nothing_are_refused(option: list[str], message: str, run_vqdna,
                                                          tiny_model_dir: Path, tmp_path: Path) -> None:
    train = toy_csv(tmp_path / "d.csv")  # rows of 40 bases
    option = [str(toy_csv(tmp_path / "v.csv", rows=20)) if value == "VALID" else value for value in option]
    model = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    result = run_vqdna("train", "finetune", "--task", "t", "--train", train, "-m", model, "--adapter", "frozen",
                       *option, "--epochs", "1", "--threads", "1")
    assert_one_line(result, USAGE_ERROR, message)
    assert not (model / "heads" / "t").exists() and not (model / "heads" / ".t.work").exists()


def test_a_label_with_a_tab_is_refused_before_training(run_vqdna, model_copy: Path, tmp_path: Path) -> None:
    """A quoted CSV label `"GC<TAB>rich"` trained a head whose classify rows had a column more
    than their header."""
    rows = toy_csv(tmp_path / "d.csv").read_text().replace(",1\n", ',"GC\trich"\n')
    (tmp_path / "tab.csv").write_text(rows)
    result = run_vqdna("train", "finetune", "--task", "t", "--train", tmp_path / "tab.csv", "-m", model_copy,
                       "--adapter", "frozen", "--epochs", "1", "--threads", "1")
    assert_one_line(result, INPUT_ERROR, "label 'GC\\trich' holds a tab or line break")
    assert not (model_copy / "heads" / "t").exists()


def test_a_head_on_a_model_never_pre_trained_is_warned_about(run_vqdna, model_copy: Path, tmp_path: Path) -> None:
    config = model_copy / "config.json"
    info = json.loads(config.read_text())
    info["provenance"] = {"tokenizer": {"stage": "tokenizer"}}  # a stage-1 folder: no pre-training
    config.write_text(json.dumps(info))
    result = run_vqdna("train", "finetune", "--task", "t", "--train", toy_csv(tmp_path / "d.csv"), "-m", model_copy,
                       "--adapter", "frozen", "--epochs", "1", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("vqdna: warning: the Transformer of") and "never pre-trained" in line
               for line in result.stderr_lines)


def test_a_feature_head_standardised_on_one_row_stays_finite() -> None:
    import torch

    from vqdna_cli.model.heads import FeatureHead

    head = FeatureHead(3, 2, 4)
    head.standardise_on(torch.tensor([[1.0, 2.0, 3.0]]))
    assert torch.isfinite(head.scale).all() and torch.isfinite(head(torch.zeros(1, 3))).all()


def test_record_is_refused_on_the_shipped_weights_and_on_a_read_only_head(run_vqdna, model_copy: Path,
                                                                          tmp_path: Path, monkeypatch) -> None:
    """`evaluate --record` without -m rewrote the installed package's head.json (every user's
    --list-tasks); on a read-only install it failed after the whole evaluation."""
    import os

    unseen = tmp_path / "unseen.csv"
    unseen.write_text("sequence,label\n" + "".join(f"{random_dna(40, 6000 + i)},{i % 2}\n" for i in range(6)))
    monkeypatch.delenv("VQDNA_WEIGHTS", raising=False)
    shipped = run_vqdna("train", "evaluate", "--task", "promoter", "--test", unseen, "--record")
    assert_one_line(shipped, USAGE_ERROR, "--record writes the score into the weights' head.json, and without -m")
    head = model_copy / "heads" / "toy" / "head.json"
    before = head.read_text()
    head.chmod(0o444)
    try:
        if not os.access(head, os.W_OK):  # (root may write read-only files: nothing to refuse there)
            locked = run_vqdna("train", "evaluate", "--task", "toy", "--test", unseen, "-m", model_copy, "--record")
            assert_one_line(locked, OUTPUT_ERROR, f"--record: cannot write {head}")
    finally:
        head.chmod(0o644)
    assert head.read_text() == before


def test_class_names_name_numeric_labels_and_never_swap_named_ones() -> None:
    """With labels background,promoter, `--class-names promoter,background` was applied by
    position: every call came out under the other class's name."""
    from vqdna_cli.api.train import _class_names

    assert _class_names(["0", "1"], ("other", "enhancer")) == ["other", "enhancer"]
    assert _class_names(["background", "promoter"], None) == ["background", "promoter"]
    assert _class_names(["background", "promoter"], ("promoter", "background")) == ["background", "promoter"]
    with pytest.raises(UsageError, match=r"the labels are names already \(background, promoter\)"):
        _class_names(["background", "promoter"], ("no", "yes"))


def test_validation_rows_of_one_class_are_warned_about(tmp_path: Path) -> None:
    """MCC is 0 at every epoch on them: the first epoch's head was kept without a word."""
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.errors import VqdnaWarning
    from vqdna_cli.options import HeadRows

    train = toy_csv(tmp_path / "train.csv")
    other = toy_csv(tmp_path / "other.csv", rows=80).read_text().splitlines()[61:]  # sequences train has not
    only_zeros = [line for line in other if line.endswith(",0")]
    (tmp_path / "valid.csv").write_text("\n".join(["sequence,label", *only_zeros]) + "\n")
    with pytest.warns(VqdnaWarning, match=r"every validation row is of one class \('0'\)"):
        head_training_data(HeadRows((str(train),), valid_files=(str(tmp_path / "valid.csv"),)))


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_head_training_data_refuses_a_seed_numpy_cannot_take(tmp_path: Path, seed) -> None:
    """A negative seed passed the API and failed inside numpy's generator, after every file
    was read, with numpy's own ValueError."""
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.options import HeadRows

    train = toy_csv(tmp_path / "train.csv")
    with pytest.raises(UsageError, match=r"^--seed .*: must be a whole number from 0 to 4294967295$"):
        head_training_data(HeadRows((str(train),)), seed=seed)


def test_a_best_state_without_a_checkpoint_is_not_resumed(tmp_path: Path) -> None:
    """A run that failed after saving its best state but before its first checkpoint: --resume
    (with other data, say 3 classes) wrote that stale 2-class state as the new head."""
    import torch

    from vqdna_cli.train.finetune import BestSoFar
    from vqdna_cli.train.loop import CHECKPOINT

    first = BestSoFar(tmp_path, {"w": torch.zeros(2)}, resume=False)
    first.offer({"mcc": 0.5}, lambda: {"w": torch.ones(2)})
    assert (tmp_path / "best.json").is_file() and not (tmp_path / f"{CHECKPOINT}.json").exists()
    again = BestSoFar(tmp_path, {"w": torch.zeros(3)}, resume=True)
    assert again.state["w"].shape == (3,) and again.metrics["mcc"] == -2.0
    (tmp_path / f"{CHECKPOINT}.json").write_text("{}")  # beside a checkpoint --resume has checked: continued
    assert BestSoFar(tmp_path, {"w": torch.zeros(2)}, resume=True).metrics["mcc"] == 0.5


def test_a_head_of_both_strands_is_not_trained_on_the_other_strand_of_excluded_rows(tmp_path: Path) -> None:
    """--both-strands averages a window with its reverse complement: a training row that was
    the reverse complement of a test row gave the head that test row's very features."""
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.data.alphabet import reverse_complement
    from vqdna_cli.options import HeadRows

    train = toy_csv(tmp_path / "train.csv")
    rows = [line.split(",") for line in train.read_text().splitlines()[1:]]
    test = tmp_path / "test.csv"
    test.write_text("sequence,label\n" + "".join(f"{reverse_complement(s)},{y}\n" for s, y in rows[:5]))
    valid = tmp_path / "valid.csv"
    valid.write_text("sequence,label\n" + "".join(f"{reverse_complement(s)},{y}\n" for s, y in rows[5:9]) +
                     "".join(f"{s},{y}\n" for s, y in rows[50:]))
    one_strand = head_training_data(HeadRows((str(train),), valid_files=(str(valid),), exclude_files=(str(test),)))
    assert one_strand.record["dropped_in_exclude"] == 0 and one_strand.record["dropped_in_valid"] == 10
    assert "copies_on_either_strand" not in one_strand.record
    both = head_training_data(HeadRows((str(train),), valid_files=(str(valid),), exclude_files=(str(test),),
                                       either_strand=True))
    assert both.record["dropped_in_exclude"] == 5 and both.record["dropped_in_valid"] == 14
    assert both.record["copies_on_either_strand"] is True
    assert {s for s, _ in both.rows} == {s for s, _ in rows[9:50]}


@pytest.mark.parametrize("members", [1, 2])
def test_a_resumed_head_records_the_command_of_every_part(model_copy: Path, tmp_path: Path, members: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """head.json recorded only the last part's command (the weights of train tokenizer and
    pretrain recorded every part's)."""
    import sys

    rows = HeadRows((str(toy_csv(tmp_path / "d.csv")),))
    settings = FinetuneSettings("t", adapter="frozen", epochs=1, batch=8, members=members)
    run = RunOptions(model_copy, device="cpu", threads=1)
    monkeypatch.setattr(sys, "argv", ["vqdna", "train", "finetune", "first"])
    api.finetune(rows, settings, run, TrainControl(quiet=True, max_minutes=0.0))
    monkeypatch.setattr(sys, "argv", ["vqdna", "train", "finetune", "second"])
    api.finetune(rows, settings, run, TrainControl(quiet=True, resume=True))
    record = json.loads((model_copy / "heads/t/head.json").read_text())["provenance"]
    assert (record["earlier_commands"], record["command"]) == (["vqdna train finetune first"],
                                                              "vqdna train finetune second")


def test_a_frozen_head_on_two_threads_records_its_part_once(model_copy: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen head trains on one thread: its loop recorded threads 1 and the provenance added
    the run again with threads 2, as if it had been resumed."""
    import sys

    monkeypatch.setattr(sys, "argv", ["vqdna", "train", "finetune", "only"])
    api.finetune(HeadRows((str(toy_csv(tmp_path / "d.csv")),)), FinetuneSettings("t", adapter="frozen", epochs=1),
                 RunOptions(model_copy, device="cpu", threads=2), TrainControl(quiet=True))
    record = json.loads((model_copy / "heads/t/head.json").read_text())["provenance"]
    assert "earlier_parts" not in record and (record["command"], record["threads"]) == ("vqdna train finetune only", 2)


def test_an_exclude_fasta_needs_no_labels(tmp_path: Path) -> None:
    """Only an --exclude file's sequences count, yet a FASTA of them was refused for want of
    --labels (and with --labels, a CSV one was read as FASTA)."""
    import gzip

    from vqdna_cli.api.train import head_training_data

    train = toy_csv(tmp_path / "train.csv")
    rows = [line.split(",") for line in train.read_text().splitlines()[1:]]
    held_out = tmp_path / "held_out.fa.gz"
    held_out.write_bytes(gzip.compress(fasta_text({f"t{i}": s.lower() for i, (s, _) in enumerate(rows[:3])}).encode()))
    data = head_training_data(HeadRows((str(train),), valid_fraction=0.2, exclude_files=(str(held_out),)))
    assert data.record["dropped_in_exclude"] == 3
    assert not {s for s, _ in rows[:3]} & {s for s, _ in data.rows + data.valid_rows}


def test_a_score_on_rows_of_one_class_is_not_recorded(run_vqdna, model_copy: Path, tmp_path: Path) -> None:
    """Test rows all of one class gave MCC 0, recorded over the head's real test score."""
    one = tmp_path / "one.csv"
    one.write_text("sequence,label\n" + "".join(f"{random_dna(40, 7000 + i, 'AATTCG')},0\n" for i in range(6)))
    args = ["train", "evaluate", "--task", "toy", "--test", one, "-m", model_copy, "--threads", "1"]
    refused = run_vqdna(*args, "--record")
    assert_one_line(refused, INPUT_ERROR, f"every row of {one} is of one class ('0'): MCC is 0 whatever head toy "
                                          "answers, so the score says nothing of it; give test rows of every class")
    assert "test" not in json.loads((model_copy / "heads" / "toy" / "head.json").read_text())
    warned = run_vqdna(*args)
    assert warned.returncode == 0 and any("is of one class ('0')" in line for line in warned.stderr_lines)


def test_evaluate_warns_of_rows_unlike_the_training_rows_as_classify_does(run_vqdna, tiny_model_dir: Path,
                                                                          tmp_path: Path) -> None:
    """A 300 bp promoter head scored on 70 bp core promoters gave a score without a word."""
    short = tmp_path / "short.csv"
    short.write_text("sequence,label\n" + "".join(f"{random_dna(12, 7100 + i)},{i % 2}\n"
                                                  for i in range(6)))
    result = run_vqdna("train", "evaluate", "--task", "toy", "--test", short, "-m", tiny_model_dir, "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert f"vqdna: warning: 6 of the 6 rows of {short} are far from the lengths the toy head was trained on (40 bp): " \
           "their answers, and so the score, are extrapolations" in result.stderr_lines


def test_an_earlier_runs_checkpoint_is_continued_or_discarded_never_trained_over(model_copy: Path,
                                                                                 tmp_path: Path) -> None:
    """A run killed mid-way left its checkpoint; the same command again (no --resume) trained
    from the first step over it without a word, and its log ran on into the new run's."""
    from vqdna_cli.errors import OutputError

    rows = HeadRows((str(toy_csv(tmp_path / "d.csv")),))
    settings = FinetuneSettings("k", adapter="frozen", epochs=2, batch=8)
    run = RunOptions(model_copy, device="cpu", threads=1)
    api.finetune(rows, settings, run, TrainControl(quiet=True, max_minutes=0.0))
    shutil.rmtree(model_copy / "heads" / "k")  # as if killed before its head was written
    work = model_copy / "heads" / ".k.work"
    with pytest.raises(OutputError, match=rf"^{work} holds the checkpoint of an earlier run of head k \(1 steps done\): "
                                          "continue that run with --resume, or start again with --force"):
        api.finetune(rows, settings, run, TrainControl(quiet=True))
    api.finetune(rows, settings, run, TrainControl(quiet=True, force=True))
    log = [json.loads(line) for line in (work / "train_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [7, 14]  # the new run's epochs alone, not the earlier step 1
    assert json.loads((work / "checkpoint.json").read_text())["step"] == 14


def test_a_work_dir_shared_by_two_heads_names_the_head_whose_run_it_holds(run_vqdna, model_copy: Path,
                                                                          tmp_path: Path) -> None:
    """The refusal named the new head and pointed to --resume, which was then refused too."""
    train = toy_csv(tmp_path / "d.csv")
    first = run_vqdna("train", "finetune", "--task", "head_a", "--train", train, "-m", model_copy, "--adapter",
                      "frozen", "--epochs", "1", "--threads", "1", "-q", "--work-dir", tmp_path / "wd")
    assert first.returncode == 0, first.stderr
    second = run_vqdna("train", "finetune", "--task", "head_b", "--train", train, "-m", model_copy, "--adapter",
                       "frozen", "--epochs", "1", "--threads", "1", "-q", "--work-dir", tmp_path / "wd")
    assert_one_line(second, OUTPUT_ERROR, f"{tmp_path / 'wd'} holds the checkpoint of a run of head head_a (")
    assert "not of head_b: give head_b a --work-dir of its own, or --force" in second.stderr


def test_a_file_given_twice_is_refused_not_counted_twice(tmp_path: Path, model_copy: Path) -> None:
    """`--test x --test x` scored every row twice (and --train x --train x trained on each
    row twice), without a word."""
    data = toy_csv(tmp_path / "d.csv")
    with pytest.raises(UsageError, match=r"d.csv is given twice among the --train files: give each file once"):
        HeadRows((str(data), str(tmp_path / "." / "d.csv")))
    with pytest.raises(UsageError, match=r"d.csv is given twice among the --valid files"):
        HeadRows((str(data),), valid_files=(str(data), str(data)))
    with pytest.raises(UsageError, match=r"d.csv is given twice among the --test files"):
        api.evaluate("toy", [str(data), str(data)], RunOptions(model_copy, threads=1))


def test_labels_in_other_digits_are_names_not_numbers() -> None:
    """'①' and '²' pass str.isdigit, and sorting them with int() was a traceback."""
    from vqdna_cli.api.train import _class_names, _label_order

    assert _label_order(["10", "2", "-1"]) == ["-1", "2", "10"]
    assert _label_order(["②", "①"]) == ["①", "②"]
    assert _class_names(["①", "②"], ("②", "①")) == ["①", "②"]


def test_each_labelled_file_is_read_in_its_own_format(tmp_path: Path) -> None:
    """With --labels every file was read as FASTA: a CSV --valid beside FASTA --train was
    refused as 'not a FASTA file'; --labels beside CSV files only is said to be unused."""
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.errors import VqdnaWarning

    rows = [line.split(",") for line in toy_csv(tmp_path / "all.csv", rows=80).read_text().splitlines()[1:]]
    (tmp_path / "train.fa").write_text("".join(f">r{i}\n{sequence}\n" for i, (sequence, _) in enumerate(rows[:60])))
    (tmp_path / "labels.tsv").write_text("".join(f"r{i}\t{label}\n" for i, (_, label) in enumerate(rows[:60])))
    (tmp_path / "valid.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows[60:]))
    data = head_training_data(HeadRows((str(tmp_path / "train.fa"),), valid_files=(str(tmp_path / "valid.csv"),),
                                       labels_tsv=str(tmp_path / "labels.tsv")))
    assert sorted(data.rows) == sorted(map(tuple, rows[:60])) and sorted(data.valid_rows) == sorted(map(tuple, rows[60:]))
    with pytest.warns(VqdnaWarning, match=r"--labels .*labels.tsv is not used: none of .*all.csv is FASTA"):
        head_training_data(HeadRows((str(tmp_path / "all.csv"),), labels_tsv=str(tmp_path / "labels.tsv")))


def test_class_names_are_stripped_and_evaluate_says_what_it_scored(run_vqdna, model_copy: Path,
                                                                   tmp_path: Path) -> None:
    """`--class-names "a, b"` named a class ' b' (a column `p_ b`); evaluate's stdout named
    no model and changed on every run (its timing)."""
    train = toy_csv(tmp_path / "d.csv")
    trained = run_vqdna("train", "finetune", "--task", "named", "--train", train, "-m", model_copy, "--adapter",
                        "frozen", "--epochs", "1", "--threads", "1", "--class-names", "a, b")
    assert trained.returncode == 0, trained.stderr
    assert json.loads((model_copy / "heads" / "named" / "head.json").read_text())["class_names"] == ["a", "b"]
    test = tmp_path / "t.csv"
    test.write_text("sequence,label\n" + "".join(f"{random_dna(40, 7000 + i)},{i % 2}\n" for i in range(6)))
    args = ["train", "evaluate", "--task", "named", "--test", test, "-m", model_copy, "--threads", "1"]
    first, second = run_vqdna(*args), run_vqdna(*args)
    assert first.returncode == 0 and first.stdout == second.stdout
    score = json.loads(first.stdout)
    assert score["task"] == "named" and score["n"] == 6 and score["vqdna_version"] and len(score["model_hash"]) == 16
    head = json.loads((model_copy / "heads" / "named" / "head.json").read_text())["sha256"]["head.safetensors"]
    assert score["head_hash"] == head[:16]
    assert "seconds" not in score and any(line.startswith("vqdna: scored head named on 6 rows in ")
                                          and "bp/s" in line for line in first.stderr_lines)


# --- the rows and labels of a user's own head ----------------------------------------------------


def _labelled(path: Path, labels: list[str], length: int = 30) -> Path:
    path.write_text("sequence,label\n" + "".join(f"{random_dna(length, 7300 + i)},{label}\n"
                                                 for i, label in enumerate(labels)))
    return path


@pytest.mark.parametrize("one, other", [("1", "1.0"), ("0", "00"), ("-1", "-1.00")])
def test_one_number_written_two_ways_is_refused(tmp_path: Path, one: str, other: str) -> None:
    """A spreadsheet's '1.0' beside '1' made a head of two classes for one, and '0' beside
    '00' one whose class order hung on Python's hash seed."""
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.errors import InputError

    rows = _labelled(tmp_path / "rows.csv", [one, other, "7", "7"] * 5)
    with pytest.raises(InputError, match="are one number written two ways, which a head would learn as two classes"):
        head_training_data(HeadRows((str(rows),), valid_fraction=0.25))


@pytest.mark.parametrize("labels, plain", [(["2.0", "10.0"], "10.0, 2.0 are whole numbers written as text: write "
                                                               "them as 10, 2"),
                                           (["+1", "0"], "+1, 0 are whole numbers written as text: write them as 1, 0")])
def test_whole_numbers_written_as_text_are_asked_for_as_numbers(tmp_path: Path, labels, plain) -> None:
    """A spreadsheet's 2.0 and 10.0 made a head whose classes were ordered as text (10.0
    first) and that --class-names refused to name: the user means numbers."""
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.errors import InputError

    rows = _labelled(tmp_path / "rows.csv", labels * 10)
    with pytest.raises(InputError, match=f"^the labels {re.escape(plain)}, so that classes are ordered as numbers"):
        head_training_data(HeadRows((str(rows),), valid_fraction=0.25))
    words = _labelled(tmp_path / "words.csv", ["1.5", "x"] * 10)  # not all whole numbers: labels as written
    assert head_training_data(HeadRows((str(words),), valid_fraction=0.25)).labels == ["1.5", "x"]
    codes = _labelled(tmp_path / "codes.csv", ["1e3", "2e3"] * 10)  # float() reads them; a user means names
    assert head_training_data(HeadRows((str(codes),), valid_fraction=0.25)).labels == ["1e3", "2e3"]
    mixed = _labelled(tmp_path / "mixed.csv", ["1e3", "1000"] * 10)  # a name and a number, not one number twice
    assert head_training_data(HeadRows((str(mixed),), valid_fraction=0.25)).labels == ["1000", "1e3"]


def test_a_label_with_a_comma_is_refused(tmp_path: Path) -> None:
    """A quoted label "x,y" beside z trained a head that --list-tasks showed as classes x,y,z
    and that --class-names and --background could not name."""
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.errors import InputError

    rows = _labelled(tmp_path / "rows.csv", ['"x,y"', "z"] * 10)
    with pytest.raises(InputError, match="^label 'x,y' holds a comma, which --class-names, --background and "
                                         "--list-tasks take to separate classes"):
        head_training_data(HeadRows((str(rows),), valid_fraction=0.25))


def test_class_names_that_are_other_labels_are_refused() -> None:
    """Labels 0,1 named 1,0 gave classify rows whose label read 0 under class_index 1."""
    from vqdna_cli.api.train import _class_names

    with pytest.raises(UsageError, match=r"^--class-names 1,0: names class 0 '1', which is another class's label"):
        _class_names(["0", "1"], ("1", "0"))
    assert _class_names(["0", "1"], ("0", "1")) == ["0", "1"]
    assert _class_names(["0", "1"], ("other", "1")) == ["other", "1"]


def test_classes_of_one_sequence_each_are_named_as_the_cause_without_a_warning_first(tmp_path: Path) -> None:
    """Every row a class of its own: the drawn validation row's class had no training row, and
    the error told the user to give training rows of every class (they had), after a warning
    that the first epoch's head would be kept (none was trained)."""
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.errors import InputError

    rows = _labelled(tmp_path / "rows.csv", [f"c{i}" for i in range(40)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=r"^class c\d+ has rows of a single sequence, which cannot both train "
                                             r"and select a head: give each class rows of two or more sequences, "
                                             r"or --valid FILE$"):
            head_training_data(HeadRows((str(rows),), valid_fraction=0.1))


def test_labels_of_one_value_keep_one_order_under_any_hash_seed() -> None:
    import subprocess
    import sys

    code = "from vqdna_cli.api.train import _label_order; print(_label_order(['00', '0', '1', '01', '10']))"
    orders = {subprocess.run([sys.executable, "-c", code], env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)},
                             capture_output=True, text=True, check=True).stdout for seed in range(6)}
    assert orders == {"['0', '00', '01', '1', '10']\n"}


def test_the_drawn_validation_rows_hold_every_class(tmp_path: Path) -> None:
    """40 rows, 20 of each class, 15 % drawn for validation: for some seeds the draw held one
    class alone, so every epoch scored 0 and the first epoch's head was kept. A draw holding
    every class is left as it was."""
    import numpy as np

    from vqdna_cli.api.train import head_training_data

    rows = _labelled(tmp_path / "rows.csv", ["0", "1"] * 20)
    labels = ["0", "1"] * 20
    one_class, both = [], []
    for seed in range(200):
        drawn = np.random.default_rng(seed).permutation(40)[:6]
        (both if len({labels[i] for i in drawn}) == 2 else one_class).append(seed)
    assert one_class and both
    for seed in one_class[:3]:
        data = head_training_data(HeadRows((str(rows),), valid_fraction=0.15), seed=seed)
        assert sorted(Counter(y for _, y in data.valid_rows).values()) == [1, 5] and len(data.rows) == 34
    seed = both[0]
    drawn = np.random.default_rng(seed).permutation(40)[:6]
    data = head_training_data(HeadRows((str(rows),), valid_fraction=0.15), seed=seed)
    sequences = [line.split(",")[0] for line in rows.read_text().splitlines()[1:]]
    assert sorted(s for s, _ in data.valid_rows) == sorted(sequences[i] for i in drawn)


@pytest.mark.parametrize("seed", range(8))
def test_a_class_of_one_sequence_written_twice_stays_in_training(tmp_path: Path, seed: int) -> None:
    """20 rows of class 0 and one sequence of class 1 written twice: the draw put one copy among
    the validation rows, the other then left training as its copy, and the run was refused as
    if the user had given no training row of class 1."""
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.errors import VqdnaWarning

    twice = random_dna(40, 77)
    rows = tmp_path / "rows.csv"
    rows.write_text("sequence,label\n" + "".join(f"{random_dna(40, 500 + i)},0\n" for i in range(20))
                    + f"{twice},1\n{twice},1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VqdnaWarning)  # (validation of one class, said elsewhere)
        data = head_training_data(HeadRows((str(rows),), valid_fraction=0.15), seed=seed)
    assert [s for s, y in data.rows if y == "1"] == [twice, twice] and all(y == "0" for _, y in data.valid_rows)


def test_a_class_whose_rows_are_all_copies_of_a_validation_row_is_named_as_such(tmp_path: Path) -> None:
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.errors import InputError

    rows = tmp_path / "rows.csv"
    rows.write_text("sequence,label\n" + "ACGTACGTAA,0\n" * 3 + "ACGGGTAA,1\n" * 3)
    with pytest.raises(InputError, match=r"^every training row of class [01] has the same sequence as a validation "
                                         r"row, .*: give that class rows of more than one sequence, or --valid FILE$"):
        head_training_data(HeadRows((str(rows),), valid_fraction=0.2))


def test_no_rows_left_names_the_option_that_left_none(tmp_path: Path) -> None:
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.errors import InputError

    rows = _labelled(tmp_path / "rows.csv", ["0", "1"] * 20)
    with pytest.raises(InputError, match=r"\(have 40 and 0; --valid-fraction 0.01 of 40 rows is 0\)"):
        head_training_data(HeadRows((str(rows),), valid_fraction=0.01))
    with pytest.raises(InputError, match=r"\(have 0 and 0; --exclude took 40 of 40 rows\)"):
        head_training_data(HeadRows((str(rows),), valid_fraction=0.2, exclude_files=(str(rows),)))


def test_a_run_still_training_is_named_not_taken_for_a_stopped_one(model_copy: Path, tmp_path: Path) -> None:
    """While a run trains, its checkpoint is in the work folder: a second run was told to
    --resume that 'earlier run'."""
    import fcntl
    import os

    from vqdna_cli.errors import OutputError
    from vqdna_cli.train.loop import CHECKPOINT

    work = model_copy / "heads" / ".mine.work"
    work.mkdir(parents=True)
    (work / f"{CHECKPOINT}.json").write_text("{}")
    holder = os.open(work, os.O_RDONLY)  # what the running `vqdna train finetune` holds
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(OutputError, match=f"another vqdna run is writing into {work}"):
            api.finetune(HeadRows((str(toy_csv(tmp_path / "toy.csv")),)), FinetuneSettings("mine", epochs=1),
                         RunOptions(model_copy, threads=1), TrainControl(quiet=True))
    finally:
        os.close(holder)
    assert sorted(p.name for p in work.iterdir()) == [f"{CHECKPOINT}.json"]


def test_a_task_name_starting_with_a_dot_says_what_it_must_start_with() -> None:
    """'.' is among the characters a name may hold: the refusal of '.hidden' named it as allowed."""
    with pytest.raises(UsageError, match=r"task name '.hidden': .* starting with a letter or digit"):
        FinetuneSettings(".hidden")


def test_a_task_name_too_long_for_a_folder_is_a_usage_error() -> None:
    """A 300-character name failed at the file system (exit 4, 'File name too long')."""
    with pytest.raises(UsageError, match=r"^task name aaaaaaaaaaaaaaaaaaaa\.\.\.: 300 characters; give at most 100$"):
        FinetuneSettings("a" * 300)
    assert FinetuneSettings("a" * 100).task == "a" * 100
