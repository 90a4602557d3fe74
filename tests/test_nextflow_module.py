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

import fnmatch
import functools
import json
import os
import re
import shutil
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
    assert 'touch "${prefix}.' in sections["stub"]


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
    wrapper = (ROOT / "workflow" / "wrappers" / "vqdna" / "environment.yaml").read_text()  # pinned, as snakemake-wrappers
    assert f"bioconda::vqdna={vqdna_cli.__version__}" in wrapper


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


def _expand(glob: str) -> list[str]:
    """`*.{tsv,bed}.json` -> ['*.tsv.json', '*.bed.json'] (Nextflow's brace globs)."""
    match = re.search(r"\{([^{}]*)\}", glob)
    if not match:
        return [glob]
    return [expanded for choice in match[1].split(",")
            for expanded in _expand(glob[:match.start()] + choice + glob[match.end():])]


def _matches(name: str, glob: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in _expand(glob))


def _file_outputs(command: str) -> dict[str, str]:
    """emit -> the glob of its `path(...)`, for the channels of files (all but versions)."""
    return {re.search(r"emit: (\w+)", line)[1]: _channel_elements(line)[1]
            for line in _sections(command)["output"].splitlines() if "emit:" in line and "path(" in line}


def _stub_files(command: str, prefix: str = "test", output_format: str = "tsv") -> list[str]:
    return [name.replace("${prefix}", prefix).replace("${format}", output_format)
            for name in re.findall(r'touch "([^"]+)"', _sections(command)["stub"])]


@pytest.mark.parametrize("command", COMMANDS)
def test_snapshots_hold_what_the_module_emits(command):
    _, snapshots = _nf_tests(command)
    process = f"VQDNA_{command.upper()}"
    versions = [[process, "vqdna", vqdna_cli.__version__]]
    outputs = {re.search(r"emit: (\w+)", line)[1]: index
               for index, line in enumerate(l for l in _sections(command)["output"].splitlines() if "emit:" in l)}
    globs = _file_outputs(command)
    stub_files = _stub_files(command)
    (stub,) = snapshots["sarscov2 - fasta - stub"]["content"]
    assert sorted(stub) == sorted([*map(str, outputs.values()), *outputs])  # every channel, none more
    empty = "d41d8cd98f00b204e9800998ecf8427e"
    emitted = {}
    for emit, index in outputs.items():
        if emit == "versions_vqdna":
            expected = versions
        else:
            (emitted[emit],) = [name for name in stub_files if _matches(name, globs[emit])]
            expected = [[{"id": "test"}, f"{emitted[emit]}:md5,{empty}"]]
        assert stub[emit] == stub[str(index)] == expected, emit
    assert sorted(emitted.values()) == sorted(stub_files)  # every file the stub makes is emitted
    real = snapshots["sarscov2 - fasta"]["content"]
    first = next(iter(globs))
    assert real[0] == emitted[first] and real[-1] == {"versions_vqdna": versions}
    if command == "classify":  # the table's name, its header line, the sidecar's name
        assert real[1:-1] == [real[1], emitted["json"]]


def test_classify_snapshot_header_is_the_promoter_heads():
    head = json.loads((ROOT / "weights" / "default" / "heads" / "promoter" / "head.json").read_text())
    _, snapshots = _nf_tests("classify")
    header = snapshots["sarscov2 - fasta"]["content"][1]
    assert header == "\t".join(["id", "label", "class_index", *(f"p_{name}" for name in head["class_names"])])


def _run_module_script(command: str, workdir: Path, fasta: str, **values: str) -> subprocess.CompletedProcess:
    """The vqdna command line of a module's `script:`, as Nextflow would run it (no ext.args,
    the shipped weights, no GPU) in `workdir`, where `fasta` is staged."""
    (line,) = [line for line in _shell_lines(_sections(command)["script"]) if line.startswith("vqdna ")]
    values = {"fasta": fasta, "prefix": "test", "format": "tsv", "model_arg": "", "device_arg": "",
              "task.cpus": "1", "args": "", "task_name": "promoter", **values}
    line = re.sub(r"\$\{([\w.]+)\}", lambda m: values[m[1]], line)
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    return subprocess.run(line, shell=True, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_file_the_script_writes_is_emitted(command, tmp_path):
    """The script run for real: each output channel's glob catches one of the files it
    writes, and no file is left out (classify's sidecar TABLE.json included); the stub
    makes files of the same names."""
    (tmp_path / "genome.fasta").write_text(">a\n" + "ACGTTGCA" * 40 + "\n>b\n" + "GGATCCTA" * 25 + "\n")
    result = _run_module_script(command, tmp_path, "genome.fasta")
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in tmp_path.iterdir() if p.name != "genome.fasta")
    globs = _file_outputs(command)
    emitted = {emit: [name for name in written if _matches(name, glob)] for emit, glob in globs.items()}
    assert all(len(names) == 1 for names in emitted.values()), emitted
    assert sorted(name for names in emitted.values() for name in names) == written == sorted(_stub_files(command))


