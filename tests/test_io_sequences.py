"""`detect_format` and `open_sequences`, the entry point every subcommand uses."""

from __future__ import annotations

import gzip
import io
import sys
import warnings
from pathlib import Path

import pysam
import pytest

from vqdna_cli.errors import InputError, VqdnaWarning
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.sequences import detect_format, open_sequences

FASTA = ">chr1\nacgtacgtAA\nCCGGTT\n>chr2\nTTTTGGGG\n"
HEADER = {"HD": {"VN": "1.6"}, "SQ": [{"SN": "chr1", "LN": 1000}, {"SN": "chr2", "LN": 500}]}


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def write_bam(path: Path, reads: list[tuple[str, int, int, str]]) -> str:
    """Reads as (name, flag, start on chr1, sequence); flag 4 writes an unmapped read."""
    with pysam.AlignmentFile(str(path), "wb", header=HEADER) as out:
        for name, flag, start, seq in reads:
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.flag, read.query_sequence = name, flag, seq
            if not flag & 4:
                read.reference_name, read.reference_start = "chr1", start
                read.cigarstring = f"{len(seq)}M"
            out.write(read)
    return str(path)


@pytest.fixture
def fasta(tmp_path: Path) -> str:
    path = write(tmp_path, "ref.fa", FASTA)
    pysam.faidx(path)
    return path


@pytest.fixture
def bam(tmp_path: Path) -> str:
    path = write_bam(tmp_path / "reads.bam", [("a", 0, 10, "acgtac"), ("b", 0, 200, "GGGGCC"), ("u", 4, 0, "TTTT")])
    pysam.index(path)
    return path


# --- detect_format -------------------------------------------------------------------------


def test_detect_fasta_and_stdin(tmp_path: Path, fasta: str) -> None:
    assert detect_format("-") == "fasta"
    assert detect_format(fasta) == "fasta"
    assert detect_format(write(tmp_path, "a.fa.gz", gzip.compress(FASTA.encode()))) == "fasta"
    assert detect_format(str(tmp_path / "missing.fa")) == "fasta"


def test_detect_bam_by_content(tmp_path: Path, bam: str) -> None:
    renamed = write(tmp_path, "reads.dat", Path(bam).read_bytes())
    assert detect_format(renamed) == "alignment"


def test_detect_sam_by_content(tmp_path: Path, bam: str) -> None:
    sam = str(tmp_path / "reads.sam")
    pysam.view("-h", "-o", sam, bam, catch_stdout=False)
    text = Path(sam).read_text()
    assert detect_format(write(tmp_path, "with_header.txt", text)) == "alignment"
    body = "".join(line + "\n" for line in text.splitlines() if not line.startswith("@"))
    assert detect_format(write(tmp_path, "headerless.txt", body)) == "alignment"


def test_headers_with_many_tabs_are_fasta_and_fastq_not_headerless_sam(tmp_path: Path) -> None:
    """Eleven tab-separated fields made a headerless SAM; a header of key=value metadata
    has as many, and its FASTA was refused as 'named like an alignment file'."""
    metadata = "\t".join(f"field{n}=value" for n in range(12))
    fasta = write(tmp_path, "tabs.fa", f">s1\t{metadata}\nACGTACGTAACCGGTT\n")
    fastq = write(tmp_path, "tabs.fq", f"@s1\t{metadata}\nACGTACGT\n+\nIIIIIIII\n")
    assert detect_format(fasta) == "fasta" and detect_format(fastq) == "fasta"
    assert [record.seq for record in open_sequences(fasta)] == ["ACGTACGTAACCGGTT"]
    assert [record.seq for record in open_sequences(fastq)] == ["ACGTACGT"]


def test_detect_cram_magic_and_extensions(tmp_path: Path) -> None:
    assert detect_format(write(tmp_path, "x.dat", b"CRAM\x03\x00")) == "alignment"
    for name in ("x.BAM", "x.sam", "x.cram"):
        assert detect_format(write(tmp_path, name, FASTA)) == "alignment"


# --- open_sequences ------------------------------------------------------------------------


def test_fasta(fasta: str) -> None:
    assert [record.seq for record in open_sequences(fasta)] == ["ACGTACGTAACCGGTT", "TTTTGGGG"]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(FASTA.encode())))
    assert [record.name for record in open_sequences("-")] == ["chr1", "chr2"]


