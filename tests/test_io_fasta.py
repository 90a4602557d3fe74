"""FASTA reading: compression, stdin, parsing details, validation errors, indexed regions."""

from __future__ import annotations

import gzip
import io
import random
import sys
from pathlib import Path

import pysam
import pytest

from vqdna_cli.errors import InputError, VqdnaWarning
from vqdna_cli.io.fasta import read_fasta, read_stream, validate_sequence
from vqdna_cli.io.indexed_fasta import read_fasta_regions
from vqdna_cli.io.records import SequenceRecord
from vqdna_cli.io.regions import Region, parse_region, read_bed

FASTA = ">chr1 first contig\nACGTAC\nGTACGT\nAC\n>chr2\nTTTTGGGG\n"
EXPECTED = [
    SequenceRecord("chr1", "ACGTACGTACGTAC", "chr1", 0),
    SequenceRecord("chr2", "TTTTGGGG", "chr2", 0),
]


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return str(path)


def write_bgzf(tmp_path: Path, name: str, content: str) -> str:
    plain = write(tmp_path, name + ".plain", content)
    path = str(tmp_path / name)
    pysam.tabix_compress(plain, path)
    return path


def read_error(path: str, fastq: bool = False) -> str:
    with pytest.raises(InputError) as caught:
        list(read_fasta(path, fastq=fastq))
    return str(caught.value)


# --- reading ------------------------------------------------------------------------------


def test_plain_multiline(tmp_path: Path) -> None:
    assert list(read_fasta(write(tmp_path, "a.fa", FASTA))) == EXPECTED


def test_single_line_records(tmp_path: Path) -> None:
    path = write(tmp_path, "a.fa", ">chr1\nACGTACGTACGTAC\n>chr2\nTTTTGGGG")
    assert list(read_fasta(path)) == EXPECTED


def test_gzip_detected_by_magic_not_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", gzip.compress(FASTA.encode()))
    assert list(read_fasta(path)) == EXPECTED


def test_bgzf(tmp_path: Path) -> None:
    assert list(read_fasta(write_bgzf(tmp_path, "a.fa.gz", FASTA))) == EXPECTED


@pytest.mark.parametrize("compress", [False, True])
def test_stdin(monkeypatch: pytest.MonkeyPatch, compress: bool) -> None:
    data = gzip.compress(FASTA.encode()) if compress else FASTA.encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert list(read_fasta("-")) == EXPECTED


def test_lowercase_is_uppercased(tmp_path: Path) -> None:
    records = list(read_fasta(write(tmp_path, "a.fa", ">m\nacgtNNnnACgt\n")))
    assert records[0].seq == "ACGTNNNNACGT"


def test_crlf_and_inner_whitespace(tmp_path: Path) -> None:
    path = write(tmp_path, "a.fa", ">chr1 x\r\nACGTAC\r\nGTAC GT\r\nAC\r\n\r\n>chr2\r\nTTTTGGGG\r\n")
    assert list(read_fasta(path)) == EXPECTED


def test_blank_lines_before_first_header(tmp_path: Path) -> None:
    assert list(read_fasta(write(tmp_path, "a.fa", "\n\n" + FASTA))) == EXPECTED


def test_semicolon_comment_lines_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "a.fa", ";old-style comment\n" + FASTA.replace("GTACGT\n", ";note\nGTACGT\n"))
    assert list(read_fasta(path)) == EXPECTED


def test_only_n_and_iupac_and_rna_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "a.fa", ">gap\nNNNNNNNN\n>iupac\nRYSWKMBDHV\n>rna\nACGU\n")
    assert [r.seq for r in read_fasta(path)] == ["NNNNNNNN", "RYSWKMBDHV", "ACGU"]


def test_long_record_and_long_line(tmp_path: Path) -> None:
    rng = random.Random(0)
    seq = "".join(rng.choice("ACGT") for _ in range(200_000))
    lines = "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60))
    path = write(tmp_path, "a.fa", f">wrapped\n{lines}\n>oneline\n{seq}\n")
    assert [r.seq for r in read_fasta(path)] == [seq, seq]


