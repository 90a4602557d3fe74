"""The wheel is a complete install: `python -m build` makes it with the shipped weights inside,
and a fresh virtualenv holding only that wheel and its declared dependencies classifies
offline, from a folder outside the source tree, with exactly the repository's weights.

Slow (about a minute: most of it is pip copying PyTorch into the new virtualenv), so it is
marked `slow`; CI runs it, and `pytest -m "not slow"` leaves it out while iterating.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import fasta_text, random_dna

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "weights" / "default"
# A promoter-like sequence (TATA box near its start) and two random ones, all within one window.
PROMOTER_DEMO = ("GGCGCGGCTATAAAAGGCGGCGCCGCCATTTTGGCGCGCTCAGTTCCGGGCTGCGGAGCGGCGGTGACGTCACGCGCGCG"
                 "TCCGGAGCGGGAGCCGCGCC")
# Makes any attempt to open a network connection fail loudly, on top of `unshare -n` where the
# machine allows it: "offline" must not depend on the machine happening to have no network.
NETWORK_GUARD = '''
import socket

def _refuse(*args, **kwargs):
    raise OSError("network access attempted during an offline test")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
'''


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_files() -> list[str]:
    """What a clean clone holds (tracked files plus new, not ignored ones): never .ci-venv,
    build outputs or other local debris, which could otherwise leak into the wheel."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True)
    if listed.returncode != 0:
        pytest.fail(f"git ls-files failed in {ROOT}: {listed.stderr.decode(errors='replace')}")
    return [name for name in listed.stdout.decode().split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`python -m build` (sdist, then the wheel built from that sdist) on a copy of the source:
    building in place would write build/ and *.egg-info into a tree others are working in."""
    pytest.importorskip("build", reason="PyPA build is a test dependency: pip install '.[test]'")
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    for name in _source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    dist = root / "dist"
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    wheels = list(dist.glob("vqdna-*-py3-none-any.whl"))
    sdists = list(dist.glob("vqdna-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0], "root": root}


def test_wheel_carries_the_shipped_weights_byte_for_byte(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
        for required in ("model.safetensors", "config.json", "heads/promoter/head.json",
                         "heads/promoter/head.safetensors"):
            assert f"vqdna_cli/weights/default/{required}" in names, required
        # Every weights file of the repository (the package-data globs), and the same bytes:
        # a stale or partial copy would fail the SHA-256 check on load.
        # TRAINING.md and its logs too: they record how the weights were made.
        shipped = [p for p in WEIGHTS.rglob("*") if p.is_file() and p.suffix in (".json", ".safetensors", ".md", ".jsonl")]
        assert any(p.name == "TRAINING.md" for p in shipped) and any(p.suffix == ".jsonl" for p in shipped)
        assert any(p.parent.name == "promoter" for p in shipped)
        for path in shipped:
            member = "vqdna_cli/weights/default/" + path.relative_to(WEIGHTS).as_posix()
            assert member in names, member
            assert _sha256(wheel.read(member)) == _sha256(path.read_bytes()), member
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "vqdna = vqdna_cli.cli.entry:main" in wheel.read(entry_points).decode()


def test_wheel_leaves_out_the_candidate_weights(built):
    """weights/candidates holds models kept for retraining heads, not for users: in the sdist
    (the whole source), not in the wheel."""
    assert any((ROOT / "weights" / "candidates").rglob("*.safetensors"))
    with zipfile.ZipFile(built["wheel"]) as wheel:
        assert not [name for name in wheel.namelist() if "/candidates/" in name]
    assert "weights/candidates/gpu-input-masking/model.safetensors" in _sdist_members(built["sdist"])


def test_wheel_installs_the_man_pages(built):
    """Every page of man/ goes to <prefix>/share/man/man1, where `man vqdna` finds it."""
    pages = sorted(p.name for p in (ROOT / "man").glob("*.1"))
    assert "vqdna.1" in pages and "vqdna-embed.1" in pages
    with zipfile.ZipFile(built["wheel"]) as wheel:
        data = {Path(name).name: name for name in wheel.namelist() if ".data/data/share/man/man1/" in name}
        assert sorted(data) == pages
        for page in pages:
            assert wheel.read(data[page]) == (ROOT / "man" / page).read_bytes(), page


def _sdist_members(sdist: Path) -> set[str]:
    """The sdist's files, relative to its top folder (vqdna-X.Y.Z/)."""
    with tarfile.open(sdist) as archive:
        return {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}


def test_sdist_is_the_whole_source_release(built):
    """Packagers build and test from the sdist: it holds every file of a clean clone (tests
    with their conftest, the benchmarks they import, docs, changelog, pipeline files), not
    only what the wheel installs."""
    members = _sdist_members(built["sdist"])
    missing = sorted(set(_source_files()) - members - {".gitignore"})
    assert not missing, missing
    assert {"tests/conftest.py", "CHANGELOG.md", "docs/outputs.md", "workflow/Snakefile"} <= members


def test_test_suite_collects_from_the_unpacked_sdist(built, tmp_path):
    """`pytest` in the unpacked sdist finds the same tests as in the repository: no test
    module fails to import for want of a file the sdist left out."""
    with tarfile.open(built["sdist"]) as archive:
        archive.extractall(tmp_path, filter="data")
    (unpacked,) = [p for p in tmp_path.iterdir() if p.is_dir()]

    def collected(root: Path) -> list[str]:
        result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                                cwd=root, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        return [line for line in result.stdout.splitlines() if "::" in line]

    from_sdist = collected(unpacked)
    assert from_sdist and from_sdist == collected(ROOT)


def _network_is_cut_by_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def test_fresh_virtualenv_with_only_the_wheel_classifies_offline(built, run_vqdna, tmp_path):
    import torch

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python, vqdna = venv / "bin" / "python", venv / "bin" / "vqdna"
    # The dependencies come from the wheel's metadata, resolved by pip as a user's install
    # would; torch is pinned to the build running this test so that pip takes the same local
    # wheel (e.g. the CPU build) instead of downloading a multi-GB CUDA build.
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
         str(built["wheel"]), f"torch=={torch.__version__}"],
        capture_output=True, text=True, timeout=900,
    )
    assert install.returncode == 0, install.stdout[-4000:] + install.stderr[-4000:]

    # Run from a folder outside the source tree, with nothing pointing back at it.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "guard").mkdir()
    (elsewhere / "guard" / "sitecustomize.py").write_text(NETWORK_GUARD)
    fasta = elsewhere / "small.fa"
    fasta.write_text(fasta_text({"demo": PROMOTER_DEMO, "r1": random_dna(150, 7), "r2": random_dna(300, 8)}))
    env = {key: value for key, value in os.environ.items()
           if key not in ("VQDNA_WEIGHTS", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PYTHONPATH=str(elsewhere / "guard"), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               PIP_NO_INDEX="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", NO_PROXY="*")
    prefix = ["unshare", "-n"] if _network_is_cut_by_unshare() else []

    where = subprocess.run(
        [*prefix, str(python), "-c",
         "import socket, vqdna_cli, vqdna_cli.runner as i;"
         "print(vqdna_cli.__file__); print(i.default_weights_dir()); print(socket.create_connection.__name__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )
    assert where.returncode == 0, where.stderr
    package_file, weights_dir, connect = where.stdout.split()
    site_packages = str(venv.resolve())
    assert package_file.startswith(site_packages) and weights_dir.startswith(site_packages), where.stdout
    assert Path(weights_dir).name == "default" and connect == "_refuse"  # the guard is active

    result = subprocess.run([*prefix, str(vqdna), "classify", "--task", "promoter", "--threads", "1", fasta.name,
                             "--header-comments"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    comments = dict(line[2:].split("=", 1) for line in lines if line.startswith("##"))
    lines = lines[len(comments):]
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]

    # The model hash printed is the repository's weights/default model (its first 16 hex
    # digits), the same one config.json records.
    digest = _sha256((WEIGHTS / "model.safetensors").read_bytes())
    assert json.loads((WEIGHTS / "config.json").read_text())["sha256"]["model.safetensors"] == digest
    assert comments["model_sha256"] == digest and comments["model_hash"] == digest[:16]
    assert comments["task"] == "promoter"
    assert header == ["id", "label", "class_index", "p_non-promoter", "p_promoter"]
    assert [row[0] for row in rows] == ["demo", "r1", "r2"]
    for row in rows:
        assert row[1] in ("promoter", "non-promoter")
        assert abs(float(row[3]) + float(row[4]) - 1) < 2e-4

    # And the installed wheel predicts what the source tree predicts on the same input.
    in_tree = run_vqdna("classify", "--model", str(WEIGHTS), "--task", "promoter", "--threads", "1", str(fasta))
    assert in_tree.returncode == 0, in_tree.stderr
    tree_rows = [line.split("\t") for line in in_tree.stdout.decode().splitlines()[1:]]
    assert [row[:3] for row in tree_rows] == [row[:3] for row in rows]
    for ours, theirs in zip(rows, tree_rows):
        assert all(abs(float(a) - float(b)) <= 2e-4 for a, b in zip(ours[3:], theirs[3:]))
