"""GUE rows that were cut from human sequence this project keeps for checks, found so that
they never train or select a head.

GUE's promoter and splice sets come from the whole human genome, so some of their rows are
windows of chrX 30-40 Mb (the real-genome validation region, which must only score) and of
chrX beyond 40 Mb (kept out for an independent check: its promoters and exon boundaries must
not reach a head by any road, GUE's included). `gue.py train` passes the rows found here to
`finetune` as excluded data for every head scored on real genome sequence.

    python -m benchmarks.held_out_rows --tasks promoter core-promoter splice-site tf-human-0

prints, per task, how many of its training and validation rows lie in those regions.

A row is found by an exact match of its whole sequence, on either strand. Reading chrX beyond
40 Mb here brings nothing in: its bases only decide which rows are left out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.genome_sets import CHRX_FASTA, Span, read_fasta_prefix
from vqdna_cli.data.alphabet import reverse_complement
from vqdna_cli.io.labelled import read_labelled_csv
from vqdna_cli.train.benchmark_overlap import SequenceMask

HELD_OUT_REGIONS = (Span("chrX", 30_000_000, 70_000_000),)  # validation region, then the independent check's
REACH = 1_000  # longer than any GUE row


def rows_lying_in(sequences: list[str], region: str, region_start: int = 0) -> list[int | None]:
    """For each sequence, the 0-based position (plus `region_start`) of its first occurrence
    in `region` on either strand, or None (`SequenceMask`, which keeps GUE's test sequences
    out of pre-training, finds them; sequences shorter than its seed are never found)."""
    first: dict[str, int] = {}
    for start, found in SequenceMask(sequences).occurrences(region):  # by start
        first.setdefault(found, region_start + start)
        first.setdefault(reverse_complement(found), region_start + start)
    return [first.get(seq) for seq in sequences]


def held_out_sequence(data: Path) -> tuple[int, str]:
    """(start, bases) of chrX over HELD_OUT_REGIONS, uppercased, from REACH bases before the
    region, so that a row that only begins before it is found too."""
    (span,) = HELD_OUT_REGIONS
    chrx = read_fasta_prefix(data / "genomes" / CHRX_FASTA, span.end)
    start = max(0, span.start - REACH)
    return start, chrx[start:span.end]


def read_rows(files: list[str]) -> list[tuple[str, str]]:
    """(sequence, label) of every row of GUE-style CSV files, in order."""
    rows = []
    for path in files:
        labelled = read_labelled_csv(path)
        rows += zip(labelled.sequences, labelled.labels)
    return rows


def rows_inside(rows: list[tuple[str, str]], start: int, region: str) -> list[tuple[str, str]]:
    """The (sequence, label) rows that lie in `region` (bases from chrX position `start`)."""
    where = rows_lying_in([s for s, _ in rows], region, start)
    return [row for row, at in zip(rows, where) if at is not None]


def find_held_out_rows(files: list[str], data: Path) -> list[tuple[str, str]]:
    """The (sequence, label) rows of `files` that lie in HELD_OUT_REGIONS."""
    return rows_inside(read_rows(files), *held_out_sequence(data))


def ensure_held_out_rows(task_name: str, files: list[str], data: Path, work_dir: Path) -> Path:
    """WORK_DIR/<task>_rows_in_held_out_regions.csv, written first where it is missing."""
    path = Path(work_dir) / f"{task_name}_rows_in_held_out_regions.csv"
    if path.is_file():
        return path
    rows = find_held_out_rows(files, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")  # a file cut short is never taken for a finished one
    partial.write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    partial.replace(path)
    return path


def main() -> None:
    from vqdna_cli.train.recipes import BY_NAME, data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", required=True, help="task names (vqdna_cli/train/recipes.py)")
    args = parser.parse_args()
    data = data_dir()
    if not (data / "genomes" / CHRX_FASTA).is_file():
        print(f"skipped: no {CHRX_FASTA} under {data / 'genomes'} (set VQDNA_DATA)")
        return
    start, region = held_out_sequence(data)
    regions = ", ".join(map(str, HELD_OUT_REGIONS))
    for name in args.tasks:
        task = BY_NAME[name]
        for files in (task.train_files(data), list(task.valid_files(data))):
            if not files:
                continue
            rows = read_rows(files)
            inside = [y for _, y in rows_inside(rows, start, region)]
            by_label = {y: inside.count(y) for y in sorted(set(inside))}
            print(f"{name}: {len(inside)} of {len(rows)} rows of {', '.join(Path(f).parent.name + '/' + Path(f).name for f in files)}"
                  f" lie in {regions} (by label: {by_label})", file=sys.stderr)


if __name__ == "__main__":
    main()
