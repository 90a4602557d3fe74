"""Bad input through the whole command: every user error is a non-zero exit, ONE line on
stderr starting `vqdna: error:` (no traceback), and no output file or temporary file left."""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam
import pytest

from conftest import fasta_text, flip_byte, random_dna, run_vqdna_process

INPUT_ERROR, MODEL_ERROR, OUTPUT_ERROR = 2, 3, 4  # exit codes of errors.py
USAGE_ERROR = 2  # a bad option value vqdna finds, as Typer exits for the ones it finds


@dataclass
class Case:
    args: list  # the command line (the output is `out` in the case's folder)
    out: Path
    message: str  # a fragment the one-line error must contain
    exit_code: int


def fasta_case(content: bytes | str, name: str = "in.fa", message: str = "", exit_code: int = INPUT_ERROR):
    def build(folder: Path, model: Path) -> Case:
        source = folder / name
        source.write_bytes(content.encode() if isinstance(content, str) else content)
        out = folder / "out.npz"
        return Case(["tokenize", source, "--model", model, "-o", out], out, message, exit_code)

    return build


def sorted_unindexed_bam(folder: Path, model: Path) -> Case:
    path = folder / "reads.bam"
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 1000}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        for i, start in enumerate((10, 100, 300)):
            read = pysam.AlignedSegment(bam.header)
            read.query_name, read.flag = f"read{i}", 0
            read.reference_id, read.reference_start = 0, start
            read.query_sequence = random_dna(30, 50 + i)
            read.cigarstring, read.mapping_quality = "30M", 60
            bam.write(read)
    out = folder / "out.npz"
    return Case(["tokenize", path, "--region", "chr1:1-200", "--model", model, "-o", out], out, "no index", INPUT_ERROR)


def unknown_task(folder: Path, model: Path) -> Case:
    source = folder / "in.fa"
    source.write_text(fasta_text({"a": random_dna(40, 1)}))
    out = folder / "out.tsv"
    return Case(["classify", source, "--task", "nosuchtask", "--model", model, "-o", out], out,
                "unknown task 'nosuchtask'", MODEL_ERROR)


def output_in_missing_folder(folder: Path, model: Path) -> Case:
    source = folder / "in.fa"
    source.write_text(fasta_text({"a": random_dna(40, 1)}))
    out = folder / "no_such_folder" / "out.npz"
    return Case(["tokenize", source, "--model", model, "-o", out], out, "does not exist", OUTPUT_ERROR)


def corrupted_weights(folder: Path, model: Path) -> Case:
    copy = Path(shutil.copytree(model, folder / "model"))
    flip_byte(copy / "model.safetensors")
    source = folder / "in.fa"
    source.write_text(fasta_text({"a": random_dna(40, 1)}))
    out = folder / "out.npz"
    return Case(["tokenize", source, "--model", copy, "-o", out], out, "corrupted", MODEL_ERROR)


def missing_input(folder: Path, model: Path) -> Case:
    out = folder / "out.npz"
    return Case(["tokenize", folder / "absent.fa", "--model", model, "-o", out], out, "not found", INPUT_ERROR)


def good_input_case(command: list[str], message: str, exit_code: int, out_name: str = "out.npz",
                    stdin: bool = False):
    """A valid FASTA with bad options: `command` is what follows `vqdna`, before the input."""

    def build(folder: Path, model: Path) -> Case:
        source = folder / "in.fa"
        source.write_text(fasta_text({"a": random_dna(40, 1)}))
        out = folder / out_name
        return Case([*command, "-" if stdin else source, "--model", model, "-o", out], out, message, exit_code)

    return build


def output_is_a_folder(folder: Path, model: Path) -> Case:
    source = folder / "in.fa"
    source.write_text(fasta_text({"a": random_dna(40, 1)}))
    (folder / "outdir").mkdir()
    return Case(["tokenize", source, "--model", model, "-o", folder / "outdir"], folder / "outdir" / "x",
                "is a directory", OUTPUT_ERROR)


