"""Training on several processes (`torchrun`): the process group, and the few collectives
the training code needs, each a no-op when there is one process.

torchrun describes the group in the environment (RANK, WORLD_SIZE, LOCAL_RANK, and the
rendezvous address). Each process holds a contiguous part of every global batch; DDP
averages the gradients; the codebook statistics are summed over processes (see
model/quantizer.py). Everything here is written so that N processes compute what one
process computes on the same global batch, up to the order of floating-point sums.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading

import numpy as np
import torch
import torch.distributed as dist

from vqdna_cli.errors import UsageError, VqdnaError
from vqdna_cli.launch import launch_world

_device = torch.device("cpu")  # where collective buffers live: NCCL reduces GPU tensors only


def init(device: torch.device) -> torch.device:
    """Join torchrun's process group (gloo on the CPU, NCCL on GPUs); returns this
    process's device: `cuda:LOCAL_RANK` on GPUs, one process per GPU."""
    global _device
    if launch_world() <= 1:
        return device
    # a WORLD_SIZE left in a shell or job script, without the rest of torchrun's description
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise UsageError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} is set but not {', '.join(missing)}: start several "
                         "processes with torchrun (docs/training.md), or unset WORLD_SIZE to train in one")
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise VqdnaError(f"torchrun started local process {local_rank} but only {torch.cuda.device_count()} "
                             f"GPUs are visible: use --nproc_per_node {torch.cuda.device_count()} or fewer")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        with _stop_signals_kill():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        # The group lives as long as the command; leaving it open at exit makes NCCL warn.
        atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
    _device = device
    return device


@contextlib.contextmanager
def _stop_signals_kill():
    """Joining the group, torch waits in C++ for the other processes (30 minutes by default),
    where vqdna's Python handlers for SIGTERM, SIGINT and SIGHUP never run: torchrun ending a
    run whose other process failed, or a user's kill or Ctrl-C, was ignored until SIGKILL.
    While it waits, those signals end the process at once, as they do a program without
    handlers; nothing of the run is written yet (its output folder may be there, empty)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {stop: signal.getsignal(stop) for stop in stops}
    for stop, handler in previous.items():
        if handler is not signal.SIG_IGN:  # nohup's SIGHUP stays ignored
            signal.signal(stop, signal.SIG_DFL)
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Rank 0 alone writes checkpoints, logs and weights, and shows progress."""
    return rank() == 0


def barrier() -> None:
    if world() > 1:
        dist.barrier()


def local_batch(batch: int) -> int:
    """`--batch` is the global batch: each process takes an equal share of it."""
    if batch % world():
        raise UsageError(f"--batch {batch} does not split evenly over {world()} processes: use a multiple of {world()}")
    return batch // world()


def rows(count: int) -> slice:
    """This process's contiguous part of `count` items (rank order: rank 0 first)."""
    return slice(rank() * count // world(), (rank() + 1) * count // world())


def part_of(items: np.ndarray) -> tuple[np.ndarray, float]:
    """This process's part of a global batch of items, and the weight that turns a sum
    over it into this process's share of the mean over the whole batch.

    DDP averages gradients over processes, hence the factor world / len(items). A process
    left with no items (a short last batch) gets one at weight 0: DDP still waits for its
    gradients, so it must run the model like the others.
    """
    mine = items[rows(len(items))]
    if len(mine) == 0:
        return items[:1], 0.0
    return mine, world() / len(items)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sums `tensor` over all processes, in place; returns it."""
    if world() > 1:
        dist.all_reduce(tensor)
    return tensor


def mean_factor(count: torch.Tensor) -> torch.Tensor:
    """The factor that turns this process's sum over its part of the batch into its share
    of the mean over the global batch: world / (count summed over processes).

    For means over positions whose number differs between processes (unambiguous bases,
    masked tokens); the average over processes of the shares, and of their gradients, is
    then the global mean. One process: 1 / count.
    """
    total = all_reduce_sum(count.detach().float().clone())
    return world() / total.clamp(min=1)


def row_span(count: int, device: torch.device) -> tuple[int, int]:
    """(first global row of this process, total rows): the processes' rows stacked in
    rank order make the global batch."""
    if world() == 1:
        return 0, count
    sizes = torch.zeros(world(), dtype=torch.int64, device=device)
    sizes[rank()] = count
    all_reduce_sum(sizes)
    return int(sizes[: rank()].sum()), int(sizes.sum())


def take_rows(x: torch.Tensor, local_index: torch.Tensor) -> torch.Tensor:
    """Rows of the global batch by index relative to this process's first row (see
    `row_span`): every process gets every row, whichever process holds it."""
    if world() == 1:
        return x[local_index]
    mine = (local_index >= 0) & (local_index < x.shape[0])
    out = torch.zeros(len(local_index), *x.shape[1:], dtype=x.dtype, device=x.device)
    out[mine] = x[local_index[mine]]
    return all_reduce_sum(out)  # each row is non-zero on one process only: the sum is that row


def from_main(flag: bool) -> bool:
    """Rank 0's value of `flag`, on every process: decisions such as stopping for the time
    limit must be the same everywhere, or the others wait forever in the next step."""
    if world() == 1:
        return flag
    value = torch.tensor([float(flag)], device=_device)
    dist.broadcast(value, src=0)
    return bool(value.item())


def mean_over_processes(values: dict) -> dict:
    """Float values averaged over processes (for the log); others are left as they are."""
    keys = [k for k, v in values.items() if isinstance(v, float)]
    if world() == 1 or not keys:
        return values
    summed = all_reduce_sum(torch.tensor([values[k] for k in keys], dtype=torch.float64, device=_device))
    return {**values, **{k: float(v) / world() for k, v in zip(keys, summed.tolist())}}


class _Step(torch.nn.Module):
    """Holds the model so that DDP sees its parameters; `forward` is one training step."""

    def __init__(self, model: torch.nn.Module, step):
        super().__init__()
        self.model, self.step = model, step

    def forward(self, number: int):
        return self.step(number)


def data_parallel(model: torch.nn.Module, trained: list[torch.nn.Parameter], step):
    """`step` wrapped so that calling it averages the gradients over processes (DDP).

    The stages call parts of the model (quantize, reconstruct, ...) rather than its
    forward, so DDP wraps the step itself. Parameters the stage does not train are frozen:
    DDP would otherwise reduce (and wait for) their gradients.
    """
    if world() == 1:
        return step
    trained_ids = {id(p) for p in trained}
    for parameter in model.parameters():
        if id(parameter) not in trained_ids:
            parameter.requires_grad_(False)
    import warnings

    from torch.nn.parallel import DistributedDataParallel

    # The depth-wise convolution weights (C, 1, K) get gradients whose stride along the
    # size-1 dimension differs from DDP's bucket: the same memory layout, a needless warning.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    # Left at its default, DDP broadcasts rank 0's buffers at every step. The codebooks are
    # identical everywhere already (their statistics are summed); the broadcast makes sure
    # rounding can never make them drift apart and send processes down different
    # dead-code branches.
    return DistributedDataParallel(
        _Step(model, step), device_ids=[_device.index] if _device.type == "cuda" else None,
        # Some trained parameters sit out every step (the [MASK] vector when fine-tuning);
        # the graph is the same at every step, so DDP learns which in the first one.
        static_graph=True,
    )
