"""Reading reads from BAM/SAM with pysam: filtering, naming, regions and errors."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pysam
import pytest

from vqdna_cli.errors import InputError, VqdnaWarning
from vqdna_cli.io.bam import read_alignment_regions, read_alignments
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.regions import Region, parse_region

HEADER = {"HD": {"VN": "1.6", "SO": "unsorted"}, "SQ": [{"SN": "chr1", "LN": 1000}, {"SN": "chr2", "LN": 500}]}

UNMAPPED, REVERSE, SECONDARY, SUPPLEMENTARY = 0x4, 0x10, 0x100, 0x800
PAIRED, READ1, READ2 = 0x1, 0x40, 0x80

# (name, flag, chrom, start, sequence); chrom None means unmapped without a position.
READS = [
    ("fwd", 0, "chr1", 100, "ACGTACGTAA"),
    ("rev", REVERSE, "chr1", 300, "TTGGCCAACG"),
    ("fwd", SECONDARY, "chr2", 50, "ACGTACGTAA"),
    ("rev", SUPPLEMENTARY, "chr2", 60, "TTGGC"),
    ("pair", PAIRED | READ1, "chr2", 10, "GGGGAAAACC"),
    ("pair", PAIRED | READ2 | REVERSE, "chr2", 200, "CCCCAAAAGG"),
    ("lost", UNMAPPED, None, -1, "acgtnacgtn"),
    ("noseq", 0, "chr1", 500, None),
]


def write_bam(path: Path, reads: list[tuple] = READS) -> str:
    with pysam.AlignmentFile(str(path), "wb", header=HEADER) as out:
        for name, flag, chrom, start, seq in reads:
            read = pysam.AlignedSegment(out.header)
            read.query_name = name
            read.flag = flag
            if seq is not None:
                read.query_sequence = seq
            if chrom is not None:
                read.reference_name = chrom
                read.reference_start = start
                read.cigarstring = f"{len(seq or 'A' * 10)}M"
                read.mapping_quality = 60
            out.write(read)
    return str(path)


@pytest.fixture
def unsorted_bam(tmp_path: Path) -> str:
    return write_bam(tmp_path / "reads.unsorted.bam")


@pytest.fixture
def indexed_bam(tmp_path: Path, unsorted_bam: str) -> str:
    path = str(tmp_path / "reads.bam")
    pysam.sort("-o", path, unsorted_bam)
    pysam.index(path)
    return path


def test_each_read_once(unsorted_bam: str) -> None:
    with pytest.warns(VqdnaWarning, match=r"skipped 1 primary read stored without bases \(SEQ \*\)"):
        records = list(read_alignments(unsorted_bam))
    assert records == [
        SequenceRecord("fwd", "ACGTACGTAA", "chr1", 100),
        # Reverse-strand reads keep the stored (reference-strand) sequence.
        SequenceRecord("rev", "TTGGCCAACG", "chr1", 300),
        SequenceRecord("pair/1", "GGGGAAAACC", "chr2", 10),
        SequenceRecord("pair/2", "CCCCAAAAGG", "chr2", 200),
        SequenceRecord("lost", "ACGTNACGTN", "*", 0),
    ]


def test_a_bam_without_reads_is_refused_as_an_empty_fasta_is(tmp_path: Path) -> None:
    empty = write_bam(tmp_path / "empty.bam", [])
    with pytest.raises(InputError, match="no reads in"):
        list(read_alignments(empty))
    unmapped = write_bam(tmp_path / "unmapped.bam", [("lost", UNMAPPED, None, -1, "ACGT")])
    with pytest.raises(InputError, match="no mapped reads in"):
        list(read_alignments(unmapped, mapped_only=True))
    no_bases = write_bam(tmp_path / "no_bases.bam", [("noseq", 0, "chr1", 500, None), ("fwd", SECONDARY, "chr2", 50,
                                                                                        "ACGTACGTAA")])
    with pytest.raises(InputError, match=r"no reads in .*no_bases.bam \(1 not primary, 1 without bases \(SEQ \*\) "
                                         r"left out\)"):
        list(read_alignments(no_bases))


def test_regions_without_reads_are_said(indexed_bam: str) -> None:
    with pytest.warns(VqdnaWarning, match=r"no reads in .*reads.bam overlapping the 2 regions"):
        assert list(read_alignment_regions(indexed_bam, [parse_region("chr1:1-50"), parse_region("chr2:400-500")])) == []


@pytest.mark.filterwarnings("ignore:.*stored without bases")
def test_mapped_only(unsorted_bam: str) -> None:
    names = [record.name for record in read_alignments(unsorted_bam, mapped_only=True)]
    assert names == ["fwd", "rev", "pair/1", "pair/2"]


@pytest.mark.filterwarnings("ignore:.*stored without bases")
def test_sam(tmp_path: Path, unsorted_bam: str) -> None:
    sam = str(tmp_path / "reads.sam")
    pysam.view("-h", "-o", sam, unsorted_bam, catch_stdout=False)
    assert list(read_alignments(sam)) == list(read_alignments(unsorted_bam))


def test_unaligned_bam_without_sq(tmp_path: Path) -> None:
    path = str(tmp_path / "u.bam")
    with pysam.AlignmentFile(path, "wb", header={"HD": {"VN": "1.6"}}) as out:
        read = pysam.AlignedSegment(out.header)
        read.query_name, read.flag, read.query_sequence = "u1", UNMAPPED, "ACGT"
        out.write(read)
    assert list(read_alignments(path)) == [SequenceRecord("u1", "ACGT", "*", 0)]


def test_region(indexed_bam: str) -> None:
    records = list(read_alignments(indexed_bam, parse_region("chr1:1-150")))
    assert records == [SequenceRecord("fwd", "ACGTACGTAA", "chr1", 100)]


def test_whole_contig_region(indexed_bam: str) -> None:
    names = [record.name for record in read_alignments(indexed_bam, parse_region("chr2"))]
    assert names == ["pair/1", "pair/2"]


def test_several_regions_yield_each_read_once(indexed_bam: str) -> None:
    regions = [Region("chr1", 0, 150), Region("chr1", 105, 400), Region("chr2", 0, 500)]
    names = [record.name for record in read_alignment_regions(indexed_bam, regions)]
    assert names == ["fwd", "rev", "pair/1", "pair/2"]


def test_a_read_stored_twice_is_refused_in_a_region_as_in_the_whole_file(tmp_path: Path) -> None:
    """`samtools merge a.bam a.bam`: both copies at one place with the same bases, which the
    regions' own check (a read met again in an overlapping region) let through as one."""
    unsorted = write_bam(tmp_path / "twice.unsorted.bam", [READS[0], READS[0], READS[1]])
    path = str(tmp_path / "twice.bam")
    pysam.sort("-o", path, unsorted)
    pysam.index(path)
    for regions in (None, [Region("chr1", 0, 1000)], [Region("chr1", 0, 150), Region("chr1", 50, 400)]):
        with pytest.raises(InputError, match="duplicate read name 'fwd'"):
            list(read_alignment_regions(path, regions))


