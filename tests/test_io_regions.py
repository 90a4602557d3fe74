"""Region strings (1-based inclusive) and BED files (0-based half-open) to `Region`."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import pytest

from vqdna_cli.errors import InputError
from vqdna_cli.io.regions import Region, parse_region, read_bed, resolve_region, resolve_regions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("chr1:1-10", Region("chr1", 0, 10)),
        ("chr1:1,000-2,000", Region("chr1", 999, 2000)),
        ("chr1:5-5", Region("chr1", 4, 5)),
        ("chr1", Region("chr1", 0, None)),
        ("chr1:100", Region("chr1", 99, None)),
        ("chr1:100-", Region("chr1", 99, None)),
        ("HLA-A*01:01:01:01:1-100", Region("HLA-A*01:01:01:01", 0, 100)),
        ("{HLA-A*01:01:01:01}", Region("HLA-A*01:01:01:01", 0, None)),
        ("{HLA-A*01:01}:5-6", Region("HLA-A*01:01", 4, 6)),
        ("chrUn:abc", Region("chrUn:abc", 0, None)),
        (" chr2:3-4 ", Region("chr2", 2, 4)),
        # as htslib: k/M/G multiply, with a fraction; no START reads from the contig's first base
        ("chr1:1k-2k", Region("chr1", 999, 2000)),
        ("chr1:1.5M-1.6m", Region("chr1", 1_499_999, 1_600_000)),
        ("chr1:2G", Region("chr1", 1_999_999_999, None)),
        ("chr1:-500", Region("chr1", 0, 500)),
    ],
)
def test_parse_region(text: str, expected: Region) -> None:
    assert parse_region(text) == expected


@pytest.mark.parametrize(
    "text", ["", "chr1:0-10", "chr1:10-5", "chr1:1-2-3", ":1-10", "chr1:-0", "chr 1:1-5", "chr1:1.0005k-2k",
             "chr1:1kk"]
)
def test_parse_region_errors(text: str) -> None:
    with pytest.raises(InputError, match="invalid region"):
        parse_region(text)


def test_str_is_samtools_notation() -> None:
    assert str(Region("chr1", 999, 2000)) == "chr1:1000-2000"
    assert str(parse_region("chr1:1,000-2,000")) == "chr1:1000-2000"
    assert str(Region("chr1", 0, None)) == "chr1"
    assert str(Region("chr1", 99, None)) == "chr1:100-"


def test_resolve_region_fills_open_end() -> None:
    assert resolve_region(Region("c", 3, None), {"c": 10}, "f") == Region("c", 3, 10)


def test_resolve_region_errors() -> None:
    with pytest.raises(InputError, match="'x' is not in f.fa; known contigs: c"):
        resolve_region(Region("x", 0, 1), {"c": 10}, "f.fa")
    with pytest.raises(InputError, match="c:11-12 is outside contig 'c' of f.fa"):
        resolve_region(Region("c", 10, 12), {"c": 10}, "f.fa")
    assert resolve_region(Region("c", 4, 11), {"c": 10}, "f.fa") == Region("c", 4, 10)  # cut, as samtools does
    with pytest.raises(InputError, match="region '\\*' \\(samtools' unmapped reads\\) is for BAM/SAM/CRAM input, not f.fa"):
        resolve_region(Region("*", 0, None), {"c": 10}, "f.fa")


def write(tmp_path: Path, content: str | bytes, name: str = "r.bed") -> str:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


BED = (
    "# comment\n"
    "track name=test\n"
    "browser position chr1\n"
    "\n"
    "chr1\t0\t100\n"
    "chr1\t150\t200\tpromoter\t0\t+\n"
    "chr2\t5\t6\t.\n"
)
EXPECTED = [Region("chr1", 0, 100), Region("chr1", 150, 200, "promoter"), Region("chr2", 5, 6)]


def test_read_bed_is_zero_based_half_open(tmp_path: Path) -> None:
    regions = read_bed(write(tmp_path, BED))
    assert regions == EXPECTED
    assert str(regions[0]) == "chr1:1-100"


def test_read_bed_gzip_and_spaces(tmp_path: Path) -> None:
    path = write(tmp_path, gzip.compress(BED.replace("\t", " ").encode()), "r.bed.gz")
    assert read_bed(path) == EXPECTED


def test_read_bed_crlf(tmp_path: Path) -> None:
    assert read_bed(write(tmp_path, BED.replace("\n", "\r\n"))) == EXPECTED


def test_read_bed_with_a_byte_order_mark(tmp_path: Path) -> None:
    """A BED saved by Notepad or Excel: its first contig was '\\ufeffchr1', not in the genome."""
    assert read_bed(write(tmp_path, ("\ufeff" + BED).encode("utf-8"))) == EXPECTED
    assert read_bed(write(tmp_path, ("\ufeff# header\n" + BED).encode("utf-8"))) == EXPECTED


def test_messages_name_the_fix_for_a_contig_with_a_colon_and_a_bed_header(tmp_path: Path) -> None:
    """'seq:1-2-3' (a contig of that name) and a BED header without '#' were refused without
    saying how to give either."""
    with pytest.raises(InputError, match=r"a contig whose name holds ':' is given whole as \{NAME\}: '\{seq:1-2-3\}'\)$"):
        parse_region("seq:1-2-3")
    assert parse_region("{seq:1-2-3}").chrom == "seq:1-2-3"
    path = write(tmp_path, "chrom\tstart\tend\nchr1\t0\t5\n")
    with pytest.raises(InputError, match=r"line 1: .*got 'start' and 'end' \(a header line\? start it with '#'\)$"):
        read_bed(path)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("chr1\t10", "needs CHROM, START and END"),
        ("chr1\tten\t20", "non-negative integers"),
        ("chr1\t-1\t20", "non-negative integers"),
        ("chr1\t20\t19", "not be less than START"),
        ("\t1\t2", "CHROM column is empty"),
    ],
)
def test_read_bed_bad_line(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path, f"chr1\t0\t5\n{line}\n")
    with pytest.raises(InputError, match=problem) as caught:
        read_bed(path)
    assert f"{path} line 2" in str(caught.value)


def test_zero_length_intervals_are_skipped_with_one_warning(tmp_path: Path) -> None:
    """START = END is valid BED (an insertion point, as bedtools takes it) but holds no bases:
    skipped, counted once, rather than failing the whole file."""
    from vqdna_cli.errors import VqdnaWarning

    path = write(tmp_path, "chr1\t100\t100\nchr1\t0\t300\nchr2\t5\t5\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        regions = read_bed(path)
    assert [(r.chrom, r.start, r.end) for r in regions] == [("chr1", 0, 300)]
    said = [str(w.message) for w in caught if issubclass(w.category, VqdnaWarning)]
    assert len(said) == 1 and said[0].startswith(f"2 intervals of {path} hold no bases"), said
    only_empty = write(tmp_path, "chr1\t7\t7\n", name="empty.bed")
    with pytest.raises(InputError, match="only zero-length intervals"):
        read_bed(only_empty)


def test_read_bed_missing(tmp_path: Path) -> None:
    path = str(tmp_path / "none.bed")
    with pytest.raises(InputError, match=f"not found: {path}"):
        read_bed(path)
    with pytest.raises(InputError, match=r"^--bed reads a file, not stdin \(-\): give the BED file, or `<\(command\)`$"):
        read_bed("-")


def test_read_bed_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "# only a header\n")
    with pytest.raises(InputError, match=f"no regions in BED file {path}"):
        read_bed(path)


def test_read_bed_binary(tmp_path: Path) -> None:
    path = write(tmp_path, b"chr1\t0\t5\n\xff\xfe\x00")
    with pytest.raises(InputError, match=f"{path} is not a text file"):
        read_bed(path)


def test_read_bed_names_a_compression_it_does_not_read(tmp_path: Path) -> None:
    import bz2

    path = tmp_path / "regions.bed.bz2"
    path.write_bytes(bz2.compress(b"chr1\t0\t10\n"))
    with pytest.raises(InputError, match=r"regions\.bed\.bz2 is bzip2-compressed: give it plain or gzip-compressed"):
        read_bed(str(path))


def test_a_contig_named_like_a_region_is_read_whole_as_samtools_does() -> None:
    lengths = {"22:20000001-21000000": 1_000_000, "chr1": 500}
    region = resolve_region(parse_region("22:20000001-21000000"), lengths, "x.fa")
    assert (region.chrom, region.start, region.end) == ("22:20000001-21000000", 0, 1_000_000)
    # as the readers resolve them: its parsed end (21,000,000) is not an end cut to the contig's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_regions([parse_region("22:20000001-21000000")], lengths, "x.fa") == [region]
    assert resolve_region(parse_region("chr1:11-20"), lengths, "x.fa") == Region("chr1", 10, 20)
    both = {"22:1-10": 50, "22": 100}
    with pytest.raises(InputError, match=r"region '22:1-10' is ambiguous in x.fa: .*\{22:1-10\}.*\{22\}:1-10"):
        resolve_region(parse_region("22:1-10"), both, "x.fa")


def test_regions_marked_minus_are_warned_of_unless_both_strands_are_read(tmp_path: Path, run_vqdna,
                                                                         tiny_model_dir: Path) -> None:
    """Column 6 is not read: a `-` interval was classified on the forward strand without a
    word (a promoter head then answers for the wrong strand)."""
    import pysam

    from vqdna_cli.errors import VqdnaWarning

    from conftest import fasta_text, random_dna

    bed = tmp_path / "regions.bed"
    bed.write_text("track name=x\nchr1\t0\t60\ta\t0\t-\nchr1\t60\t120\tb\t0\t+\nchr1 120 180 c 0 -\n")
    with pytest.warns(VqdnaWarning, match=r"^2 of the regions of .*regions.bed are marked '-' \(column 6\), but every "
                                          r"region is read on the forward strand"):
        assert [r.name for r in read_bed(str(bed))] == ["a", "b", "c"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_bed(str(bed), strands_read=True)  # a scan reads both strands
    fasta = tmp_path / "g.fa"
    fasta.write_text(fasta_text({"chr1": random_dna(300, 8)}))
    pysam.faidx(str(fasta))
    result = run_vqdna("tokenize", fasta, "--bed", bed, "-o", tmp_path / "t.npz", "--model", tiny_model_dir)
    assert result.returncode == 0 and sum("marked '-'" in line for line in result.stderr_lines) == 1  # said once


@pytest.mark.parametrize("name", ["reads.fq", "reads.fq.gz"])
def test_regions_of_a_fastq_are_refused_before_any_index_advice(tmp_path: Path, name: str) -> None:
    """With an index from `samtools faidx --fastq`, a FASTQ with --region was told that the
    index does not match and to rebuild it: the command just run."""
    import pysam

    from vqdna_cli.io.sequences import open_sequences

    text = b"@r1\nACGTACGTAC\n+\nIIIIIIIIII\n"
    path = tmp_path / name
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    if not name.endswith(".gz"):
        pysam.faidx(str(path), "--fastq")
    with pytest.raises(InputError, match=r"^--region and --bed cut an indexed FASTA or BAM; .* looks like FASTQ"):
        open_sequences(str(path), region="r1:1-5")


def test_a_bed_from_a_pipe_is_read_once_and_its_warnings_said_once(tmp_path: Path, run_vqdna,
                                                                   tiny_model_dir: Path) -> None:
    """`--bed <(command)` with an indexed FASTA was 'no regions in BED file /dev/fd/63': the
    progress total read the pipe first. A zero-length interval was warned of twice."""
    import subprocess
    import sys

    import numpy as np
    import pysam

    from conftest import fasta_text, random_dna

    fasta = tmp_path / "g.fa"
    fasta.write_text(fasta_text({"chr1": random_dna(300, 8)}))
    pysam.faidx(str(fasta))
    piped = subprocess.run(["bash", "-c", f'"{sys.executable}" -m vqdna_cli tokenize "{fasta}" -m "{tiny_model_dir}" '
                            f'--bed <(printf "chr1\\t100\\t160\\n") -o "{tmp_path / "p.npz"}" -q'],
                           capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr.decode()
    assert list(np.load(tmp_path / "p.npz")["starts"]) == [100] and len(np.load(tmp_path / "p.npz")["tokens"]) == 60
    bed = tmp_path / "z.bed"
    bed.write_text("chr1\t100\t160\nchr1\t5\t5\n")
    result = run_vqdna("tokenize", fasta, "--bed", bed, "-o", tmp_path / "z.npz", "--model", tiny_model_dir)
    assert result.returncode == 0 and sum("holds no bases" in line for line in result.stderr_lines) == 1
