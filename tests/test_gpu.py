"""On a GPU, the tokens are those of the CPU: the tokenizer and the nearest-code search run
in fp32 with TF32 off on every device (bf16 is for the Transformer alone). Runs where a CUDA
GPU is visible (a lent machine: `bash scripts/gpu_checks.sh`); skips elsewhere."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from vqdna_cli.data.alphabet import encode
from vqdna_cli.runner import Runner
from vqdna_cli.io.records import SequenceRecord

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible: the CPU-GPU token test runs on a lent GPU")

REPO = Path(__file__).resolve().parent.parent


def real_sequence(bases: int = 200_000) -> str:
    """A stretch of human chrX (the shared data), or a seeded random sequence without it."""
    import os

    data = Path(os.environ.get("VQDNA_DATA", REPO.parent / "shared" / "data"))
    path = data / "genomes" / "human_chrX_0-70Mb_GRCh37_smalt.fa.gz"
    if not path.is_file():
        return "".join(np.random.default_rng(0).choice(list("ACGT"), bases))
    with gzip.open(path, "rt") as handle:
        handle.readline()
        text, size = [], 0
        for line in handle:  # start past the N-filled telomere
            size += len(line) - 1
            if size > 3_000_000:
                text.append(line.strip().upper())
                if sum(map(len, text)) >= bases:
                    break
    return "".join(text)[:bases]


def test_gpu_tokens_equal_cpu_tokens_on_real_sequence() -> None:
    codes = [encode(real_sequence())]
    cpu = Runner.load(None, "cpu").tokens_of(codes, batch_tokens=65536)[0]
    gpu = Runner.load(None, "cuda").tokens_of(codes, batch_tokens=65536)[0]
    differ = (cpu != gpu).any(axis=1)
    assert not differ.any(), f"{differ.mean():.4%} of positions get other tokens on the GPU"


def test_a_tokens_file_made_on_the_gpu_is_the_cpu_ones_byte_for_byte(tmp_path: Path) -> None:
    """What a pipeline's md5 check sees: the same file on either device (nothing of the device
    or the Transformer's precision in its metadata)."""
    from vqdna_cli import api
    from vqdna_cli.options import InputSpec, RunOptions

    fasta = tmp_path / "x.fa"
    fasta.write_text(">x\n" + real_sequence(20_000) + "\n")
    for device in ("cpu", "cuda"):
        api.tokenize(InputSpec(fasta), tmp_path / f"{device}.npz", RunOptions(device=device, threads=1))
    assert (tmp_path / "cpu.npz").read_bytes() == (tmp_path / "cuda.npz").read_bytes()


def test_gpu_embeddings_are_close_to_cpu_ones() -> None:
    record = SequenceRecord("x", real_sequence(5_000), "x")
    from vqdna_cli.runner import tokenize_records

    cpu_runner, gpu_runner = Runner.load(None, "cpu"), Runner.load(None, "cuda")
    tokens = next(tokenize_records(cpu_runner, [record], 65536))[1]
    windows = [tokens[i:i + 512] for i in range(0, 4096, 512)]
    cpu = np.stack([h.mean(0) for _, h in cpu_runner.hidden_of(windows, 65536)])
    gpu = np.stack([h.mean(0) for _, h in gpu_runner.hidden_of(windows, 65536)])
    # bf16 Transformer on the GPU: close, not equal
    assert np.abs(cpu - gpu).max() < 0.05 * np.abs(cpu).max()
