"""A training run and its folder: one run at a time, --force that leaves no earlier weights
behind an interrupted run, a diverged run that writes nothing, each input once, and messages
that name the held-out sequence when it is the one at fault."""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

import pytest

from vqdna_cli import api
from vqdna_cli.checkpoint import load_model
from vqdna_cli.errors import InputError, OutputError, TrainingError, UsageError, VqdnaWarning
from vqdna_cli.options import GenomeSet, RunOptions, StageSettings, TrainControl

from conftest import fasta_text, random_dna

CPU = RunOptions(device="cpu", threads=1, seed=0)


def tokenizer(genome: Path, out: Path, lr: float = 2e-3, steps: int = 3, **control) -> dict:
    return api.train_tokenizer(GenomeSet((str(genome),)), out, "tiny", StageSettings(steps=steps, lr=lr, window=64, batch=4),
                               TrainControl(quiet=True, **control), CPU)


@pytest.fixture
def genome(tmp_path: Path) -> Path:
    path = tmp_path / "genome.fa"
    path.write_text(fasta_text({"chr1": random_dna(3000, 5)}))
    return path


def test_a_diverged_run_stops_and_writes_no_weights(genome: Path, tmp_path: Path):
    """lr 1e9 made NaN weights that were saved as a finished model (embed then gave NaN)."""
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"the loss is nan at step \d+: training diverged and no weights were "
                                            r"written; start again \(--force\) with a lower --lr than 1e\+09"):
        api.pretrain(GenomeSet((str(genome),)), out, StageSettings(steps=5, lr=1e9, window=64, batch=4),
                     TrainControl(quiet=True), RunOptions(_tiny_tokenizer(genome, tmp_path), device="cpu", threads=1))
    assert not (out / "config.json").exists() and not (out / "model.safetensors").exists()


def _tiny_tokenizer(genome: Path, tmp_path: Path) -> Path:
    out = tmp_path / "tok"
    tokenizer(genome, out)
    return out


def test_force_takes_away_the_earlier_runs_weights_and_log_before_training(genome: Path, tmp_path: Path):
    """They stayed until the new run's end: a --force run that stopped early left the old
    model beside its own checkpoint, and `-m folder` read it without a word."""
    out = tmp_path / "tok"
    tokenizer(genome, out)
    load_model(out)  # a finished model
    log_lines = len((out / "train_log.jsonl").read_text().splitlines())
    with pytest.raises(TrainingError, match="training diverged"):  # the new run stops after its data was read
        tokenizer(genome, out, lr=1e12, steps=50, force=True)
    assert not (out / "config.json").exists() and not (out / "model.safetensors").exists()
    # nor its own log: the folder was left "not empty" for the corrected command without --force
    assert not any(out.iterdir())
    tokenizer(genome, out)
    assert len((out / "train_log.jsonl").read_text().splitlines()) == log_lines  # not the two runs' logs run together


def test_a_second_run_into_a_folder_another_run_holds_is_refused(genome: Path, tmp_path: Path):
    out = tmp_path / "tok"
    out.mkdir()
    holder = os.open(out, os.O_RDONLY)  # what a running `vqdna train` holds
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        for control in ({}, {"resume": True}, {"force": True}):
            with pytest.raises(OutputError, match=f"another vqdna run is writing into {out}"):
                tokenizer(genome, out, **control)
        assert out.is_dir() and not any(out.iterdir())  # the other run's folder is left alone
    finally:
        os.close(holder)
    tokenizer(genome, out)  # once it is free
    load_model(out)


def test_a_retry_into_a_folder_a_running_run_has_begun_is_told_so(genome: Path, tmp_path: Path):
    """The folder already holds the running run's log: the retry was told "not empty: use
    --resume", which then said another run is writing there."""
    out = tmp_path / "tok"
    out.mkdir()
    (out / "train_log.jsonl").write_text('{"step": 1}\n')
    holder = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(OutputError, match=f"^another vqdna run is writing into {out}: wait for it to end"):
            tokenizer(genome, out)
    finally:
        os.close(holder)
    with pytest.raises(OutputError, match=f"^output folder {out} is not empty: use --resume"):
        tokenizer(genome, out)  # once it has ended
    assert (out / "train_log.jsonl").read_text() == '{"step": 1}\n'


