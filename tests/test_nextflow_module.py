"""The nf-core style Nextflow modules (modules/vqdna/<command>) kept in step with the CLI.

Nextflow cannot be installed on our build machines, so the modules are checked statically:
every option a module's script passes exists in `vqdna <command> --help`, each module has
the nf-core parts (stub, versions topic, ext.args/ext.prefix, the biocontainer of the conda
recipe's build, process_gpu), its meta.yml describes the same channels as its main.nf, and
its nf-test (tests/main.nf.test) has a real and a stub test whose snapshots
(tests/main.nf.test.snap) hold what the module emits. The snapshots are the ones
`nf-test test --update-snapshot` writes; the stub outputs are empty files (md5 of nothing).
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vqdna_cli

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "modules" / "vqdna"
COMMANDS = ("tokenize", "embed", "classify")
VERSIONS = """tuple val("${task.process}"), val('vqdna'), eval("vqdna --version | sed 's/vqdna //'"), topic: versions, emit: versions_vqdna"""


def _vqdna(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}  # unwrapped help lines
    return subprocess.run([sys.executable, "-m", "vqdna_cli", *args], capture_output=True, text=True, env=env, timeout=60)


@functools.cache
def _help(command: str) -> str:
    result = _vqdna(command, "--help")
    assert result.returncode == 0, f"`vqdna {command}` does not exist: {result.stderr}"
    return result.stdout


def _sections(command: str) -> dict[str, str]:
    """main.nf split at its `input:`, `output:`, `when:`, `script:` and `stub:` labels."""
    text = (MODULES / command / "main.nf").read_text()
    parts = re.split(r"^[ \t]*(input|output|when|script|stub):[ \t]*$", text, flags=re.M)
    return {"head": parts[0], **dict(zip(parts[1::2], parts[2::2]))}


def _shell_lines(script: str) -> list[str]:
    """The lines of the script's triple-quoted shell block, continuations joined."""
    block = script.split('"""')[1]
    return [line.strip() for line in re.sub(r"\\\\\n\s*", " ", block).splitlines() if line.strip()]


def _channel_elements(declaration: str) -> list[str]:
    """`tuple val(meta), path("*.npz"), emit: x` -> ['meta', '*.npz']."""
    quoted = re.findall(r"""\b(?:val|path|eval)\((?:"(.*?)"|'(.*?)'|(\w+))\)""", declaration)
    return [double or single or name for double, single, name in quoted]


