"""Input that is not FASTA/FASTQ text (another compression, an archive, binary data) and
broken FASTA indexes: each one line naming the file and the fix, before any line-ending
diagnosis and without htslib's own `[E::...]` lines."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import sys
import zipfile
from pathlib import Path

import numpy as np
import pysam
import pytest

from conftest import fasta_text, random_dna
from vqdna_cli.errors import InputError
from vqdna_cli.io.fasta import read_fasta
from vqdna_cli.io.indexed_fasta import read_fasta_regions
from vqdna_cli.io.regions import parse_region
from vqdna_cli.io.sequences import open_sequences

FASTA = ">x test\nACGTACGTAC\nGGTT\n"


def zipped(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.fa", text)
    return buffer.getvalue()


# Real bzip2, xz and zip; zstd, lz4 and 7-Zip by their magic bytes (no module in the standard library).
COMPRESSED = {
    "bzip2": (bz2.compress(FASTA.encode()), "bzcat"),
    "xz": (lzma.compress(FASTA.encode()), "xzcat"),
    "zip": (zipped(FASTA), "unzip -p"),
    "zstd": (b"\x28\xb5\x2f\xfd\x24\x0d\x69\x00\x00\r>x\nACGT", "zstdcat"),
    "lz4": (b"\x04\x22\x4d\x18\x64\x40\xa7\r>x\n", "lz4cat"),
    "7-Zip": (b"7z\xbc\xaf\x27\x1c\x00\x04\r\n", "7z x -so"),
}


def write(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def read_error(path: str) -> str:
    with pytest.raises(InputError) as caught:
        list(read_fasta(path))
    return str(caught.value)


def stdin_error(monkeypatch: pytest.MonkeyPatch, data: bytes) -> str:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    with pytest.raises(InputError) as caught:
        list(open_sequences("-"))
    return str(caught.value)


# --- another compression, an archive, binary data ---------------------------------------------


@pytest.mark.parametrize("name", COMPRESSED)
def test_other_compressions_are_named_with_the_fix(tmp_path: Path, name: str) -> None:
    data, command = COMPRESSED[name]
    path = write(tmp_path, "in.fa.x", data)
    message = read_error(path)
    assert f"{path} is {name}-compressed" in message
    assert f"`{command} {path} | vqdna ... -`" in message
    assert "carriage return" not in message


@pytest.mark.parametrize("name", COMPRESSED)
def test_other_compressions_on_stdin(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    data, command = COMPRESSED[name]
    message = stdin_error(monkeypatch, data)
    assert f"stdin is {name}-compressed" in message and f"`{command}`" in message


def test_tar_archive_plain_or_gzipped(tmp_path: Path) -> None:
    import tarfile

    member = tmp_path / "x.fa"
    member.write_text(FASTA)
    archive = tmp_path / "x.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(member, arcname="x.fa")
    assert "is a tar archive" in read_error(str(archive))
    gzipped = write(tmp_path, "x.tar.gz", gzip.compress(archive.read_bytes()))
    assert "holds gzip data that is a tar archive" in read_error(gzipped)


@pytest.mark.parametrize("data", [
    b"\x9c\x00\r\x11>x\nACGT\n",                            # a CR in a binary first "line"
    random.Random(3).randbytes(4096),
    b"\xf3\xa9\r\xe4\xb1\n",                                # no control byte, mostly non-ASCII
], ids=["control-bytes", "random", "non-ascii"])
def test_binary_data_is_not_blamed_on_line_endings(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "blob.fa", data)
    message = read_error(path)
    assert f"{path} is not a FASTA file: it is binary data, not FASTA/FASTQ text" in message
    assert "carriage return" not in message


def test_gzip_compressed_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = gzip.compress(b"\x9c\xfe\r\x01\x02" + random.Random(5).randbytes(2000))
    path = write(tmp_path, "blob.fa.gz", data)
    assert f"{path} is not a FASTA file: what its gzip compression holds is binary data" in read_error(path)
    assert "stdin is not a FASTA file: what its gzip compression holds is binary" in stdin_error(monkeypatch, data)


def test_binary_on_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "stdin is not a FASTA file: it is binary data" in stdin_error(monkeypatch, b"\x00\x01\r\x02\xff\n")


def test_utf16_text(tmp_path: Path) -> None:
    path = write(tmp_path, "u16.fa", FASTA.encode("utf-16"))
    assert f"{path} is UTF-16 text" in read_error(path)


def test_gzip_inside_gzip_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It was "binary data ... give a plain, gzip or BGZF file", to a user who had given gzip."""
    twice = gzip.compress(gzip.compress(FASTA.encode()))
    path = write(tmp_path, "x.fa.gz", twice)
    assert read_error(path) == (f"{path} holds gzip data that is gzip-compressed again (compressed twice): vqdna "
                                f"undoes one gzip; undo the other first, e.g. `gzip -dc {path} | gzip -dc | vqdna ... -`")
    assert stdin_error(monkeypatch, twice).endswith("undo the other first, e.g. put `gzip -dc` in the pipe")


def test_ncbi_ctrl_a_titles_in_the_first_header_are_text(tmp_path: Path) -> None:
    """`blastdbcmd -ctrl_a` joins merged entries' titles with Ctrl-A: first in the file, such a
    header had the file refused as binary data; later, it was read."""
    titled, plain = b">seq1 title one\x01seq1b title two\nACGTACGT\n", b">seq2 plain\nGGCCGGCC\n"
    first = [(r.name, r.seq) for r in read_fasta(write(tmp_path, "first.fa", titled + plain))]
    second = [(r.name, r.seq) for r in read_fasta(write(tmp_path, "second.fa", plain + titled))]
    assert first == second[::-1] == [("seq1", "ACGTACGT"), ("seq2", "GGCCGGCC")]
    assert "binary data" in read_error(write(tmp_path, "nul.fa", b">seq1 title\x00two\nACGT\n"))