def test_a_file_given_twice_is_refused(genome: Path, tmp_path: Path):
    with pytest.raises(UsageError, match="genome.fa is given twice among the FASTA files"):
        GenomeSet((str(genome), f"{genome.parent}/./{genome.name}"))
    # a hard link is the same file under another name: its records were drawn twice as often
    linked = tmp_path / "linked.fa"
    os.link(genome, linked)
    with pytest.raises(UsageError, match=rf"^{linked} is given twice among the FASTA files \(as {genome}\): give each "
                                         "file once$"):
        GenomeSet((str(genome), str(linked)))
    with pytest.raises(UsageError, match=r"^- \(stdin\) is given twice among the FASTA files: it can be read once$"):
        GenomeSet(("-", "-"))  # it was "no FASTA records in stdin", blaming the data


@pytest.mark.parametrize("records, key, said", [
    ({"s1": random_dna(30, 9), "s2": random_dna(50, 10)}, "train_shorter_than_window",
     r"^2 training records shorter than the 64-base window are not trained on \(x.fa:s1 \(30 bp\), x.fa:s2 \(50 bp\)\)"),
    ({"scaffold_N": "N" * 2000}, "train_without_a_clean_window",  # every window drawn from it is redrawn
     r"^1 training record without a 64-base window of at most 5% N or other ambiguous bases is not trained on "
     r"\(x.fa:scaffold_N \(2000 bp\)\)"),
])
def test_training_records_no_window_is_drawn_from_are_said_and_listed_apart(records, key, said, genome: Path,
                                                                             tmp_path: Path):
    """Among records trained on, these were never trained on, without a word, and the weights'
    record listed them as trained on."""
    import json

    extra = tmp_path / "x.fa"
    extra.write_text(fasta_text(records))
    with pytest.warns(VqdnaWarning, match=said):
        api.train_tokenizer(GenomeSet((str(genome), str(extra))), tmp_path / "tok", "tiny",
                            StageSettings(steps=2, lr=2e-3, window=64, batch=4), TrainControl(quiet=True), CPU)
    data = json.loads((tmp_path / "tok" / "config.json").read_text())["provenance"]["tokenizer"]["data"]
    assert data["train"] == ["genome.fa:chr1 (3000 bp)"]
    assert data[key] == [f"x.fa:{name} ({len(bases)} bp)" for name, bases in records.items()]


def test_a_clean_window_is_one_of_at_most_five_percent_n_anywhere():
    """The rule the samplers draw by, over a record read a stretch at a time."""
    from vqdna_cli.data.alphabet import encode
    from vqdna_cli.train.genomes import has_clean_window

    assert has_clean_window(encode("N" * 3 + "A" * 61), 64) and not has_clean_window(encode("N" * 4 + "A" * 60), 64)
    assert has_clean_window(encode("N" * 5000 + "A" * 64 + "N" * 5000), 64, chunk=128)
    assert not has_clean_window(encode("A" * 63), 64)


def test_a_folder_given_as_a_genome_is_told_to_give_its_fasta_files(genome: Path):
    """The readers' message said to give "a FASTA, BAM, SAM or CRAM file"; training reads FASTA."""
    from vqdna_cli.train.genomes import load_genomes

    with pytest.raises(InputError, match=rf"^{genome.parent} is a folder: training reads FASTA files; give the "
                                         rf"genomes in it \(e.g. {genome.parent}/\*.fa.gz\)$"):
        load_genomes([str(genome), str(genome.parent)])