@pytest.mark.parametrize("command", COMMANDS)
def test_script_runs_one_existing_subcommand_with_existing_options(command):
    script = _sections(command)["script"]
    commands = [line for line in _shell_lines(script) if line.startswith("vqdna ")]
    assert [line.split()[1] for line in commands] == [command]
    # Options on the command line and those spliced in from `def` strings (`--model ...`).
    options = set(re.findall(r"(?<![\w$/{-])(--?[A-Za-z][\w-]*)", script))
    assert {"-o", "--threads"} <= options
    help_text = _help(command)
    missing = [option for option in sorted(options) if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text)]
    assert not missing, f"{command}/main.nf passes options that `vqdna {command} --help` lacks: {missing}"
    assert "--threads ${task.cpus}" in commands[0] and "${args}" in commands[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_module_has_the_nf_core_parts(command):
    sections = _sections(command)
    head = sections["head"]
    assert f"process VQDNA_{command.upper()} {{" in head
    assert 'tag "$meta.id"' in head and "label 'process_medium'" in head
    # Every command runs the model on the device it is given (tokenize: the HRQ encoder).
    assert "label 'process_gpu'" in head
    assert 'conda "${moduleDir}/environment.yml"' in head
    assert "def device_arg = task.ext.use_gpu ? '--device cuda' : ''" in sections["script"]
    assert sections["input"].strip().splitlines()[0].startswith("tuple val(meta), path(fasta)")
    assert VERSIONS in sections["output"]
    assert sections["when"].strip() == "task.ext.when == null || task.ext.when"
    assert "def args = task.ext.args ?: ''" in sections["script"]
    assert 'def prefix = task.ext.prefix ?: "${meta.id}"' in sections["script"]
    assert "touch ${prefix}." in sections["stub"]


@pytest.mark.parametrize("command", COMMANDS)
def test_meta_yml_names_the_channels_of_main_nf(command):
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    meta = yaml.safe_load((MODULES / command / "meta.yml").read_text())
    sections = _sections(command)
    assert meta["name"] == f"vqdna_{command}"

    declared_inputs = re.findall(r"\b(?:val|path)\((\w+)\)", sections["input"])
    described_inputs = [name for entry in meta["input"] for item in (entry if isinstance(entry, list) else [entry]) for name in item]
    assert described_inputs == declared_inputs

    outputs = {re.search(r"emit: (\w+)", line)[1]: _channel_elements(line)
               for line in sections["output"].splitlines() if "emit:" in line}
    described_outputs = {emit: [name for item in tuple_[0] for name in item] for emit, tuple_ in meta["output"].items()}
    assert described_outputs == outputs
    assert [name for item in meta["topics"]["versions"][0] for name in item] == outputs["versions_vqdna"]


def test_versions_eval_gives_the_bare_version():
    """What the modules' `eval("vqdna --version | sed 's/vqdna //'")` captures, and the
    version their conda environments pin."""
    result = _vqdna("--version")
    assert result.returncode == 0 and result.stdout.strip().removeprefix("vqdna ") == vqdna_cli.__version__
    for command in COMMANDS:
        environment = (MODULES / command / "environment.yml").read_text()
        assert f"bioconda::vqdna={vqdna_cli.__version__}" in environment


def _recipe_build_number() -> int:
    return int(re.search(r"^  number: (\d+)$", (ROOT / "recipe" / "meta.yaml").read_text(), re.M)[1])


@pytest.mark.parametrize("command", COMMANDS)
def test_container_is_the_biocontainer_of_the_recipe(command):
    """Bioconda builds a noarch: python recipe as `pyhdfd78af_<build number>`, and
    BioContainers publishes it under that tag (Docker) and on the Galaxy depot (Singularity)."""
    tag = f"vqdna:{vqdna_cli.__version__}--pyhdfd78af_{_recipe_build_number()}"
    head = _sections(command)["head"]
    assert (f"container \"${{ workflow.containerEngine == 'singularity' && !task.ext.singularity_pull_docker_container ?\n"
            f"        'https://depot.galaxyproject.org/singularity/{tag}' :\n"
            f"        'biocontainers/{tag}' }}\"") in head


def _nf_tests(command: str) -> tuple[str, dict]:
    tests = MODULES / command / "tests"
    return (tests / "main.nf.test").read_text(), json.loads((tests / "main.nf.test.snap").read_text())


@pytest.mark.parametrize("command", COMMANDS)
def test_nf_test_has_a_real_and_a_stub_test_with_snapshots(command):
    text, snapshots = _nf_tests(command)
    process = f"VQDNA_{command.upper()}"
    assert 'script "../main.nf"' in text and f'process "{process}"' in text
    assert f'tag "vqdna/{command}"' in text
    names = re.findall(r'^    test\("([^"]+)"\)', text, re.M)
    assert names == ["sarscov2 - fasta", "sarscov2 - fasta - stub"]
    assert sorted(snapshots) == sorted(names)
    stub_block = text.split('test("sarscov2 - fasta - stub")')[1]
    assert 'options "-stub"' in stub_block and "snapshot(process.out).match()" in stub_block
    # Inputs: one per `input:` declaration of main.nf.
    declared = [line for line in _sections(command)["input"].splitlines() if line.strip()]
    for block in text.split("test(")[1:]:
        assert re.findall(r"input\[(\d+)\]", block) == [str(i) for i in range(len(declared))]


@pytest.mark.parametrize("command", COMMANDS)
def test_snapshots_hold_what_the_module_emits(command):
    _, snapshots = _nf_tests(command)
    process = f"VQDNA_{command.upper()}"
    versions = [[process, "vqdna", vqdna_cli.__version__]]
    stub_name = re.search(r"touch \$\{prefix\}\.(\S+)", _sections(command)["stub"])[1]
    stub_name = "test." + stub_name.replace("${format}", "tsv")
    outputs = {re.search(r"emit: (\w+)", line)[1]: index
               for index, line in enumerate(l for l in _sections(command)["output"].splitlines() if "emit:" in l)}
    (stub,) = snapshots["sarscov2 - fasta - stub"]["content"]
    empty = "d41d8cd98f00b204e9800998ecf8427e"
    for emit, index in outputs.items():
        expected = versions if emit == "versions_vqdna" else [[{"id": "test"}, f"{stub_name}:md5,{empty}"]]
        assert stub[emit] == stub[str(index)] == expected, emit
    real = snapshots["sarscov2 - fasta"]["content"]
    assert real[0] == stub_name and real[-1] == {"versions_vqdna": versions}


def test_classify_snapshot_header_is_the_promoter_heads():
    head = json.loads((ROOT / "weights" / "default" / "heads" / "promoter" / "head.json").read_text())
    _, snapshots = _nf_tests("classify")
    header = snapshots["sarscov2 - fasta"]["content"][1]
    assert header == "\t".join(["id", "label", "class_index", *(f"p_{name}" for name in head["class_names"])])