def test_is_lazy(tmp_path: Path) -> None:
    records = read_fasta(write(tmp_path, "a.fa", FASTA + ">chr3\nEEEE\n"))
    assert next(records) == EXPECTED[0]
    assert next(records) == EXPECTED[1]


# --- errors ----------------------------------------------------------------------------------


def test_missing_file_fails_before_iteration(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.fa")
    with pytest.raises(InputError, match="not found: .*nope.fa"):
        read_fasta(path)


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.fa", "")
    assert "no FASTA records in" in read_error(path) and path in read_error(path)


def test_whitespace_only_file(tmp_path: Path) -> None:
    path = write(tmp_path, "blank.fa", "\n  \n")
    assert "no FASTA records" in read_error(path)


def test_fastq_is_refused_where_fasta_is_asked_for(tmp_path: Path) -> None:
    """Training genomes and references are FASTA; only `fastq=True` reads reads."""
    path = write(tmp_path, "reads.fa", "@r1\nACGT\n+\nIIII\n")
    message = read_error(path)
    assert "FASTQ" in message and path in message


# --- FASTQ ----------------------------------------------------------------------------------

# The second read's qualities start with '@' and the third wraps over two lines: only the
# count of quality values says where a record ends.
FASTQ = "@r1 first read\nACGTac\n+\nIIIIII\n@r2\nGGGG\n+r2\n@III\n@r3\nACG\nTT\n+\nII\nIII\n"
FASTQ_RECORDS = [SequenceRecord("r1", "ACGTAC", "r1"), SequenceRecord("r2", "GGGG", "r2"),
                 SequenceRecord("r3", "ACGTT", "r3")]


@pytest.mark.parametrize("compress", [False, True])
def test_fastq_sequences_without_qualities(tmp_path: Path, compress: bool) -> None:
    data = gzip.compress(FASTQ.encode()) if compress else FASTQ
    assert list(read_fasta(write(tmp_path, "reads.fq.gz" if compress else "reads.fq", data), fastq=True)) == FASTQ_RECORDS


def test_fastq_on_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(FASTQ.encode()))))
    assert list(read_fasta("-", fastq=True)) == FASTQ_RECORDS


