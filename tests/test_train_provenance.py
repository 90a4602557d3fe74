"""What training records about the code that made the weights (train/provenance.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from vqdna_cli.train import provenance


def test_the_commit_is_the_checkouts_own_or_none_for_an_installed_copy(tmp_path: Path, monkeypatch) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    # an installed copy inside somebody else's repository: their commit says nothing about vqdna
    project = tmp_path / "project"
    package = project / "venv" / "site-packages" / "vqdna_cli" / "train"
    package.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q",
                    "--allow-empty", "-m", "theirs"], check=True)
    monkeypatch.setattr(provenance, "__file__", str(package / "provenance.py"))
    assert provenance.git_commit() is None
    # a checkout of vqdna: its HEAD, marked when tracked files have changes
    checkout = tmp_path / "vqdna"
    (checkout / "vqdna_cli" / "train").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[project]\nname = 'vqdna'\n")
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "add", "pyproject.toml"], check=True)
    subprocess.run(["git", "-C", str(checkout), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "x"],
                   check=True)
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    monkeypatch.setattr(provenance, "__file__", str(checkout / "vqdna_cli" / "train" / "provenance.py"))
    assert provenance.git_commit() == head
    (checkout / "pyproject.toml").write_text("[project]\nname = 'vqdna-changed'\n")
    assert provenance.git_commit() == head + "-dirty"


@pytest.mark.parametrize("program", ["/venv/bin/vqdna", "/src/vqdna/vqdna_cli/__main__.py"])
def test_the_command_reads_as_vqdna_however_it_was_started(program: str) -> None:
    """`vqdna`, `python -m vqdna_cli` and `torchrun -m vqdna_cli` record the same command."""
    assert provenance.command_line([program, "train", "pretrain", "g.fa"]) == "vqdna train pretrain g.fa"


def test_another_program_is_recorded_as_it_ran() -> None:
    assert provenance.command_line(["benchmarks/gue.py", "train", "--tasks", "x"]) == "benchmarks/gue.py train --tasks x"


def test_a_path_with_a_space_is_quoted_so_the_command_reruns() -> None:
    assert provenance.command_line(["vqdna", "embed", "my reads.fa"]) == "vqdna embed 'my reads.fa'"
