"""`vqdna_cli.api` as a script or notebook calls it: the caller's torch and random settings
are theirs again after a call, bad option values are `VqdnaError`s, one file is a list of
one, and each training stage's defaults are the CLI's."""

from __future__ import annotations

import dataclasses
import inspect
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vqdna_cli import api
from vqdna_cli.cli import train as train_cli
from vqdna_cli.errors import InputError, UsageError
from vqdna_cli.options import (PRETRAIN_STAGE, TOKENIZER_STAGE, ClassifyOptions, EmbedOptions, FinetuneSettings,
                               GenomeSet, HeadRows, InputSpec, MutationsOptions, RunOptions, ScanSettings, StageSettings,
                               TrainControl)


def test_a_call_leaves_the_callers_threads_precision_and_generators_as_they_were(tiny_model_dir: Path,
                                                                                 short_fasta: Path, tmp_path: Path):
    threads, precision = torch.get_num_threads(), torch.get_float32_matmul_precision()
    try:
        torch.set_num_threads(2)
        torch.set_float32_matmul_precision("high")
        random.seed(42), np.random.seed(42), torch.manual_seed(42)
        expected = random.random(), np.random.rand(), torch.rand(1).item()
        random.seed(42), np.random.seed(42), torch.manual_seed(42)
        api.tokenize(InputSpec(short_fasta), tmp_path / "t.npz", RunOptions(tiny_model_dir, threads=1, seed=0))
        # the run itself set 1 thread, highest precision and seed 0; none of it outlives the call
        assert (torch.get_num_threads(), torch.get_float32_matmul_precision()) == (2, "high")
        assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
    finally:
        torch.set_num_threads(threads)
        torch.set_float32_matmul_precision(precision)


# A caller's float32 settings, each set in a fresh process (they are the process's): torch's
# older switch, its per-backend setting (torch >= 2.9) and both mixed.
FLOAT32_SETTINGS = {
    "older switch": 'torch.set_float32_matmul_precision("medium")',
    "per backend": 'torch.backends.cuda.matmul.fp32_precision = "tf32"',
    "every backend": 'torch.backends.fp32_precision = "tf32"',
    "both kinds": 'torch.set_float32_matmul_precision("high"); torch.backends.cudnn.conv.fp32_precision = "ieee"',
}
FLOAT32_STATE = """
def state():
    def read(get):
        try:
            return get()
        except RuntimeError as error:  # torch refuses to read the older switches once both kinds were used
            return "refused"
    backends = [getattr(torch.backends, "fp32_precision", None)] + [
        getattr(getattr(parent, child, None), "fp32_precision", None)
        for parent, child in ((torch.backends.cuda, "matmul"), (torch.backends.mkldnn, "matmul"),
                              (torch.backends.cudnn, "conv"), (torch.backends.cudnn, "rnn"))]
    return (read(torch.get_float32_matmul_precision), read(lambda: torch.backends.cuda.matmul.allow_tf32),
            read(lambda: torch.backends.cudnn.allow_tf32), backends)
"""


