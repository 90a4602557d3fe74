"""`vqdna classify` refusing or warning where an answer would mislead: a weights folder that
is none, windows mostly N, --rc for a head that reads one strand at fixed places, a BGZF
FASTA cut short."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pysam
import pytest

from conftest import fasta_text, random_dna, toy_csv


def test_list_tasks_of_a_folder_that_holds_no_weights_is_an_error(run_vqdna, tmp_path):
    missing = run_vqdna("classify", "--list-tasks", "-m", tmp_path / "nowhere")
    assert missing.returncode == 3 and missing.stderr_lines == [
        f"vqdna: error: --model {tmp_path / 'nowhere'} does not exist: give the weights folder (the one that holds "
        "config.json)"]
    (tmp_path / "empty").mkdir()
    empty = run_vqdna("classify", "--list-tasks", "-m", tmp_path / "empty")
    assert empty.returncode == 3 and "config.json is missing" in empty.stderr and not empty.stdout


def test_windows_mostly_n_are_classified_with_a_warning(run_vqdna, tiny_model_dir, tmp_path):
    fasta = tmp_path / "gap.fa"
    fasta.write_text(fasta_text({"gap": "N" * 40, "bases": random_dna(40, 3), "some_n": random_dna(36, 4) + "NNNN"}))
    result = run_vqdna("classify", "--task", "toy", "-m", tiny_model_dir, fasta)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.decode().splitlines()) == 4  # a row for each, as asked
    assert result.stderr_lines[-2] == ("vqdna: warning: 1 of 3 windows is more than 10 % N (or other IUPAC codes): "
                                       "their probabilities say little (--scan skips such windows)")


def frozen_head(model: Path, task: str, **reads) -> None:
    """A frozen head of `model` that reads `reads` (FinetuneSettings fields)."""
    from vqdna_cli import api
    from vqdna_cli.options import FinetuneSettings, HeadRows, RunOptions, TrainControl

    api.finetune(HeadRows((str(toy_csv(model.parent / f"{task}.csv")),)),
                 FinetuneSettings(task, adapter="frozen", epochs=1, batch=16, **reads),
                 RunOptions(model, threads=1), TrainControl(quiet=True))


def test_rc_is_refused_for_a_head_that_reads_one_strand_at_fixed_places(run_vqdna, model_copy, short_fasta):
    frozen_head(model_copy, "site", center_tokens=4, center_at=10)  # the promoter heads' kind of read
    frozen_head(model_copy, "anywhere")
    result = run_vqdna("classify", "--task", "site", "-m", model_copy, short_fasta, "--rc")
    assert result.returncode == 2 and result.stderr_lines == [
        "vqdna: error: --rc: the site head reads tokens at fixed places of one strand (whole window + bases 8..11), "
        "as it was trained: give the sequences on that strand, or scan a genome with --scan, which calls each strand"]
    plain = run_vqdna("classify", "--task", "anywhere", "-m", model_copy, short_fasta, "--rc")
    assert plain.returncode == 0, plain.stderr  # a head that reads the window as a whole takes --rc


def test_a_bgzf_fasta_cut_at_a_block_boundary_is_refused(run_vqdna, tiny_model_dir, tmp_path):
    plain = tmp_path / "many.fa"
    plain.write_text(fasta_text({f"r{i}": random_dna(300, i) for i in range(400)}))  # over one 64 kB block
    packed = tmp_path / "many.fa.gz"
    pysam.tabix_compress(str(plain), str(packed), force=True)
    data = packed.read_bytes()
    first_block = struct.unpack("<H", data[16:18])[0] + 1  # BSIZE: the block's length less one
    cut = tmp_path / "cut.fa.gz"
    cut.write_bytes(data[:first_block])
    whole = run_vqdna("tokenize", packed, "-o", tmp_path / "whole.npz")
    assert whole.returncode == 0, whole.stderr
    result = run_vqdna("classify", "--task", "toy", "-m", tiny_model_dir, cut, "-o", tmp_path / "cut.tsv")
    assert result.returncode == 2 and result.stderr_lines == [
        f"vqdna: error: {cut} is BGZF without its end-of-file block: the file was cut short (an interrupted copy or "
        "download?); get it again, or recompress it with bgzip"]
    assert not (tmp_path / "cut.tsv").exists()


def test_list_tasks_refuses_what_it_would_ignore(run_vqdna, tiny_model_dir, short_fasta, tmp_path):
    result = run_vqdna("classify", "--list-tasks", "-m", tiny_model_dir, "-o", tmp_path / "tasks.tsv", short_fasta)
    assert result.returncode == 2 and result.stderr_lines == [
        "vqdna: error: --list-tasks prints the task heads to stdout and exits: drop -o, the input"]
    assert not (tmp_path / "tasks.tsv").exists()


def test_scan_takes_the_format_it_writes(run_vqdna, tiny_model_dir, tmp_path):
    genome = tmp_path / "g.fa"
    genome.write_text(fasta_text({"c": random_dna(200, 7)}))
    bed = run_vqdna("classify", "--task", "toy", "-m", tiny_model_dir, "--scan", genome, "--format", "bed",
                    "-o", tmp_path / "c.bed")
    assert bed.returncode == 0, bed.stderr
    tsv = run_vqdna("classify", "--task", "toy", "-m", tiny_model_dir, "--scan", genome, "--format", "tsv")
    assert tsv.returncode == 2 and tsv.stderr_lines == [
        "vqdna: error: --scan always writes BED6+: --format tsv does not apply; drop it"]


def test_list_tasks_refuses_scan_options_it_would_ignore(run_vqdna, tiny_model_dir, tmp_path):
    result = run_vqdna("classify", "--list-tasks", "-m", tiny_model_dir, "--min-prob", "0.9", "--window", "100",
                       "-r", "chrZ:1-5", "--bed", tmp_path / "missing.bed")
    assert result.returncode == 2 and result.stderr_lines == [
        "vqdna: error: --list-tasks prints the task heads to stdout and exits: drop --window, --region, --bed, "
        "--min-prob"]


def test_list_tasks_names_what_task_takes_and_lists_past_a_damaged_head(run_vqdna, model_copy, short_fasta,
                                                                        tmp_path):
    """A head folder renamed (toy-v2) was listed by head.json's name, which --task refused; a
    head.json without a field the listing shows ended the listing in a traceback."""
    heads = model_copy / "heads"
    shutil.copytree(heads / "toy", heads / "toy-v2")
    shutil.copytree(heads / "toy", heads / "edited")
    edited = json.loads((heads / "edited" / "head.json").read_text())
    (heads / "edited" / "head.json").write_text(json.dumps({**edited, "test": {"mcc": 0.5}}))  # no macro_f1
    shutil.copytree(heads / "toy", heads / "cut")
    (heads / "cut" / "head.json").write_text('{"task": "cut", "class_na')
    result = run_vqdna("classify", "--list-tasks", "-m", model_copy)
    assert result.returncode == 0 and result.stderr == ""
    rows = {line.split("\t")[0]: line.split("\t") for line in result.stdout.decode().splitlines()[1:]}
    assert sorted(rows) == ["cut", "edited", "toy", "toy-v2"]
    assert rows["toy-v2"][1] == rows["toy"][1] == "neg,pos"
    assert rows["edited"][2] == "damaged: its head.json lacks or garbles 'macro_f1'"
    assert rows["cut"][2].startswith(f"damaged: {heads / 'cut' / 'head.json'} is not valid JSON")
    renamed = run_vqdna("classify", "--task", "toy-v2", "-m", model_copy, short_fasta, "-o", tmp_path / "v2.tsv")
    assert renamed.returncode == 0, renamed.stderr


@pytest.mark.parametrize("option", [("--mapped-only",), ("--reference", "genome.fa")])
def test_list_tasks_refuses_input_options_it_would_ignore(run_vqdna, tiny_model_dir, option):
    result = run_vqdna("classify", "--list-tasks", "-m", tiny_model_dir, *option)
    assert result.returncode == 2 and result.stderr_lines == [
        f"vqdna: error: --list-tasks prints the task heads to stdout and exits: drop {option[0]}"]


def test_list_tasks_says_which_heads_were_trained_on_other_weights(run_vqdna, model_copy, short_fasta):
    """A head copied in from another weights folder was listed with its scores like the
    others, though classify refuses it."""
    from vqdna_cli import api

    heads = model_copy / "heads"
    shutil.copytree(heads / "toy", heads / "copied")
    info = json.loads((heads / "copied" / "head.json").read_text())
    (heads / "copied" / "head.json").write_text(json.dumps({**info, "model_sha256": "f" * 64}))
    fits = {head["task"]: head["fits_weights"] for head in api.list_tasks(model_copy)}
    assert fits == {"copied": False, "toy": True}
    rows = {line.split("\t")[0]: line.split("\t") for line in
            run_vqdna("classify", "--list-tasks", "-m", model_copy).stdout.decode().splitlines()[1:]}
    assert rows["copied"][2].endswith("; trained on other weights: classify refuses it (train it again on these)")
    assert "other weights" not in rows["toy"][2]
    refused = run_vqdna("classify", "--task", "copied", "-m", model_copy, short_fasta)
    assert refused.returncode == 3 and "was trained on model ffffffffffffffff" in refused.stderr


def test_list_tasks_says_which_heads_a_stop_left_unfinished(run_vqdna, model_copy):
    """A head written by a --max-minutes stop (head.json: complete false) was listed with its
    scores like a finished one."""
    heads = model_copy / "heads"
    shutil.copytree(heads / "toy", heads / "stopped")
    info = json.loads((heads / "stopped" / "head.json").read_text())
    info["provenance"] = {**info.get("provenance", {}), "complete": False}
    (heads / "stopped" / "head.json").write_text(json.dumps(info))
    result = run_vqdna("classify", "--list-tasks", "-m", model_copy)
    rows = {line.split("\t")[0]: line.split("\t") for line in result.stdout.decode().splitlines()[1:]}
    assert rows["stopped"][2].endswith("; unfinished: stopped by --max-minutes, continue it with train finetune "
                                       "--resume")
    assert "unfinished" not in rows["toy"][2]


def test_the_sidecar_says_both_strands_were_read_by_a_head_that_always_reads_both(run_vqdna, model_copy,
                                                                                  short_fasta, tmp_path):
    """A head trained on both strands reads both with or without --rc: the sidecar said
    reverse_complement false without it, for the same predictions."""
    from vqdna_cli import api
    from vqdna_cli.options import FinetuneSettings, HeadRows, RunOptions, TrainControl

    api.finetune(HeadRows((str(toy_csv(tmp_path / "toy.csv")),)),
                 FinetuneSettings("strands", class_names=("neg", "pos"), adapter="frozen", both_strands=True, epochs=1,
                                  batch=16), RunOptions(model_copy, threads=1), TrainControl(quiet=True))
    recorded = {}
    for name, extra in (("plain", []), ("rc", ["--rc"])):
        result = run_vqdna("classify", "--task", "strands", "-m", model_copy, short_fasta, *extra,
                           "-o", tmp_path / f"{name}.tsv")
        assert result.returncode == 0, result.stderr
        recorded[name] = json.loads((tmp_path / f"{name}.tsv.json").read_text())["reverse_complement"]
    assert recorded == {"plain": True, "rc": True}


def test_class_index_is_one_per_class_where_labels_mix_numbers_and_words():
    """Labels 1 and other: training orders them as text (positions 0, 1), but classify wrote
    the label itself where it looked like a number, so both classes had class_index 1."""
    from vqdna_cli.head_info import class_indexes

    assert class_indexes(["1", "other"]) == ["0", "1"]
    assert class_indexes(["0", "1", "2"]) == ["0", "1", "2"] and class_indexes(["-1", "2", "10"]) == ["-1", "2", "10"]
    assert class_indexes(["\u00b2", "1"]) == ["0", "1"]  # '²' passes str.isdigit, but is no integer label


def test_a_head_json_naming_other_classes_than_its_weights_is_one_line(run_vqdna, model_copy, short_fasta):
    """A frozen head whose class_names were one short of its outputs ended in an IndexError
    traceback; one more headed two probabilities per row with three columns (exit 0); labels
    and class_names of different lengths loaded."""
    frozen_head(model_copy, "frozen")
    for task in ("toy", "frozen"):
        path = model_copy / "heads" / task / "head.json"
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "labels": ["a", "b", "c"], "class_names": ["a", "b", "c"]}))
        three = run_vqdna("classify", "--task", task, "-m", model_copy, short_fasta)
        assert three.returncode == 3 and three.stderr_lines == [
            f"vqdna: error: task head {task!r}: its head.json names 3 classes, its weights give 2: restore head.json "
            "or retrain the head"] and not three.stdout
        path.write_text(json.dumps({**data, "class_names": ["only"]}))
        short = run_vqdna("classify", "--task", task, "-m", model_copy, short_fasta)
        assert short.returncode == 3 and len(short.stderr_lines) == 1
        assert "must name the same classes" in short.stderr


def test_a_failure_leaves_a_redirected_stdout_as_it_was(tiny_model_dir, tmp_path):
    """`classify seqs.fa > calls.tsv` where a record far down is bad kept the rows written
    before it (256 of 600): a half table a later step could take for the whole. To a file
    written with `>`, stdout is now cut back, and a command after it in `{ ...; } > f` writes
    where the table began; a pipe still gets its rows as they come."""
    import shlex
    import subprocess
    import sys

    fasta = tmp_path / "late_bad.fa"
    fasta.write_text(fasta_text({f"r{i}": random_dna(40, i) for i in range(600)}) + ">bad\nACGTXACGT\n")
    table = tmp_path / "calls.tsv"
    classify = shlex.join([sys.executable, "-m", "vqdna_cli", "classify", "--task", "toy", "-m", str(tiny_model_dir),
                           "-t", "1", str(fasta)])
    result = subprocess.run(["bash", "-c", f"{{ {classify}; echo \"exit $?\"; }} > {shlex.quote(str(table))}"],
                            stderr=subprocess.PIPE, text=True, timeout=300)
    assert "record 'bad'" in result.stderr
    assert table.read_text() == "exit 2\n"


def test_a_head_folder_given_as_the_model_names_the_weights_folder_above_it(run_vqdna, tiny_model_dir, tmp_path):
    """`-m weights/heads/toy` asked whether the head's folder was a weights directory."""
    (tmp_path / "x.fa").write_text(fasta_text({"x": random_dna(40, 3)}))
    result = run_vqdna("embed", tmp_path / "x.fa", "-m", tiny_model_dir / "heads" / "toy", "-o", tmp_path / "e.npz")
    assert result.returncode == 3 and result.stderr_lines == [
        f"vqdna: error: {tiny_model_dir / 'heads' / 'toy'} is a task head's folder, not weights: give the weights "
        f"folder that holds it ({tiny_model_dir}) and --task toy"]