@pytest.mark.parametrize("command", COMMANDS)
def test_script_quotes_a_staged_name_and_prefix_with_spaces(command, tmp_path):
    """Nextflow stages an input under its own name and a samplesheet's id may hold a space:
    the script passes each as one word, and the model folder too."""
    (tmp_path / "my genome.fasta").write_text(">a\n" + "ACGTTGCA" * 40 + "\n")
    model = shutil.copytree(ROOT / "weights" / "default", tmp_path / "my model")
    result = _run_module_script(command, tmp_path, "my genome.fasta", prefix="sample 1",
                                model_arg=_model_arg(command, str(model)))
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("sample 1."))
    assert written == sorted(_stub_files(command, prefix="sample 1")), written


def _model_arg(command: str, model: str) -> str:
    """The `--model` option that the module's `def model_arg` builds for `model`."""
    (template,) = re.findall(r'def model_arg = model \? "(.*)" : \'\'', _sections(command)["script"])
    return template.replace('\\"', '"').replace("${model}", model)


def test_classify_nf_test_checks_the_table_and_sidecar_vqdna_writes(tmp_path):
    """What the classify nf-test asserts and snapshots holds for what the module's script
    writes: the header on the first line (no comment line by default), one row per sequence,
    and the sidecar's rows, task, input and columns."""
    text, snapshots = _nf_tests("classify")
    real_test = text.split('test("sarscov2 - fasta - stub")')[0]
    (tmp_path / "genome.fasta").write_text(">MN908947.3\n" + "ACGTTGCAGG" * 50 + "\n")
    result = _run_module_script("classify", tmp_path, "genome.fasta")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "test.tsv").read_text().splitlines()
    sidecar = json.loads((tmp_path / "test.tsv.json").read_text())
    assert "def lines = path(process.out.predictions[0][1]).readLines()" in real_test
    assert "'# vqdna'" not in real_test and "readLines()[1]" not in real_test
    assert "{ assert lines.size() == 2 && lines[1].split('\\t').size() == lines[0].split('\\t').size() }" in real_test
    assert len(lines) == 2 and len(lines[1].split("\t")) == len(lines[0].split("\t"))
    assert "sidecar.rows == 1 && sidecar.task == 'promoter' && sidecar.input == 'genome.fasta'" in real_test
    assert sidecar["rows"] == 1 and sidecar["task"] == "promoter" and sidecar["input"] == "genome.fasta"
    assert "sidecar.columns == lines[0].split('\\t').toList()" in real_test
    assert sidecar["columns"] == lines[0].split("\t")
    snapshot_args = re.search(r"snapshot\(\s*(.*?)\s*\)\.match\(\)", real_test, re.S)[1]
    assert [arg.strip() for arg in snapshot_args.split("\n")] == [
        "file(process.out.predictions[0][1]).name,", "lines[0],", "file(process.out.json[0][1]).name,",
        "process.out.findAll { key, val -> key.startsWith('versions') }"]
    assert snapshots["sarscov2 - fasta"]["content"][:3] == ["test.tsv", lines[0], "test.tsv.json"]


@pytest.mark.parametrize("args, expected", [("--format bed", "bed"), ("--format=bed", "bed"), ("--format  bed", "bed"),
                                            ("--header-comments --format bed", "bed"), ("--format tsv", "tsv"),
                                            ("", "tsv"), ("--format bedgraph", "tsv"), ("--format 'bed'", "bed"),
                                            ('--format="bed"', "bed"), ("--format 'bedgraph'", "tsv")])
def test_classify_reads_every_spelling_of_format_bed_in_ext_args(args, expected):
    """`ext.args = '--format=bed'` wrote a TSV: the module looked for `--format bed` alone,
    then appended `--format tsv`, which vqdna takes as the last word."""
    script = _sections("classify")["script"]
    (pattern,) = re.findall(r"def format = \(args =~ /(.+?)/\) \? 'bed' : 'tsv'", script)
    assert _sections("classify")["stub"].count(pattern) == 1  # the stub names the same file
    assert ("bed" if re.search(pattern, args) else "tsv") == expected