def test_star_region_is_the_unmapped_reads_as_in_samtools(indexed_bam: str) -> None:
    assert list(read_alignments(indexed_bam, parse_region("*"))) == [SequenceRecord("lost", "ACGTNACGTN", "*", 0)]
    # beside placed regions, in the order given
    names = [record.name for record in read_alignment_regions(indexed_bam, [Region("*", 0, None),
                                                                              Region("chr1", 0, 150)])]
    assert names == ["lost", "fwd"]
    with pytest.raises(InputError, match="'\\*' \\(the unmapped reads\\) takes no coordinates: give --region '\\*' "
                                         "for them \\(a BED line's START and END cannot name them\\)$"):
        read_alignments(indexed_bam, parse_region("*:1-10"))
    with pytest.raises(InputError, match="--mapped-only leaves out"):
        read_alignments(indexed_bam, parse_region("*"), mapped_only=True)


def test_region_without_index(unsorted_bam: str, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="has no index.*samtools index") as caught:
        read_alignments(unsorted_bam, parse_region("chr1:1-100"))
    assert unsorted_bam in str(caught.value)
    assert "idx_find_and_load" not in capfd.readouterr().err


def test_region_with_a_corrupt_index_names_the_index(indexed_bam: str, capfd: pytest.CaptureFixture[str]) -> None:
    index = Path(f"{indexed_bam}.bai")
    index.write_bytes(b"BAI\x01garbage")
    with pytest.raises(InputError, match="cannot be read as the index of .*samtools index") as caught:
        read_alignments(indexed_bam, parse_region("chr1:1-100"))
    assert str(index) in str(caught.value)
    assert "[E::" not in capfd.readouterr().err


