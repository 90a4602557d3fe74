"""benchmarks/ is a package run from the checkout (`python -m benchmarks.gue`): nothing under
benchmarks/ or scripts/ edits sys.path, and every benchmark module answers --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py") if p.stem != "__init__")


def test_no_benchmark_or_script_edits_sys_path():
    files = [p for folder in ("benchmarks", "scripts") for p in (ROOT / folder).rglob("*")
             if p.suffix in (".py", ".sh") and "results" not in p.parts]
    assert files
    assert [str(p.relative_to(ROOT)) for p in files if "sys.path" in p.read_text()] == []


def test_the_product_trains_from_its_own_recipes_not_from_benchmarks():
    """The shipped heads' recipes and the hold-outs live in the package; benchmarks import them."""
    assert not (ROOT / "benchmarks" / "gue_tasks.py").exists()
    source = (ROOT / "vqdna_cli" / "train" / "recipes.py").read_text()
    assert "from benchmarks" not in source and "import benchmarks" not in source
    from benchmarks import gue
    from vqdna_cli.train import recipes

    assert gue.TASKS is recipes.TASKS and gue.DEFAULT_RECIPE is recipes.DEFAULT_RECIPE


@pytest.mark.parametrize("module", ["vqdna_cli.train.recipes", *(f"benchmarks.{name}" for name in MODULES)])
def test_every_benchmark_module_runs_with_python_m(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")
