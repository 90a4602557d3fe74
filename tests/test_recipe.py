"""The conda recipe (recipe/meta.yaml) agrees with the package: version, dependencies, entry
point, and the `noarch: python` that Bioconda asks of a pure-Python tool."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import vqdna_cli

ROOT = Path(__file__).resolve().parent.parent
RECIPE = (ROOT / "recipe" / "meta.yaml").read_text()
CONDA_NAMES = {"pytorch": "torch"}  # conda package name -> PyPI name, where they differ


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _rendered() -> dict:
    """The recipe as conda-build would see it: `{% set %}` variables substituted."""
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    variables = dict(re.findall(r'{%\s*set\s+(\w+)\s*=\s*"([^"]*)"\s*%}', RECIPE))
    variables["PYTHON"] = "python"
    text = re.sub(r"{{\s*(\w+)\s*}}", lambda m: variables[m[1]], re.sub(r"{%.*?%}", "", RECIPE))
    return yaml.safe_load(text)


def _split(requirement: str) -> tuple[str, str]:
    """'numpy >=1.24' or 'numpy>=1.24' -> ('numpy', '>=1.24')."""
    name, spec = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", requirement.strip()).groups()
    return name.lower(), spec.replace(" ", "")


def test_recipe_version_is_the_package_version():
    assert re.search(r'{%\s*set\s+version\s*=\s*"([^"]+)"\s*%}', RECIPE)[1] == vqdna_cli.__version__
    assert re.search(r"^package:\n  name: \{\{ name \}\}\n  version: \{\{ version \}\}$", RECIPE, re.M)


def test_recipe_is_noarch_python_with_the_pyproject_entry_point():
    recipe, scripts = _rendered(), _pyproject()["project"]["scripts"]
    assert recipe["package"]["name"] == "vqdna"
    assert recipe["build"]["noarch"] == "python"
    assert recipe["build"]["entry_points"] == [f"{name} = {target}" for name, target in scripts.items()]
    assert {"vqdna --help", "vqdna --version"} <= set(recipe["test"]["commands"])


def test_run_requirements_are_the_pyproject_dependencies():
    requirements, project = _rendered()["requirements"], _pyproject()["project"]
    run = dict(_split(r) for r in requirements["run"])
    assert run.pop("python") == project["requires-python"]
    assert {CONDA_NAMES.get(name, name): spec for name, spec in run.items()} == dict(
        _split(d) for d in project["dependencies"])
    host = dict(_split(r) for r in requirements["host"])
    assert host["python"] == project["requires-python"]
    assert {"pip", "setuptools"} <= set(host)
