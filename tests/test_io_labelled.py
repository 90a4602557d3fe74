"""Labelled data for fine-tuning: `sequence,label` CSV (plain or gzip), or FASTA + TSV."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from vqdna_cli.errors import InputError
from vqdna_cli.io.labelled import read_labelled_csv, read_labelled_fasta


def test_csv_plain_and_gzip_read_the_same(tmp_path: Path):
    text = "sequence,label\nACGTacgt,1\nNNAC,0\n"
    (tmp_path / "a.csv").write_text(text)
    with gzip.open(tmp_path / "a.csv.gz", "wt") as handle:
        handle.write(text)
    plain, packed = read_labelled_csv(str(tmp_path / "a.csv")), read_labelled_csv(str(tmp_path / "a.csv.gz"))
    assert plain.sequences == packed.sequences == ["ACGTACGT", "NNAC"]
    assert plain.labels == packed.labels == ["1", "0"]


@pytest.mark.parametrize("text, message", [
    ("seq,y\nACGT,1\n", "header"),
    ("sequence,label\n", "no labelled sequences"),
    ("sequence,label\nACGT\n", "line 2"),
    ("sequence,label\nACGT,1\nMKVL,0\n", "line 3"),
])
def test_bad_csv_is_refused_with_the_place(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_labelled_csv(str(path))


def test_fasta_with_labels_tsv(tmp_path: Path):
    (tmp_path / "x.fa").write_text(">a\nACGT\n>b\nGGCC\n")
    (tmp_path / "labels.tsv").write_text("# id\tlabel\nb\tenhancer\na\tother\n")
    data = read_labelled_fasta(str(tmp_path / "x.fa"), str(tmp_path / "labels.tsv"))
    assert data.sequences == ["ACGT", "GGCC"]
    assert data.labels == ["other", "enhancer"]


def test_fasta_record_without_a_label_is_named(tmp_path: Path):
    (tmp_path / "x.fa").write_text(">a\nACGT\n>b\nGGCC\n")
    (tmp_path / "labels.tsv").write_text("a\tother\n")
    with pytest.raises(InputError, match="'b'"):
        read_labelled_fasta(str(tmp_path / "x.fa"), str(tmp_path / "labels.tsv"))