def test_two_inputs_of_one_file_name_are_told_apart_in_the_record(tmp_path: Path):
    """x/g.fa and y/g.fa were both 'g.fa' in the weights' record: one record listed twice with
    two lengths, and one entry overwrote the other where earlier stages' data was compared."""
    from vqdna_cli.train.genomes import load_genomes

    for folder, length in (("x", 2000), ("y", 1800)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "g.fa").write_text(fasta_text({"chr1": random_dna(length, 3)}))
    (tmp_path / "other.fa").write_text(fasta_text({"chr2": random_dna(500, 4)}))
    paths = [str(tmp_path / "x" / "g.fa"), str(tmp_path / "y" / "g.fa"), str(tmp_path / "other.fa")]
    assert load_genomes(paths).description["train"] == [
        f"{paths[0]}:chr1 (2000 bp)", f"{paths[1]}:chr1 (1800 bp)", "other.fa:chr2 (500 bp)"]


def test_a_held_out_sequence_too_short_for_the_window_is_named_as_held_out(genome: Path, tmp_path: Path):
    """It was reported as the training sequence's fault."""
    short = tmp_path / "short.fa"
    short.write_text(fasta_text({"s": random_dna(40, 9)}))
    with pytest.raises(InputError, match=r"^no held-out \(--holdout-file/--holdout-tail\) sequence is at least 64"):
        api.train_tokenizer(GenomeSet((str(genome), str(short)), ("short.fa",)), tmp_path / "tok", "tiny",
                            StageSettings(steps=2, lr=2e-3, window=64, batch=4), TrainControl(quiet=True), CPU)


def test_under_torchrun_each_process_names_itself_and_a_peers_failure_adds_no_traceback(monkeypatch, capsys):
    """A process whose peer had failed added a gloo traceback ("Connection closed by peer") to
    the peer's one line, and the processes' errors could not be told apart."""
    import typer

    from vqdna_cli.cli.handling import one_line_errors

    def failing(error):
        @one_line_errors
        def command():
            raise error
        return command

    peer_gone = RuntimeError("[gloo/transport/tcp/pair.cc:553] Connection closed by peer [127.0.0.1]:21122")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(typer.Exit) as stopped:
        failing(peer_gone)()
    assert stopped.value.exit_code == 1 and capsys.readouterr().err == ""
    with pytest.raises(typer.Exit):  # its own error, which may be its alone (a file one machine lacks), is said
        failing(InputError("input file not found: x.fa"))()
    assert capsys.readouterr().err == "vqdna: error (process 1): input file not found: x.fa\n"
    monkeypatch.setenv("WORLD_SIZE", "1")  # a RANK set for other reasons: a process alone
    with pytest.raises(typer.Exit):
        failing(InputError("input file not found: x.fa"))()
    assert capsys.readouterr().err == "vqdna: error: input file not found: x.fa\n"
    with pytest.raises(RuntimeError, match="closed by peer"):  # alone, a bug keeps its traceback
        failing(peer_gone)()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")  # process 0, whose peer was killed without a word
    with pytest.raises(typer.Exit) as stopped:
        failing(RuntimeError("[gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:5: Connection reset by peer"))()
    assert stopped.value.exit_code == 1 and capsys.readouterr().err == (
        "vqdna: error: another process of this torchrun run ended (killed, or out of memory?), so the run stopped; "
        "continue it from its last checkpoint with the same command and --resume\n")


def test_a_resumed_run_records_every_parts_command_and_its_scores(genome: Path, tmp_path: Path, monkeypatch):
    """The weights recorded only the last part's command; a run resumed at its last
    checkpoint (its weights lost, say to a full disk) recorded no validation scores."""
    import json

    out = tmp_path / "tok"
    monkeypatch.setattr(sys, "argv", ["vqdna", "train", "tokenizer", "first"])
    tokenizer(genome, out, max_minutes=0)  # stops after its first step, with a checkpoint
    monkeypatch.setattr(sys, "argv", ["vqdna", "train", "tokenizer", "second"])
    tokenizer(genome, out, resume=True)
    record = json.loads((out / "config.json").read_text())["provenance"]["tokenizer"]
    assert (record["earlier_commands"], record["command"]) == (["vqdna train tokenizer first"],
                                                              "vqdna train tokenizer second")
    scores = {key for key in record["metrics"] if key != "steps"}
    (out / "config.json").unlink()
    (out / "model.safetensors").unlink()
    monkeypatch.setattr(sys, "argv", ["vqdna", "train", "tokenizer", "third"])
    tokenizer(genome, out, resume=True)  # nothing left to train: the weights are written again
    again = json.loads((out / "config.json").read_text())["provenance"]["tokenizer"]
    assert scores and {key for key in again["metrics"] if key != "steps"} == scores
    assert (again["earlier_commands"], again["command"]) == (
        ["vqdna train tokenizer first", "vqdna train tokenizer second"], "vqdna train tokenizer third")