def test_old_mac_line_endings_fix_is_one_that_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The advice ran `tr` on gzip's bytes, named a file 'stdin', and for an input called
    fixed.fa wrote into the input itself, emptying it."""
    mac = b">x\rACGT\rGG\r"
    fixed = write(tmp_path, "fixed.fa", mac)
    assert read_error(fixed).endswith(f"`tr '\\r' '\\n' < {fixed} > {tmp_path}/fixed.lf.fa`")
    packed = write(tmp_path, "mac.fq.gz", gzip.compress(b"@x\rACGT\r+\rIIII\r"))
    assert read_error(packed).endswith(f"`gzip -dc {packed} | tr '\\r' '\\n' > {tmp_path}/mac.lf.fq`")
    assert stdin_error(monkeypatch, mac).endswith("put `tr '\\r' '\\n'` in the pipe before vqdna")


def test_text_that_reads_as_before(tmp_path: Path) -> None:
    """Old Mac line endings are still diagnosed; a Latin-1 header, a bad byte inside a
    record and plain non-FASTA text keep their own messages."""
    mac = write(tmp_path, "mac.fa", b">x\rACGT\rGG\r")
    assert "old Mac line endings" in read_error(mac)
    latin = write(tmp_path, "latin.fa", b">x caf\xe9 \xe0 l'\xe9t\xe9\nACGT\n")
    assert [record.seq for record in read_fasta(latin)] == ["ACGT"]
    nul = write(tmp_path, "nul.fa", b">x\nAC\x00GT\n")
    assert "invalid character '\\x00' at position 3" in read_error(nul)
    notes = write(tmp_path, "notes.txt", b"caf\xe9 notes\rmore\n")
    assert "is not a FASTA file" in read_error(notes)


def test_compressed_fasta_with_region(tmp_path: Path) -> None:
    path = write(tmp_path, "in.fa.bz2", COMPRESSED["bzip2"][0])
    with pytest.raises(InputError, match="is bzip2-compressed"):
        read_fasta_regions(path, [parse_region("x:1-4")])


def test_cli_one_line_for_bzip2_file_and_stdin(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    path = Path(write(tmp_path, "b.fa.bz2", COMPRESSED["bzip2"][0]))
    for args, stdin, source in (([path], None, str(path)), (["-"], path, "stdin")):
        result = run_vqdna("tokenize", *args, "--model", tiny_model_dir, "-o", tmp_path / "out.npz", stdin=stdin)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr_lines) == 1, result.stderr
        assert result.stderr_lines[0].startswith(f"vqdna: error: {source} is bzip2-compressed: ")
        assert not (tmp_path / "out.npz").exists()


# --- broken FASTA indexes -----------------------------------------------------------------------


@pytest.fixture
def indexed(tmp_path: Path) -> str:
    path = tmp_path / "in.fa"
    path.write_text(fasta_text({"chr1": random_dna(300, 4), "chr2": random_dna(90, 5)}))
    pysam.faidx(str(path))
    return str(path)


def npz_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, tokens=np.arange(5))
    return buffer.getvalue()


@pytest.mark.parametrize("content", [b"garbage\x00\x01", b"", b"chr1\t300\n", b"chr1\t300\t9\tx\t61\n", npz_bytes()],
                         ids=["garbage", "empty", "too-few-columns", "not-a-number", "npz"])
def test_damaged_fai_is_named_with_the_fix(indexed: str, content: bytes, capfd: pytest.CaptureFixture) -> None:
    Path(indexed + ".fai").write_bytes(content)
    with pytest.raises(InputError) as caught:
        read_fasta_regions(indexed, [parse_region("chr1:1-100")])
    message = str(caught.value)
    assert f"the index {indexed}.fai is damaged" in message
    assert f"`samtools faidx {indexed}`" in message
    assert capfd.readouterr().err == ""  # nothing from htslib


def test_damaged_gzi_is_named_with_the_fix(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    plain = tmp_path / "in.fa"
    plain.write_text(fasta_text({"chr1": random_dna(300, 4)}))
    path = str(tmp_path / "in.fa.gz")
    pysam.tabix_compress(str(plain), path)
    pysam.faidx(path)
    assert [r.seq for r in read_fasta_regions(path, [parse_region("chr1:1-10")])] == [random_dna(300, 4)[:10]]
    Path(path + ".gzi").write_bytes(b"junk")
    with pytest.raises(InputError) as caught:
        read_fasta_regions(path, [parse_region("chr1:1-10")])
    message = str(caught.value)
    assert f"the index {path}.gzi is damaged" in message and f"`samtools faidx {path}`" in message
    assert capfd.readouterr().err == ""


def test_cli_damaged_fai_is_one_line(run_vqdna, tiny_model_dir: Path, indexed: str, tmp_path: Path) -> None:
    Path(indexed + ".fai").write_bytes(b"garbage\x00\x01")
    out = tmp_path / "y.npz"
    result = run_vqdna("tokenize", indexed, "--region", "chr1:1-100", "--model", tiny_model_dir, "-o", out)
    assert result.returncode == 2
    assert len(result.stderr_lines) == 1, result.stderr  # no [E::fai_read] lines before it
    assert result.stderr_lines[0].startswith(f"vqdna: error: the index {indexed}.fai is damaged")
    assert not out.exists()
