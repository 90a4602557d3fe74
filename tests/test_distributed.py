"""Training under torchrun: two CPU processes (DDP over gloo) compute what one process
computes on the same global batch, and a checkpoint resumes with another number of them.

Each torchrun launch costs ~8 s here (three interpreters importing torch on two busy
cores), so the launches are few and each one serves several checks. The one-process
references run in this interpreter, through the API. The tokenizer and pre-training
launches are docs/training.md's two torchrun commands, made to fit one small machine.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from vqdna_cli import api, distributed
from vqdna_cli.checkpoint import load_model
from vqdna_cli.data.alphabet import encode
from vqdna_cli.errors import VqdnaError
from vqdna_cli.options import GenomeSet, RunOptions, StageSettings, TrainControl

from conftest import fasta_text, random_dna

WINDOW, BATCH = 64, 4
CPU = RunOptions(device="cpu", threads=1, seed=0)


def one_process(command, genome: Path, out: Path, steps: int, lr: float, resume: bool = False, **options) -> dict:
    """A training stage (`api.train_tokenizer`, `api.pretrain`) in this one process."""
    return command(GenomeSet((str(genome),)), out, stage=StageSettings(steps=steps, lr=lr, window=WINDOW, batch=BATCH),
                   control=TrainControl(resume=resume, quiet=True), **options)
CLI_COMMON = ["--window", str(WINDOW), "--batch", str(BATCH), "--device", "cpu", "--threads", "1", "--seed", "0", "--quiet"]


def run_torchrun(torchrun_words: list[str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", *torchrun_words]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def torchrun(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    """`vqdna ARGS` under torchrun with `processes` CPU processes on this machine."""
    return run_torchrun(["--standalone", f"--nproc-per-node={processes}", "-m", "vqdna_cli", *args])


def documented_torchrun(stage: str) -> list[str]:
    """The words after `torchrun` of docs/training.md's command for `train STAGE`."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "training.md").read_text()
    section = text.split("## Training on several processes or GPUs", 1)[1].split("\n## ", 1)[0]
    for line in re.sub(r"\\\n\s*", "", section).splitlines():
        if line.startswith("torchrun ") and f"train {stage} " in line:
            return shlex.split(line)[1:]
    raise AssertionError(f"docs/training.md shows no torchrun command for train {stage}")


def on_this_machine(words: list[str], values: dict[str, str], data: Path, *extra: str) -> list[str]:
    """The documented command with option values replaced (`values`), the genome glob replaced by
    `data`, and `extra` appended: the last value of a repeated option wins."""
    out = [str(data) if "*" in word else word for word in words]
    for option, value in values.items():
        out[out.index(option) + 1] = value
    return out + list(extra)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def assert_same_weights(a: Path, b: Path) -> None:
    """The same tensors within the rounding of sums taken in another order."""
    first, second = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_allclose(second[name].astype(np.float64), first[name].astype(np.float64),
                                   rtol=1e-4, atol=1e-5, err_msg=name)


def tokens_of(model_dir: Path, sequence: np.ndarray) -> np.ndarray:
    model, _ = load_model(model_dir)
    with torch.no_grad():
        return model.quantize(torch.from_numpy(sequence.astype(np.int64))[None]).tokens[0].numpy()