def test_region_unknown_contig(indexed_bam: str) -> None:
    with pytest.raises(InputError, match="'chr9' is not in .*reads.bam; known contigs: chr1, chr2"):
        read_alignments(indexed_bam, parse_region("chr9:1-10"))


@pytest.mark.filterwarnings("ignore:no reads in .* overlapping")
def test_region_outside_contig(indexed_bam: str) -> None:
    with pytest.raises(InputError, match="outside contig 'chr2' of .*reads.bam"):
        read_alignments(indexed_bam, parse_region("chr2:501-600"))
    # one that runs past the end is read to it, as samtools does
    with pytest.warns(VqdnaWarning, match="region chr2:400-600 runs past the end of contig 'chr2'"):
        assert list(read_alignments(indexed_bam, parse_region("chr2:400-600"))) == \
            list(read_alignments(indexed_bam, parse_region("chr2:400-500")))


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "none.bam")
    with pytest.raises(InputError, match=f"not found: {path}"):
        read_alignments(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"\x00\x01garbage" * 50, "not a readable BAM"), (b">x\nACGT\n", "holds FASTA/FASTQ")],
)
def test_not_an_alignment_file(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], content: bytes, problem: str
) -> None:
    path = tmp_path / "bad.bam"
    path.write_bytes(content)
    with pytest.raises(InputError, match=problem) as caught:
        read_alignments(str(path))
    assert str(path) in str(caught.value)
    assert capfd.readouterr().err == ""


def test_truncated_bam(tmp_path: Path, unsorted_bam: str) -> None:
    path = tmp_path / "cut.bam"
    path.write_bytes(Path(unsorted_bam).read_bytes()[:-40])
    with pytest.raises(InputError, match="truncated") as caught:
        list(read_alignments(str(path)))
    assert str(path) in str(caught.value)


def test_corrupt_block(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    many = [(f"r{i}", 0, "chr1", i, "ACGTACGTAC" * 10) for i in range(3000)]
    data = bytearray(Path(write_bam(tmp_path / "many.bam", many)).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200] = bytes(b ^ 0x55 for b in data[middle : middle + 200])
    path = tmp_path / "corrupt.bam"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="truncated or corrupt") as caught:
        list(read_alignments(str(path)))
    assert str(path) in str(caught.value)
    assert capfd.readouterr().err == ""


def test_cram_with_its_reference(tmp_path: Path):
    """CRAM stores reads against a reference; with --reference their sequences come back."""
    import random

    rng = random.Random(3)
    chroms = {"chr1": "".join(rng.choice("ACGT") for _ in range(1000)), "chr2": "".join(rng.choice("ACGT") for _ in range(500))}
    reference = tmp_path / "ref.fa"
    reference.write_text("".join(f">{name}\n{seq}\n" for name, seq in chroms.items()))
    pysam.faidx(str(reference))
    cram = tmp_path / "reads.cram"
    reads = [("a", "chr1", 100, chroms["chr1"][100:130]), ("b", "chr2", 40, chroms["chr2"][40:60][:10] + "T" * 10)]
    with pysam.AlignmentFile(str(cram), "wc", header=HEADER, reference_filename=str(reference)) as out:
        for name, chrom, start, seq in reads:
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.reference_name, read.reference_start = name, chrom, start
            read.query_sequence, read.cigarstring, read.mapping_quality = seq, f"{len(seq)}M", 60
            read.query_qualities = pysam.qualitystring_to_array("I" * len(seq))
            out.write(read)
    records = list(read_alignments(str(cram), reference=str(reference)))
    assert [(r.name, r.chrom, r.offset, r.seq) for r in records] == [(n, c, s, q) for n, c, s, q in reads]
    import gzip

    # a --reference htslib cannot use is named, not blamed on the CRAM ("truncated or corrupt"),
    # nor passed over where the header's UR still finds the reference
    compressed = tmp_path / "ref.fa.gz"
    compressed.write_bytes(gzip.compress(reference.read_bytes()))
    for given, message in ((tmp_path / "reff.fa", "file not found"), (tmp_path, "is a folder"),
                           (compressed, "is gzip-compressed, which htslib cannot read a reference from")):
        with pytest.raises(InputError, match=f"--reference {given}.*{message}"):
            list(read_alignments(str(cram), reference=str(given)))
    bgzipped = tmp_path / "ref.bgz.fa.gz"
    pysam.tabix_compress(str(reference), str(bgzipped))
    assert [r.seq for r in read_alignments(str(cram), reference=str(bgzipped))] == [q for *_, q in reads]