def test_stdout_shared_with_stderr_or_printed_to_before_is_not_cut(tiny_model_dir, tmp_path):
    """The cut took the warnings and the error with it under `2>&1`, and a line a script had
    printed (still in Python's buffer) before calling api.classify."""
    import shlex
    import subprocess
    import sys

    fasta = tmp_path / "late_bad.fa"
    fasta.write_text(fasta_text({f"r{i}": random_dna(40, i) for i in range(600)}) + ">bad\nACGTXACGT\n")
    both = tmp_path / "both.log"
    classify = shlex.join([sys.executable, "-m", "vqdna_cli", "classify", "--task", "toy", "-m", str(tiny_model_dir),
                           "-t", "1", str(fasta)])
    subprocess.run(["bash", "-c", f"{classify} > {shlex.quote(str(both))} 2>&1"], timeout=300)
    assert "vqdna: error: record 'bad'" in both.read_text().splitlines()[-1]
    script = (f"print('kept')\nfrom vqdna_cli import api\nfrom vqdna_cli.options import InputSpec, RunOptions\n"
              f"api.classify(InputSpec({str(fasta)!r}), None, 'toy', RunOptions({str(tiny_model_dir)!r}, threads=1))\n")
    printed = tmp_path / "printed.tsv"
    with open(printed, "w") as stdout:
        result = subprocess.run([sys.executable, "-c", script], stdout=stdout, stderr=subprocess.PIPE, text=True,
                                timeout=300, env={**__import__("os").environ, "PYTHONUNBUFFERED": ""})
    assert result.returncode != 0 and printed.read_text() == "kept\n"