@pytest.fixture(scope="module")
def genome(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("genome") / "train.fa"
    path.write_text(fasta_text({f"chr{i}": random_dna(2000, 300 + i) for i in range(2)}))
    return path


@pytest.fixture(scope="module")
def tokenizers(genome: Path, tmp_path_factory) -> dict[str, Path]:
    """The tokenizer stage: 2 steps on two processes, and 2 and 4 steps on one."""
    folder = tmp_path_factory.mktemp("tokenizers")
    runs = {"two_procs_2": folder / "two_procs_2", "one_proc_2": folder / "one_proc_2", "one_proc_4": folder / "one_proc_4"}
    run_torchrun(on_this_machine(documented_torchrun("tokenizer"), {"--nproc-per-node": "2", "-o": str(runs["two_procs_2"])},
                                 genome, "--preset", "tiny", "--steps", "2", *CLI_COMMON))
    for steps in (2, 4):
        one_process(api.train_tokenizer, genome, runs[f"one_proc_{steps}"], steps, 2e-3, preset="tiny", run=CPU)
    return runs


def test_two_processes_train_the_tokenizer_one_process_trains(tokenizers) -> None:
    assert_same_weights(tokenizers["one_proc_2"], tokenizers["two_procs_2"])
    bases = encode(random_dna(300, 7))
    one, two = tokens_of(tokenizers["one_proc_2"], bases), tokens_of(tokenizers["two_procs_2"], bases)
    assert (one != two).mean() <= 0.01  # identical but for a near-tie or two


def test_rank_zero_alone_writes_and_records_the_processes(tokenizers) -> None:
    out = tokenizers["two_procs_2"]
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log] == [2]  # one log, written once
    reference = json.loads((tokenizers["one_proc_2"] / "train_log.jsonl").read_text())
    assert log[0]["loss"] == pytest.approx(reference["loss"], rel=1e-4)  # the global batch's loss
    info = json.loads((out / "config.json").read_text())
    assert info["provenance"]["tokenizer"]["processes"] == 2
    assert json.loads((out / "checkpoint.json").read_text())["step"] == 2


def test_checkpoint_of_two_processes_resumes_on_one(tokenizers, genome: Path, tmp_path: Path) -> None:
    resumed = tmp_path / "resumed"
    shutil.copytree(tokenizers["two_procs_2"], resumed)
    one_process(api.train_tokenizer, genome, resumed, 4, 2e-3, resume=True, preset="tiny", run=CPU)
    assert_same_weights(tokenizers["one_proc_4"], resumed)


def test_two_processes_pretrain_as_one_does(tokenizers, genome: Path, tmp_path: Path) -> None:
    # Dropout draws its masks per process, from the shape of its part of the batch: the
    # same distribution as one process, not the same numbers. Without it, equal weights.
    tokenizer = tmp_path / "tok"
    shutil.copytree(tokenizers["one_proc_2"], tokenizer)
    info = json.loads((tokenizer / "config.json").read_text())
    info["model"]["transformer"]["dropout"] = 0.0
    (tokenizer / "config.json").write_text(json.dumps(info))
    two, one = tmp_path / "two", tmp_path / "one"
    # The documented command for several machines, on one: the rendezvous meets here.
    run_torchrun(on_this_machine(documented_torchrun("pretrain"), {
        "--nnodes": "1", "--nproc-per-node": "2", "--rdzv-endpoint": f"localhost:{free_port()}",
        "--model": str(tokenizer), "-o": str(two)}, genome, "--steps", "3", *CLI_COMMON))
    one_process(api.pretrain, genome, one, 3, 1e-3, run=RunOptions(tokenizer, device="cpu", threads=1, seed=0))
    assert_same_weights(one, two)
    log_one = json.loads((one / "train_log.jsonl").read_text())
    log_two = json.loads((two / "train_log.jsonl").read_text())
    for key in ("loss", "train_base_acc", "train_hidden_base_acc", "heldout_loss", "heldout_hidden_base_acc"):
        assert log_two[key] == pytest.approx(log_one[key], rel=1e-4), key


