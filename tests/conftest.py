"""Shared fixtures: a tiny trained-enough model with a `toy` task head, small FASTA files,
and a fast way to run the `vqdna` command.

Running the CLI: a plain `python -m vqdna_cli` costs ~2 s per call (importing torch), too
slow for dozens of end-to-end cases on a busy 2-core machine. `run_vqdna` therefore starts
one helper process that imports vqdna (and torch) once and then *forks* a child for every
command. Each child is a real, separate process: it gets its own stdin/stdout/stderr file
descriptors, runs the CLI's own `main()`, and exits with the CLI's exit code; an uncaught
exception prints a traceback exactly as the interpreter would. A few tests still use a
genuine `subprocess.run([sys.executable, "-m", "vqdna_cli", ...])` (`run_vqdna_process`)
to cover interpreter start-up itself.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

TINY_WINDOW = 64  # PRESETS["tiny"].transformer.max_tokens (checked in test_windows.py)

# Records of the multi-record FASTA: names and lengths. 65, 100 and 200 bp are longer than
# the tiny model's 64-token window, so they span several Transformer windows.
MULTI_RECORDS = {"short30": 30, "edge65": 65, "mid100": 100, "long200": 200}
# Records no longer than one window (classify then writes TSV, one row per record).
SHORT_RECORDS = {"s30": 30, "s50": 50, "s64": 64}


# --- small data -------------------------------------------------------------------------------


def random_dna(length: int, seed: int, alphabet: str = "ACGT") -> str:
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list(alphabet), length))


def fasta_text(records: dict[str, str], width: int = 60) -> str:
    lines = []
    for name, seq in records.items():
        lines.append(f">{name} test record")
        lines.extend(seq[i : i + width] for i in range(0, len(seq), width))
    return "\n".join(lines) + "\n"


def multi_sequences() -> dict[str, str]:
    seqs = {name: random_dna(length, seed) for seed, (name, length) in enumerate(MULTI_RECORDS.items())}
    # A little soft-masking and ambiguity, as in real genomes; the readers uppercase it.
    long = seqs["long200"]
    seqs["long200"] = long[:50].lower() + long[50:120] + "NNNNR" + long[125:]
    return seqs


@pytest.fixture(scope="session")
def multi_fasta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FASTA with records of 30, 65, 100 and 200 bp (the last three span several windows)."""
    path = tmp_path_factory.mktemp("fasta") / "multi.fa"
    path.write_text(fasta_text(multi_sequences()))
    return path


@pytest.fixture(scope="session")
def multi_records() -> dict[str, str]:
    """The (uppercased) sequences of `multi_fasta`, by record name."""
    return {name: seq.upper() for name, seq in multi_sequences().items()}


@pytest.fixture(scope="session")
def short_fasta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FASTA whose records all fit one window: 30, 50 and 64 bp."""
    path = tmp_path_factory.mktemp("fasta") / "short.fa"
    seqs = {name: random_dna(length, 100 + i) for i, (name, length) in enumerate(SHORT_RECORDS.items())}
    path.write_text(fasta_text(seqs))
    return path


def write_gzip(path: Path, text: str) -> Path:
    path.write_bytes(gzip.compress(text.encode(), mtime=0))
    return path


# --- the tiny model ---------------------------------------------------------------------------


def initialised_tiny_model(cfg=None, seed: int = 0):
    """`VQDNA(cfg)` (default: the tiny preset) with k-means-initialised codebooks, in eval mode."""
    import torch

    from vqdna_cli.config import PRESETS
    from vqdna_cli.model.vqdna import VQDNA

    cfg = cfg or PRESETS["tiny"]
    torch.manual_seed(seed)
    model = VQDNA(cfg)
    bases = torch.randint(0, 4, (8, 64), generator=torch.Generator().manual_seed(seed))
    model.train()
    model.quantize(bases)  # first training-mode call: k-means initialisation of every codebook
    return model.eval()


def toy_csv(path: Path, rows: int = 60, length: int = 40) -> Path:
    """`sequence,label`: label 1 rows are GC-rich, label 0 rows AT-rich (a learnable toy)."""
    lines = ["sequence,label"]
    for i in range(rows):
        label = i % 2
        lines.append(f"{random_dna(length, 1000 + i, 'ACGGCC' if label else 'AATTCG')},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """The machine has 2 cores and a training job on them: one thread is fastest and fair."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny model with a two-class `toy` head (classes neg, pos). Read-only: copy it
    (`model_copy`) to change it."""
    from vqdna_cli import api
    from vqdna_cli.checkpoint import save_model
    from vqdna_cli.options import FinetuneSettings, HeadRows, RunOptions, TrainControl

    root = tmp_path_factory.mktemp("tiny_model")
    model = initialised_tiny_model()
    directory = root / "model"
    save_model(directory, model, model.cfg, {"note": "test fixture"})
    csv = toy_csv(root / "toy.csv")
    api.finetune(HeadRows((str(csv),)), FinetuneSettings("toy", class_names=("neg", "pos"), epochs=2, batch=16),
                 RunOptions(directory, threads=1), TrainControl(quiet=True))
    return directory


@pytest.fixture
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model directory, for tests that modify it."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model_copy"))


def flip_byte(path: Path, position: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    position = len(data) // 2 if position is None else position
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


# --- running the CLI --------------------------------------------------------------------------


@dataclass
class Completed:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.rstrip("\n").split("\n") if self.stderr else []


_FORK_SERVER = r"""
import json, os, sys, traceback
import torch
torch.set_num_threads(1)
import pysam, rich.console, rich.progress  # noqa: F401  (warm imports, shared by every child)
import vqdna_cli.api, vqdna_cli.checkpoint, vqdna_cli.runner, vqdna_cli.io.sequences  # noqa: F401
from vqdna_cli.cli.app import main

