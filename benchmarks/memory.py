"""Peak memory of `vqdna classify` over many short reads: it must stay flat as the number of
reads grows (rows are written as records finish; nothing is kept per record).

    python -m benchmarks.memory [--reads 10000 100000 1000000] [--task tf-human-0] [--markdown F]

Each run is a separate `vqdna classify` process on N seeded random 30 bp reads (FASTA in a
temporary folder); its peak resident memory is read from the kernel (ru_maxrss of the child)
and its wall time measured. No data from ../shared is needed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.provenance import made_by

READ_LENGTH = 30


def write_reads(path: Path, count: int, seed: int = 0, length: int = READ_LENGTH) -> None:
    """`count` seeded random reads of `length` bases, named r0, r1, ..."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "w") as handle:
        for start in range(0, count, 100_000):
            block = letters[rng.integers(0, 4, (min(100_000, count - start), length))]
            handle.writelines(f">r{start + i}\n{row.tobytes().decode()}\n" for i, row in enumerate(block))


# Runs a command and prints its peak RSS (KiB): a fresh parent per measurement, so the
# kernel's largest-child figure is this command's alone.
_MEASURE = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_of_classify(reads: Path, task: str, threads: int) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one classify process."""
    command = [sys.executable, "-m", "vqdna_cli", "classify", "--task", task, str(reads), "-o",
               str(reads.with_suffix(".tsv")), "--threads", str(threads), "--quiet", "--force"]
    began = time.monotonic()
    result = subprocess.run([sys.executable, "-c", _MEASURE, *command], check=True, capture_output=True, text=True)
    return int(result.stdout.split()[-1]) / 1024, time.monotonic() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--task", default="tf-human-0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    lines = ["| reads (30 bp) | peak RSS (MiB) | seconds | reads/s |", "|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as folder:
        for count in sorted(args.reads):
            reads = Path(folder) / f"reads{count}.fa"
            write_reads(reads, count)
            peak, seconds = peak_of_classify(reads, args.task, args.threads)
            lines.append(f"| {count:,} | {peak:,.0f} | {seconds:,.1f} | {count / seconds:,.0f} |")
            print(lines[-1], file=sys.stderr)
    lines.append(f"\n`vqdna classify --task {args.task}`, one process per row, {args.threads} thread(s).")
    text = made_by("benchmarks.memory") + "\n\n" + "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
