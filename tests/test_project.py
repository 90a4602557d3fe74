"""Checks on the project as a whole: set-up commands, man pages, layering, the paper preset."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vqdna_cli"


def _code_blocks(markdown: str) -> list[str]:
    return re.findall(r"```\n(.*?)```", markdown, flags=re.S)


def test_ci_runs_exactly_the_readme_setup_commands():
    """README's two set-up commands are the ones .ci/run executes, in the same order."""
    readme_blocks = _code_blocks((ROOT / "README.md").read_text().split("## Set-up", 1)[1].split("\n## ", 1)[0])
    readme_commands = [block.strip() for block in readme_blocks]
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert len(readme_commands) == 2
    assert ci_lines.index(readme_commands[0]) < ci_lines.index(readme_commands[1])


# What users read: README, docs/ and the benchmarks' README (results files are records of runs).
USER_DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
PARENT_PATH = re.compile(r"(?<![\w.])(?:\.\./)+[\w.*/-]*")


def test_readme_fits_in_300_lines():
    """README says what a user needs; the rest lives in docs/."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


@pytest.mark.parametrize("document", USER_DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_resolves_to_a_file_in_the_repository(document):
    broken = []
    for target in MARKDOWN_LINK.findall(document.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):  # web pages, anchors
            continue
        if not _in_repository(document.parent / target.split("#", 1)[0]):
            broken.append(target)
    assert not broken, f"{document.name} links to what the repository does not hold: {broken}"


def _in_repository(path: Path) -> bool:
    resolved = path.resolve()
    return resolved.is_relative_to(ROOT) and (resolved.exists() or any(resolved.parent.glob(resolved.name)))


@pytest.mark.parametrize("document", USER_DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_documents_name_no_path_outside_the_repository(document):
    """A clone holds everything a document points at (data comes in through $VQDNA_DATA)."""
    text = document.read_text()
    outside = [p for p in PARENT_PATH.findall(text) if not _in_repository(document.parent / p)]
    outside += re.findall(r"/work/[\w./-]*", text)
    assert not outside, f"{document.name} names paths outside the repository: {outside}"


def test_man_pages_match_the_command_line():
    result = subprocess.run([sys.executable, str(ROOT / "scripts/make_man.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (ROOT / "man/vqdna-tokenize.1").read_text().startswith('.TH "VQDNA-TOKENIZE"')


def test_every_man_page_documents_exit_status_and_environment():
    pages = sorted((ROOT / "man").glob("*.1"))
    assert len(pages) >= 10
    for page in pages:
        text = page.read_text()
        assert ".SH EXIT STATUS" in text and ".SH ENVIRONMENT" in text, page.name
        for term in ("\\fB0\\fR", "\\fB2\\fR", "\\fB130\\fR", "\\fBVQDNA_WEIGHTS\\fR", "\\fBVQDNA_DATA\\fR"):
            assert term in text, (page.name, term)


def test_man_pages_name_what_each_option_takes():
    """An option's value reads as what to give (`--task TASK`, `--region CHR:START-END`), not
    as a bare type (`<str>`, `<int range>`); typer adds the type to arguments, which keep it."""
    import re

    for page in sorted((ROOT / "man").glob("*.1")):
        options = [line for line in page.read_text().splitlines() if line.startswith("\\fB\\-")]
        bare = [line for line in options if re.search(r"<(str|int|float|int range|float range)>", line)]
        assert bare == [], (page.name, bare)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", ["io", "data"])
def test_io_and_data_layers_do_not_import_torch(layer):
    for path in (PACKAGE / layer).glob("*.py"):
        assert not any(name.split(".")[0] == "torch" for name in _imports(path)), path


def test_model_layer_does_no_io_and_no_printing():
    for path in (PACKAGE / "model").glob("*.py"):
        imports = _imports(path)
        assert not any(name.startswith(("vqdna_cli.io", "vqdna_cli.cli", "vqdna_cli.api")) for name in imports), path
        assert "print(" not in path.read_text(), path


def _package_imports(path: Path) -> set[str]:
    """The vqdna_cli modules `path` imports; `from vqdna_cli import x` counts as vqdna_cli.x
    (the package's own `__version__` as the package itself)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "vqdna_cli":
            names.update("vqdna_cli" if alias.name == "__version__" else f"vqdna_cli.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] == "vqdna_cli"}


# heartbeat: how often and in what form progress is said off a terminal, shared by the
# command line's progress and the training loop (nothing in it runs work)
# ... and how the process was started (launch: which torchrun process says an error) and how
# it writes to stderr (heartbeat): facts of the process, not work a script would want
# and the process-level helpers: messages, torchrun's variables, stop signals held (torch's import)
CLI_MAY_IMPORT = {"vqdna_cli", "vqdna_cli.api", "vqdna_cli.options", "vqdna_cli.errors", "vqdna_cli.heartbeat",
                  "vqdna_cli.launch", "vqdna_cli.stops"}


def test_the_cli_layer_imports_only_the_api_the_options_and_the_errors():
    """The command line reads options and prints; what runs goes through `api` and the
    option objects, so a script can do all a command does."""
    for path in (PACKAGE / "cli").glob("*.py"):
        for name in _package_imports(path):
            assert name in CLI_MAY_IMPORT or name.startswith("vqdna_cli.cli"), (path.name, name)


def test_nothing_below_the_cli_imports_it():
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] in ("cli", "__main__.py"):  # __main__ starts the CLI
            continue
        assert not any(name.startswith("vqdna_cli.cli") for name in _package_imports(path)), path


def test_the_option_objects_import_only_the_errors():
    """`options` is built by the CLI before anything heavy loads: no torch, no model."""
    assert _package_imports(PACKAGE / "options.py") <= {"vqdna_cli.errors"}
    assert not {name.split(".")[0] for name in _imports(PACKAGE / "options.py")} & {"torch", "numpy", "typer"}


def test_api_functions_take_option_objects_not_long_signatures():
    """Every public API function takes at most eight parameters: the recurring groups travel
    as `options.InputSpec`, `RunOptions` and the commands' own option objects."""
    import inspect

    from vqdna_cli import api

    for name in api.__all__:
        function = getattr(api, name)
        if inspect.isfunction(function):
            assert len(inspect.signature(function).parameters) <= 8, name


def test_training_does_not_import_the_runner():
    """train/ fits models on what it is given; running a model over records (runner.py) and
    what a task head reads of it (head_features.py) sit above it, and call into it."""
    for path in (PACKAGE / "train").glob("*.py"):
        imports = _imports(path)
        assert not any(name.startswith(("vqdna_cli.runner", "vqdna_cli.head_features", "vqdna_cli.inference",
                                        "vqdna_cli.api", "vqdna_cli.cli")) for name in imports), path


def test_only_the_cli_layer_imports_typer():
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts[:1]:
            continue
        assert "typer" not in {name.split(".")[0] for name in _imports(path)}, path


def test_paper_preset_builds_and_runs():
    """The published sizes (D=384, 6 blocks, codebooks 1024/2048, BERT-base) build and run."""
    import torch

    from vqdna_cli.config import PRESETS
    from vqdna_cli.model.vqdna import VQDNA

    torch.manual_seed(0)
    model = VQDNA(PRESETS["paper"]).eval()
    parameters = sum(p.numel() for p in model.parameters())
    assert 95e6 < parameters < 110e6  # the paper reports 103 M
    bases = torch.randint(0, 4, (1, 48))
    with torch.inference_mode():
        quantized = model.quantize(bases)
        hidden = model.contextualise(quantized.embedding, model.valid_mask(bases))
    assert quantized.tokens.shape == (1, 48, 2)
    assert int(quantized.tokens[..., 1].max()) < 2048
    assert hidden.shape == (1, 48, 768)


# --- what an installer and a package index read ------------------------------------------------

# Distribution name -> the module it installs, where they differ.
IMPORT_NAMES = {"biopython": "Bio"}


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_file_and_classifiers_say_the_pyproject_license():
    """An SPDX expression and the file, as packaging asks (setuptools stops building the
    older table and license classifiers in 2027)."""
    project = _pyproject()
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) ")
    classifiers = project["classifiers"]
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert "Topic :: Scientific/Engineering :: Bio-Informatics" in classifiers
    oldest = project["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {oldest}" in classifiers


def test_every_subpackage_goes_into_the_wheel():
    """setuptools installs only the packages pyproject lists: a new folder (api/ was one) must be there."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    for init in PACKAGE.rglob("__init__.py"):
        name = ".".join(("vqdna_cli", *init.parent.relative_to(PACKAGE).parts))
        assert name in listed, name


def test_every_dependency_is_imported_by_the_package():
    """A declared dependency nothing imports (tqdm was one) only slows installs down."""
    imported = {name.split(".")[0] for path in PACKAGE.rglob("*.py") for name in _imports(path)}
    for requirement in _pyproject()["dependencies"]:
        name = re.split(r"[<>=!~; \[]", requirement, maxsplit=1)[0]
        assert IMPORT_NAMES.get(name, name) in imported, f"{name} is declared but never imported"