@pytest.mark.parametrize("content, message", [
    ("@r1\nACGT\n+\nIII\n", "3 quality values for 4 bases"),
    # a one-line sequence's qualities are one line: the next record's lines are not counted
    # as its qualities (r2 was swallowed, exit 0, where they made up the count)
    ("@r1\nACGT\n+\nIII\n@r2\nGG\n+\nII\n", "'r1' .* has 3 quality values for 4 bases"),
    ("@r1\nACGTACGTACGTAC\n+\nII\n@r2\nACGT\n+\nIIII\n@r3\nGGCC\n+\nIIII\n", "'r1' .* has 2 quality values for 14"),
    ("@r1\nACGT\n", "no '[+]' line"),
    ("@r1\nACGT\n+\nIIII\nr2\nACGT\n+\nIIII\n", "not valid FASTQ"),
    ("@r1\nACGT\n+\nIIII\n@r1\nACGT\n+\nIIII\n", "duplicate record ID 'r1'"),
    ("@r1\nAC-T\n+\nIIII\n", "invalid character '-'"),
    # in reads '.' is a base not called: N, where removing it (a FASTA gap's fix) would shift the bases
    ("@r1\nAC.T\n+\nIIII\n", r"invalid character '\.' at position 3; .* \(a base the sequencer did not call: write "
                                r"it as N, e\.g\. `seqkit replace -s -p '\\\.' -r N`\)$"),
])
def test_bad_fastq(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        list(read_fasta(write(tmp_path, "reads.fq", content), fastq=True))


def test_not_fasta(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.txt", "hello world\n")
    message = read_error(path)
    assert "not a FASTA file" in message and path in message


def test_binary_garbage(tmp_path: Path) -> None:
    path = write(tmp_path, "garbage.bin", random.Random(42).randbytes(4096))
    message = read_error(path)
    assert path in message


def test_binary_after_header(tmp_path: Path) -> None:
    path = write(tmp_path, "g.fa", b">x\nAC\xff\xfeGT\n")
    message = read_error(path)
    assert "'x'" in message and "position 3" in message


def test_truncated_gzip(tmp_path: Path) -> None:
    rng = random.Random(1)
    data = gzip.compress(f">x\n{''.join(rng.choice('ACGT') for _ in range(5000))}\n".encode())
    path = write(tmp_path, "cut.fa.gz", data[:-20])
    message = read_error(path)
    assert "truncated or corrupt gzip" in message and path in message


def test_empty_record(tmp_path: Path) -> None:
    path = write(tmp_path, "a.fa", ">empty\n>full\nACGT\n")
    message = read_error(path)
    assert "'empty'" in message and "empty sequence" in message and path in message


def test_empty_last_record(tmp_path: Path) -> None:
    assert "'last'" in read_error(write(tmp_path, "a.fa", ">full\nACGT\n>last\n"))


def test_header_without_name(tmp_path: Path) -> None:
    path = write(tmp_path, "a.fa", ">\nACGT\n")
    assert "no record name" in read_error(path)


def test_duplicate_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "a.fa", ">dup one\nACGT\n>dup two\nACGT\n")
    message = read_error(path)
    assert "duplicate" in message and "'dup'" in message and path in message


def test_interleaved_casava_mates_are_named_as_bam_mates(tmp_path: Path) -> None:
    """`@r1 1:N:0:...` then `@r1 2:N:0:...` (an interleaved pair): r1/1 and r1/2; the same ID
    without mate numbers, or twice read 1, is still a duplicate."""
    read = "ACGTACGTAC\n+\nIIIIIIIIII\n"
    pairs = write(tmp_path, "pairs.fq", f"@r1 1:N:0:ACGT\n{read}@r1 2:N:0:ACGT\n{read}@single 1:N:0:ACGT\n{read}"
                                        f"@r2 1:Y:0:ACGT\n{read}@r2 2:N:0:ACGT\n{read}")
    assert [record.name for record in read_fasta(pairs, fastq=True)] == ["r1/1", "r1/2", "single", "r2/1", "r2/2"]
    for twice in (f"@r1 1:N:0:A\n{read}@r1 1:N:0:A\n{read}", f"@r1\n{read}@r1\n{read}"):
        assert "duplicate record ID 'r1'" in read_error(write(tmp_path, "twice.fq", twice), fastq=True)
    # the same reads as FASTA with their comments kept (`seqkit fq2fa`): the same names
    fasta = write(tmp_path, "pairs.fa", f">r1 1:N:0:ACGT\nACGT\n>r1 2:N:0:ACGT\nACGT\n>single 1:N:0:ACGT\nACGT\n"
                                        f">r2 1:Y:0:ACGT\nACGT\n>r2 2:N:0:ACGT\nACGT\n")
    assert [record.name for record in read_fasta(fasta)] == ["r1/1", "r1/2", "single", "r2/1", "r2/2"]
    for twice in (">r1 1:N:0:A\nACGT\n>r1 1:N:0:A\nACGT\n", ">r1 2:N:0:A\nACGT\n>r1 1:N:0:A\nACGT\n"):
        assert "duplicate record ID 'r1'" in read_error(write(tmp_path, "twice.fa", twice))


def test_mates_without_mate_numbers_are_named_in_the_error(tmp_path: Path) -> None:
    """fastq-dump's interleaved pairs repeat each ID with nothing saying which mate: the
    error says how to name them, not only that an ID repeats."""
    read = "ACGTACGTAC\n+\nIIIIIIIIII\n"
    message = read_error(write(tmp_path, "pairs.fq", f"@SRR1.1\n{read}@SRR1.1\n{read}"), fastq=True)
    assert "duplicate record ID 'SRR1.1'" in message and "twice in a row: interleaved mates? Name them SRR1.1/1 " \
        "and SRR1.1/2" in message
    apart = read_error(write(tmp_path, "apart.fq", f"@a\n{read}@b\n{read}@a\n{read}"), fastq=True)
    assert "duplicate record ID 'a'" in apart and "interleaved" not in apart


def test_protein(tmp_path: Path) -> None:
    path = write(tmp_path, "prot.fa", ">sp|P69905|HBA\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTK\n")
    message = read_error(path)
    assert "'sp|P69905|HBA'" in message and path in message
    assert "'L' at position 3" in message and "protein" in message


@pytest.mark.parametrize(("seq", "char", "position"), [("ACGT*", "*", 5), ("AC1GT", "1", 3), ("AC-GT", "-", 3)])
def test_invalid_characters(tmp_path: Path, seq: str, char: str, position: int) -> None:
    message = read_error(write(tmp_path, "a.fa", f">rec\n{seq}\n"))
    assert f"{char!r} at position {position}" in message and "'rec'" in message


# --- validate_sequence ---------------------------------------------------------------------


def test_validate_sequence_str_and_bytes() -> None:
    assert validate_sequence("acgtn", "r", "src") == "ACGTN"
    assert validate_sequence(b"acgtn", "r", "src") == "ACGTN"


@pytest.mark.parametrize("seq", ["ACGTſ", "ACGTé", b"ACGT\xc3\xa9"])
def test_validate_sequence_rejects_non_ascii(seq: str | bytes) -> None:
    shown = "ſ" if seq == "ACGTſ" else "é"  # as the user's editor shows it, not 'Ã'
    with pytest.raises(InputError, match=f"'r' in src has invalid character '{shown}' at position 5"):
        validate_sequence(seq, "r", "src")


def test_a_fastq_record_in_a_fasta_file_is_named_as_one(tmp_path: Path) -> None:
    message = read_error(write(tmp_path, "mixed.fa", ">a\nACGTACGT\n@b\nACGT\n+\nIIII\n"))
    assert "'@' at position 9" in message and "a FASTQ record among FASTA ones" in message
    assert "protein" not in message


# --- indexed regions --------------------------------------------------------------------------


@pytest.fixture
def indexed_fasta(tmp_path: Path) -> str:
    path = write(tmp_path, "ref.fa", ">chr1\nacgtacgtAA\nCCGGTT\n>chr2\nTTTTGGGG\n")
    pysam.faidx(path)
    return path


def test_regions(indexed_fasta: str) -> None:
    regions = [parse_region("chr1:3-12"), parse_region("chr2"), Region("chr1", 0, 4, "first4")]
    assert list(read_fasta_regions(indexed_fasta, regions)) == [
        SequenceRecord("chr1:3-12", "GTACGTAACC", "chr1", 2),
        SequenceRecord("chr2:1-8", "TTTTGGGG", "chr2", 0),
        SequenceRecord("first4", "ACGT", "chr1", 0),
    ]


@pytest.mark.parametrize("line_end", [" \n", "\t \n", " \r\n"])
def test_regions_of_lines_that_end_in_spaces_are_read_with_their_index(tmp_path: Path, line_end: str) -> None:
    """Spaces or tabs before the line breaks are no reason to call the index stale: samtools
    indexes such a file and htslib skips them as it reads (they are dropped elsewhere too)."""
    path = write(tmp_path, "ref.fa", f">chr1\nacgtacgtAA{line_end}CCGGTT{line_end}>chr2\nTTTTGGGG{line_end}")
    pysam.faidx(path)
    regions = [parse_region("chr1:3-12"), parse_region("chr2")]
    assert list(read_fasta_regions(path, regions)) == [
        SequenceRecord("chr1:3-12", "GTACGTAACC", "chr1", 2),
        SequenceRecord("chr2:1-8", "TTTTGGGG", "chr2", 0),
    ]


def test_regions_from_bgzf(tmp_path: Path) -> None:
    path = write_bgzf(tmp_path, "ref.fa.gz", FASTA)
    pysam.faidx(path)
    assert list(read_fasta_regions(path, [parse_region("chr1:2-4")])) == [
        SequenceRecord("chr1:2-4", "CGT", "chr1", 1)
    ]


def test_regions_missing_fai_not_created(tmp_path: Path) -> None:
    path = write(tmp_path, "ref.fa", FASTA)
    with pytest.raises(InputError, match="samtools faidx") as caught:
        read_fasta_regions(path, [parse_region("chr1")])
    assert path in str(caught.value)
    assert not Path(path + ".fai").exists()


def test_regions_bgzf_missing_gzi(tmp_path: Path) -> None:
    path = write_bgzf(tmp_path, "ref.fa.gz", FASTA)
    pysam.faidx(path)
    Path(path + ".gzi").unlink()
    with pytest.raises(InputError, match=r"\.gzi missing.*samtools faidx"):
        read_fasta_regions(path, [parse_region("chr1")])


def test_regions_plain_gzip(tmp_path: Path) -> None:
    path = write(tmp_path, "ref.fa.gz", gzip.compress(FASTA.encode()))
    with pytest.raises(InputError, match="bgzip") as caught:
        read_fasta_regions(path, [parse_region("chr1")])
    assert path in str(caught.value)


def test_regions_unknown_contig(indexed_fasta: str) -> None:
    with pytest.raises(InputError, match="'chrX' is not in .*ref.fa; known contigs: chr1, chr2"):
        read_fasta_regions(indexed_fasta, [parse_region("chrX:1-5")])


def test_regions_outside_contig(indexed_fasta: str) -> None:
    with pytest.raises(InputError, match="chr2:9-10 is outside contig 'chr2' .*length 8"):
        read_fasta_regions(indexed_fasta, [parse_region("chr2:9-10")])


def test_two_regions_cut_to_one_contigs_end_are_one_record_id_and_refused(indexed_fasta: str, tmp_path: Path) -> None:
    """chr2:5-9 and chr2:5-10 are both read as chr2:5-8: two records of one ID, which vqdna
    refuses wherever they come from (were written). The message asked for a column 4 the BED
    did not have."""
    bed = tmp_path / "two.bed"
    bed.write_text("chr2\t4\t9\nchr2\t4\t10\n")
    with pytest.warns(VqdnaWarning), pytest.raises(InputError, match="duplicate region name 'chr2:5-8' .*: the same "
                                                                     "region given twice, or two cut to the same "
                                                                     "contig end: give it once$"):
        read_fasta_regions(indexed_fasta, read_bed(str(bed)))


def test_a_region_past_the_contigs_end_is_read_to_its_end_as_samtools_does(indexed_fasta: str) -> None:
    """`--region chr1:1-100000` of a shorter contig was refused; samtools reads to the end."""
    whole = list(read_fasta_regions(indexed_fasta, [parse_region("chr2")]))[0].seq
    with pytest.warns(VqdnaWarning, match=r"^region chr2:5-9 runs past the end of contig 'chr2' of .*ref.fa \(length "
                                          r"8\): read to the contig's end, as samtools does$"):
        (record,) = read_fasta_regions(indexed_fasta, [parse_region("chr2:5-9")])
    assert (record.name, record.seq) == ("chr2:5-8", whole[4:])


def test_regions_invalid_sequence(tmp_path: Path) -> None:
    path = write(tmp_path, "prot.fa", ">p\nMKVLE\n")
    pysam.faidx(path)
    with pytest.raises(InputError, match="'p' in .*prot.fa .*protein"):  # placed on its contig
        list(read_fasta_regions(path, [parse_region("p")]))


def test_a_name_that_is_not_utf8_keeps_every_byte(tmp_path: Path) -> None:
    """Two Latin-1 names that differ in one byte stay two records, each byte a letter."""
    path = tmp_path / "latin1.fa"
    path.write_bytes(b">caf\xe9 one\nACGT\n>caf\xe8\nACGT\n>plain_\xc3\xa9\nACGT\n")
    assert [r.name for r in read_fasta(str(path))] == ["café", "cafè", "plain_é"]


@pytest.mark.parametrize("chunk_bytes", [1, 3, 7, 1 << 20])
def test_header_names_reads_every_id_whatever_the_chunk_boundaries(tmp_path: Path, chunk_bytes: int) -> None:
    from vqdna_cli.io.indexed_fasta import header_names

    text = ">one desc\nACGT\nAC\n>two\r\nGG\n>three x y\n\n>last"
    plain = tmp_path / "h.fa"
    plain.write_text(text)
    packed = tmp_path / "h.fa.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    for path in (plain, packed):
        assert list(header_names(str(path), chunk_bytes)) == ["one", "two", "three", "last"]


def test_a_bgzf_stream_cut_at_a_block_boundary_is_refused_at_its_end(tmp_path: Path) -> None:
    """`curl ... | vqdna embed -` cut short: a file is checked for BGZF's end block when opened,
    a pipe was read as it came and its records up to the cut written, exit 0."""
    import struct


    plain = tmp_path / "long.fa"
    bases = random.Random(1)
    plain.write_text("".join(f">{name}\n{''.join(bases.choices('ACGT', k=200_000))}\n" for name in "ab"))
    pysam.tabix_compress(str(plain), str(tmp_path / "long.fa.gz"))
    whole = (tmp_path / "long.fa.gz").read_bytes()
    starts, at = [], 0
    while at < len(whole):  # each block's size is in its header (BSIZE + 1)
        starts.append(at)
        at += struct.unpack("<H", whole[at + 16 : at + 18])[0] + 1
    assert [r.name for r in read_stream(io.BytesIO(whole), "stdin")] == ["a", "b"]
    with pytest.raises(InputError, match="^stdin is BGZF without its end-of-file block: the stream was cut short"):
        list(read_stream(io.BytesIO(whole[: starts[len(starts) // 2]]), "stdin"))


def test_bgzf_then_plain_gzip_is_whole_multi_member_gzip(tmp_path: Path) -> None:
    """`cat part1.fa.bgz part2.fa.gz` is whole (`gzip -t` passes) but does not end in BGZF's
    end block: it was refused as cut short, file and stream, with "get it again"."""
    (tmp_path / "p1.fa").write_text(">a\nACGTACGT\n")
    pysam.tabix_compress(str(tmp_path / "p1.fa"), str(tmp_path / "p1.fa.bgz"))
    joined = (tmp_path / "p1.fa.bgz").read_bytes() + gzip.compress(b">b\nGGCC\n")
    path = write(tmp_path, "all.fa.gz", joined)
    assert [r.name for r in read_fasta(path)] == [r.name for r in read_stream(io.BytesIO(joined), "stdin")] == ["a", "b"]
    cut = write(tmp_path, "cut.fa.gz", (tmp_path / "p1.fa.bgz").read_bytes()[:-28])  # BGZF alone, its end block cut
    assert "cut.fa.gz is BGZF without its end-of-file block" in read_error(cut)
    from vqdna_cli.io.fasta import BgzfBlocks

    for data, only_bgzf in ((joined, False), ((tmp_path / "p1.fa.bgz").read_bytes(), True)):
        blocks = BgzfBlocks()  # as a pipe gives the bytes: a few at a time, headers cut anywhere
        for start in range(0, len(data), 5):
            blocks.feed(data[start : start + 5])
        assert blocks.only_bgzf is only_bgzf


def test_bgzf_is_read_at_uncompressed_offsets_across_blocks_and_reads(tmp_path: Path, monkeypatch) -> None:
    """The stale-index check reads BGZF where the .fai points, through the .gzi; a block cut
    by the end of one raw read must be decompressed once, not twice."""
    from vqdna_cli.io.indexed_fasta import _BgzfByOffset

    bases = random.Random(3)
    text = "".join(f">r{i}\n{''.join(bases.choices('ACGT', k=90_000))}\n" for i in range(3)).encode()
    plain = tmp_path / "g.fa"
    plain.write_bytes(text)
    pysam.tabix_compress(str(plain), str(tmp_path / "g.fa.gz"))
    pysam.faidx(str(tmp_path / "g.fa.gz"))
    with _BgzfByOffset(str(tmp_path / "g.fa.gz")) as handle:
        for position, size in [(0, 10), (65_270, 600), (100_000, 70_000), (len(text) - 5, 50), (len(text) + 3, 4)]:
            handle.seek(position)
            assert handle.read(size) == text[position : position + size]