@pytest.mark.parametrize("setting", FLOAT32_SETTINGS)
def test_a_call_puts_back_the_callers_float32_settings_of_either_kind(tiny_model_dir: Path, short_fasta: Path,
                                                                     tmp_path: Path, setting: str):
    """They were put back through torch's older switches only: after a caller's "medium" torch
    refused to read its own settings (RuntimeError, in every later call too), and a caller of the
    per-backend setting had the first call fail."""
    import subprocess

    code = f"""
import torch
from vqdna_cli import api
from vqdna_cli.options import InputSpec, RunOptions
{FLOAT32_STATE}
{FLOAT32_SETTINGS[setting]}
before = state()
for number in range(2):
    api.tokenize(InputSpec({str(short_fasta)!r}), {str(tmp_path)!r} + f"/t{{number}}.npz",
                 RunOptions({str(tiny_model_dir)!r}, threads=1))
    assert state() == before, (before, state())
print(before)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_calls_from_two_threads_run_one_after_the_other(tiny_model_dir: Path, short_fasta: Path, tmp_path: Path):
    """A notebook's or Snakemake's threads: threads, seeds and float32 settings are the
    process's, so a call that ran inside another saved the first's settings as the caller's
    and, ending last, left them set (the caller's 4 threads became 1)."""
    import threading
    import time

    said: list[str] = []

    def tokenize(name: str, on_progress=lambda: None) -> None:
        def progress(bases: int) -> None:
            said.append(f"{name} runs")
            on_progress()

        api.tokenize(InputSpec(short_fasta), tmp_path / f"{name}.npz", RunOptions(tiny_model_dir, threads=1),
                     progress=progress)
        said.append(f"{name} ended")

    def start_the_second_and_wait() -> None:
        if second.ident is None:
            second.start()
            time.sleep(1.0)  # time enough for the second call to run within the first, as it did

    second = threading.Thread(target=tokenize, args=("second",))
    first = threading.Thread(target=tokenize, args=("first", start_the_second_and_wait))
    first.start()
    first.join(), second.join()
    assert said.index("first ended") < said.index("second runs")
    assert (tmp_path / "first.npz").read_bytes() == (tmp_path / "second.npz").read_bytes()


def test_a_path_is_an_input_like_its_name(tiny_model_dir: Path, short_fasta: Path, tmp_path: Path):
    run = RunOptions(tiny_model_dir, threads=1)
    api.tokenize(InputSpec(short_fasta), tmp_path / "path.npz", run)
    api.tokenize(InputSpec(str(short_fasta)), tmp_path / "name.npz", run)
    path, name = np.load(tmp_path / "path.npz"), np.load(tmp_path / "name.npz")
    assert np.array_equal(path["tokens"], name["tokens"]) and str(path["metadata"]) == str(name["metadata"])
    with pytest.raises(UsageError, match="give a file name, or - for stdin"):
        InputSpec(3)


def test_tokens_file_does_not_depend_on_the_transformers_precision(tiny_model_dir: Path, short_fasta: Path,
                                                                   tmp_path: Path):
    """Tokens never touch the Transformer: its precision (bf16 on a GPU, fp32 on a CPU) is not
    recorded, so the same input gives the same file on either, and their shards merge."""
    for precision in ("fp32", "bf16"):
        api.tokenize(InputSpec(short_fasta), tmp_path / f"{precision}.npz",
                     RunOptions(tiny_model_dir, precision=precision, threads=1))
    assert (tmp_path / "fp32.npz").read_bytes() == (tmp_path / "bf16.npz").read_bytes()
    with np.load(tmp_path / "fp32.npz") as tokens:
        assert "transformer_precision" not in str(tokens["metadata"])


@pytest.mark.parametrize("values, option", [({"threads": -1}, "--threads"), ({"threads": 0}, "--threads"),
                                            ({"seed": -1}, "--seed"), ({"seed": "1"}, "--seed"),
                                            ({"seed": 2**32}, "--seed"), ({"batch_tokens": 0}, "--batch-tokens"),
                                            ({"batch_tokens": 255}, "--batch-tokens"), ({"threads": 1.5}, "--threads")])
def test_run_options_out_of_the_clis_range_are_refused(values: dict, option: str):
    """They reached torch or numpy (`RuntimeError`, `ValueError` from _mt19937) or passed silently."""
    with pytest.raises(UsageError, match=f"^{option} "):
        RunOptions(**values)
    RunOptions(threads=np.int64(2), seed=np.uint32(7), batch_tokens=256)  # numpy's integers are whole numbers


@pytest.mark.parametrize("make, option", [(lambda: EmbedOptions(stride="100"), "--stride '100'"),
                                          (lambda: EmbedOptions(layer=1.5), "--layer 1.5"),
                                          (lambda: ClassifyOptions(stride=10.0), "--stride 10.0"),
                                          (lambda: ScanSettings(window="300"), "--window '300'"),
                                          (lambda: ScanSettings(stride=300.7), "--stride 300.7"),
                                          (lambda: ScanSettings(min_prob="0.5"), "--min-prob '0.5'")])
def test_option_values_of_the_wrong_type_are_refused(make, option: str):
    """A float layer was cut to a whole one silently; a string stride failed in a comparison."""
    with pytest.raises(UsageError, match=f"^{re.escape(option)}: must be|^{re.escape(option)}: give"):
        make()
    EmbedOptions(stride=np.int64(100), layer="2"), EmbedOptions(layer=-1), ScanSettings(window=300, min_prob=1)


@pytest.mark.parametrize("make, message", [
    (lambda: EmbedOptions(per_token="no"), "EmbedOptions.per_token: expected True or False, got str 'no'"),
    (lambda: EmbedOptions(reverse_complement="false"), "EmbedOptions.reverse_complement: expected True or False"),
    (lambda: InputSpec("x.bam", mapped_only=0), "InputSpec.mapped_only: expected True or False, got int 0"),
    (lambda: ClassifyOptions(header_comments=None), "ClassifyOptions.header_comments: expected True or False"),
    (lambda: TrainControl(resume="yes"), "TrainControl.resume: expected True or False"),
    (lambda: FinetuneSettings("t", both_strands="off"), "FinetuneSettings.both_strands: expected True or False"),
    (lambda: MutationsOptions("ref.fa", vcf="true"), "MutationsOptions.vcf: expected True or False"),
])
def test_on_off_options_take_true_or_false_only(make, message: str):
    """The string "no" (from a config file) switched --per-token and --rc on, and
    mapped_only="no" left out every unmapped read."""
    with pytest.raises(UsageError, match=f"^{re.escape(message)}"):
        make()
    assert EmbedOptions(per_token=True, reverse_complement=False).per_token is True


@pytest.mark.parametrize("make, message", [
    (lambda: StageSettings(steps=5.5), "--steps 5.5: must be a whole number"),
    (lambda: StageSettings(lr="0.001"), "--lr '0.001': must be a number"),
    (lambda: TrainControl(max_minutes="1"), "--max-minutes '1': must be a number"),
    (lambda: MutationsOptions("ref.fa", min_depth="5"), "--min-depth '5': must be a whole number"),
    (lambda: FinetuneSettings("t", epochs=2.5), "--epochs 2.5: must be a whole number"),
    (lambda: HeadRows("a.csv", valid_fraction="0.1"), "--valid-fraction '0.1': must be a number"),
    (lambda: InputSpec("x.fa", region=5), "--region 5: give it as text"),
    (lambda: RunOptions(model_dir=123), "the weights folder is 123"),
    (lambda: GenomeSet("a.fa", holdout_tail={"a.fa": 2.5}), "--holdout-tail a.fa:2.5: the bases held out"),
    # file names and text: a TypeError deep inside, after the model was loaded
    (lambda: InputSpec("x.fa", bed=123), "--bed 123: give a file name"),
    (lambda: InputSpec("x.fa", reference=5), "--reference 5: give a file name"),
    (lambda: MutationsOptions(None), "--reference None: give a file name"),
    (lambda: MutationsOptions("ref.fa", labels=5), "--labels 5: give a file name"),
    (lambda: MutationsOptions("ref.fa", label_column=5), "--label-column 5: give it as text"),
    (lambda: FinetuneSettings(None), "--task None: give it as text"),
    (lambda: FinetuneSettings("t", description=None), "--description None: give it as text"),
    (lambda: HeadRows("a.csv", labels_tsv=5), "--labels-tsv 5: give it as text"),
    # a string of class names was taken letter by letter
    (lambda: FinetuneSettings("t", class_names="neg,pos"), "--class-names 'neg,pos': give a tuple of names"),
    (lambda: FinetuneSettings("t", class_names=(1, 2)), "--class-names (1, 2): give a tuple of names"),
    (lambda: GenomeSet("a.fa", holdout_tail=None), "--holdout-tail None: give a dict"),
])
def test_values_of_the_wrong_kind_are_refused_before_any_check_compares_them(make, message: str):
    """They failed with a TypeError in a comparison, or were accepted and failed in the loop."""
    with pytest.raises(UsageError, match=f"^{re.escape(message)}"):
        make()


def test_numpy_numbers_become_pythons_own():
    """np.int64 steps, np.float32 rates and np.bool_ switches passed the checks, then failed when
    the output's JSON metadata was written, after all the work (a pre-training run's weights
    left without config.json)."""
    import json

    made = [RunOptions(threads=np.int64(2), seed=np.uint32(7), batch_tokens=np.int64(4096)),
            StageSettings(steps=np.int64(5), lr=np.float32(1e-3), window=np.int64(64), batch=np.int32(4)),
            EmbedOptions(stride=np.int32(100), per_token=np.bool_(True)), ClassifyOptions(stride=np.int64(100)),
            TrainControl(max_minutes=np.float64(1.0), quiet=np.bool_(False)),
            GenomeSet("a.fa", holdout_tail={"a.fa": np.int64(5000)})]
    for options in made:
        json.dumps(dataclasses.asdict(options), default=str)  # a NumPy number is no JSON
        assert not any(type(value).__module__ == "numpy" for value in vars(options).values())
    assert GenomeSet("a.fa", holdout_tail={"a.fa": np.int64(5000)}).holdout_tail == {"a.fa": 5000}


def test_a_file_name_given_as_a_path_is_text_to_the_options():
    assert HeadRows("a.csv", labels_tsv=Path("labels.tsv")).labels_tsv == "labels.tsv"
    assert InputSpec(Path("x.fa")).source == "x.fa"


def test_outputs_and_model_folders_of_the_wrong_kind_are_usage_errors(tiny_model_dir: Path, short_fasta: Path):
    run = RunOptions(tiny_model_dir, threads=1)
    for call, message in [
            (lambda: api.classify(InputSpec(short_fasta), 5, "toy", run), "output: expected str or PathLike or NoneType"),
            (lambda: api.scan(InputSpec(short_fasta), 5, "toy", run), "output: expected str or PathLike or NoneType"),
            (lambda: api.list_tasks(5), "model_dir: expected str or PathLike, got int"),
            (lambda: api.tokenize(InputSpec(short_fasta), Path("t.npz"), run, force=np.bool_(True)),
             "force: expected bool, got numpy.bool")]:
        with pytest.raises(UsageError, match=f"^{re.escape(message)}"):
            call()


def test_force_and_compress_take_true_or_false_only(tiny_model_dir: Path, short_fasta: Path, tmp_path: Path):
    """`force="no"` overwrote an existing file."""
    kept = tmp_path / "keep.npz"
    kept.write_text("precious")
    given, run = InputSpec(str(short_fasta)), RunOptions(tiny_model_dir, threads=1)
    for call, message in [(lambda: api.tokenize(given, kept, run, force="no"), "force: expected bool, got str 'no'"),
                          (lambda: api.tokenize(given, kept, run, compress=1), "compress: expected bool"),
                          (lambda: api.embed(given, kept, run, force="no"), "force: expected bool"),
                          (lambda: api.classify(given, kept, "toy", run, force="no"), "force: expected bool"),
                          (lambda: api.tokenize(InputSpec(None), kept, run), "inputs: InputSpec(None) names no input"),
                          (lambda: api.scan(InputSpec(None), kept, "toy", run), "genome: InputSpec(None)")]:
        with pytest.raises(UsageError, match=f"^{re.escape(message)}"):
            call()
    assert kept.read_text() == "precious"


def test_arguments_of_the_wrong_kind_are_usage_errors(tiny_model_dir: Path, short_fasta: Path, tmp_path: Path):
    """Not a TypeError or AttributeError from deep inside a command."""
    given, run, out = InputSpec(str(short_fasta)), RunOptions(tiny_model_dir, threads=1), tmp_path / "out"
    for call, message in [(lambda: api.tokenize(given, None, run), "output: expected str or PathLike, got NoneType"),
                          (lambda: api.embed(given, out, {"threads": 1}), "run: expected RunOptions, got dict"),
                          (lambda: api.classify(given, out, None, run), "task: expected str, got NoneType"),
                          (lambda: api.classify(given, out, "toy", run, EmbedOptions()),
                           "options: expected ClassifyOptions, got EmbedOptions"),
                          (lambda: api.scan(given, out, "toy", run, ClassifyOptions()),
                           "settings: expected ScanSettings, got ClassifyOptions")]:
        with pytest.raises(UsageError, match=f"^{re.escape(message)}"):
            call()
    assert not out.exists()


def test_callbacks_that_are_not_functions_are_refused_before_any_work(tiny_model_dir: Path, short_fasta: Path,
                                                                     tmp_path: Path):
    """A number given as `progress` failed with a TypeError at the first batch, after the model
    was loaded and the output begun."""
    given, run, out = InputSpec(str(short_fasta)), RunOptions(tiny_model_dir, threads=1), tmp_path / "out"
    for call, message in [(lambda: api.tokenize(given, out, run, progress=5), "progress: expected a function, got int 5"),
                          (lambda: api.embed(given, out, run, progress="bar"), "progress: expected a function, got str"),
                          (lambda: api.classify(given, out, "toy", run, progress=None), "progress: expected a function"),
                          (lambda: api.scan(given, out, "toy", run, progress=1), "progress: expected a function"),
                          (lambda: api.scan(given, out, "toy", run, on_total=0), "on_total: expected a function"),
                          (lambda: api.mutations([str(short_fasta)], out, MutationsOptions(str(short_fasta)), run,
                                                 on_stage=[]), "on_stage: expected a function, got list")]:
        with pytest.raises(UsageError, match=f"^{re.escape(message)}"):
            call()
    assert not out.exists()


def test_training_arguments_of_the_wrong_kind_are_usage_errors(tiny_model_dir: Path, tmp_path: Path):
    """The training stages and evaluate checked none of their arguments' kinds: a bare path
    for `genomes` was an AttributeError, None for `output` a TypeError, no test file a
    StopIteration."""
    from vqdna_cli.api.train import head_training_data

    genomes, run = GenomeSet(str(tmp_path / "g.fa")), RunOptions(tiny_model_dir, threads=1)
    for call, message in [
        (lambda: api.train_tokenizer(genomes, None), "output: expected str or PathLike, got NoneType"),
        (lambda: api.pretrain("g.fa", tmp_path / "w"), "genomes: expected GenomeSet, got str"),
        (lambda: api.finetune(HeadRows("d.csv"), StageSettings(), run), "settings: expected FinetuneSettings, got "
                                                                        "StageSettings"),
        (lambda: api.finetune(HeadRows("d.csv"), FinetuneSettings("t"), None), "run: expected RunOptions, got"),
        (lambda: api.evaluate(None, ["t.csv"], run), "task: expected str, got NoneType"),
        (lambda: api.evaluate("toy", ["t.csv"], None), "run: expected RunOptions, got NoneType"),
        (lambda: api.evaluate("toy", [], run), "test_files: give at least one labelled test file"),
        (lambda: head_training_data("rows.csv"), "spec: expected HeadRows, got str"),
        # these were TypeErrors from pathlib or a dict lookup
        (lambda: api.evaluate("toy", ["t.csv"], run, labels_tsv=5), "labels_tsv: expected str or PathLike, got int"),
        (lambda: api.finetune(HeadRows("d.csv"), FinetuneSettings("t"), run, work_dir=5), "work_dir: expected str"),
        (lambda: api.finetune(HeadRows("d.csv"), FinetuneSettings("t"), run, output_dir=["a"]), "output_dir: expected"),
        (lambda: api.finetune(HeadRows("d.csv"), FinetuneSettings("t"), run, output_dir=""),
         "output_dir: give a file or folder name, not ''"),
        (lambda: api.train_tokenizer(genomes, tmp_path / "w", ["tiny"]), "preset: expected str, got list"),
        (lambda: api.train_tokenizer(genomes, ""), "output: give a file or folder name, not ''"),
        (lambda: api.pretrain(genomes, tmp_path / "w", transformer_preset=["tiny"]), "transformer_preset: expected"),
        (lambda: GenomeSet([]), "GenomeSet: give at least one FASTA file to train on"),
        (lambda: api.list_tasks(""), "model_dir: give a file or folder name, not ''"),
        (lambda: api.input_bases("x.fa"), "inputs: expected InputSpec, got str"),
        (lambda: api.what_head_reads("promoter"), "head: expected dict, got str"),
        (lambda: api.trained_lengths(None), "head: expected dict, got NoneType"),
        (lambda: ScanSettings(min_prob=float("nan")), "--min-prob nan: must be between 0 and 1"),
        (lambda: ScanSettings(stride=-1), "--stride -1: must be 1 or more"),
    ]:
        with pytest.raises(UsageError, match=f"^{re.escape(message)}"):
            call()
    assert not (tmp_path / "w").exists()


def test_one_file_given_as_a_string_is_one_file_not_its_letters(tmp_path: Path):
    missing = str(tmp_path / "genome.fa")
    assert GenomeSet(missing).fasta == (missing,)
    assert HeadRows(Path(missing)).train_files == (missing,)
    (tmp_path / "ref.fa").write_text(">ref\n" + "ACGT" * 100 + "\n")
    with pytest.raises(InputError, match="genome.fa"):  # was "input file not found: /" (its first letter)
        api.mutations(missing, tmp_path / "out", MutationsOptions(tmp_path / "ref.fa"))
    with pytest.raises(UsageError, match="give a file or a list of files"):
        GenomeSet(7)


def test_each_training_stage_has_the_clis_defaults():
    """api.train_tokenizer trained with another learning rate than `vqdna train tokenizer`, and
    api.pretrain on other windows than `vqdna train pretrain`."""
    for command, stage, function in ((train_cli.tokenizer_command, TOKENIZER_STAGE, api.train_tokenizer),
                                     (train_cli.pretrain_command, PRETRAIN_STAGE, api.pretrain)):
        cli = inspect.signature(command).parameters
        assert {name: cli[name].default for name in ("steps", "lr", "window", "batch")} == \
            {"steps": stage.steps, "lr": stage.lr, "window": stage.window, "batch": stage.batch}
        assert inspect.signature(function).parameters["stage"].default is stage


def test_the_example_of_docs_python_md_runs_and_writes_what_the_cli_writes(run_vqdna, tiny_model_dir: Path,
                                                                          short_fasta: Path, tmp_path: Path,
                                                                          monkeypatch):
    """The doc's example, run as written but for the test model and its task."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "python.md").read_text()
    example = doc.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'RunOptions(threads=2)' in example and '"promoter"' in example
    example = example.replace("RunOptions(threads=2)", f"RunOptions(model_dir=Path({str(tiny_model_dir)!r}), threads=1)")
    example = example.replace('"promoter"', '"toy"')
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sequences.fa").write_bytes(short_fasta.read_bytes())
    exec(compile(example, "docs/python.md", "exec"), {})
    cli = run_vqdna("tokenize", "sequences.fa", "-o", "cli_tokens.npz", "--model", tiny_model_dir, "--threads", "2",
                    cwd=tmp_path)
    assert cli.returncode == 0 and (tmp_path / "cli_tokens.npz").read_bytes() == (tmp_path / "tokens.npz").read_bytes()
    assert (tmp_path / "promoters.tsv").read_text().startswith("id\tlabel\t")


def test_classify_and_scan_warn_as_the_other_functions_do(tiny_model_dir: Path, tmp_path: Path):
    """classify and scan returned what the command warns of as counts only: a script or a
    notebook got no warning of windows mostly N, or of a stride that leaves bases out. The
    counts stay in the result, and the warning points at the caller's line."""
    from conftest import fasta_text, random_dna

    from vqdna_cli.errors import VqdnaWarning

    fasta = tmp_path / "gap.fa"
    fasta.write_text(fasta_text({"gap": "N" * 40, "bases": random_dna(40, 3), "more": random_dna(200, 5)}))
    run = RunOptions(tiny_model_dir, threads=1)
    with pytest.warns(VqdnaWarning, match=r"^1 of 6 windows is more than 10 % N") as said:
        result = api.classify(InputSpec(fasta), tmp_path / "p.tsv", "toy", run)
    assert result["mostly_ambiguous"] == 1 and said[0].filename == __file__
    with pytest.warns(VqdnaWarning, match=r"^--stride 50 is longer than the 40 bp window: 10 bases of every 50") as said:
        result = api.scan(InputSpec(fasta), tmp_path / "s.bed", "toy", run, ScanSettings(stride=50))
    assert result["stride"] == 50 and said[0].filename == __file__


def test_a_warning_is_said_each_time_as_a_notebook_cell_runs_again():
    """Python shows a warning once per line that issues it: a cell re-run for the same input
    warned only the first time. A filter of the user's own still wins."""
    import subprocess
    import sys

    code = ("import warnings\nfrom vqdna_cli.errors import VqdnaWarning\n"
            "for _ in range(2):\n    warnings.warn('said again', VqdnaWarning)\n"
            "warnings.simplefilter('ignore', VqdnaWarning)\nwarnings.warn('hushed', VqdnaWarning)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stderr.count("said again") == 2 and "hushed" not in result.stderr


def test_stdin_and_stdout_without_bytes_are_one_line_errors(tiny_model_dir: Path, short_fasta: Path, tmp_path: Path,
                                                            monkeypatch):
    """A notebook's stdout and an io.StringIO stdin take text only: `-` raised AttributeError
    ('no attribute buffer'), for the output after the model had run."""
    import io

    from vqdna_cli.errors import OutputError

    run = RunOptions(tiny_model_dir, threads=1)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    with pytest.raises(OutputError, match="^-o -: the output is a binary .npz and stdout here takes text only"):
        api.tokenize(InputSpec(str(short_fasta)), "-", run)
    monkeypatch.setattr(sys, "stdin", io.StringIO(short_fasta.read_text()))
    with pytest.raises(InputError, match=r"^cannot read stdin \(-\) as bytes here"):
        api.tokenize(InputSpec("-"), tmp_path / "t.npz", run)
    assert not (tmp_path / "t.npz").exists()
