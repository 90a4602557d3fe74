"""The conda recipe (recipe/meta.yaml) agrees with the package: version, dependencies, entry
point, and what Bioconda asks of a pure-Python tool: `noarch: python`, the release sdist as
source with its SHA-256 (all zeros until a release, filled by scripts/release_recipe.py),
`run_exports`, `home`, `license_file` and a `pip check` test."""

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
    # conda-build's pin_subpackage(name, max_pin="x.x") renders as "vqdna >=0.1.0,<0.2.0a0".
    text = re.sub(r"{{\s*pin_subpackage\((\w+), max_pin=\"x\.x\"\)\s*}}",
                  lambda m: f"PIN {variables[m[1]]} x.x", RECIPE)
    text = re.sub(r"{{\s*(\w+)\s*}}", lambda m: variables[m[1]], re.sub(r"{%.*?%}", "", text))
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
    assert "pip" in host
    # --no-build-isolation: the host's setuptools builds the package, so it needs pyproject's version
    build_system = dict(_split(r) for r in _pyproject()["build-system"]["requires"])
    assert host["setuptools"] == build_system["setuptools"]


def test_source_is_the_release_sdist_with_its_checksum():
    source = _rendered()["source"]
    assert source["url"] == f"https://pypi.org/packages/source/v/vqdna/vqdna-{vqdna_cli.__version__}.tar.gz"
    assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"])


def test_release_script_fills_the_checksum(tmp_path):
    """The all-zeros SHA-256 of an unreleased recipe is replaced by the sdist's own."""
    import hashlib
    import importlib.util

    spec = importlib.util.spec_from_file_location("release_recipe", ROOT / "scripts" / "release_recipe.py")
    release = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(release)
    recipe = tmp_path / "meta.yaml"
    recipe.write_text(RECIPE)
    sdist = tmp_path / f"vqdna-{vqdna_cli.__version__}.tar.gz"
    sdist.write_bytes(b"release bytes")
    digest = release.fill(sdist, recipe)
    assert digest == hashlib.sha256(b"release bytes").hexdigest()
    assert recipe.read_text() == RECIPE.replace(re.search(r'sha256 = "([0-9a-f]{64})"', RECIPE)[1], digest)
    with pytest.raises(SystemExit, match="not the recipe's release"):
        release.fill(tmp_path / "vqdna-9.9.9.tar.gz", recipe)


def test_bioconda_parts_run_exports_about_and_pip_check():
    recipe = _rendered()
    assert recipe["build"]["run_exports"] == ["PIN vqdna x.x"]
    assert recipe["build"]["number"] == int(recipe["build"]["number"])
    about = recipe["about"]
    assert about["home"].startswith("https://") and about["license"] == "MIT"
    assert (ROOT / about["license_file"]).is_file()
    assert "MIT License" in (ROOT / about["license_file"]).read_text()
    assert "pip check" in recipe["test"]["commands"] and "pip" in recipe["test"]["requires"]
    assert "test -f $PREFIX/share/man/man1/vqdna.1" in recipe["test"]["commands"]