reply = os.fdopen(os.dup(1), "w")
for line in sys.stdin:
    request = json.loads(line)
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd, name, flags in ((0, "stdin", os.O_RDONLY), (1, "stdout", os.O_WRONLY), (2, "stderr", os.O_WRONLY)):
                if request[name] == "|closed":  # a pipe whose reader has gone (as `| head`)
                    reader, handle = os.pipe()
                    os.close(reader)
                else:
                    handle = os.open(request[name], flags)
                os.dup2(handle, fd)
                os.close(handle)
            sys.stdin = open(0, "r", closefd=False)
            os.chdir(request["cwd"])
            sys.argv = ["vqdna", *request["argv"]]
            try:
                main()
                code = 0
            except SystemExit as stop:
                if stop.code is None:
                    code = 0
                elif isinstance(stop.code, int):
                    code = stop.code
                else:
                    print(stop.code, file=sys.stderr)
                    code = 1
            except BaseException:
                traceback.print_exc()
                code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:
                    pass
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    reply.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
    reply.flush()
"""


class ForkedCli:
    """Runs `vqdna ARGS` in a process forked from a helper that already imported torch."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.calls = 0
        self.server = subprocess.Popen(
            [sys.executable, "-c", _FORK_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(workdir / "server.stderr", "wb"), text=True,
        )

    def __call__(self, *args: str, stdin: Path | None = None, cwd: Path | None = None,
                 stdout_closed: bool = False, stderr_closed: bool = False) -> Completed:
        """`stdout_closed`: stdout is a pipe nobody reads any more (`vqdna ... | head`);
        `stderr_closed` the same for stderr (`vqdna ... 2>&1 >/dev/null | head -1`)."""
        self.calls += 1
        call_dir = Path(tempfile.mkdtemp(dir=self.workdir, prefix=f"call{self.calls}."))
        out, err = call_dir / "stdout", call_dir / "stderr"
        out.touch(), err.touch()
        request = {"argv": [str(a) for a in args], "stdin": str(stdin or os.devnull),
                   "stdout": "|closed" if stdout_closed else str(out),
                   "stderr": "|closed" if stderr_closed else str(err),
                   "cwd": str(cwd or call_dir)}
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()
        if not answer:
            raise RuntimeError("the vqdna fork server died: " + (self.workdir / "server.stderr").read_text())
        return Completed(json.loads(answer)["returncode"], out.read_bytes(), err.read_text())

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait(timeout=30)


@pytest.fixture(scope="session")
def run_vqdna(tmp_path_factory: pytest.TempPathFactory):
    """`run_vqdna(*args, stdin=None, cwd=None, stdout_closed=False, stderr_closed=False) -> Completed`: the CLI in its own (forked)
    process, with the exit code, stdout bytes and stderr text."""
    cli = ForkedCli(tmp_path_factory.mktemp("cli"))
    yield cli
    cli.close()


def run_vqdna_process(*args: str, stdin: Path | None = None, python_flags: tuple[str, ...] = (),
                      cwd: Path | None = None) -> Completed:
    """A genuine `python -m vqdna_cli ARGS` subprocess (slow: use sparingly)."""
    with open(stdin or os.devnull, "rb") as handle:
        result = subprocess.run([sys.executable, *python_flags, "-m", "vqdna_cli", *map(str, args)],
                                stdin=handle, capture_output=True, timeout=120, cwd=cwd)
    return Completed(result.returncode, result.stdout, result.stderr.decode(errors="replace"))
