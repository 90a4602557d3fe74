"""On a GPU, the tokens are those of the CPU but at near-ties: the tokenizer and the
nearest-code search run in fp32 with TF32 off on every device (bf16 is for the Transformer
alone), and fp32 sums in another order on a GPU, so a position whose two nearest codes lie
equally far within rounding can take either (tests/test_token_ties.py). Runs where a CUDA GPU
is visible (a lent machine: `bash scripts/gpu_checks.sh`); skips elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vqdna_cli.data.alphabet import encode
from vqdna_cli.runner import Runner
from vqdna_cli.io.records import SequenceRecord
from test_token_ties import MOST_POSITIONS_THAT_MAY_DIFFER, check_only_near_ties_differ, in_float64, real_sequence

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible: the CPU-GPU token test runs on a lent GPU")


def test_gpu_tokens_are_the_cpu_ones_but_at_near_ties() -> None:
    bases = encode(real_sequence())
    cpu_runner = Runner.load(None, "cpu")
    cpu = cpu_runner.tokens_of([bases], batch_tokens=65536)[0].astype(np.int64)
    gpu = Runner.load(None, "cuda").tokens_of([bases], batch_tokens=65536)[0].astype(np.int64)
    gaps = check_only_near_ties_differ(in_float64(cpu_runner), bases, cpu, gpu)
    print(f"\nCPU-GPU: {len(gaps)} of {len(cpu)} positions take other tokens; gaps {[f'{g:.1e}' for g in gaps]}")


def test_a_tokens_file_made_on_the_gpu_differs_from_the_cpus_at_most_in_near_ties(tmp_path: Path) -> None:
    """What a pipeline's md5 check sees: the metadata are the same on either device (nothing of
    the device or the Transformer's precision in them); tokens differ only at near-ties."""
    from vqdna_cli import api
    from vqdna_cli.options import InputSpec, RunOptions

    fasta = tmp_path / "x.fa"
    fasta.write_text(">x\n" + real_sequence(20_000) + "\n")
    for device in ("cpu", "cuda"):
        api.tokenize(InputSpec(fasta), tmp_path / f"{device}.npz", RunOptions(device=device, threads=1))
    cpu, gpu = np.load(tmp_path / "cpu.npz"), np.load(tmp_path / "cuda.npz")
    assert sorted(cpu.files) == sorted(gpu.files)
    for name in cpu.files:
        if cpu[name].dtype == np.uint16:  # token arrays
            share = (cpu[name] != gpu[name]).reshape(len(cpu[name]), -1).any(axis=1).mean()
            assert share <= MOST_POSITIONS_THAT_MAY_DIFFER, f"{name}: {share:.4%} of positions differ"
        else:
            assert np.array_equal(cpu[name], gpu[name]), name


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