def test_fastq_file_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fastq = "@a\nacgt\n+\nIIII\n@b\nGGCC\n+\n@@@@\n"
    expected = [SequenceRecord("a", "ACGT", "a"), SequenceRecord("b", "GGCC", "b")]
    assert list(open_sequences(write(tmp_path, "reads.fq.gz", gzip.compress(fastq.encode())))) == expected
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(fastq.encode())))
    assert list(open_sequences("-")) == expected


@pytest.mark.parametrize("form", ["bam", "sam"])
def test_alignments_on_stdin(form: str, tmp_path: Path, bam: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`samtools view -b ... | vqdna embed -`: the reads a file path gives, from a pipe."""
    data = Path(bam).read_bytes()
    if form == "sam":
        data = pysam.view("-h", bam).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert list(open_sequences("-")) == list(open_sequences(bam))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert [record.name for record in open_sequences("-", mapped_only=True)] == ["a", "b"]


def test_corrupt_bam_on_stdin_is_an_input_error(bam: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = Path(bam).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data[: len(data) // 2])))
    with pytest.raises(InputError, match="stdin"):
        list(open_sequences("-"))


def test_fasta_region_and_bed(tmp_path: Path, fasta: str) -> None:
    bed = write(tmp_path, "r.bed", "chr2\t0\t4\tpolyT\n")
    assert list(open_sequences(fasta, region="chr1:3-6", bed=bed)) == [
        SequenceRecord("chr1:3-6", "GTAC", "chr1", 2),
        SequenceRecord("polyT", "TTTT", "chr2", 0),
    ]


def test_fasta_region_needs_index(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.fa", FASTA)
    with pytest.raises(InputError, match=f"samtools faidx {path}"):
        open_sequences(path, region="chr1")


@pytest.mark.parametrize("option", [{"region": "chr1"}, {"bed": "r.bed"}])
def test_regions_on_stdin(option: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "r.bed", "chr1\t0\t4\n")
    with pytest.raises(InputError, match="stdin"):
        open_sequences("-", **option)


def test_bad_region_fails_before_reading(fasta: str) -> None:
    with pytest.raises(InputError, match="invalid region 'chr1:9-2'"):
        open_sequences(fasta, region="chr1:9-2")


def test_mapped_only_on_fasta(fasta: str) -> None:
    with pytest.raises(InputError, match=f"--mapped-only .*{fasta}"):
        open_sequences(fasta, mapped_only=True)


def test_reference_with_fasta_is_said_to_be_unused(fasta: str, bam: str) -> None:
    with pytest.warns(VqdnaWarning, match=f"--reference is read for CRAM input only; {fasta} is FASTA"):
        assert list(open_sequences(fasta, reference=fasta))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(open_sequences(fasta)) and list(open_sequences(bam, reference=fasta))


def test_bam_uppercased(bam: str) -> None:
    assert list(open_sequences(bam)) == [
        SequenceRecord("a", "ACGTAC", "chr1", 10),
        SequenceRecord("b", "GGGGCC", "chr1", 200),
        SequenceRecord("u", "TTTT", "*", 0),
    ]


def test_bam_mapped_only_region_and_bed(tmp_path: Path, bam: str) -> None:
    assert [r.name for r in open_sequences(bam, mapped_only=True)] == ["a", "b"]
    assert [r.name for r in open_sequences(bam, region="chr1:1-20")] == ["a"]
    bed = write(tmp_path, "r.bed", "chr1\t195\t300\nchr1\t0\t12\n")
    assert [r.name for r in open_sequences(bam, bed=bed)] == ["b", "a"]


def test_bam_region_needs_index(tmp_path: Path) -> None:
    path = write_bam(tmp_path / "noindex.bam", [("a", 0, 10, "ACGT")])
    with pytest.raises(InputError, match=f"samtools index {path}"):
        open_sequences(path, region="chr1:1-100")


def test_bam_invalid_sequence_is_rejected(tmp_path: Path) -> None:
    path = write_bam(tmp_path / "odd.bam", [("weird", 0, 10, "AC=GT")])
    with pytest.raises(InputError, match=f"'weird' in {path} has invalid character '=' at position 3"):
        list(open_sequences(path))


def test_garbage_gets_fasta_error(tmp_path: Path) -> None:
    path = write(tmp_path, "x.bin", bytes(range(256)) * 8)
    with pytest.raises(InputError, match=f"{path} is not a FASTA file"):
        list(open_sequences(path))
