"""Copies of genome FASTA files with every GUE test sequence written as N.

    python scripts/mask_test_sequences.py --gue ../shared/data/gue -o OUT genomes/*.fa.gz

Some GUE test sequences come from the very genomes vqdna pre-trains on (human chrX and chr22,
the human mitochondrion, yeast chromosome I). Pre-training on them would let test sequence
shape the model, even unlabelled. This writes, for each input, OUT/<same name> (gzip FASTA,
same records and lengths, occurrences on either strand as N) and prints what it masked, so
`vqdna train tokenizer|pretrain` can read OUT instead. Held-out tails (`--holdout-tail`) mean
what they meant: positions do not move.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vqdna_cli.io.fasta import read_fasta
from vqdna_cli.train.benchmark_overlap import SequenceMask, gue_test_sequences, write_fasta_gz


def mask_file(source: Path, target: Path, mask: SequenceMask) -> tuple[int, int]:
    """Writes the masked copy; returns (occurrences masked, bases in the file)."""
    records, found, bases = [], 0, 0
    for record in read_fasta(str(source)):
        seq, hits = mask.apply(record.seq.upper())
        records.append((record.name, seq))
        found, bases = found + hits, bases + len(seq)
    write_fasta_gz(records, target)
    return found, bases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fasta", nargs="+", type=Path, help="genome FASTA files (plain or gzip)")
    parser.add_argument("--gue", type=Path, required=True, help="GUE folder (its */test.csv.gz are masked)")
    parser.add_argument("-o", "--out-dir", type=Path, required=True, help="folder for the masked copies")
    args = parser.parse_args(argv)
    tests = gue_test_sequences(args.gue)
    if not tests:
        raise SystemExit(f"no test.csv.gz under {args.gue}: nothing to mask")
    mask = SequenceMask(tests)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for source in args.fasta:
        name = source.name if source.name.endswith(".gz") else source.name + ".gz"
        found, bases = mask_file(source, args.out_dir / name, mask)
        print(f"{source.name}\t{bases}\t{found}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