def test_a_resumed_run_records_each_parts_threads(genome: Path, tmp_path: Path, monkeypatch):
    """The record gave the last part's threads and processes only: a run begun with two
    threads and resumed with one said threads 1, and a rerun with one thread could not give
    the same weights."""
    import dataclasses
    import json

    out = tmp_path / "tok"
    monkeypatch.setattr(sys, "argv", ["vqdna", "train", "tokenizer", "first"])
    api.train_tokenizer(GenomeSet((str(genome),)), out, "tiny", StageSettings(steps=3, lr=2e-3, window=64, batch=4),
                        TrainControl(quiet=True, max_minutes=0), dataclasses.replace(CPU, threads=2))
    monkeypatch.setattr(sys, "argv", ["vqdna", "train", "tokenizer", "second"])
    tokenizer(genome, out, resume=True)
    record = json.loads((out / "config.json").read_text())["provenance"]["tokenizer"]
    (first,) = record["earlier_parts"]
    assert (first["command"], first["threads"], first["processes"]) == ("vqdna train tokenizer first", 2, 1)
    assert (record["command"], record["threads"], record["processes"]) == ("vqdna train tokenizer second", 1, 1)
    assert first["torch_version"] == record["torch_version"] and first["host"] == record["host"]


def test_a_checkpoint_that_recorded_commands_only_is_resumed_with_them(genome: Path, tmp_path: Path, monkeypatch):
    """Checkpoints written before each part's settings were recorded hold each part's
    command alone: resuming one keeps those commands in the record."""
    import json

    out = tmp_path / "tok"
    monkeypatch.setattr(sys, "argv", ["vqdna", "train", "tokenizer", "first"])
    tokenizer(genome, out, max_minutes=0)
    meta_path = out / "checkpoint.json"
    meta = json.loads(meta_path.read_text())
    meta["commands"] = [part["command"] for part in meta.pop("parts")]
    meta_path.write_text(json.dumps(meta))
    monkeypatch.setattr(sys, "argv", ["vqdna", "train", "tokenizer", "second"])
    tokenizer(genome, out, resume=True)
    record = json.loads((out / "config.json").read_text())["provenance"]["tokenizer"]
    assert record["earlier_parts"] == [{"command": "vqdna train tokenizer first"}]
    assert (record["earlier_commands"], record["command"]) == (["vqdna train tokenizer first"],
                                                              "vqdna train tokenizer second")


def test_a_folder_where_a_file_goes_is_one_line(genome: Path, tmp_path: Path, run_vqdna):
    """A folder named like the checkpoint in the output folder was a traceback (only the disk's
    own errors were one line)."""
    tok = tmp_path / "tok"
    tokenizer(genome, tok)
    out = tmp_path / "out"
    (out / "checkpoint.safetensors").mkdir(parents=True)
    (out / "checkpoint.safetensors" / "x").touch()
    result = run_vqdna("train", "pretrain", genome, "-m", tok, "--steps", "2", "--window", "32", "--batch", "2", "-o",
                       out, "--force", "-q")
    assert result.returncode == 4 and result.stderr_lines == [
        f"vqdna: error: cannot use {out / 'checkpoint.safetensors'}: Is a directory"]


