"""What long work says off a terminal (Snakemake and Nextflow logs), where rich draws no
bar: a plain line every PLAIN_EVERY_S seconds, with times as h:mm:ss. Shared by the
inference progress (cli/progress.py) and the training loop (train/loop.py)."""

from __future__ import annotations

PLAIN_EVERY_S = 10.0


def clock(seconds: float) -> str:
    """3725.4 -> '1:02:05'."""
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
