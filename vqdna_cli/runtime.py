"""Device, threads, seeds and autocast: chosen once per command."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from vqdna_cli.errors import UsageError, VqdnaError


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise VqdnaError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if requested not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {requested!r}: use auto, cpu or cuda")
    return torch.device(requested)


def configure(threads: int | None, seed: int) -> None:
    """Threads for intra-op parallelism, and every random generator seeded."""
    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise UsageError(f"--precision {precision!r}: use fp32 or bf16")


def autocast(device: torch.device, cpu_bf16: bool = False):
    """bf16 autocast on a GPU. On the CPU fp32, unless `cpu_bf16` (asked for with
    --precision bf16): faster only on CPUs with native bf16 (AVX512-BF16, AMX)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if cpu_bf16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
