"""Device, threads, seeds and autocast: chosen once per command."""

from __future__ import annotations

import contextlib
import ctypes
import random
import sys
import threading

import numpy as np
import torch

from vqdna_cli.errors import UsageError


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        # a usage error (exit 2): the option asks for what this machine does not have
        raise UsageError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if requested not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {requested!r}: use auto, cpu or cuda")
    return torch.device(requested)


def exact_fp32() -> None:
    """fp32 that means fp32 on a GPU too: no TF32 in matmuls or convolutions. The tokenizer's
    nearest-code search turns tiny differences into other tokens, and the tokens are the
    product's contract: the same on every device."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


# glibc's malloc hands blocks above a moving threshold (a few MiB to 32 MiB) straight back to
# the kernel, so each batch's activations of tens of MiB arrive as fresh pages, zeroed on first
# touch: a large share of the tokenizer's time went to those page faults. Keeping freed memory
# in the process lets every batch reuse the previous one's pages.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BELOW = 1 << 30


def reuse_freed_memory() -> bool:
    """Ask glibc to keep freed blocks below 1 GiB for reuse instead of returning them (a
    process-wide malloc setting, made once by a command that runs the model). Elsewhere (macOS,
    musl) it does nothing; returns whether glibc took the setting."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BELOW)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BELOW))
    except (OSError, AttributeError):
        return False


# One command at a time in a process: threads, seeds and float32 settings are the process's,
# so two calls from threads at once (a notebook's, Snakemake `run:` blocks) would each set
# them under the other and put back the other's values. Reentrant: a command may call another.
_ONE_COMMAND_AT_A_TIME = threading.RLock()


@contextlib.contextmanager
def global_state_kept():
    """What a command sets for its run and a Python caller would not expect changed after
    it: torch's threads, float32 matmul precision and TF32 switches, and the random, numpy and
    torch generators. (glibc's malloc setting, `reuse_freed_memory`, stays: it is the
    process's.) Commands called from several threads run one after the other."""
    with _ONE_COMMAND_AT_A_TIME:
        threads = torch.get_num_threads()
        float32 = _float32_settings()
        generators = random.getstate(), np.random.get_state(), torch.get_rng_state()
        cuda_generators = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            _restore_float32_settings(float32)
            random.setstate(generators[0])
            np.random.set_state(generators[1])
            torch.set_rng_state(generators[2])
            if cuda_generators is not None:
                torch.cuda.set_rng_state_all(cuda_generators)


# torch >= 2.9 keeps float32 precision per backend (`fp32_precision`), beside the older
# switches, which it refuses to read (RuntimeError) once a caller has used both kinds: the
# older ones are read where torch allows, and both kinds are put back, the older first.
_LEGACY_FLOAT32 = (
    (lambda: torch.backends.cuda.matmul.allow_tf32,
     lambda value: setattr(torch.backends.cuda.matmul, "allow_tf32", value)),
    (lambda: torch.backends.cudnn.allow_tf32, lambda value: setattr(torch.backends.cudnn, "allow_tf32", value)),
    (torch.get_float32_matmul_precision, torch.set_float32_matmul_precision),
)
_PER_BACKEND_FLOAT32 = ("", "cuda.matmul", "cudnn", "cudnn.conv", "cudnn.rnn", "mkldnn", "mkldnn.matmul",
                        "mkldnn.conv", "mkldnn.rnn")  # parents before their children


def _float32_settings() -> tuple[list, list]:
    legacy = []
    for get, put in _LEGACY_FLOAT32:
        try:
            legacy.append((put, get()))
        except RuntimeError:  # the caller mixed the two kinds: nothing to put back of this one
            pass
    per_backend = []
    for name in _PER_BACKEND_FLOAT32:
        backend = torch.backends
        for part in filter(None, name.split(".")):
            backend = getattr(backend, part, None)
        if backend is not None and hasattr(backend, "fp32_precision"):
            per_backend.append((backend, backend.fp32_precision))
    return legacy, per_backend


def _restore_float32_settings(settings: tuple[list, list]) -> None:
    legacy, per_backend = settings
    for put, value in legacy:
        put(value)
    for backend, value in per_backend:
        backend.fp32_precision = value


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


def transformer_precision(device: torch.device, cpu_bf16: bool = False) -> str:
    """bf16 on a GPU that supports it (fp32 on older cards, where fp16 could overflow); on
    the CPU fp32, unless `cpu_bf16` (asked for with --precision bf16): faster only on CPUs
    with native bf16 (AVX512-BF16, AMX). The tokenizer never uses this: it runs in fp32."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_bf16 else "fp32"


def autocast(device: torch.device, cpu_bf16: bool = False):
    """The Transformer's autocast (see `transformer_precision`); never around the tokenizer."""
    if transformer_precision(device, cpu_bf16) == "fp32":
        return contextlib.nullcontext()
    # bf16: a GPU that supports it, or the CPU with --precision bf16
    return torch.autocast("cuda" if device.type == "cuda" else "cpu", dtype=torch.bfloat16)