@pytest.mark.parametrize("adapter", ["lora", "frozen"])
def test_two_processes_finetune_with_a_short_last_batch(tokenizers, tmp_path: Path, adapter: str) -> None:
    """31 training rows in batches of 6: the last batch has one row, so one process holds
    none of it and must still take part in the step."""
    rows = ["sequence,label"] + [f"{random_dna(40, i, 'AT' if i % 2 else 'ACGT')},{i % 2}" for i in range(37)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    model = tmp_path / "model"
    shutil.copytree(tokenizers["one_proc_2"], model)
    torchrun("train", "finetune", "-m", str(model), "--task", "demo", "--train", str(tmp_path / "train.csv"),
             "--epochs", "2", "--batch", "6", "--adapter", adapter, "--device", "cpu", "--threads", "1", "--quiet")
    head = json.loads((model / "heads/demo/head.json").read_text())
    assert head["provenance"]["data"]["train_rows"] == 31 and head["provenance"]["processes"] == 2
    assert head["adapter"] == adapter
    log = (model / "heads/.demo.work/train_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [6, 12]
    from vqdna_cli.runner import Runner

    model_loaded, info = load_model(model)
    Runner(model_loaded, info, torch.device("cpu"), model).attach_head("demo")  # loads and checks the head


# --- the codebooks, with dead-code restarts (the short runs above never restart a code) ---

CODEBOOK_SCRIPT = """
import sys, numpy as np, torch
from safetensors.torch import save_file
from vqdna_cli import distributed
from vqdna_cli.model.quantizer import EMACodebook

distributed.init(torch.device("cpu"))
torch.manual_seed(0)
# Most rows sit in one small cluster, so most codes fall below the threshold and restart.
data = torch.from_numpy(np.random.default_rng(1).normal(size=(6, 48, 4)).astype(np.float32))
data[:, 8:] *= 0.01
codebook = EMACodebook(16, 4, decay=0.5, eps=1e-5, dead_threshold=3.0)
restarts = 0
for step, batch in enumerate(data):
    mine = batch[distributed.rows(len(batch))]
    if step == 0:
        codebook.kmeans_init(mine)
    codebook.ema_update(mine, codebook.nearest(mine))
    restarts += int((codebook.ema_count == codebook.dead_threshold).sum())
save_file({**{k: v.contiguous() for k, v in codebook.state_dict().items()}, "restarts": torch.tensor(restarts)},
          f"{sys.argv[1]}/rank{distributed.rank()}.safetensors")
"""


def test_codebook_statistics_and_restarts_do_not_depend_on_the_processes(tmp_path: Path) -> None:
    script = tmp_path / "codebook.py"
    script.write_text(CODEBOOK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for processes, folder in ((2, tmp_path / "two"), (1, tmp_path / "one")):
        folder.mkdir()
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   str(script), str(folder)] if processes > 1 else [sys.executable, str(script), str(folder)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
    one = load_file(str(tmp_path / "one/rank0.safetensors"))
    assert one["restarts"] > 0
    for rank in (0, 1):
        two = load_file(str(tmp_path / f"two/rank{rank}.safetensors"))
        for name in one:
            np.testing.assert_allclose(two[name].astype(np.float64), one[name].astype(np.float64),
                                       rtol=1e-4, atol=1e-5, err_msg=f"rank {rank}: {name}")


# --- the global batch split, without launching processes ---


def test_global_batch_must_split_evenly(monkeypatch) -> None:
    monkeypatch.setattr(distributed, "world", lambda: 2)
    assert distributed.local_batch(8) == 4
    with pytest.raises(VqdnaError, match="--batch 5 does not split evenly over 2 processes"):
        distributed.local_batch(5)


def test_parts_of_a_batch_cover_it_in_order(monkeypatch) -> None:
    monkeypatch.setattr(distributed, "world", lambda: 3)
    parts = []
    for rank in range(3):
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        parts.append(distributed.part_of(np.arange(7)))
    assert np.concatenate([p for p, _ in parts]).tolist() == list(range(7))
    assert [w for _, w in parts] == [3 / 7] * 3
    monkeypatch.setattr(distributed, "rank", lambda: 0)
    rows, weight = distributed.part_of(np.arange(2))  # rank 0 of 3 gets none of 2 rows:
    assert rows.tolist() == [0] and weight == 0.0  # it runs one row, at weight 0


def test_a_world_size_left_in_the_shell_is_one_line_not_a_traceback(monkeypatch) -> None:
    """WORLD_SIZE=2 without the rest of torchrun's description (copied from a job script):
    torch's init_process_group raised a ValueError traceback; an empty one failed int()."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(VqdnaError, match=r"^WORLD_SIZE=2 is set but not RANK, MASTER_ADDR, MASTER_PORT: start several "
                                         "processes with torchrun"):
        distributed.init(torch.device("cpu"))
    monkeypatch.setenv("WORLD_SIZE", "")
    assert distributed.init(torch.device("cpu")) == torch.device("cpu")  # a process alone, as launch_world reads it


@pytest.mark.parametrize("command", [["tokenize"], ["embed"], ["classify", "--task", "toy"], ["train", "evaluate",
                                                                                                "--task", "toy"]])
def test_commands_that_run_as_one_process_refuse_torchrun(command, tiny_model_dir: Path, tmp_path: Path,
                                                          monkeypatch) -> None:
    """Under torchrun each process ran the whole command: a table printed twice to stdout
    (exit 0), or two processes racing for one -o file."""
    from conftest import run_vqdna_process, toy_csv

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    fasta = tmp_path / "a.fa"
    fasta.write_text(">a\nACGTACGTAC\n")
    source = ["--test", toy_csv(tmp_path / "t.csv")] if command[0] == "train" else [fasta]
    output = [] if command[0] == "train" else ["-o", tmp_path / "out"]  # evaluate prints its scores
    result = run_vqdna_process(*command, *source, "-m", tiny_model_dir, *output)
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.splitlines() == [
        "vqdna: error: this command runs as one process, but torchrun started 2 (WORLD_SIZE): each would write the "
        "whole output; run it without torchrun, and split a large input over jobs with the Snakemake workflow "
        "(workflow/README.md)"]
    assert not (tmp_path / "out").exists()


def test_a_process_waiting_for_peers_that_never_come_ends_on_sigterm(genome: Path, tmp_path: Path) -> None:
    """torch waits for the other processes in C++, where the Python SIGTERM handler never runs:
    torchrun stopping a run whose other process failed, or a user's kill of a run started with
    torchrun's variables left in the shell, was ignored until SIGKILL (30 s, or 30 minutes)."""
    import signal
    import time

    env = {**os.environ, "WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port()), "OMP_NUM_THREADS": "1"}
    waiting = subprocess.Popen([sys.executable, "-m", "vqdna_cli", "train", "tokenizer", str(genome), "-o",
                                str(tmp_path / "tok"), "--preset", "tiny", "--steps", "1", *CLI_COMMON],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (tmp_path / "tok").exists() and waiting.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # the folder is made just before the process group is joined
    time.sleep(3)
    waiting.send_signal(signal.SIGTERM)
    try:
        code = waiting.wait(timeout=20)
    except subprocess.TimeoutExpired:
        waiting.kill()
        waiting.wait()
        pytest.fail("SIGTERM did not end a process waiting for its peers")
    assert code == -signal.SIGTERM


def test_warnings_are_said_by_process_zero_alone(monkeypatch, capfd) -> None:
    """Every process read the same inputs and said the same warning: N lines for one fact."""
    import warnings

    from vqdna_cli.cli.handling import warnings_as_lines
    from vqdna_cli.errors import VqdnaWarning

    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        with warnings_as_lines(quiet=False):
            warnings.warn(f"said by {rank}", VqdnaWarning)
    assert capfd.readouterr().err.splitlines() == ["vqdna: warning: said by 0"]


def test_a_failed_run_of_two_processes_says_so_once_and_leaves_no_folder(genome: Path, tmp_path: Path) -> None:
    """When process 1 made the folder first, process 0 found nothing of its own to take away:
    an empty folder stayed. Each process says its error, the second naming itself."""
    out = tmp_path / "new" / "tok"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                             "-m", "vqdna_cli", "train", "tokenizer", str(genome), str(tmp_path / "missing.fa"),
                             "-o", str(out), "--preset", "tiny", "--steps", "2", *CLI_COMMON],
                            capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode != 0
    assert sorted(line for line in result.stderr.splitlines() if "vqdna: error" in line) == [
        f"vqdna: error (process 1): input file not found: {tmp_path / 'missing.fa'}",
        f"vqdna: error: input file not found: {tmp_path / 'missing.fa'}"]
    assert not (tmp_path / "new").exists()