def test_an_interrupted_run_says_which_step_resume_continues_from(tmp_path: Path, capsys):
    """It said only "interrupted": whether anything was kept, and from where, was left to guess."""
    import torch

    from vqdna_cli.train.loop import LoopSettings, run

    model = torch.nn.Linear(2, 1)

    def step(number: int):
        if number == 3:
            raise KeyboardInterrupt
        return model(torch.ones(1, 2)).pow(2).sum(), {}

    settings = LoopSettings(steps=10, lr=1e-3, out_dir=tmp_path / "run", checkpoint_every=2, eval_every=100)
    with pytest.raises(KeyboardInterrupt):
        run("tokenizer", model, list(model.parameters()), step, lambda scheduled: {}, settings)
    assert f"vqdna: tokenizer: stopped; the checkpoint of step 2 is in {tmp_path / 'run'}: continue with --resume" in \
        capsys.readouterr().err


def test_a_held_out_name_two_inputs_share_is_refused(tmp_path: Path):
    """a/x.fa and b/x.fa with --holdout-file x.fa held out both."""
    with pytest.raises(UsageError, match=r"--holdout-file/--holdout-tail x.fa names 2 inputs \(a/x.fa, b/x.fa\)"):
        GenomeSet(("a/x.fa", "b/x.fa"), ("x.fa",))
    assert GenomeSet(("a/x.fa", "b/x.fa")).fasta == ("a/x.fa", "b/x.fa")  # without a hold-out, nothing is unclear


def test_force_into_the_folder_it_starts_from_keeps_those_weights_when_it_fails(genome: Path, tmp_path: Path):
    """pretrain -m tok -o tok --force removed tok's tokenizer before the first step: a run that
    then failed left nothing to start again from."""
    tok = _tiny_tokenizer(genome, tmp_path)
    with pytest.raises(TrainingError):
        api.pretrain(GenomeSet((str(genome),)), tok, StageSettings(steps=50, lr=1e12, window=64, batch=4),
                     TrainControl(quiet=True, force=True), RunOptions(tok, device="cpu", threads=1))
    load_model(tok)  # still the tokenizer it was


def test_a_file_system_without_folder_locks_trains_unguarded(genome: Path, tmp_path: Path, monkeypatch):
    """NFS emulates flock with byte-range locks, which a folder cannot take (EBADF): that was a
    traceback, and the new folder stayed."""
    import errno

    def no_locks(descriptor, operation):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    tokenizer(genome, tmp_path / "tok")
    _, info = load_model(tmp_path / "tok")
    assert "tokenizer" in info["provenance"] and sorted(p.name for p in (tmp_path / "tok").iterdir() if
                                                         p.name.startswith("."))  == []


def test_force_over_a_model_with_heads_says_they_stay(genome: Path, model_copy: Path, tmp_path: Path):
    """The heads of the weights --force replaces are a user's work: kept, but said not to fit."""
    from vqdna_cli.errors import VqdnaWarning

    head_files = {path.name: path.read_bytes() for path in (model_copy / "heads" / "toy").iterdir()}
    with pytest.warns(VqdnaWarning, match=r"--force keeps the 1 task head in .*heads \(toy\): they were trained on "
                                          r"the earlier weights"):
        api.pretrain(GenomeSet((str(genome),)), model_copy, StageSettings(steps=1, window=None, batch=2),
                     TrainControl(quiet=True, force=True), RunOptions(model_copy, device="cpu", threads=1))
    assert {path.name: path.read_bytes() for path in (model_copy / "heads" / "toy").iterdir()} == head_files


def test_a_force_run_refused_before_training_keeps_the_earlier_runs_log(genome: Path, tmp_path: Path):
    """--force clears the earlier run's log only once the data is read: a run refused before
    that (a bad option, a file that is not FASTA) took the earlier log away with its own."""
    out = tmp_path / "tok"
    out.mkdir()
    (out / "train_log.jsonl").write_text('{"step": 1}\n')
    bad = tmp_path / "bad.fa"
    bad.write_text("not fasta\n")
    with pytest.raises(InputError, match="bad.fa"):
        tokenizer(bad, out, force=True)
    assert (out / "train_log.jsonl").read_text() == '{"step": 1}\n'
