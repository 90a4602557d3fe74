#!/usr/bin/env python
"""`vqdna mutations` on the 376 real SARS-CoV-2 genomes: lineage accuracy, silhouette, time, memory.

    python -m benchmarks.mutations [--model DIR] [--threads 2] [--label-column who_label] [--json out.json]

Runs the real command (a subprocess, as a user would) on
`sarscov2/genomes/example_sequences_union.fasta.gz` with the gene annotation and the labels of
`assigned_lineages.tsv` (WHO labels by default; `--label-column pango` for Pango lineages),
then reports from its summary.json the per-level leave-one-out nearest-neighbour lineage
accuracy and silhouette, the same two numbers on the called variants themselves (no model),
the wall time and the peak resident memory of the command. Data: ../shared/data or
$VQDNA_DATA. Not a test: the numbers go into docs/mutations.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def data_dir() -> Path | None:
    for candidate in (os.environ.get("VQDNA_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "sarscov2").is_dir():
            return Path(candidate) / "sarscov2"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="weights directory (default: the shipped weights)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--label-column", default="who_label")
    parser.add_argument("--keep", help="keep the output folder here")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    data = data_dir()
    if data is None:
        print("no data: set VQDNA_DATA or provide ../shared/data (sarscov2/)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="vqdna-mutations-bench."))
    out = Path(args.keep) if args.keep else work / "out"
    command = [sys.executable, "-m", "vqdna_cli", "mutations",
               "--reference", str(data / "reference" / "NC_045512.2.fasta"),
               "--annotation", str(data / "reference" / "genes.gff"),
               str(data / "genomes" / "example_sequences_union.fasta.gz"),
               "--labels", str(data / "genomes" / "assigned_lineages.tsv"), "--label-column", args.label_column,
               "-o", str(out), "--threads", str(args.threads), "--force", "--quiet"]
    if args.model:
        command += ["--model", args.model]
    began = time.monotonic()
    subprocess.run(command, check=True, cwd=REPO)
    seconds = time.monotonic() - began
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    summary = json.loads((out / "summary.json").read_text())
    lineage = summary["lineage"]
    levels = [key for key in sorted(lineage) if key.startswith("level")]
    result = {"genomes": len(summary["samples"]), "labels": args.label_column, "lineages": lineage["lineages"],
              "variants": sum(s["variants"] for s in summary["samples"].values()),
              "distinct_variants": summary["distinct_variants"], "wall_seconds": round(seconds, 1),
              "peak_rss_mib": round(peak_mib), "threads": args.threads, "model_hash": summary["model_hash"],
              **{level: lineage[level] for level in levels}, "baseline_variants": lineage["baseline_variants"]}
    print(f"{result['genomes']} genomes, {result['lineages']} {args.label_column} lineages, "
          f"{result['variants']:,} variants ({result['distinct_variants']:,} distinct)")
    print("| genome representation | nearest-neighbour accuracy | silhouette |")
    print("|---|---:|---:|")
    for level in levels:
        print(f"| HRQ {level.replace('level', 'level ')} token changes | {lineage[level]['nearest_neighbour_accuracy']:.3f} "
              f"| {lineage[level]['silhouette']:.3f} |")
    base = lineage["baseline_variants"]
    print(f"| called variants (no model) | {base['nearest_neighbour_accuracy']:.3f} | {base['silhouette']:.3f} |")
    print(f"wall {seconds:.1f} s, peak RSS {peak_mib:.0f} MiB, {args.threads} threads")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