MANY = fasta_text({f"r{i}": random_dna(100, i) for i in range(40)})
TRUNCATED_GZIP = gzip.compress(MANY.encode(), mtime=0)
TRUNCATED_GZIP = TRUNCATED_GZIP[: len(TRUNCATED_GZIP) // 2]

CASES = {
    "empty-file": fasta_case(b"", message="no FASTA records"),
    "binary-garbage": fasta_case(bytes(range(256)) * 4, message="not a FASTA file"),
    "truncated-fastq": fasta_case("@read1\nACGTACGT\n+\nIIII\n", name="reads.fq", message="4 quality values for 8 bases"),
    "protein": fasta_case(">p1 a protein\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n", message="protein"),
    "truncated-gzip": fasta_case(TRUNCATED_GZIP, name="in.fa.gz",
                                 message="truncated or corrupt gzip"),
    "duplicate-id": fasta_case(">dup\nACGTACGT\n>other\nACGT\n>dup\nTTTT\n", message="duplicate record ID 'dup'"),
    "empty-record": fasta_case(">a\n>b\nACGTACGT\n", message="record 'a'"),
    "alignment-gaps": fasta_case(">a\nACGT--ACGT\n", message="gaps"),
    "missing-input": missing_input,
    "bam-region-without-index": sorted_unindexed_bam,
    "unknown-task": unknown_task,
    "output-folder-missing": output_in_missing_folder,
    "corrupted-weights": corrupted_weights,
    "output-is-a-folder": output_is_a_folder,
    "stride-over-window": good_input_case(["embed", "--stride", "100"], "--stride 100", USAGE_ERROR),
    "classify-without-task": good_input_case(["classify"], "--task", USAGE_ERROR, out_name="out.tsv"),
    "unknown-format": good_input_case(["classify", "--task", "toy", "--format", "csv"], "--format 'csv'", USAGE_ERROR,
                                      out_name="out.tsv"),
    "region-on-stdin": good_input_case(["tokenize", "--region", "a:1-10"], "stdin", INPUT_ERROR, stdin=True),
    "mapped-only-on-fasta": good_input_case(["tokenize", "--mapped-only"], "--mapped-only", INPUT_ERROR),
}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".part", ".tmp")))


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_clean_error(name: str, run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    case = CASES[name](tmp_path, tiny_model_dir)
    result = run_vqdna(*case.args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr_lines) == 1, result.stderr  # exactly one line
    assert result.stderr_lines[0].startswith("vqdna: error: ")
    assert case.message in result.stderr_lines[0]
    assert result.returncode == case.exit_code
    assert not case.out.exists()
    assert leftovers(tmp_path) == []
    assert result.stdout == b""


def test_only_n_record_is_fine(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """N is a valid base (the uniform distribution), not an error: a gap of Ns tokenizes."""
    source = tmp_path / "n.fa"
    source.write_text(">gap\n" + "N" * 70 + "\n")
    out = tmp_path / "out.npz"
    result = run_vqdna("tokenize", source, "--model", tiny_model_dir, "-o", out)
    assert result.returncode == 0, result.stderr
    with np.load(out, allow_pickle=False) as npz:
        assert npz["tokens"].shape == (70, 2)
        assert npz["ids"].tolist() == ["gap"]
        # Far from the ends every position sees the same all-N context: one token.
        assert len({tuple(t) for t in npz["tokens"][10:60]}) == 1


def test_error_in_a_fresh_interpreter(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The same contract through `python -m vqdna_cli` itself (nothing printed at start-up)."""
    case = CASES["empty-file"](tmp_path, tiny_model_dir)
    result = run_vqdna_process(*case.args)
    assert result.returncode == INPUT_ERROR
    assert result.stderr_lines == [f"vqdna: error: no FASTA records in {tmp_path / 'in.fa'}"]
    assert not case.out.exists()
    assert leftovers(tmp_path) == []


# --- training input ---------------------------------------------------------------------------


def assert_clean_failure(result) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr_lines) == 1, result.stderr
    assert result.stderr_lines[0].startswith("vqdna: error: ")


def test_training_window_longer_than_every_record(run_vqdna, tmp_path: Path) -> None:
    genome = tmp_path / "small.fa"
    genome.write_text(fasta_text({"chr": random_dna(100, 3)}))
    out = tmp_path / "weights"
    result = run_vqdna("train", "tokenizer", genome, "-o", out, "--preset", "tiny", "--steps", "1",
                       "--window", "256", "--batch", "2", "--quiet")
    assert_clean_failure(result)
    assert "256" in result.stderr
    assert not (out / "model.safetensors").exists()


def test_all_n_genome_does_not_hang(monkeypatch) -> None:
    from vqdna_cli.data.alphabet import encode
    from vqdna_cli.errors import VqdnaError
    from vqdna_cli.train import genomes

    draws = 0
    real_is_ambiguous = genomes.is_ambiguous

    def counted(codes):
        nonlocal draws
        draws += 1
        if draws > 10_000:
            raise RuntimeError("WindowSampler.batch is still redrawing after 10,000 windows")
        return real_is_ambiguous(codes)

    monkeypatch.setattr(genomes, "is_ambiguous", counted)
    sampler = genomes.WindowSampler([encode("N" * 500)], window=64, seed=0)
    with pytest.raises((ValueError, VqdnaError)):  # a clear error, not an endless loop
        sampler.batch(2)


def test_tiny_training_set_fails_cleanly_or_trains(run_vqdna, model_copy: Path, tmp_path: Path) -> None:
    csv = tmp_path / "small.csv"
    csv.write_text("sequence,label\nACGTACGTAC,0\nTTTTGGGGCC,1\nAAAACCCCGG,0\n")  # 15% of 3 rows: 0 rows
    result = run_vqdna("train", "finetune", "--task", "small", "--train", csv, "--model", model_copy,
                       "--epochs", "1", "--batch", "4", "--quiet")
    if result.returncode == 0:
        assert (model_copy / "heads" / "small" / "head.json").is_file()
    else:
        assert_clean_failure(result)
        assert not (model_copy / "heads" / "small").exists()