def _aligned(out: pysam.AlignmentFile, name: str, start: int, cigar: str, seq: str) -> None:
    read = pysam.AlignedSegment(out.header)
    read.query_name, read.flag, read.reference_name, read.reference_start = name, 0, "chr1", start
    read.cigarstring, read.query_sequence, read.mapping_quality = cigar, seq, 60
    out.write(read)


@pytest.fixture
def clipped_bam(tmp_path: Path) -> str:
    """A soft clip, an insertion and a deletion: bases that stray from reference_start + i."""
    path = str(tmp_path / "clipped.bam")
    with pysam.AlignmentFile(path, "wb", header=HEADER) as out:
        _aligned(out, "plain", 10, "8M", "ACGTACGT")
        _aligned(out, "soft", 100, "3S5M", "TTTACGTA")
        _aligned(out, "ins", 200, "2M2I3M", "ACGGTAC")
        _aligned(out, "del", 300, "2M4D3M", "ACTAC")
    return path


def test_clipped_and_gapped_reads_map_each_base_to_the_reference(clipped_bam: str) -> None:
    records = {r.name: r for r in read_alignments(clipped_bam)}
    assert records["plain"].reference_positions is None and records["plain"].span(0, 8) == (10, 18)
    assert records["soft"].offset == 100 and records["soft"].reference_positions.tolist() == [-1, -1, -1, 100, 101,
                                                                                             102, 103, 104]
    assert records["soft"].span(0, 8) == (100, 105) and records["soft"].span(0, 3) == (100, 100)
    assert records["ins"].reference_positions.tolist() == [200, 201, -1, -1, 202, 203, 204]
    assert records["ins"].span(0, 7) == (200, 205)
    assert records["del"].reference_positions.tolist() == [300, 301, 306, 307, 308]
    assert records["del"].span(0, 5) == (300, 309) and records["del"].span(2, 5) == (306, 309)


def test_an_index_older_than_its_bam_is_warned_of(tmp_path) -> None:
    """A BAM rewritten after `samtools index`: regions missed reads without a word."""
    import os
    import warnings

    from vqdna_cli.errors import VqdnaWarning
    from vqdna_cli.io.sequences import open_sequences

    path = tmp_path / "reads.bam"
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 1000}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        read = pysam.AlignedSegment(bam.header)
        read.query_name, read.flag, read.reference_id, read.reference_start = "r", 0, 0, 100
        read.query_sequence, read.cigarstring, read.mapping_quality = "ACGT" * 5, "20M", 60
        bam.write(read)
    pysam.index(str(path))
    os.utime(f"{path}.bai", (1_000_000, 1_000_000))  # indexed long before the file was last written
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = list(open_sequences(str(path), region="chr1:1-1000"))
    assert [record.name for record in records] == ["r"]
    assert [str(w.message) for w in caught if issubclass(w.category, VqdnaWarning)] == [
        f"the index {path}.bai is older than {path}: if the file changed after indexing, regions miss reads; "
        f"rebuild it with `samtools index {path}`"]


