"""Labelled data for fine-tuning: `sequence,label` CSV (plain or gzip), or FASTA + TSV."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from vqdna_cli.errors import InputError
from vqdna_cli.io.labelled import FastaLabels, read_labelled_csv, read_labelled_fasta


def test_csv_plain_and_gzip_read_the_same(tmp_path: Path):
    text = "sequence,label\nACGTacgt,1\nNNAC,0\n"
    (tmp_path / "a.csv").write_text(text)
    with gzip.open(tmp_path / "a.csv.gz", "wt") as handle:
        handle.write(text)
    plain, packed = read_labelled_csv(str(tmp_path / "a.csv")), read_labelled_csv(str(tmp_path / "a.csv.gz"))
    assert plain.sequences == packed.sequences == ["ACGTACGT", "NNAC"]
    assert plain.labels == packed.labels == ["1", "0"]


def test_fasta_with_labels_tsv(tmp_path: Path):
    (tmp_path / "x.fa").write_text(">a\nACGT\n>b\nGGCC\n")
    (tmp_path / "labels.tsv").write_text("# id\tlabel\nb\tenhancer\na\tother\n")
    data = read_labelled_fasta(str(tmp_path / "x.fa"), FastaLabels.read(str(tmp_path / "labels.tsv")))
    assert data.sequences == ["ACGT", "GGCC"]
    assert data.labels == ["other", "enhancer"]


def test_spaces_around_an_id_in_the_labels_file_are_not_part_of_it(tmp_path: Path):
    """'b ' (a spreadsheet's trailing space) was no label for record b: 'record 'b' has no label'."""
    (tmp_path / "x.fa").write_text(">a\nACGT\n>b\nGGCC\n")
    (tmp_path / "labels.tsv").write_text("a\tother\nb \tenhancer\n")
    data = read_labelled_fasta(str(tmp_path / "x.fa"), FastaLabels.read(str(tmp_path / "labels.tsv")))
    assert data.labels == ["other", "enhancer"]


def test_fasta_record_without_a_label_is_named(tmp_path: Path):
    (tmp_path / "x.fa").write_text(">a\nACGT\n>b\nGGCC\n")
    (tmp_path / "labels.tsv").write_text("a\tother\n")
    with pytest.raises(InputError, match="'b'"):
        read_labelled_fasta(str(tmp_path / "x.fa"), FastaLabels.read(str(tmp_path / "labels.tsv")))


def test_csv_from_a_spreadsheet_with_blank_lines_reads(tmp_path: Path):
    """Excel writes a byte-order mark before the header; blank lines carry no row."""
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffsequence,label\r\nACGT,1\r\n\r\n,\r\nGGCC,0\r\n".encode("utf-8"))
    data = read_labelled_csv(str(path))
    assert data.sequences == ["ACGT", "GGCC"] and data.labels == ["1", "0"]


@pytest.mark.parametrize("text, message", [
    ("seq,y\nACGT,1\n", "header"),
    ("sequence,label\n", "no labelled sequences"),
    ("sequence,label\nACGT,1\nMKVL,0\n", "line 3"),
    ("sequence,label\n,1\n", "line 2: empty sequence"),
    ("sequence,label\nACGT, \n", "line 2: empty label"),
    ("sequence,label\nACGT\n", "line 2: expected 'sequence,label', found one field"),
    (">r1\nACGT\n", "looks like FASTA, not a 'sequence,label' CSV: give its labels with --labels"),
    ("sequence\tlabel\nACGT\t1\n", "is tab-separated: training data is a CSV whose header is 'sequence,label'"),
    # the header's faults say what was found and what to change; a header again is files joined
    ("seq,class\nACGT,1\n", "header is 'sequence,label', found 'seq,class'$"),
    ("label,sequence\n1,ACGT\n", "found 'label,sequence': the columns are the other way round"),
    ("sequence;label\nACGT;1\n", "found 'sequence;label': the separator is ';'"),
    ("ACGTACGTAC,1\nGGCC,0\n", "found 'ACGTACGTAC,1': the first line is a row, not a header; add 'sequence,label'"),
    ("", "is empty: expected a CSV"),
    ("dna,label\nACGT,1\n", "found 'dna,label'$"),  # IUPAC letters, but a word
    ("sequence,label\nACGT,1\nsequence,label\nGGCC,0\n", "line 3 repeats the header 'sequence,label': is it files "
                                                          "joined"),
])
def test_rows_that_cannot_be_read_are_named_with_what_is_wrong(tmp_path: Path, text: str, message: str):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_labelled_csv(str(path))


def test_a_folder_given_as_data_is_called_a_folder(tmp_path: Path):
    with pytest.raises(InputError, match=f"^{tmp_path} is a folder, not a CSV file$"):
        read_labelled_csv(str(tmp_path))
    (tmp_path / "x.fa").write_text(">a\nACGT\n")
    with pytest.raises(InputError, match=f"^{tmp_path} is a folder, not a labels file$"):
        read_labelled_fasta(str(tmp_path / "x.fa"), FastaLabels.read(str(tmp_path)))


def test_columns_after_the_label_are_read_with_a_warning(tmp_path: Path):
    from vqdna_cli.errors import VqdnaWarning

    path = tmp_path / "three.csv"
    path.write_text("sequence,label,name\nACGT,1,a\nGGCC,0,b\n")
    with pytest.warns(VqdnaWarning, match="columns after 'sequence,label' are ignored \\(line 2 has 3\\)") as seen:
        data = read_labelled_csv(str(path))
    assert len(seen) == 1 and data.labels == ["1", "0"]
    (tmp_path / "x.fa").write_text(">a\nACGT\n")
    (tmp_path / "labels.tsv").write_text("a\tother\tnote\n")
    with pytest.warns(VqdnaWarning, match="columns after 'id<TAB>label' are ignored"):
        labels = FastaLabels.read(str(tmp_path / "labels.tsv"))
    assert read_labelled_fasta(str(tmp_path / "x.fa"), labels).labels == ["other"]


def test_an_id_labelled_twice_over_or_without_a_label_is_refused(tmp_path: Path):
    (tmp_path / "x.fa").write_text(">a\nACGT\n>b\nGGCC\n")
    (tmp_path / "twice.tsv").write_text("a\tx\nb\ty\na\ty\n")
    with pytest.raises(InputError, match="twice.tsv line 3: 'a' is labelled 'y' here and 'x' on line 1"):
        read_labelled_fasta(str(tmp_path / "x.fa"), FastaLabels.read(str(tmp_path / "twice.tsv")))
    (tmp_path / "same.tsv").write_text("a\tx\nb\ty\na\tx\n")  # the same label again: no conflict
    same = FastaLabels.read(str(tmp_path / "same.tsv"))
    assert read_labelled_fasta(str(tmp_path / "x.fa"), same).labels == ["x", "y"]
    (tmp_path / "empty.tsv").write_text("a\t\nb\ty\n")
    with pytest.raises(InputError, match="empty.tsv line 1: expected 'id<TAB>label'"):
        read_labelled_fasta(str(tmp_path / "x.fa"), FastaLabels.read(str(tmp_path / "empty.tsv")))


def test_a_labels_file_for_several_fasta_files_is_read_and_warned_about_once(tmp_path: Path):
    from vqdna_cli.api.train import head_training_data
    from vqdna_cli.errors import VqdnaWarning
    from vqdna_cli.options import HeadRows

    files = []
    for name, ids in [("a.fa", "abcd"), ("b.fa", "efgh"), ("held.fa", "ij")]:
        (tmp_path / name).write_text("".join(f">{i}\n{'ACGT' * (ord(i) - ord('a') + 1)}\n" for i in ids))
        files.append(str(tmp_path / name))
    (tmp_path / "labels.tsv").write_text("".join(f"{i}\t{n % 2}\tnote\n" for n, i in enumerate("abcdefghij")))
    with pytest.warns(VqdnaWarning, match="columns after 'id<TAB>label' are ignored") as seen:
        data = head_training_data(HeadRows(tuple(files[:2]), valid_files=(files[2],),
                                           labels_tsv=str(tmp_path / "labels.tsv")))
    assert len(seen) == 1  # not once per FASTA file that it labels
    assert len(data.rows) == 8 and len(data.valid_rows) == 2


def test_a_csv_sequence_longer_than_pythons_field_limit_is_read(tmp_path: Path):
    """csv refuses fields over 128 KiB by default; a FASTA row of the same length was read."""
    long = "ACGT" * 50_000
    path = tmp_path / "long.csv"
    path.write_text(f"sequence,label\n{long},1\nACGT,0\n")
    assert read_labelled_csv(str(path)).sequences == [long, "ACGT"]


def test_stdin_is_refused_with_what_to_do_not_as_a_missing_file():
    """`--test -` said "-: no such CSV file", as if a file named '-' were missing."""
    with pytest.raises(InputError, match=r"^labelled data is read from files, not stdin \(-\): save it to a file"):
        read_labelled_csv("-")
