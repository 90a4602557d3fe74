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
    bare = run_vqdna_process("train")  # no_args_is_help: the whole help, on stderr as click does it
    assert bare.returncode == 2 and bare.stdout == b""
    assert bare.stderr.startswith("Usage: ") and "tokenizer" in bare.stderr and "vqdna: error" not in bare.stderr

