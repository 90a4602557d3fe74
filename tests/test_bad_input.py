"""Bad input through the whole command: every user error is a non-zero exit, ONE line on
stderr starting `vqdna: error:` (no traceback), and no output file or temporary file left."""

from __future__ import annotations

import gzip
import json
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
        return Case(["tokenize", source, "--model", model, "-o", out], out, message.format(folder=folder), exit_code)

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


def bam_with_duplicate_read_names(folder: Path, model: Path) -> Case:
    path = folder / "reads.bam"
    header = {"HD": {"VN": "1.6", "SO": "unsorted"}, "SQ": [{"SN": "chr1", "LN": 1000}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        for i in range(3):
            read = pysam.AlignedSegment(bam.header)
            read.query_name, read.flag = "same" if i else "other", 4  # unmapped, unpaired
            read.query_sequence = random_dna(30, 60 + i)
            bam.write(read)
    out = folder / "out.npz"
    return Case(["tokenize", path, "--model", model, "-o", out], out, "duplicate read name 'same'", INPUT_ERROR)


def bam_region_with_duplicate_read_names(folder: Path, model: Path) -> Case:
    """Two reads of one name at different places: the regions path kept the first and dropped
    the second as if it were the first met again in an overlapping region."""
    path = folder / "reads.bam"
    bases = random_dna(1000, 70)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 1000}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as bam:
        for start in (100, 500):
            read = pysam.AlignedSegment(bam.header)
            read.query_name, read.flag, read.reference_id, read.reference_start = "dup", 0, 0, start
            read.query_sequence, read.cigarstring, read.mapping_quality = bases[start : start + 30], "30M", 60
            bam.write(read)
    pysam.index(str(path))
    out = folder / "out.npz"
    return Case(["tokenize", path, "--region", "chr1", "--model", model, "-o", out], out, "duplicate read name 'dup'",
                INPUT_ERROR)


def bed_with_duplicate_names(folder: Path, model: Path) -> Case:
    source = folder / "in.fa"
    source.write_text(fasta_text({"chr1": random_dna(300, 4)}))
    pysam.faidx(str(source))
    bed = folder / "regions.bed"
    bed.write_text("chr1\t0\t50\texon\nchr1\t100\t150\texon\n")
    out = folder / "out.npz"
    return Case(["tokenize", source, "--bed", bed, "--model", model, "-o", out], out,
                "duplicate region name 'exon'", INPUT_ERROR)


def stale_fasta_index(edit, bgzf: bool = False):
    """An indexed FASTA (with `bgzf`, bgzipped), then `edit(text)` written over it after
    `samtools faidx`."""

    def build(folder: Path, model: Path) -> Case:
        plain = folder / "plain.fa"
        source = folder / ("in.fa.gz" if bgzf else "in.fa")
        plain.write_text(fasta_text({"chr1": random_dna(300, 4), "chr2": random_dna(100, 5)}))
        if bgzf:
            pysam.tabix_compress(str(plain), str(source))
        else:
            plain.rename(source)
        pysam.faidx(str(source))
        edited = edit(gzip.decompress(source.read_bytes()).decode() if bgzf else source.read_text())
        if bgzf:
            plain.write_text(edited)
            pysam.tabix_compress(str(plain), str(source), force=True)
        else:
            source.write_text(edited)
        out = folder / "out.npz"
        return Case(["tokenize", source, "--region", "chr1:201-260", "--model", model, "-o", out], out,
                    "does not match", INPUT_ERROR)

    return build


def cram_without_reference(folder: Path, model: Path) -> Case:
    reference = folder / "ref.fa"
    bases = random_dna(400, 6)
    reference.write_text(fasta_text({"chr1": bases}))
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": len(bases)}]}
    path = folder / "reads.cram"
    with pysam.AlignmentFile(str(path), "wc", header=header, reference_filename=str(reference)) as cram:
        for i, start in enumerate((10, 100, 300)):
            read = pysam.AlignedSegment(cram.header)
            read.query_name, read.flag, read.reference_id, read.reference_start = f"read{i}", 0, 0, start
            read.query_sequence, read.cigarstring, read.mapping_quality = bases[start : start + 30], "30M", 60
            cram.write(read)
    for made in folder.glob("ref.fa*"):
        made.unlink()  # as on another machine: the header's UR path no longer leads to it
    out = folder / "out.npz"
    return Case(["tokenize", path, "--model", model, "-o", out], out, "CRAM, which needs --reference", INPUT_ERROR)


def vcf_case(header: str, message: str):
    """`mutations` on a VCF with `header` before its one record (the reference is 600 bp)."""

    def build(folder: Path, model: Path) -> Case:
        reference = folder / "ref.fa"
        bases = random_dna(600, 11)
        reference.write_text(fasta_text({"ref1": bases}))
        vcf = folder / "calls.vcf"
        vcf.write_text(header + f"ref1\t300\t.\t{bases[299]}\t{'A' if bases[299] != 'A' else 'C'}\t.\tPASS\t.\n")
        out = folder / "out"
        return Case(["mutations", "--reference", reference, vcf, "-o", out, "--no-plot", "-m", model], out,
                    message, INPUT_ERROR)

    return build


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


def edited_weights(edit, message: str, command: str = "tokenize"):
    """The tiny model with `edit(folder)` applied to a copy of it, then `command` on a valid FASTA."""

    def build(folder: Path, model: Path) -> Case:
        copy = Path(shutil.copytree(model, folder / "model"))
        edit(copy)
        source = folder / "in.fa"
        source.write_text(fasta_text({"a": random_dna(40, 1)}))
        out = folder / ("out.tsv" if command == "classify" else "out.npz")
        task = ["--task", "toy"] if command == "classify" else []
        return Case([command, source, *task, "--model", copy, "-o", out], out, message, MODEL_ERROR)

    return build


def edit_json(name: str, change):
    def edit(folder: Path) -> None:
        path = folder / name
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return edit


def set_size(part: str, key: str, value):
    return edit_json("config.json", lambda data: data["model"][part].__setitem__(key, value))


def config_is_dev_zero(folder: Path) -> None:
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to("/dev/zero")


def model_is_a_file(folder: Path, model: Path) -> Case:
    case = good_input_case(["tokenize"], "is a file", MODEL_ERROR)(folder, model)
    case.args[case.args.index("--model") + 1] = model / "model.safetensors"
    return case


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
    # htslib makes N of a gap in SAM text's SEQ (and C, G of the digits 1, 2): refused as in FASTA
    "sam-seq-gaps": fasta_case("@SQ\tSN:c1\tLN:100\nr1\t0\tc1\t1\t60\t8M\t*\t0\t0\tACGT-12T\t*\n", name="in.sam",
                               message="record 'r1' in {folder}/in.sam line 2 has invalid character '-' at position 5"),
    "cr-line-endings": fasta_case(">a\rACGTACGT\r>b\rACGT\r", message="carriage returns"),
    # a .fai made before the FASTA was edited: htslib read newlines, or silently wrong bases
    "stale-index-line-width": stale_fasta_index(lambda text: fasta_text(
        {"chr1": random_dna(300, 4), "chr2": random_dna(100, 5)}, width=50)),
    "stale-index-renamed-header": stale_fasta_index(lambda text: text.replace(">chr1", ">chr1_v2 ", 1)),
    "stale-index-record-added": stale_fasta_index(lambda text: text + ">chr3\nACGT\n"),
    # BGZF: a line added to the record before, so that the region's bases move by whole lines
    "stale-bgzf-index-lines-moved": stale_fasta_index(lambda text: text.replace(">chr1", ">chr0\nACGT\n>chr1", 1),
                                                      bgzf=True),
    "stale-bgzf-index-line-width": stale_fasta_index(lambda text: fasta_text(
        {"chr1": random_dna(300, 4), "chr2": random_dna(100, 5)}, width=50), bgzf=True),
    "cram-without-reference": cram_without_reference,
    "bam-region-duplicate-read-names": bam_region_with_duplicate_read_names,
    "vcf-without-meta-lines": vcf_case("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n", "##fileformat"),
    "vcf-without-header": vcf_case("", "lacks its header"),
    "missing-input": missing_input,
    "bam-region-without-index": sorted_unindexed_bam,
    "bam-duplicate-read-names": bam_with_duplicate_read_names,
    "bed-duplicate-names": bed_with_duplicate_names,
    "unknown-task": unknown_task,
    "output-folder-missing": output_in_missing_folder,
    "corrupted-weights": corrupted_weights,
    "output-is-a-folder": output_is_a_folder,
    "stride-over-window": good_input_case(["embed", "--stride", "100"], "--stride 100", USAGE_ERROR),
    "classify-without-task": good_input_case(["classify"], "--task", USAGE_ERROR, out_name="out.tsv"),
    "unknown-format-csv": good_input_case(["classify", "--task", "toy", "--format", "csv"], "--format 'csv'", USAGE_ERROR,
                                      out_name="out.tsv"),
    "region-on-stdin": good_input_case(["tokenize", "--region", "a:1-10"], "stdin", INPUT_ERROR, stdin=True),
    "mapped-only-on-fasta": good_input_case(["tokenize", "--mapped-only"], "--mapped-only", INPUT_ERROR),
    "unknown-device": good_input_case(["tokenize", "--device", "gpu"], "unknown device 'gpu'", INPUT_ERROR),
    **({} if __import__("torch").cuda.is_available() else {
        "cuda-without-gpu": good_input_case(["tokenize", "--device", "cuda"], "no CUDA GPU is visible", INPUT_ERROR)}),
    "unknown-format-xml": good_input_case(["classify", "--task", "toy", "--format", "xml"], "--format 'xml'",
                                      INPUT_ERROR, out_name="out.tsv"),
    "unknown-precision": good_input_case(["embed", "--precision", "fp8"], "--precision 'fp8'", INPUT_ERROR),
    # config.json is checked (types, sizes) before anything is built or allocated
    "config-huge-width": edited_weights(set_size("transformer", "width", 10**9), "transformer.width"),
    "config-huge-layers": edited_weights(set_size("transformer", "layers", 10**6), "transformer.layers"),
    "config-too-many-parameters": edited_weights(
        edit_json("config.json", lambda data: data["model"]["transformer"].update(width=8192, layers=128)), "parameters"),
    "config-wrong-type": edited_weights(set_size("encoder", "width", "64"), "EncoderConfig.width"),
    "config-bool-for-int": edited_weights(set_size("transformer", "layers", True), "TransformerConfig.layers"),
    "config-unknown-key": edited_weights(set_size("encoder", "depth", 3), "unknown EncoderConfig fields"),
    "config-heads-do-not-divide": edited_weights(set_size("transformer", "heads", 3), "multiple"),
    "config-missing-model": edited_weights(edit_json("config.json", lambda data: data.pop("model")), "lacks model"),
    "config-missing-hash": edited_weights(edit_json("config.json", lambda data: data.pop("sha256")), "SHA-256"),
    "config-not-an-object": edited_weights(lambda folder: (folder / "config.json").write_text("[1, 2]"),
                                           "not a JSON object"),
    "config-is-dev-zero": edited_weights(config_is_dev_zero, "larger than"),
    "config-mask-everything": edited_weights(edit_json("config.json", lambda data: data["model"].__setitem__(
        "masking", {"where": "input", "fraction": 1.5, "mean_span": 10.0, "code_weight": 0.1})), "masking"),
    "config-unknown-masking-place": edited_weights(edit_json("config.json", lambda data: data["model"].__setitem__(
        "masking", {"where": "output"})), "masking.where"),
    "model-is-a-file": model_is_a_file,
    "head-json-missing-keys": edited_weights(edit_json("heads/toy/head.json", lambda data: data.pop("class_names")),
                                             "lacks class_names", command="classify"),
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


@pytest.mark.parametrize("ending", ["\r\n", "\n"])
def test_byte_order_mark_and_crlf_are_read(ending: str, run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """Editors (Notepad) start files with a UTF-8 byte-order mark and end lines with CRLF:
    the records come out as without them."""
    records = {"a": random_dna(70, 1), "b": random_dna(50, 2)}
    plain, marked = tmp_path / "plain.fa", tmp_path / "marked.fa"
    plain.write_text(fasta_text(records))
    marked.write_bytes(b"\xef\xbb\xbf" + fasta_text(records).replace("\n", ending).encode())
    for source in (plain, marked):
        result = run_vqdna("tokenize", source, "--model", tiny_model_dir, "-o", source.with_suffix(".npz"), "--quiet")
        assert result.returncode == 0, result.stderr
    with np.load(plain.with_suffix(".npz")) as expected, np.load(marked.with_suffix(".npz")) as got:
        assert got["ids"].tolist() == ["a", "b"]
        assert got["tokens"].tobytes() == expected["tokens"].tobytes()


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


def test_balance_classes_is_recorded_for_a_frozen_head_and_refused_with_lora(run_vqdna, model_copy: Path,
                                                                            tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_text("sequence,label\n" + "".join(f"{'AT' * (5 + i)},{int(i % 4 == 0)}\n" for i in range(20)))
    refused = run_vqdna("train", "finetune", "--task", "rare", "--train", csv, "--model", model_copy,
                        "--adapter", "lora", "--balance-classes", "--epochs", "1", "--quiet")
    assert_clean_failure(refused)
    assert "--balance-classes works with --adapter frozen only" in refused.stderr
    trained = run_vqdna("train", "finetune", "--task", "rare", "--train", csv, "--model", model_copy,
                        "--adapter", "frozen", "--balance-classes", "--epochs", "1", "--batch", "4", "--quiet")
    assert trained.returncode == 0, trained.stderr
    info = json.loads((model_copy / "heads" / "rare" / "head.json").read_text())
    assert info["provenance"]["settings"]["balance_classes"] is True


def test_members_is_refused_with_lora_in_one_line(run_vqdna, model_copy: Path, tmp_path: Path) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_text("sequence,label\n" + "".join(f"{'AT' * (5 + i)},{i % 2}\n" for i in range(20)))
    refused = run_vqdna("train", "finetune", "--task", "pair", "--train", csv, "--model", model_copy,
                        "--adapter", "lora", "--members", "2", "--epochs", "1", "--quiet")
    assert_clean_failure(refused)
    assert "--members works with --adapter frozen only" in refused.stderr
    assert not (model_copy / "heads" / "pair").exists()


# --- outputs: an input is never lost -----------------------------------------------------------
# Each promise gets the command that broke it; the input's bytes must survive.


def small_fasta(path: Path, seed: int = 1) -> Path:
    path.write_text(fasta_text({"a": random_dna(40, seed), "b": random_dna(50, seed + 1)}))
    return path


def assert_refused(result, exit_code: int, message: str) -> None:
    assert_clean_failure(result)
    assert result.returncode == exit_code, result.stderr
    assert message in result.stderr_lines[0], result.stderr


@pytest.mark.parametrize("flag", ["input", "--bed", "--reference", "symlink"])
def test_output_that_is_an_input_is_refused(flag: str, run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    source = small_fasta(tmp_path / "in.fa")
    bed = tmp_path / "regions.bed"
    bed.write_text("a\t0\t20\n")
    target = {"input": source, "--bed": bed, "--reference": source, "symlink": tmp_path / "link.fa"}[flag]
    if flag == "symlink":
        target.symlink_to(source)
    extra = {"--bed": ["--bed", bed], "--reference": ["--reference", source]}.get(flag, [])
    before = {p: p.read_bytes() for p in (source, bed)}
    result = run_vqdna("tokenize", source, *extra, "--model", tiny_model_dir, "-o", target, "--force")
    assert_refused(result, OUTPUT_ERROR, "is also an input")
    assert {p: p.read_bytes() for p in (source, bed)} == before
    assert leftovers(tmp_path) == []


def mutations_inputs(folder: Path) -> tuple[Path, Path]:
    """A reference and a genome with one substitution, in `folder`."""
    folder.mkdir(exist_ok=True)
    reference_seq = random_dna(600, 11)
    reference = folder / "ref.fa"
    reference.write_text(fasta_text({"ref1": reference_seq}))
    genome = folder / "genomes.fa"
    changed = reference_seq[:300] + ("A" if reference_seq[300] != "A" else "C") + reference_seq[301:]
    genome.write_text(fasta_text({"g1": changed}))
    return reference, genome


@pytest.mark.parametrize("output", ["p", "."])
def test_mutations_force_never_deletes_a_folder_holding_inputs(output: str, run_vqdna, tiny_model_dir: Path,
                                                               tmp_path: Path) -> None:
    reference, genome = mutations_inputs(tmp_path / "p")
    result = run_vqdna("mutations", "--reference", reference, genome, "-o", output, "--force", "--no-plot",
                       "-m", tiny_model_dir, cwd=tmp_path / "p" if output == "." else tmp_path)
    assert_refused(result, OUTPUT_ERROR, "holds the input")
    assert reference.is_file() and genome.is_file()


def test_mutations_force_replaces_only_its_own_files(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    reference, genome = mutations_inputs(tmp_path / "inputs")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "variants.tsv").write_text("an earlier run's")
    result = run_vqdna("mutations", "--reference", reference, genome, "-o", out, "--force", "--no-plot",
                       "--quiet", "-m", tiny_model_dir)
    assert result.returncode == 0, result.stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "variants.tsv").read_text().startswith("# vqdna")
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_force_writes_into_a_fifo_and_keeps_it(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """A device or FIFO (`-o /dev/null`) is written into; renaming over it would replace it."""
    import os
    import stat
    import threading

    source = small_fasta(tmp_path / "in.fa")
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run_vqdna("classify", source, "--task", "toy", "--model", tiny_model_dir, "-o", fifo, "--force",
                       "--quiet")
    reader.join(timeout=60)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received and received[0].decode().splitlines()[0].startswith("id\tlabel")


@pytest.mark.parametrize("scan", [False, True])
@pytest.mark.parametrize("content", [">a\n\n", ">a\nACGT-ACGT\n"])
def test_classify_to_stdout_writes_nothing_for_input_bad_from_the_start(scan: bool, content: str, run_vqdna,
                                                                       tiny_model_dir: Path, tmp_path: Path) -> None:
    """Rows stream to stdout, so the header must wait for the first record: `> out.tsv` is
    left empty (not a header-only table) when the input fails at once."""
    (tmp_path / "bad.fa").write_text(content)
    result = run_vqdna("classify", "--task", "toy", *(["--scan"] if scan else []), tmp_path / "bad.fa",
                       "--model", tiny_model_dir, "--quiet")
    assert result.returncode == INPUT_ERROR and result.stdout == b"", result.stderr


def test_dash_output_is_stdout_or_refused(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    import io

    source = small_fasta(tmp_path / "in.fa")
    streamed = run_vqdna("tokenize", source, "--model", tiny_model_dir, "-o", "-", "--quiet", cwd=tmp_path)
    assert streamed.returncode == 0, streamed.stderr
    assert not (tmp_path / "-").exists()
    written = run_vqdna("tokenize", source, "--model", tiny_model_dir, "-o", tmp_path / "t.npz", "--quiet")
    assert written.returncode == 0, written.stderr
    with np.load(io.BytesIO(streamed.stdout)) as a, np.load(tmp_path / "t.npz") as b:
        assert a["tokens"].tobytes() == b["tokens"].tobytes()
    reference, genome = mutations_inputs(tmp_path / "m")
    folder_outputs = {
        "mutations": ["mutations", "--reference", reference, genome, "-m", tiny_model_dir, "-o", "-"],
        "train": ["train", "tokenizer", source, "--preset", "tiny", "-o", "-"],
    }
    for command in folder_outputs.values():
        assert_refused(run_vqdna(*command, cwd=tmp_path), OUTPUT_ERROR, "-o -")
    assert not (tmp_path / "-").exists()


def test_training_never_overwrites_weights_without_force(run_vqdna, tmp_path: Path) -> None:
    genome = small_fasta(tmp_path / "g.fa")
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "config.json").write_text("{}")
    result = run_vqdna("train", "tokenizer", genome, "-o", weights, "--preset", "tiny", "--steps", "1",
                       "--window", "32", "--batch", "2", "--quiet")
    assert_refused(result, OUTPUT_ERROR, "--force")
    assert (weights / "config.json").read_text() == "{}"
    assert sorted(p.name for p in weights.iterdir()) == ["config.json"]


# --- inputs read once ---------------------------------------------------------------------------


def write_in_background(fd_or_path, data: bytes):
    import threading

    def write() -> None:
        with open(fd_or_path, "wb") as handle:
            handle.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


PIPED = {f"r{i}": random_dna(900 + i % 7, 500 + i) for i in range(150)}  # > 64 KiB: past format detection


def test_process_substitution_keeps_every_record() -> None:
    """`<(zcat x.fa.gz)` is a pipe under /dev/fd: it can be read once, so the bytes read to
    detect its format must be reused (reopening it skipped the records in them)."""
    import os

    from vqdna_cli.io.sequences import open_sequences

    read_end, write_end = os.pipe()
    writer = write_in_background(write_end, fasta_text(PIPED).encode())
    try:
        names = [record.name for record in open_sequences(f"/dev/fd/{read_end}")]
    finally:
        os.close(read_end)
    writer.join(timeout=30)
    assert names == list(PIPED)


def test_fifo_input_is_read_once(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    records = dict(list(PIPED.items())[:80])
    writer = write_in_background(fifo, fasta_text(records).encode())
    out = tmp_path / "out.npz"
    result = run_vqdna("tokenize", fifo, "--model", tiny_model_dir, "-o", out, "--quiet")
    writer.join(timeout=30)
    assert result.returncode == 0, result.stderr
    with np.load(out) as npz:
        assert npz["ids"].tolist() == list(records)


# --- weights ------------------------------------------------------------------------------------


def test_head_of_another_model_is_refused(run_vqdna, model_copy: Path, tmp_path: Path) -> None:
    """After the model is retrained, a head trained on the old one must not answer."""
    import torch

    from vqdna_cli.checkpoint import load_model, model_hash, read_model_info, save_model

    old_hash = model_hash(read_model_info(model_copy))
    model, info = load_model(model_copy)
    with torch.no_grad():
        next(model.transformer.parameters()).add_(0.01)  # "retrained"
    save_model(model_copy, model, model.cfg, info["provenance"])
    new_hash = model_hash(read_model_info(model_copy))
    source = small_fasta(tmp_path / "in.fa")
    result = run_vqdna("classify", source, "--task", "toy", "--model", model_copy, "-o", tmp_path / "out.tsv")
    assert_refused(result, MODEL_ERROR, "trained on model")
    assert old_hash in result.stderr and new_hash in result.stderr
    assert not (tmp_path / "out.tsv").exists()


def test_shipped_heads_match_the_shipped_model() -> None:
    import json

    from vqdna_cli.checkpoint import read_model_info
    from vqdna_cli.runner import default_weights_dir

    weights = default_weights_dir()
    model = read_model_info(weights)["sha256"]["model.safetensors"]
    heads = sorted((weights / "heads").glob("*/head.json"))
    assert heads
    assert {path.parent.name: json.loads(path.read_text())["model_sha256"] for path in heads} == \
        {path.parent.name: model for path in heads}


def test_resume_with_another_model_or_broken_checkpoint(run_vqdna, tmp_path: Path) -> None:
    genome = tmp_path / "g.fa"
    genome.write_text(fasta_text({"chr": random_dna(400, 3)}))
    weights = tmp_path / "weights"
    train = ["train", "tokenizer", genome, "-o", weights, "--steps", "1", "--window", "32", "--batch", "2", "--quiet"]
    assert run_vqdna(*train, "--preset", "tiny").returncode == 0
    assert_refused(run_vqdna(*train, "--preset", "vq", "--resume"), INPUT_ERROR, "(--preset tiny then, vq now)")
    checkpoint = weights / "checkpoint.json"
    meta = json.loads(checkpoint.read_text())
    del meta["param_groups"]
    checkpoint.write_text(json.dumps(meta))
    more = [*train, "--steps", "2"]  # a run with steps left to continue
    assert_refused(run_vqdna(*more, "--preset", "tiny", "--resume"), MODEL_ERROR, "lacks param_groups")


@pytest.mark.parametrize("start, end", [(0, 30), (1, 601), (700, 710)])
def test_annotation_outside_the_reference_is_refused(start: int, end: int, run_vqdna, tiny_model_dir: Path,
                                                      tmp_path: Path) -> None:
    """A CDS starting at 0 read the contig's last base (GFF is 1-based); past the end, a traceback."""
    reference, genome = mutations_inputs(tmp_path / "in")
    gff = tmp_path / "in" / "genes.gff"
    gff.write_text("\t".join(["ref1", "t", "CDS", str(start), str(end), ".", "+", "0", "ID=c;gene=G"]) + "\n")
    out = tmp_path / "out"
    result = run_vqdna("mutations", "--reference", reference, genome, "--annotation", gff, "-o", out,
                       "--no-plot", "-m", tiny_model_dir)
    assert_refused(result, INPUT_ERROR, "outside ref1 (1-600)")
    assert not out.exists()


@pytest.mark.parametrize("command", [["tokenize"], ["classify", "--task", "toy"]])
def test_disk_full_is_one_line_and_exit_4(command: list, run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    source = small_fasta(tmp_path / "in.fa")
    result = run_vqdna(*command, source, "--model", tiny_model_dir, "-o", "/dev/full", "--quiet")
    assert_refused(result, OUTPUT_ERROR, "No space left")


def test_read_without_bases_is_skipped_by_mutations(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """A primary alignment may have SEQ `*`: it shows no allele (it was a traceback)."""
    reference, _ = mutations_inputs(tmp_path / "in")
    bases = reference.read_text().split("\n", 1)[1].replace("\n", "")
    bam = tmp_path / "in" / "reads.bam"
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "ref1", "LN": len(bases)}]}
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for i, start in enumerate(range(0, 500, 10)):
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.flag, read.reference_id, read.reference_start = f"r{i}", 0, 0, start
            read.mapping_quality, read.cigarstring = 60, "50M"
            if i != 3:
                read.query_sequence = bases[start : start + 50]
                read.query_qualities = pysam.qualitystring_to_array("I" * 50)
            out.write(read)
    pysam.index(str(bam))
    result = run_vqdna("mutations", "--reference", reference, bam, "-o", tmp_path / "out", "--no-plot", "--quiet",
                       "--min-depth", "1", "-m", tiny_model_dir)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "variants.tsv").is_file()


# --- interrupted, concurrent and repeated runs ----------------------------------------------------


def test_force_keeps_the_permissions_of_the_file_it_replaces(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    import os

    source = small_fasta(tmp_path / "in.fa")
    out = tmp_path / "out.npz"
    out.write_bytes(b"old")
    os.chmod(out, 0o640)
    result = run_vqdna("tokenize", source, "--model", tiny_model_dir, "-o", out, "--force", "--quiet")
    assert result.returncode == 0, result.stderr
    assert os.stat(out).st_mode & 0o777 == 0o640


def test_stale_part_of_a_killed_run_is_removed(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """kill -9 leaves the temporary file; the writer's process ID in its name shows it stale."""
    source = small_fasta(tmp_path / "in.fa")
    stale = tmp_path / ".out.npz.4194999.part"  # above Linux's largest process ID: nobody runs
    stale.write_bytes(b"half")
    result = run_vqdna("tokenize", source, "--model", tiny_model_dir, "-o", tmp_path / "out.npz", "--quiet")
    assert result.returncode == 0, result.stderr
    assert leftovers(tmp_path) == []


def test_day_old_part_of_an_earlier_version_is_removed(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """Earlier versions named parts with random letters: one untouched for a day is stale,
    a fresh one may be another run's and stays."""
    import os
    import time

    source = small_fasta(tmp_path / "in.fa")
    old, fresh = tmp_path / ".out.npz.k2x_9qa1.part", tmp_path / ".out.npz.b7w3m0zz.part"
    old.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    result = run_vqdna("tokenize", source, "--model", tiny_model_dir, "-o", tmp_path / "out.npz", "--quiet")
    assert result.returncode == 0, result.stderr
    assert not old.exists() and fresh.read_bytes() == b"being written"


def test_second_run_on_one_output_fails_cleanly(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    import os

    source = small_fasta(tmp_path / "in.fa")
    running = tmp_path / f".out.npz.{os.getpid()}.part"  # this test's process stands for a running writer
    running.write_bytes(b"being written")
    result = run_vqdna("tokenize", source, "--model", tiny_model_dir, "-o", tmp_path / "out.npz", "--force")
    assert_refused(result, OUTPUT_ERROR, "another vqdna run")
    assert running.read_bytes() == b"being written"
    assert not (tmp_path / "out.npz").exists()


def _signalled_run(tiny_model_dir: Path, tmp_path: Path, signum: int, hangup_ignored: bool = False):
    """A tokenize run reading a FIFO, sent `signum` while it waits for the rest of its input
    (then given it); returns the process and its stderr."""
    import os
    import signal
    import subprocess
    import sys
    import time

    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    process = subprocess.Popen([sys.executable, "-m", "vqdna_cli", "tokenize", str(fifo), "--model",
                                str(tiny_model_dir), "-o", str(tmp_path / "out.npz"), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               # as a terminal's child, or as under nohup (whatever this test runs under)
                               preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN if hangup_ignored else signal.SIG_DFL))
    # open() returns once the run has opened its input (its signal handlers are set by then);
    # the run then waits for the rest of the input.
    writer = open(fifo, "wb", buffering=0)
    writer.write(fasta_text({"a": random_dna(40, 1)}).encode())
    time.sleep(1)
    process.send_signal(signum)
    time.sleep(0.5)
    try:
        writer.write(fasta_text({"b": random_dna(40, 2)}).encode())
        writer.close()
    except BrokenPipeError:  # the run has ended and closed its input
        pass
    _, stderr = process.communicate(timeout=60)
    return process, stderr.decode()


@pytest.mark.parametrize("signum, code, line", [
    (15, 143, "vqdna: error: terminated"),
    (1, 129, "vqdna: error: hung up (its terminal closed): run it under nohup, screen or tmux to keep it going")])
def test_sigterm_and_sighup_are_handled_like_ctrl_c(tiny_model_dir: Path, tmp_path: Path, signum, code, line) -> None:
    """A run stopped by `kill` or by its terminal closing (SIGHUP) ends with one line and
    leaves no temporary file."""
    process, stderr = _signalled_run(tiny_model_dir, tmp_path, signum)
    assert process.returncode == code
    assert stderr.splitlines() == [line]
    assert not (tmp_path / "out.npz").exists()
    assert leftovers(tmp_path) == []


def test_a_run_under_nohup_goes_on_after_sighup(tiny_model_dir: Path, tmp_path: Path) -> None:
    import numpy as np

    process, stderr = _signalled_run(tiny_model_dir, tmp_path, 1, hangup_ignored=True)
    assert process.returncode == 0, stderr
    assert list(np.load(tmp_path / "out.npz")["ids"]) == ["a", "b"]


def test_weights_stopped_by_max_minutes_are_marked_and_warn_when_used(tmp_path: Path, run_vqdna) -> None:
    """A training run cut short by --max-minutes writes weights that say so, and every
    command that loads them warns (one line; --quiet silences it), instead of passing for a
    finished model."""
    import json as json_module

    from vqdna_cli import api
    from vqdna_cli.options import GenomeSet, RunOptions, StageSettings, TrainControl

    genome = tmp_path / "g.fa"
    genome.write_text(fasta_text({"chr1": random_dna(3000, 1)}))
    out = tmp_path / "tok"
    api.train_tokenizer(GenomeSet((str(genome),)), out, "tiny", StageSettings(steps=5, lr=2e-3, window=64, batch=4),
                        TrainControl(max_minutes=0.0, quiet=True), RunOptions(device="cpu", threads=1, seed=0))
    record = json_module.loads((out / "config.json").read_text())["provenance"]["tokenizer"]
    assert record["complete"] is False and record["metrics"]["steps"] == 1
    reads = tmp_path / "r.fa"
    reads.write_text(fasta_text({"r": random_dna(80, 2)}))
    loud = run_vqdna("tokenize", str(reads), "-m", str(out), "-o", str(tmp_path / "t.npz"))
    assert loud.returncode == 0
    assert "vqdna: warning: the weights in" in loud.stderr and "stopped at step 1 of 5" in loud.stderr
    assert sum("warning" in line for line in loud.stderr.splitlines()) == 1  # one line, not a Python warning
    quiet = run_vqdna("tokenize", str(reads), "-m", str(out), "-o", str(tmp_path / "q.npz"), "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_mutations_folder_of_a_killed_run_is_removed_and_a_running_one_refused(
        run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """`mutations -o DIR` stages its files in a folder named with the writer's process ID, as
    file outputs do: a killed run's folder is cleaned up, a running one's is respected."""
    import os

    reference, genome = mutations_inputs(tmp_path / "inputs")
    args = ("mutations", "--reference", reference, genome, "--no-plot", "--quiet", "-m", tiny_model_dir)
    stale = tmp_path / ".out.4194999.part"  # above Linux's largest process ID: nobody runs
    stale.mkdir()
    (stale / "variants.tsv").write_text("half")
    result = run_vqdna(*args, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert not stale.exists() and (tmp_path / "out" / "variants.tsv").is_file()
    running = tmp_path / "out" / f".out.{os.getpid()}.part"  # this test's process stands for a writer
    running.mkdir()
    result = run_vqdna(*args, "-o", tmp_path / "out", "--force")
    assert_refused(result, OUTPUT_ERROR, "another vqdna run")
    assert running.is_dir()
