"""Errors click finds while parsing the command line (a value out of range, a bad type, an
unknown or a missing option) are vqdna's one line, `vqdna: error: MESSAGE (see 'COMMAND -h')`,
exit 2, as every other error; help and --version are as before. Genuine `python -m vqdna_cli`
processes: the entry point itself, not only the app."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import vqdna_cli
from conftest import fasta_text, random_dna, run_vqdna_process, toy_csv


@pytest.mark.parametrize("case", ["range", "unknown-option", "missing-option", "bad-type"])
def test_a_usage_error_is_one_line_and_writes_nothing(case: str, tmp_path: Path) -> None:
    fasta = tmp_path / "x.fa"
    fasta.write_text(fasta_text({"chr": random_dna(300, 5)}))
    out = tmp_path / "out"
    args, option, command = {
        "range": (["train", "tokenizer", fasta, "-o", out, "--steps", "0"], "'--steps'", "train tokenizer"),
        "unknown-option": (["tokenize", "--nope", fasta], "--nope", "tokenize"),
        "missing-option": (["train", "finetune", "--task", "t", "--train", toy_csv(tmp_path / "x.csv"), "-o", out],
                           "'--model'", "train finetune"),
        "bad-type": (["train", "tokenizer", fasta, "-o", out, "--steps", "abc"], "'--steps'", "train tokenizer"),
    }[case]
    before = sorted(tmp_path.iterdir())
    result = run_vqdna_process(*args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == b""
    assert len(result.stderr_lines) == 1 and result.stderr.endswith("\n"), result.stderr
    line = result.stderr_lines[0]
    assert line.startswith("vqdna: error: ") and option in line, line
    assert "Usage:" not in line and "Try '" not in line and "Error:" not in line
    assert re.search(rf"[^.] \(see '.*{command} -h'\)$", line), line
    assert not out.exists() and sorted(tmp_path.iterdir()) == before


def test_help_version_and_no_args_help_are_unchanged() -> None:
    helped = run_vqdna_process("-h")
    assert helped.returncode == 0 and helped.stderr == ""
    assert helped.stdout.decode().startswith("Usage: ") and "train" in helped.stdout.decode()
    version = run_vqdna_process("--version")
    assert version.returncode == 0 and version.stderr == ""
    assert version.stdout.decode() == f"vqdna {vqdna_cli.__version__}\n"
    for command, named in [("train", "tokenizer"), ("classify", "--list-tasks"), ("tokenize", "--output")]:
        bare = run_vqdna_process(command)  # no_args_is_help: the whole help, on stderr as click does it
        assert bare.returncode == 2 and bare.stdout == b"", command
        assert bare.stderr.startswith("Usage: ") and named in bare.stderr and "vqdna: error" not in bare.stderr



@pytest.mark.parametrize("args, message", [
    (["classify", "--task", "promoter", "--scan", "G", "-r", "chrA:1-600", "-r", "chrB:1-600"],
     "--region given 2 times, but it takes one value; for several regions, list them in a BED file and give --bed "
     "(see 'vqdna classify -h')"),
    (["classify", "--task", "promoter", "--task", "splice-site", "G"],
     "--task given 2 times, but it takes one value; run one task at a time (see 'vqdna classify -h')"),
    (["tokenize", "G", "-o", "a.npz", "--output", "b.npz"],
     "--output given 2 times, but it takes one value; give it once (see 'vqdna tokenize -h')"),
    # the last of two models silently won
    (["embed", "G", "-o", "a.npz", "-m", "one", "--model", "two"],
     "--model given 2 times, but it takes one value; give it once (see 'vqdna embed -h')"),
])
def test_an_option_that_selects_data_given_twice_is_refused(args: list[str], message: str, tmp_path: Path) -> None:
    """The last of two --region options silently won: the first region's calls were lost."""
    fasta = tmp_path / "g.fa"
    fasta.write_text(fasta_text({"chrA": random_dna(700, 1), "chrB": random_dna(700, 2)}))
    result = run_vqdna_process(*[fasta if a == "G" else tmp_path / a if a.endswith(".npz") else a for a in args])
    said = result.stderr_lines[0].replace("python -m vqdna_cli", "vqdna")  # the command as it was started
    assert result.returncode == 2 and len(result.stderr_lines) == 1 and said == f"vqdna: error: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa"]


def test_a_setting_given_again_overrides_the_first_as_pipelines_expect(tmp_path: Path) -> None:
    """nf-core modules put the user's ext.args after their own --threads: the last one wins."""
    fasta = tmp_path / "g.fa"
    fasta.write_text(fasta_text({"chrA": random_dna(300, 1)}))
    result = run_vqdna_process("tokenize", fasta, "-o", tmp_path / "t.npz", "--threads", "2", "--threads", "1", "-q")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "t.npz").exists()


@pytest.mark.parametrize("args, message", [
    (["mutations", "--reference", "G", "G", "-o", "", "--force"], "--output is empty"),
    (["tokenize", "G", "-o", ""], "--output is empty"),
    (["train", "tokenizer", "G", "-o", " "], "--output is empty"),
    (["classify", "--task", "promoter", "-r", "", "G"], "--region is empty"),
])
def test_an_empty_value_is_refused_not_read_as_the_working_folder(args: list[str], message: str,
                                                                    tmp_path: Path) -> None:
    """`-o "$OUT"` with OUT unset: as a path '' is '.', and mutations --force wrote its files
    into the working folder."""
    fasta = tmp_path / "g.fa"
    fasta.write_text(fasta_text({"chrA": random_dna(300, 1)}))
    work = tmp_path / "work"
    work.mkdir()
    result = run_vqdna_process(*[fasta if a == "G" else a for a in args], cwd=work)
    assert result.returncode == 2 and len(result.stderr_lines) == 1, result.stderr
    assert result.stderr_lines[0].startswith(f"vqdna: error: {message}: give a value"), result.stderr
    assert list(work.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["g.fa", "work"]


def test_an_empty_description_is_still_taken(tmp_path: Path) -> None:
    """--description '' is a value (no description), not a variable left unset."""
    result = run_vqdna_process("train", "finetune", "--description", "", "--task", "t", "--train",
                               toy_csv(tmp_path / "x.csv"), "-o", tmp_path / "out")
    assert result.returncode == 2 and "'--model'" in result.stderr and "empty" not in result.stderr


def test_min_mapq_says_its_range_in_the_help_and_on_the_command_line(tmp_path: Path) -> None:
    """--help said `x>=0`, while 256 and more were refused after parsing."""
    helped = run_vqdna_process("mutations", "--help")
    assert "0<=x<=255" in " ".join(helped.stdout.decode().split())
    fasta = tmp_path / "x.fa"
    fasta.write_text(fasta_text({"chr": random_dna(300, 5)}))
    result = run_vqdna_process("mutations", "--reference", fasta, fasta, "-o", tmp_path / "out", "--min-mapq", "300")
    assert result.returncode == 2 and len(result.stderr_lines) == 1 and "'--min-mapq'" in result.stderr_lines[0]
    assert not (tmp_path / "out").exists()
