"""Labelled sequences for fine-tuning and evaluation: `sequence,label` CSV (plain or gzip),
or FASTA plus a two-column `id<TAB>label` TSV."""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

from vqdna_cli.errors import InputError
from vqdna_cli.io.fasta import GZIP_MAGIC, read_fasta, validate_sequence


@dataclass
class LabelledSet:
    sequences: list[str]
    labels: list[str]  # as written in the file (GUE uses class indices 0, 1, ...)
    source: str


def open_text(path: str | Path, errors: str = "strict"):
    """A UTF-8 text file, plain or gzip (BGZF included), opened for reading."""
    with open(path, "rb") as handle:
        magic = handle.read(len(GZIP_MAGIC))
    if magic == GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors=errors)
    return open(path, encoding="utf-8", errors=errors)


def read_tsv_rows(path: str | Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every row of a tab-separated text file (plain or gzip) that
    is neither blank nor a `#` comment; a file that is not UTF-8 text is one InputError."""
    try:
        with open_text(path) as handle:
            return [(number, text.rstrip("\n\r").split("\t")) for number, text in enumerate(handle, start=1)
                    if text.strip() and not text.startswith("#")]
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as error:
        raise InputError(f"{path}: cannot read as tab-separated text ({error})") from None


def read_labelled_csv(path: str) -> LabelledSet:
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    sequences, labels = [], []
    try:
        with open_text(path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or [h.strip().lower() for h in header[:2]] != ["sequence", "label"]:
                raise InputError(f"{path}: expected a CSV whose header is 'sequence,label'")
            for line, row in enumerate(reader, start=2):
                if len(row) < 2 or not row[0]:
                    raise InputError(f"{path} line {line}: expected 'sequence,label'")
                sequences.append(validate_sequence(row[0].strip(), f"line {line}", path))
                labels.append(row[1].strip())
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as error:
        raise InputError(f"{path}: cannot read as CSV ({error})") from None
    if not sequences:
        raise InputError(f"{path}: no labelled sequences")
    return LabelledSet(sequences, labels, path)


def read_labelled_fasta(fasta: str, labels_tsv: str) -> LabelledSet:
    if not Path(labels_tsv).is_file():
        raise InputError(f"{labels_tsv}: no such labels file")
    labels_by_id = {}
    for line, fields in read_tsv_rows(labels_tsv):
        if len(fields) < 2:
            raise InputError(f"{labels_tsv} line {line}: expected 'id<TAB>label'")
        labels_by_id[fields[0]] = fields[1]
    sequences, labels = [], []
    for record in read_fasta(fasta):
        if record.name not in labels_by_id:
            raise InputError(f"record {record.name!r} of {fasta} has no label in {labels_tsv}")
        sequences.append(record.seq)
        labels.append(labels_by_id[record.name])
    return LabelledSet(sequences, labels, fasta)
