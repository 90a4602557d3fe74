"""Labelled sequences for fine-tuning and evaluation: `sequence,label` CSV (plain or gzip),
or FASTA plus a two-column `id<TAB>label` TSV."""

from __future__ import annotations

import csv
import gzip
import io
import sys
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vqdna_cli.errors import InputError, VqdnaWarning
from vqdna_cli.io.fasta import GZIP_MAGIC, read_fasta, validate_sequence


@dataclass
class LabelledSet:
    sequences: list[str]
    labels: list[str]  # as written in the file (GUE uses class indices 0, 1, ...)
    source: str


def open_text(path: str | Path, errors: str = "strict"):
    """A UTF-8 text file, plain or gzip (BGZF included), opened for reading. A byte-order
    mark (spreadsheets write one before a CSV) is not part of the text."""
    with open(path, "rb") as handle:
        magic = handle.read(len(GZIP_MAGIC))
    if magic == GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors=errors)
    return open(path, encoding="utf-8-sig", errors=errors)


def read_tsv_rows(path: str | Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every row of a tab-separated text file (plain or gzip) that
    is neither blank nor a `#` comment; a file that is not UTF-8 text is one InputError."""
    try:
        with open_text(path) as handle:
            return [(number, text.rstrip("\n\r").split("\t")) for number, text in enumerate(handle, start=1)
                    if text.strip() and not text.startswith("#")]
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as error:
        raise InputError(f"{path}: cannot read as tab-separated text ({error})") from None


def _require_file(path: str | Path, what: str) -> None:
    if str(path) == "-":  # each labelled file is read more than once (its format, then its rows)
        raise InputError("labelled data is read from files, not stdin (-): save it to a file and give its name")
    if Path(path).is_dir():
        raise InputError(f"{path} is a folder, not {what}")
    if not Path(path).is_file():
        raise InputError(f"{path}: no such {what.split(' ', 1)[1]}")


def _warn_extra_columns(path: str | Path, line: int, columns: int, expected: str) -> None:
    warnings.warn(f"{path}: columns after {expected!r} are ignored (line {line} has {columns})", VqdnaWarning)


# Python's csv refuses a field over 128 KiB by default; a sequence row has no length limit
# (it is read window by window), as in FASTA.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def read_labelled_csv(path: str) -> LabelledSet:
    """`sequence,label` rows after that header; blank lines are skipped, and columns after
    the second are ignored (with a warning)."""
    _require_file(path, "a CSV file")
    sequences, labels = [], []
    extra_columns_seen = False
    try:
        with open_text(path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or [h.strip().lower() for h in header[:2]] != ["sequence", "label"]:
                raise _wrong_header(path, header)
            for line, row in enumerate(reader, start=2):
                if not any(field.strip() for field in row):
                    continue
                if len(row) < 2:
                    raise InputError(f"{path} line {line}: expected 'sequence,label', found one field")
                sequence, label = row[0].strip(), row[1].strip()
                if [sequence.lower(), label.lower()] == ["sequence", "label"]:  # files joined with `cat`
                    raise InputError(f"{path} line {line} repeats the header 'sequence,label': is it files joined "
                                     "one after the other? give each to --train (it takes several) or drop the line")
                if not sequence or not label:
                    raise InputError(f"{path} line {line}: empty {'sequence' if not sequence else 'label'}")
                if len(row) > 2 and not extra_columns_seen and any(field.strip() for field in row[2:]):
                    extra_columns_seen = True
                    _warn_extra_columns(path, line, len(row), "sequence,label")
                sequences.append(validate_sequence(sequence, f"line {line}", path))
                labels.append(label)
    except (OSError, EOFError, UnicodeDecodeError, zlib.error, csv.Error) as error:
        raise InputError(f"{path}: cannot read as CSV ({error})") from None
    if not sequences:
        raise InputError(f"{path}: no labelled sequences")
    return LabelledSet(sequences, labels, path)


def _wrong_header(path: str, header: list[str] | None) -> InputError:
    if header and header[0].lstrip().startswith(">"):
        return InputError(f"{path} looks like FASTA, not a 'sequence,label' CSV: give its labels with "
                          "--labels LABELS.tsv (lines of id<TAB>label)")
    if header and len(header) == 1 and "\t" in header[0]:
        return InputError(f"{path} is tab-separated: training data is a CSV whose header is 'sequence,label' "
                          "(commas), or FASTA with --labels")
    if header is None:
        return InputError(f"{path} is empty: expected a CSV whose header is 'sequence,label'")
    first = ",".join(header)
    shown = first if len(first) <= 60 else first[:57] + "..."
    fields = [h.strip().lower() for h in header]
    if fields[:2] == ["label", "sequence"]:
        hint = ": the columns are the other way round; write them sequence first"
    elif len(header) == 1 and ";" in header[0]:
        hint = ": the separator is ';' (a spreadsheet's); save the file with commas"
    elif header and _is_bases(header[0]):
        hint = ": the first line is a row, not a header; add 'sequence,label' as the first line"
    else:
        hint = ""
    return InputError(f"{path}: expected a CSV whose header is 'sequence,label', found {shown!r}{hint}")


def _is_bases(field: str) -> bool:
    """Whether a CSV field is a sequence (so the line holding it is a row, not a header)."""
    text = field.strip()
    try:
        validate_sequence(text, "", "")
    except InputError:
        return False
    return len(text) >= 8  # 'dna' and 'NNN' are IUPAC letters too, but a header's words


def read_labels_tsv(path: str) -> dict[str, str]:
    """id -> label of a two-column `id<TAB>label` TSV (spaces around either are dropped): an
    id labelled twice over, or a label left empty, is refused; columns after the second are ignored (with a warning)."""
    _require_file(path, "a labels file")
    rows = []
    extra_columns_seen = False
    for line, fields in read_tsv_rows(path):
        if len(fields) < 2 or not fields[1].strip():
            raise InputError(f"{path} line {line}: expected 'id<TAB>label'")
        if len(fields) > 2 and not extra_columns_seen and any(field.strip() for field in fields[2:]):
            extra_columns_seen = True
            _warn_extra_columns(path, line, len(fields), "id<TAB>label")
        # a FASTA id never holds a space: spaces around one (a spreadsheet's) are not part of it
        rows.append((line, fields[0].strip(), fields[1].strip()))
    return one_label_each(rows, str(path))


def one_label_each(rows: Iterable[tuple[int, str, str]], where: str, noun: str = "") -> dict[str, str]:
    """name -> label of (line number, name, label) rows. A name given again with the same
    label is one row; with another label it is refused, naming both lines (`where`: the
    message's start, `noun`: what a name is, e.g. "sample")."""
    labels: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, name, label in rows:
        if name in labels and labels[name] != label:
            raise InputError(f"{where} line {line}: {noun + ' ' if noun else ''}{name!r} is labelled {label!r} here "
                             f"and {labels[name]!r} on line {first_line[name]}")
        labels[name] = label
        first_line.setdefault(name, line)
    return labels


@dataclass(frozen=True)
class FastaLabels:
    """The labels of FASTA records by id, read once from their `id<TAB>label` file (`path`)
    for every FASTA file they label, so that its warnings are said once."""

    path: str
    by_id: dict[str, str]

    @classmethod
    def read(cls, path: str) -> "FastaLabels":
        return cls(path, read_labels_tsv(path))


def sequences_to_exclude(path: str) -> list[str]:
    """The sequences of an `--exclude` file, a `sequence,label` CSV or a FASTA (told apart by
    its first character): only sequences are compared, so a FASTA needs no labels."""
    _require_file(path, "an --exclude file")
    if looks_like_fasta(path):
        return [record.seq for record in read_fasta(path)]
    return read_labelled_csv(path).sequences


def looks_like_fasta(path: str) -> bool:
    """Whether a labelled-data file is FASTA (its first character that is not blank, '>')
    rather than a `sequence,label` CSV."""
    try:
        with open_text(path, errors="replace") as handle:
            first = next((line for line in handle if line.strip()), "")
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path}: cannot read ({error})") from None
    return first.lstrip().startswith(">")


def read_labelled_fasta(fasta: str, labels: FastaLabels) -> LabelledSet:
    sequences, found = [], []
    for record in read_fasta(fasta):
        if record.name not in labels.by_id:
            raise InputError(f"record {record.name!r} of {fasta} has no label in {labels.path}")
        sequences.append(record.seq)
        found.append(labels.by_id[record.name])
    return LabelledSet(sequences, found, fasta)