def test_a_bam_stream_cut_at_a_block_boundary_is_refused(unsorted_bam: str) -> None:
    """`curl ... | vqdna embed -` cut between two BGZF blocks: htslib read the reads up to
    the cut without an error, and vqdna wrote them as the whole input, exit 0."""
    import io

    from vqdna_cli.io.sequences import _stream_records

    whole = Path(unsorted_bam).read_bytes()
    names = [r.name for r in _stream_records(io.BytesIO(whole), "stdin", False, None)]
    assert names == [r.name for r in read_alignments(unsorted_bam)]
    with pytest.raises(InputError, match=r"^stdin is BGZF without its end-of-file block: the stream was cut short "
                                         r"\(an interrupted copy or download\?\); get it again$"):
        list(_stream_records(io.BytesIO(whole[:-28]), "stdin", False, None))  # the end block is 28 bytes


@pytest.mark.filterwarnings("ignore:.*stored without bases")
def test_compressed_sam_is_read_as_samtools_reads_it(tmp_path: Path, unsorted_bam: str) -> None:
    """`reads.sam.gz` went to the FASTQ reader ('@HD' a read name) and was refused."""
    import gzip

    from vqdna_cli.io.sequences import open_sequences

    sam = tmp_path / "reads.sam"
    pysam.view("-h", "-o", str(sam), unsorted_bam, catch_stdout=False)
    pysam.tabix_compress(str(sam), str(tmp_path / "reads.sam.bgz"))
    (tmp_path / "reads.sam.gz").write_bytes(gzip.compress(sam.read_bytes()))
    expected = list(read_alignments(unsorted_bam))
    assert list(open_sequences(str(tmp_path / "reads.sam.bgz"))) == expected
    assert list(open_sequences(str(tmp_path / "reads.sam.gz"))) == expected


@pytest.mark.parametrize("bad_read, problem", [
    ("r2\t0\tchr1\t1\t60\t5M\t*\t0\t0\tACGT\tIIII", "its CIGAR 5M covers 5 bases, its sequence has 4"),
    ("r2\t0\tchr1\tx\t60\t4M\t*\t0\t0\tACGT\tIIII", "its POS field 'x' is not a whole number"),
    ("r2\t0\tchr1\t1\t60\t4M\t*\t0\t0\tACGT", "it has 10 tab-separated fields, a SAM record 11 or more"),
])
def test_a_sam_line_htslib_cannot_parse_is_named_not_called_truncated(tmp_path: Path, bad_read: str,
                                                                      problem: str) -> None:
    """htslib says what is wrong on stderr only (which vqdna silences): the file was called
    'truncated or corrupt (truncated file)'."""
    import io

    from vqdna_cli.io.sequences import _stream_records

    text = "@HD\tVN:1.6\n@SQ\tSN:chr1\tLN:1000\nr1\t0\tchr1\t1\t60\t4M\t*\t0\t0\tACGT\tIIII\n" + bad_read + "\n"
    sam = tmp_path / "bad.sam"
    sam.write_text(text)
    with pytest.raises(InputError, match=rf"^{sam} line 4 is not a SAM record htslib can read: {problem}$"):
        list(read_alignments(str(sam)))
    with pytest.raises(InputError, match=r"^stdin: SAM record 2 \(after the header\) is not one htslib can read"):
        list(_stream_records(io.BytesIO(text.encode()), "stdin", False, None))


def test_a_sam_read_on_a_contig_without_an_sq_line_is_refused_not_unmapped(tmp_path: Path) -> None:
    """htslib reads such a read as unmapped (its warning silenced): it became chrom '*' at 0,
    and --mapped-only dropped it, exit 0. A SAM with no header at all is told so."""
    import io

    from vqdna_cli.io.sequences import _stream_records

    reads = "r1\t0\tchr1\t101\t60\t4M\t*\t0\t0\tACGT\tIIII\nr2\t0\tchr2\t201\t60\t4M\t*\t0\t0\tACGT\tIIII\n"
    partial = tmp_path / "partial.sam"
    partial.write_text("@HD\tVN:1.6\n@SQ\tSN:chr1\tLN:1000\n" + reads)
    for mapped_only in (False, True):
        with pytest.raises(InputError, match=rf"^{partial}: read 'r2' is aligned \(POS 201, CIGAR 4M\) to a contig "
                                             "the header has no @SQ line for"):
            list(read_alignments(str(partial), mapped_only=mapped_only))
    headerless = tmp_path / "headerless.sam"
    headerless.write_text(reads)
    with pytest.raises(InputError, match=rf"^{headerless} line 1 is not a SAM record htslib can read: its RNAME 'chr1' "
                                         r"has no @SQ line: the file has no header \(`samtools view -h` keeps it\)$"):
        list(read_alignments(str(headerless)))
    with pytest.raises(InputError, match=r"^stdin: SAM record 1 \(after the header\) is not one htslib can read: it "
                                         "has no header"):
        list(_stream_records(io.BytesIO(reads.encode()), "stdin", False, None))


def test_a_region_of_sam_text_says_to_make_an_indexed_bam(tmp_path: Path):
    """`samtools index x.sam` fails, and an index of a bgzipped SAM is not read: the advice
    to index it could not work."""
    bam = write_bam(tmp_path / "x.bam")
    sam = tmp_path / "x.sam"
    pysam.view("-h", "-o", str(sam), bam, catch_stdout=False)
    compressed = tmp_path / "y.sam.gz"
    pysam.tabix_compress(str(sam), str(compressed))
    for path, converted in ((sam, tmp_path / "x.sorted.bam"), (compressed, tmp_path / "y.sorted.bam")):
        with pytest.raises(InputError, match=f"{path} is SAM text: vqdna reads regions of an indexed BAM or CRAM "
                                             f"only; convert it with `samtools sort -o {converted} {path}`"):
            list(read_alignment_regions(str(path), [parse_region("chr1:1-200")]))


@pytest.mark.parametrize("seq, shown, position", [("ACGT-CGT", "-", 5), ("ACG12CGT", "1", 4), ("ACGT.CGT", ".", 5),
                                                   ("ACGTEFGT", "E", 5)])
def test_sam_text_seq_that_is_no_dna_is_refused_not_read_as_n(tmp_path: Path, seq: str, shown: str,
                                                               position: int) -> None:
    """htslib stores SAM text's bases as 4-bit codes: a gap, a dot or a protein letter became
    N and the digits 1, 2 became C, G, silently. The FASTA reader's error, with the line, from a
    file, a BGZF file and a stream."""
    import io

    from vqdna_cli.io.sequences import _stream_records

    good = "r1\t0\tchr1\t1\t60\t8M\t*\t0\t0\tacgtACGT\tIIIIIIII\n"
    text = "@HD\tVN:1.6\n@SQ\tSN:chr1\tLN:1000\n" + good + f"r2\t0\tchr1\t5\t60\t8M\t*\t0\t0\t{seq}\t*\n"
    sam = tmp_path / "bad.sam"
    sam.write_text(text)
    pysam.tabix_compress(str(sam), str(tmp_path / "bad.sam.gz"))
    error = rf"record 'r2' in {{}} line 4 has invalid character '{re.escape(shown)}' at position {position}; "
    for path in (str(sam), f"{sam}.gz"):
        with pytest.raises(InputError, match="^" + error.format(re.escape(path))):
            list(read_alignments(path))
    with pytest.raises(InputError, match="^" + error.format("stdin")):
        list(_stream_records(io.BytesIO(text.encode()), "stdin", False, None))
    sam.write_text(text.replace(seq, "ACGTNRYS"))  # IUPAC codes and lowercase are bases
    assert [r.seq for r in read_alignments(str(sam))] == ["ACGTACGT", "ACGTNRYS"]


def test_sam_text_check_reads_lines_split_across_chunks_and_leaves_bam_alone() -> None:
    from vqdna_cli.io.sam_text import SamTextBases

    text = b"@SQ\tSN:c\tLN:9\n" + b"".join(b"r%d\t4\t*\t0\t0\t*\t*\t0\t0\tACGTN\t*\n" % i for i in range(50))
    bad = text + b"last\t4\t*\t0\t0\t*\t*\t0\t0\tAC*GT\t*"  # no line feed at the end
    bases = SamTextBases("x.sam")
    for start in range(0, len(bad), 7):
        bases.feed(bad[start:start + 7])
    assert bases.problem is None and bases.records == 50
    bases.close()
    assert bases.records == 51 and "record 'last' in x.sam line 52 has invalid character '*' at position 3" in bases.problem
    binary = SamTextBases("x.bam")
    binary.feed(gzip.compress(b"BAM\x01" + bad))
    binary.close()
    assert binary.problem is None and binary.records == 0
