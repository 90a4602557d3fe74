"""The `vqdna` command end to end: version and help, tokenize / embed / classify outputs,
determinism, --force, stdin and gzip input."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import vqdna_cli
from conftest import (
    MULTI_RECORDS,
    SHORT_RECORDS,
    TINY_WINDOW,
    fasta_text,
    initialised_tiny_model,
    random_dna,
    run_vqdna_process,
    toy_csv,
    write_gzip,
)
from vqdna_cli.data.windows import transformer_windows
from vqdna_cli.options import EmbedOptions, FinetuneSettings, HeadRows, InputSpec, RunOptions, TrainControl

TOKEN_KEYS = {"tokens", "offsets", "ids", "chroms", "starts", "positions", "metadata"}


def load(path: Path) -> dict:
    """Everything in an .npz, read the way a user would: no pickle allowed."""
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def check_ok(result) -> None:
    assert result.returncode == 0, result.stderr


# --- genuine interpreter start-up (slow: few) ------------------------------------------------


def test_version() -> None:
    result = run_vqdna_process("--version")
    assert result.returncode == 0
    assert re.fullmatch(r"vqdna \d+\.\d+\.\d+\n", result.stdout.decode())
    assert result.stdout.decode() == f"vqdna {vqdna_cli.__version__}\n"


def test_version_after_a_command_points_to_vqdna_version(run_vqdna) -> None:
    for args in (["tokenize", "--version"], ["train", "finetune", "-V"]):
        result = run_vqdna(*args)
        assert result.returncode == 2 and result.stderr_lines == [
            f"vqdna: error: {args[-1]} is an option of vqdna itself, not of a command: run `vqdna --version`"]


def test_no_arguments_prints_usage() -> None:
    result = run_vqdna_process()
    assert "Usage" in result.stdout.decode() + result.stderr
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 2)


@pytest.mark.parametrize("args", [["tokenize", "in.fa"], ["tokenize", "in.fa", "-o", "x.npz", "--bogus"], ["nosuchcommand"]],
                         ids=["missing-output", "unknown-option", "unknown-command"])
def test_usage_errors_exit_2_without_traceback(run_vqdna, args: list[str]) -> None:
    result = run_vqdna(*args)
    assert "Traceback" not in result.stderr
    assert len(result.stderr_lines) == 1 and result.stderr.startswith("vqdna: error: "), result.stderr
    assert result.returncode == 2


def test_help_does_not_import_torch() -> None:
    """`--help` must be instant: torch (and the model) are imported only by commands that run."""
    result = run_vqdna_process("--help", python_flags=("-X", "importtime"))
    assert result.returncode == 0
    stdout = result.stdout.decode()
    assert "Usage" in stdout
    for command in ("tokenize", "embed", "classify", "train"):
        assert command in stdout
    modules = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "typer" in modules  # the import log was captured
    assert [m for m in modules if m == "torch" or m.startswith("torch.")] == []


def _commands(command, path=()):
    """(words after `vqdna`, click command) for the app and every subcommand."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_help_keeps_every_bracket_of_its_text() -> None:
    """Rich markup once ate `[plot]` from `pip install 'vqdna[plot]'`: every word of every help
    text that holds a bracket is printed by --help as written."""
    import typer.main
    from typer.testing import CliRunner

    from vqdna_cli.cli.app import app

    checked = 0
    for path, command in _commands(typer.main.get_command(app)):
        shown = CliRunner().invoke(app, [*path, "--help"], terminal_width=400).output
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        for word in (w for text in texts for w in text.split() if "[" in w or "]" in w):
            assert word in shown, (path, word)
            checked += 1
    assert checked > 0  # the hint above is among them


def test_every_option_is_described_in_the_docs() -> None:
    """--no-compress, --no-plot, --dropout and the LoRA options were in --help and the man pages
    only: a user reading README or docs/ could not learn of them. Each option is named there by
    one of its names (-o for --output, --no-plot for --plot/--no-plot)."""
    import typer.main

    from vqdna_cli.cli.app import app

    root = Path(__file__).resolve().parent.parent
    text = (root / "README.md").read_text() + "".join(p.read_text() for p in sorted((root / "docs").glob("*.md")))
    undescribed, checked = [], 0
    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            names = [*param.opts, *getattr(param, "secondary_opts", [])]
            if not any(n.startswith("-") for n in names) or "--help" in names:
                continue  # an argument (a file), not an option
            checked += 1
            if not any(re.search(re.escape(n) + r"(?![\w-])", text) for n in names):
                undescribed.append(" ".join(["vqdna", *path, names[0]]))
    assert checked > 100 and undescribed == []


def test_messages_keep_brackets(capsys) -> None:
    from vqdna_cli.cli.progress import report
    from vqdna_cli.mutations.plot import MISSING

    report(f"vqdna: {MISSING} -> out[1]/x", quiet=False)
    assert capsys.readouterr().err == f"vqdna: {MISSING} -> out[1]/x\n"


# --- tokenize ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenized(run_vqdna, tiny_model_dir: Path, multi_fasta: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tokenize") / "tokens.npz"
    result = run_vqdna("tokenize", multi_fasta, "--model", tiny_model_dir, "-o", out)
    check_ok(result)
    assert result.stdout == b""  # data goes to the file, messages to stderr
    return out


def test_tokenize_npz_keys_without_pickle(tokenized: Path) -> None:
    assert set(load(tokenized)) == TOKEN_KEYS


def test_tokenize_offsets_match_record_lengths(tokenized: Path, multi_records) -> None:
    npz = load(tokenized)
    lengths = [len(seq) for seq in multi_records.values()]
    assert npz["offsets"].tolist() == [0, *np.cumsum(lengths).tolist()]
    assert npz["tokens"].shape == (sum(lengths), 2)
    assert npz["tokens"].dtype == np.uint16
    assert int(npz["tokens"][:, 0].max()) < 8 and int(npz["tokens"][:, 1].max()) < 16
    assert npz["ids"].tolist() == list(MULTI_RECORDS)
    assert npz["chroms"].tolist() == list(MULTI_RECORDS)
    assert npz["starts"].tolist() == [0] * len(MULTI_RECORDS)


def test_tokenize_positions_are_start_plus_index(tokenized: Path) -> None:
    npz = load(tokenized)
    offsets = npz["offsets"]
    for i, start in enumerate(npz["starts"]):
        positions = npz["positions"][offsets[i] : offsets[i + 1]]
        assert positions.tolist() == (start + np.arange(offsets[i + 1] - offsets[i])).tolist()


def test_tokenize_metadata(tokenized: Path, tiny_model_dir: Path) -> None:
    metadata = json.loads(str(load(tokenized)["metadata"]))
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert metadata["vqdna_version"] == vqdna_cli.__version__
    assert metadata["model_hash"] == config["sha256"]["model.safetensors"][:16]
    assert metadata["format"] == "vqdna-tokens"
    assert metadata["records"] == len(MULTI_RECORDS)
    assert metadata["tokens"] == sum(MULTI_RECORDS.values())


def test_tokenize_tokens_are_the_models_tokens(tokenized: Path, multi_records) -> None:
    """The CLI output equals the model applied to each whole record (the fixture model is
    rebuilt from the same seed)."""
    import torch

    from vqdna_cli.data.alphabet import encode

    model = initialised_tiny_model()
    npz = load(tokenized)
    for i, seq in enumerate(multi_records.values()):
        with torch.no_grad():
            expected = model.quantize(torch.from_numpy(encode(seq).astype(np.int64))[None]).tokens[0].numpy()
        assert np.array_equal(npz["tokens"][npz["offsets"][i] : npz["offsets"][i + 1]], expected)


def test_tokenize_is_deterministic(run_vqdna, tokenized: Path, tiny_model_dir: Path, multi_fasta: Path) -> None:
    again = tokenized.parent / "again.npz"
    check_ok(run_vqdna("tokenize", multi_fasta, "--model", tiny_model_dir, "-o", again))
    first, second = load(tokenized), load(again)
    for key in TOKEN_KEYS:
        assert np.array_equal(first[key], second[key]), key
    assert again.read_bytes() == tokenized.read_bytes()  # byte-identical: md5 sums match


def test_tokens_do_not_depend_on_batch_size(run_vqdna, tokenized: Path, tiny_model_dir: Path,
                                            multi_fasta: Path) -> None:
    small = tokenized.parent / "small-batches.npz"
    check_ok(run_vqdna("tokenize", multi_fasta, "--model", tiny_model_dir, "--batch-tokens", "256", "-o", small))
    first, second = load(tokenized), load(small)
    for key in TOKEN_KEYS:
        assert np.array_equal(first[key], second[key]), key


@pytest.mark.parametrize("words", [["-@", "3"], ["-@3"], ["-t", "3"], ["--threads", "3"]])
def test_at_sign_is_threads_as_in_samtools(words: list[str]) -> None:
    import typer.main

    from vqdna_cli.cli.app import app

    root = typer.main.get_command(app)
    for name, command in (("tokenize", root.commands["tokenize"]),
                          ("tokenizer", root.commands["train"].commands["tokenizer"])):
        context = command.make_context(name, ["in.fa", "-o", "out", *words])
        assert context.params["threads"] == 3, name


def test_at_sign_run_gives_the_same_tokens(run_vqdna, tokenized: Path, tiny_model_dir: Path, multi_fasta: Path) -> None:
    again = tokenized.parent / "with_at.npz"
    check_ok(run_vqdna("tokenize", multi_fasta, "--model", tiny_model_dir, "-o", again, "-@", "1"))
    assert again.read_bytes() == tokenized.read_bytes()


def test_npz_bytes_do_not_depend_on_the_clock(tiny_model_dir: Path, multi_fasta: Path, tmp_path: Path, monkeypatch) -> None:
    """Runs at different times give the same bytes (zip members carry no wall-clock time)."""
    import time

    from vqdna_cli import api

    real_time = time.time
    outputs = []
    for shift in (0, 7 * 3600 + 3):
        monkeypatch.setattr(time, "time", lambda shift=shift: real_time() + shift)
        out = tmp_path / f"tokens_{shift}.npz"
        api.tokenize(InputSpec(str(multi_fasta)), out, RunOptions(tiny_model_dir, threads=1))
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_tokenize_region_coordinates(run_vqdna, tiny_model_dir: Path, multi_fasta: Path, tmp_path: Path) -> None:
    """`--region chr:11-40` is 1-based inclusive: 30 bases starting at 0-based position 10."""
    import pysam

    indexed = Path(shutil.copy(multi_fasta, tmp_path / "indexed.fa"))
    pysam.faidx(str(indexed))
    out = tmp_path / "region.npz"
    check_ok(run_vqdna("tokenize", indexed, "--region", "mid100:11-40", "--model", tiny_model_dir, "-o", out))
    npz = load(out)
    assert npz["chroms"].tolist() == ["mid100"]
    assert npz["starts"].tolist() == [10]
    assert npz["offsets"].tolist() == [0, 30]
    assert npz["positions"].tolist() == list(range(10, 40))


def test_ctrl_c_exits_130_with_a_message(monkeypatch, capsys, tmp_path: Path) -> None:
    """An interrupt is reported as `vqdna: error: interrupted`, exit code 130."""
    from vqdna_cli import api
    from vqdna_cli.cli.app import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "tokenize", interrupted)
    monkeypatch.setattr("sys.argv", ["vqdna", "tokenize", str(tmp_path / "in.fa"), "-o", str(tmp_path / "out.npz")])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 130
    assert "vqdna: error: interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_stop_during_torchs_import_is_held_until_it_is_done(monkeypatch, stop: str) -> None:
    """A Ctrl-C landing while torch's C++ code calls back into Python aborted the process
    (exit 134); a kill's exception raised inside numpy's or torch's import was a traceback or
    swallowed (the run went on, exit 0). Each is held until the import is over, then raised
    where vqdna turns it into its one line, and the usual handler is back."""
    import importlib
    import os
    import signal

    from vqdna_cli.cli import app, handling
    from vqdna_cli.errors import Terminated

    signum = getattr(signal, stop)
    handler = {"SIGINT": signal.default_int_handler, "SIGTERM": app._terminate, "SIGHUP": app._hang_up}[stop]

    def import_interrupted(name):
        os.kill(os.getpid(), signum)  # delivered now, in the middle of "the import"
        imported.append(name)

    imported = []
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setattr(importlib, "import_module", import_interrupted)
    before = signal.signal(signum, handler)  # main() of an earlier test ignores it
    try:
        with pytest.raises(KeyboardInterrupt if stop == "SIGINT" else Terminated):
            handling.import_torch_holding_ctrl_c()
        assert imported == ["torch"] and signal.getsignal(signum) is handler
    finally:
        signal.signal(signum, before)


@pytest.mark.parametrize("stop, code, said", [("KeyboardInterrupt", 130, "interrupted"),
                                              ("Terminated", 143, "terminated")])
def test_a_stop_while_typer_reads_the_command_line_is_one_line(monkeypatch, capsys, stop: str, code: int,
                                                               said: str) -> None:
    """Ctrl-C or a kill while Typer builds the command line (before a command's own handling)
    was a traceback through Typer."""
    import signal

    from vqdna_cli.cli import app
    from vqdna_cli.errors import Terminated

    def stopped(**kwargs):
        raise KeyboardInterrupt if stop == "KeyboardInterrupt" else Terminated(signal.SIGTERM, "terminated")

    monkeypatch.setattr(app, "app", stopped)
    assert app._run() == code
    assert capsys.readouterr().err == f"vqdna: error: {said}\n"


def test_a_ctrl_c_while_the_cli_loads_is_one_line(tmp_path: Path) -> None:
    """A Ctrl-C in the first tenth of a second (Typer and the commands loading) printed a
    traceback through Typer's import; it is one line, exit 130, as later."""
    import subprocess

    script = ("import sys\n"
              "class Stop:\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              "        if name == 'typer':\n"
              "            raise KeyboardInterrupt\n"
              "sys.meta_path.insert(0, Stop())\n"
              "sys.modules.pop('typer', None)\n"
              "from vqdna_cli.cli.entry import main\n"
              "main()\n")
    result = subprocess.run([sys.executable, "-c", script, "--version"], capture_output=True, timeout=120)
    assert result.returncode == 130 and result.stderr.decode() == "vqdna: error: interrupted\n"


def test_closed_stdout_pipe_is_not_an_error(run_vqdna, tiny_model_dir: Path, short_fasta: Path) -> None:
    """`vqdna classify ... | head -1`: the reader going away is not a failure."""
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, short_fasta, stdout_closed=True)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0


@pytest.mark.parametrize("closed, args, message, code", [
    ("<&-", ["tokenize", "-", "-o", "OUT.npz"], "cannot read stdin (-): it is closed", 2),
    (">&-", ["classify", "--task", "toy", "FASTA"], "cannot write to stdout: it is closed; give -o FILE", 4),
    # these printed nothing and exited 0
    (">&-", ["classify", "--list-tasks"], "cannot write to stdout: it is closed", 4),
    (">&-", ["--version"], "cannot write to stdout: it is closed", 4),
])
def test_a_stream_closed_at_start_is_one_line(tiny_model_dir: Path, short_fasta: Path, tmp_path: Path,
                                              closed: str, args: list[str], message: str, code: int) -> None:
    """`vqdna ... <&-` (a scheduler that starts jobs without stdin): Python has no sys.stdin
    at all; that is said in one line, not with an AttributeError's traceback."""
    import subprocess

    given = [str(tmp_path / "out.npz") if a == "OUT.npz" else str(short_fasta) if a == "FASTA" else a for a in args]
    shell = f'exec {closed}; exec "$0" "$@"'
    model = [] if args == ["--version"] else ["-m", str(tiny_model_dir)]
    result = subprocess.run(["sh", "-c", shell, sys.executable, "-m", "vqdna_cli", *given, *model],
                            capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    stderr = result.stderr.decode()
    assert result.returncode == code and stderr.startswith(f"vqdna: error: {message}") and stderr.count("\n") == 1
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("command", ["tokenize", "mutations"])
def test_stdin_that_is_a_terminal_is_refused_not_waited_on(tiny_model_dir: Path, short_fasta: Path,
                                                           tmp_path: Path, command: str) -> None:
    """`vqdna tokenize -` typed with nothing piped in would wait silently for input from the
    keyboard: one line says what is missing instead."""
    import os
    import pty
    import subprocess

    args = {"tokenize": ["tokenize", "-", "-o", str(tmp_path / "out.npz")],
            "mutations": ["mutations", "-", "--reference", str(short_fasta), "-o", str(tmp_path / "calls")]}[command]
    terminal, keyboard = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "vqdna_cli", *args, "-m", str(tiny_model_dir)],
                                capture_output=True, timeout=120, stdin=keyboard)
    finally:
        os.close(terminal), os.close(keyboard)
    stderr = result.stderr.decode()
    assert stderr.startswith("vqdna: error: stdin (-) is a terminal, not a pipe"), stderr
    assert result.returncode == 2 and stderr.count("\n") == 1
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("error, message", [
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                  "tried to allocate 1638400000 bytes. Error code 12 (Cannot allocate memory)"),
     "out of memory (an allocation of 1.5 GiB failed): lower the batch size (--batch-tokens; train: --batch) "
     "and run again"),
    (RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.10 GiB"),
     "out of memory on the GPU: lower the batch size (--batch-tokens; train: --batch) and run again, "
     "or use --device cpu"),
    (MemoryError(), "out of memory: lower the batch size (--batch-tokens; train: --batch) and run again"),
])
def test_memory_running_out_is_one_line_that_names_the_fix(capsys, error: BaseException, message: str) -> None:
    """`--batch 100000` on a laptop: PyTorch's allocator fails with a C++ traceback's worth of
    text; the user needs to know it was memory and which option to lower."""
    import typer

    from vqdna_cli.cli.handling import one_line_errors

    @one_line_errors
    def command():
        raise error

    with pytest.raises(typer.Exit) as stopped:
        command()
    assert stopped.value.exit_code == 1 and capsys.readouterr().err == f"vqdna: error: {message}\n"


def test_a_batch_too_big_for_the_memory_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """The same, for real: a training batch of 3,000 windows of 16 kb under a 4 GB address-space limit."""
    import resource
    import subprocess

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))

    genome, out = tmp_path / "genome.fa", tmp_path / "weights"
    genome.write_text(fasta_text({"g": random_dna(20_000, 3)}))
    result = subprocess.run([sys.executable, "-m", "vqdna_cli", "train", "tokenizer", str(genome), "-o", str(out),
                             "--preset", "tiny", "--steps", "1", "--window", "16384", "--batch", "3000", "-t", "1"],
                            capture_output=True, timeout=300, preexec_fn=limit_memory)
    stderr = result.stderr.decode()
    assert result.returncode == 1 and stderr.startswith("vqdna: error: out of memory"), stderr
    assert stderr.count("\n") == 1 and not out.exists()


def test_a_stderr_that_cannot_be_written_changes_neither_outputs_nor_exit_codes(tiny_model_dir: Path,
                                                                              short_fasta: Path, tmp_path: Path):
    """A full log disk (`2>/dev/full`) made a run that wrote its output exit 1; with stderr closed
    (`2>&-`) the error line went into stdout, the data."""
    import subprocess

    base = [sys.executable, "-m", "vqdna_cli"]
    out = tmp_path / "tokens.npz"
    tokenize = [*base, "tokenize", str(short_fasta), "-o", str(out), "-m", str(tiny_model_dir)]
    with open("/dev/full", "w") as full:
        assert subprocess.run(tokenize, stderr=full, timeout=120).returncode == 0 and out.exists()
        assert subprocess.run(tokenize, stderr=full, timeout=120).returncode == 4  # exists: still exit 4
    closed = subprocess.run(["sh", "-c", 'exec 2>&-; exec "$0" "$@"', *base, "classify", "--task", "nosuch",
                             str(short_fasta), "-m", str(tiny_model_dir)], capture_output=True, timeout=120)
    assert closed.returncode == 3 and closed.stdout == b""


@pytest.mark.parametrize("args", [["--version"], ["tokenize", "--help"]])
def test_help_and_version_into_a_full_disk_are_one_line(args: list[str]) -> None:
    import subprocess

    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "vqdna_cli", *args], stdout=full, stderr=subprocess.PIPE,
                                timeout=120)
    assert result.returncode == 4 and result.stderr.decode() == \
        "vqdna: error: cannot write to stdout: No space left on device\n"


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["classify", "--help"]])
def test_help_and_version_into_a_pipe_whose_reader_went_exit_0(args: list[str]) -> None:
    """`vqdna classify --help | head -1`: click answered the broken pipe with exit 1, which a
    pipeline under `set -o pipefail` took for a failure."""
    import os
    import subprocess

    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first byte: every write is EPIPE
    try:
        result = subprocess.run([sys.executable, "-m", "vqdna_cli", *args], stdout=writer, stderr=subprocess.PIPE,
                                timeout=120)
    finally:
        os.close(writer)
    assert result.returncode == 0 and result.stderr == b""


def test_stdout_is_utf8_whatever_the_locale(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A record ID with non-ASCII letters under an ASCII stdout ended in a traceback after the
    header line; stdout now gets the bytes -o FILE gets."""
    import os
    import subprocess

    fasta = tmp_path / "named.fa"
    fasta.write_text(fasta_text({"séq_ü1": random_dna(80, 3)}), encoding="utf-8")
    args = [sys.executable, "-m", "vqdna_cli", "classify", "--task", "toy", "-m", str(tiny_model_dir), str(fasta), "-q"]
    piped = subprocess.run(args, capture_output=True, timeout=120, env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert piped.returncode == 0, piped.stderr.decode()
    assert subprocess.run([*args, "-o", str(tmp_path / "t.tsv")], timeout=120).returncode == 0
    assert piped.stdout == (tmp_path / "t.tsv").read_bytes()


def test_the_progress_bar_on_a_terminal_draws_and_ends(tiny_model_dir: Path, short_fasta: Path, tmp_path: Path):
    """On a terminal, rich puts a proxy in sys.stderr's place while the bar is live: messages
    written through it must not come back into the bar (a version of vqdna looped there)."""
    import os
    import pty
    import subprocess

    terminal, screen = pty.openpty()
    try:
        run = subprocess.run([sys.executable, "-m", "vqdna_cli", "embed", str(short_fasta), "-o", str(tmp_path / "e.npz"),
                              "-m", str(tiny_model_dir)], stderr=screen, stdout=subprocess.DEVNULL, timeout=120)
        os.close(screen)
        shown = b""
        while True:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # the terminal's other end closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(terminal)
    assert run.returncode == 0 and b"embedded" in shown


def test_every_imported_package_is_a_declared_dependency() -> None:
    """A clean `pip install vqdna` must be able to import every module the package imports."""
    import ast
    import importlib.metadata

    tomllib = pytest.importorskip("tomllib")
    package = Path(vqdna_cli.__file__).parent
    project = tomllib.loads((package.parent / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    # The `plot` extra's matplotlib is imported only after a check that it is installed
    # (`vqdna mutations` skips mutations.png with a notice without it).
    declared |= {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in project["optional-dependencies"]["plot"]}
    imported = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"vqdna_cli", "__future__"}
    distributions = importlib.metadata.packages_distributions()
    undeclared = sorted(m for m in third_party
                        if not {d.lower() for d in distributions.get(m, [m])} & declared)
    assert undeclared == []


def test_existing_output_is_kept_without_force(run_vqdna, tiny_model_dir: Path, multi_fasta: Path, tmp_path: Path) -> None:
    out = tmp_path / "tokens.npz"
    out.write_bytes(b"precious")
    result = run_vqdna("tokenize", multi_fasta, "--model", tiny_model_dir, "-o", out)
    assert result.returncode != 0
    assert result.stderr_lines == [f"vqdna: error: output {out} exists: use --force to overwrite it"]
    assert out.read_bytes() == b"precious"


def test_force_overwrites(run_vqdna, tiny_model_dir: Path, multi_fasta: Path, tmp_path: Path) -> None:
    out = tmp_path / "tokens.npz"
    out.write_bytes(b"old")
    check_ok(run_vqdna("tokenize", multi_fasta, "--model", tiny_model_dir, "-o", out, "--force"))
    assert load(out)["ids"].tolist() == list(MULTI_RECORDS)
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.npz"]  # no temporary file left


def test_tokenize_stdin(run_vqdna, tokenized: Path, tiny_model_dir: Path, multi_fasta: Path, tmp_path: Path) -> None:
    out = tmp_path / "stdin.npz"
    check_ok(run_vqdna("tokenize", "-", "--model", tiny_model_dir, "-o", out, stdin=multi_fasta))
    from_stdin, from_file = load(out), load(tokenized)
    assert from_stdin["ids"].tolist() == from_file["ids"].tolist()
    assert np.array_equal(from_stdin["tokens"], from_file["tokens"])
    assert json.loads(str(from_stdin["metadata"]))["input"] == "-"


def test_tokenize_gzip_equals_plain(run_vqdna, tokenized: Path, tiny_model_dir: Path, multi_fasta: Path, tmp_path: Path) -> None:
    gz = write_gzip(tmp_path / "multi.fa.gz", multi_fasta.read_text())
    out = tmp_path / "gz.npz"
    check_ok(run_vqdna("tokenize", gz, "--model", tiny_model_dir, "-o", out))
    assert np.array_equal(load(out)["tokens"], load(tokenized)["tokens"])
    assert np.array_equal(load(out)["offsets"], load(tokenized)["offsets"])


# --- embed ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded(run_vqdna, tiny_model_dir: Path, multi_fasta: Path, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("embed") / "emb.npz"
    check_ok(run_vqdna("embed", multi_fasta, "--model", tiny_model_dir, "-o", out, "--per-token"))
    return load(out)


def test_embed_one_row_per_window(embedded: dict) -> None:
    windows = [transformer_windows(n, TINY_WINDOW, TINY_WINDOW) for n in MULTI_RECORDS.values()]
    counts = [len(w) for w in windows]
    assert counts == [1, 2, 2, 4]  # 30, 65, 100 and 200 bp
    assert embedded["embeddings"].shape == (sum(counts), 16)
    assert embedded["embeddings"].dtype == np.float32
    assert np.isfinite(embedded["embeddings"]).all()
    assert embedded["window_offsets"].tolist() == [0, *np.cumsum(counts).tolist()]


def test_embed_window_coordinates(embedded: dict) -> None:
    expected = [w for n in MULTI_RECORDS.values() for w in transformer_windows(n, TINY_WINDOW, TINY_WINDOW)]
    got = list(zip(embedded["window_starts"].tolist(), embedded["window_ends"].tolist()))
    assert got == expected
    assert all(0 < end - start <= TINY_WINDOW for start, end in got)
    assert embedded["lengths"].tolist() == list(MULTI_RECORDS.values())
    for i, length in enumerate(embedded["lengths"]):
        rows = slice(embedded["window_offsets"][i], embedded["window_offsets"][i + 1])
        assert embedded["window_starts"][rows].min() == 0
        assert embedded["window_ends"][rows].max() == length
    metadata = json.loads(str(embedded["metadata"]))
    assert metadata["format"] == "vqdna-embeddings"
    assert metadata["windows"] == len(expected)


def test_embed_per_token_vectors(embedded: dict) -> None:
    lengths = list(MULTI_RECORDS.values())
    assert embedded["token_embeddings"].shape == (sum(lengths), 16)
    assert embedded["token_offsets"].tolist() == [0, *np.cumsum(lengths).tolist()]
    # A record that fits one window: its pooled vector is the mean of its token vectors.
    np.testing.assert_allclose(embedded["embeddings"][0], embedded["token_embeddings"][:30].mean(0), atol=1e-5)


# --- classify ---------------------------------------------------------------------------------


def data_lines(stdout: bytes) -> tuple[list[str], list[list[str]]]:
    """(header fields, rows) of classify output: the first line is the header (what R's
    read.delim and pandas' read_csv take by default)."""
    lines = stdout.decode().splitlines()
    assert not lines[0].startswith("##")
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def test_classify_tsv_on_stdout(run_vqdna, tiny_model_dir: Path, short_fasta: Path) -> None:
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, short_fasta)
    check_ok(result)
    header, rows = data_lines(result.stdout)
    assert header == ["id", "label", "class_index", "p_neg", "p_pos"]
    assert [row[0] for row in rows] == list(SHORT_RECORDS)
    for _, label, index, p_neg, p_pos in rows:
        assert len(p_neg.replace("0.", "").lstrip("0")) >= 5  # %.6g, not 4 decimals
        p = [float(p_neg), float(p_pos)]
        assert sum(p) == pytest.approx(1.0, abs=2e-6)
        assert label == ["neg", "pos"][int(np.argmax(p))]
        assert index == str(int(np.argmax(p)))
    assert result.stderr_lines[-1] == (f"vqdna: classified 3 sequences with task toy, vqdna {vqdna_cli.__version__}, "
                                       f"model {model_hash_of(tiny_model_dir)}, head {head_hash_of(tiny_model_dir)} "
                                       "-> stdout")


def head_hash_of(model_dir: Path, task: str = "toy") -> str:
    return json.loads((model_dir / "heads" / task / "head.json").read_text())["sha256"]["head.safetensors"][:16]


def model_hash_of(model_dir: Path) -> str:
    """The model hash outputs name (the first 16 hex digits of model.safetensors' SHA-256)."""
    config = json.loads((model_dir / "config.json").read_text())
    return config["sha256"]["model.safetensors"][:16]


@pytest.mark.parametrize("output", [None, "mixed.tsv", "mixed.txt"])
def test_auto_format_is_tsv_unless_the_output_ends_in_bed(run_vqdna, tiny_model_dir: Path, multi_fasta: Path,
                                                          tmp_path: Path, output: str | None) -> None:
    """Records longer than a window no longer turn a TSV into BED: -o's name decides."""
    args = ["-o", tmp_path / output] if output else []
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, multi_fasta, *args)
    check_ok(result)
    header, rows = data_lines((tmp_path / output).read_bytes() if output else result.stdout)
    assert header[0] == "id" and [row[0] for row in rows] == list(MULTI_RECORDS)


def test_classify_bed_output_gives_windows(run_vqdna, tiny_model_dir: Path, multi_fasta: Path, tmp_path: Path) -> None:
    out = tmp_path / "windows.BED"
    check_ok(run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, multi_fasta, "-o", out))
    header, rows = data_lines(out.read_bytes())
    assert header == ["#chrom", "start", "end", "name", "score", "strand", "id", "class_index", "p_neg", "p_pos"]
    assert len(rows) == sum(len(transformer_windows(n, TINY_WINDOW, TINY_WINDOW)) for n in MULTI_RECORDS.values())
    for chrom, start, end, name, score, strand, record_id, _, p_neg, p_pos in rows:
        assert int(start) < int(end)
        assert 0 <= int(score) <= 1000
        assert int(score) == pytest.approx(1000 * max(float(p_neg), float(p_pos)), abs=1)
        assert name in ("neg", "pos") and strand == "."
        assert chrom == record_id and chrom in MULTI_RECORDS
    on_stdout = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, multi_fasta, "--format", "bed")
    assert on_stdout.stdout == out.read_bytes()


def test_provenance_in_a_sidecar_and_on_request_in_comments(run_vqdna, tiny_model_dir: Path, short_fasta: Path,
                                                            tmp_path: Path) -> None:
    plain, commented = tmp_path / "plain.tsv", tmp_path / "commented.tsv"
    check_ok(run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, short_fasta, "-o", plain))
    check_ok(run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, short_fasta, "-o", commented,
                       "--header-comments"))
    sidecar = json.loads((tmp_path / "plain.tsv.json").read_text())
    assert sidecar["format"] == "vqdna-predictions" and sidecar["vqdna_version"] == vqdna_cli.__version__
    assert sidecar["task"] == "toy" and sidecar["input"] == str(short_fasta) and sidecar["rows"] == 3
    assert sidecar["model_hash"] == model_hash_of(tiny_model_dir)
    # and the head: one retrained over the same model answers otherwise under the same model hash
    head = json.loads((tiny_model_dir / "heads" / "toy" / "head.json").read_text())["sha256"]["head.safetensors"]
    assert sidecar["head_sha256"] == head and sidecar["head_hash"] == head[:16]
    assert sidecar["columns"] == plain.read_text().splitlines()[0].split("\t")
    lines = commented.read_text().splitlines()
    comments = [line for line in lines if line.startswith("##")]
    assert lines[: len(comments)] == comments  # all before the header
    assert f"##vqdna_version={vqdna_cli.__version__}" in comments and "##task=toy" in comments
    assert f"##model_hash={sidecar['model_hash']}" in comments and f"##head_hash={head[:16]}" in comments
    assert lines[len(comments):] == plain.read_text().splitlines()  # the same table after them


def test_classify_warns_about_lengths_far_from_the_heads_training(run_vqdna, tiny_model_dir: Path,
                                                                   short_fasta: Path, tmp_path: Path) -> None:
    """The toy head trained on 40 bp rows: 30-64 bp records pass quietly, a 12 bp one is
    predicted but named in a one-line warning on stderr (not with --quiet)."""
    quiet_ok = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, short_fasta)
    check_ok(quiet_ok)
    assert "warning" not in quiet_ok.stderr
    odd = tmp_path / "odd.fa"
    odd.write_text(fasta_text({"usual": random_dna(40, 1), "tiny": random_dna(12, 2)}))
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, odd)
    check_ok(result)
    assert len(data_lines(result.stdout)[1]) == 2
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == ["vqdna: warning: 1 of 2 windows is far from the lengths the toy head was trained on "
                        "(40 bp); their probabilities are extrapolations"]
    silent = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, odd, "--quiet")
    assert silent.stdout == result.stdout and "warning" not in silent.stderr


def frozen_head(**keys):
    """A frozen-model head's HeadInfo with these head.json `keys`."""
    from vqdna_cli.head_info import HeadInfo

    return HeadInfo.from_json({"labels": ["0", "1"], "class_names": ["no", "yes"], "adapter": "frozen",
                               "sha256": {"head.safetensors": "0" * 64}, **keys}, Path("head.json"))


def test_a_whole_record_heads_features_are_its_windows_pooled_and_its_own_frequencies() -> None:
    """Two windows (64 and 32 bases): the pooled vector is their length-weighted mean; the code
    frequencies are the record's, not the windows'."""
    from vqdna_cli.head_features import head_features
    from vqdna_cli.runner import WindowVectors
    from vqdna_cli.io.records import SequenceRecord

    result = WindowVectors(SequenceRecord("r", "A" * 96, "r"), [(0, 64), (64, 96)],
                           np.array([[3.0, 0.0], [0.0, 3.0]], np.float32), None,
                           np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32), None,
                           np.array([0.25, 0.25, 0.5], np.float32))
    window_rows = head_features(frozen_head(), result)
    assert window_rows.tolist() == [[3, 0, 1, 0, 0], [0, 3, 0, 1, 0]]
    whole = head_features(frozen_head(whole_record=True), result)
    np.testing.assert_allclose(whole, [[2.0, 1.0, 0.25, 0.25, 0.5]])


def test_what_counts_as_far_from_a_heads_training_lengths() -> None:
    from vqdna_cli.head_features import outside_training_lengths, training_window_lengths

    assert training_window_lengths([40, 30, 1000], 512) == [30, 512]  # 1000 bp: two full windows
    assert training_window_lengths([40, 30, 1000], None) == [30, 1000]  # a whole-record head's
    whole = frozen_head(train_window_lengths=[100, 120])
    assert [outside_training_lengths(whole, n) for n in (49, 50, 240, 241)] == [True, False, False, True]
    at_a_site = frozen_head(train_window_lengths=[100, 120], center_tokens=8)  # only its own lengths
    assert [outside_training_lengths(at_a_site, n) for n in (99, 100, 120, 121)] == [True, False, False, True]
    assert not outside_training_lengths(frozen_head(), 3)  # trained before lengths were recorded


def test_classify_list_tasks(run_vqdna, tiny_model_dir: Path) -> None:
    result = run_vqdna("classify", "--list-tasks", "--model", tiny_model_dir)
    check_ok(result)
    lines = result.stdout.decode().splitlines()
    assert lines[0].split("\t")[:2] == ["task", "classes"]
    assert [line.split("\t")[:2] for line in lines[1:]] == [["toy", "neg,pos"]]
    header, row = lines[0].split("\t"), lines[1].split("\t")
    assert header[5] == "reads" and row[5] == "whole window"
    assert header[6] == "lengths" and row[6] == "40 bp"  # toy_csv's rows
    assert header[3] == "real_genome_validation" and row[3] == "none"  # no real-genome set for the toy head


def test_list_tasks_shows_what_each_head_was_validated_on(capsys) -> None:
    from vqdna_cli.cli.classify import _print_tasks

    test = {"mcc": 0.8145, "macro_f1": 0.907, "n": 5920, "test_files": ["/data/gue/prom/prom_300_all/test.csv.gz"]}
    real = {"region": "chrX:30-40 Mb", "set": "TSS of protein-coding genes vs all backgrounds", "n_positive": 31,
            "n_negative": 155, "mcc": 0.8123, "best_rule": {"rule": "GC", "threshold": 0.6, "mcc": 0.314}}
    _print_tasks([{"task": "promoter", "class_names": ["no", "yes"], "test": test, "real_genome": real},
                  {"task": "tf", "class_names": ["no", "yes"], "test": test},
                  {"task": "new", "class_names": ["no", "yes"]},
                  {"task": "mine", "class_names": ["no", "yes"], "validation": {"valid_mcc": 0.61, "valid_n": 90}},
                  {"task": "splice", "class_names": ["no", "yes"], "real_genome": {**real, "mcc_interval": [0.7, 0.9]}}])
    header, *rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    column = {name: i for i, name in enumerate(header)}
    promoter, tf, new, mine, splice = ({name: row[i] for name, i in column.items()} for row in rows)
    # with the rows behind it: a score of 3 rows looked as grounded as one of 5,920
    assert promoter["test_metric"] == "MCC 0.815 (macro F1 0.907) on 5,920 rows of prom_300_all/test.csv.gz"
    assert promoter["real_genome_validation"] == ("MCC 0.812 on chrX:30-40 Mb (TSS of protein-coding genes vs all "
                                                  "backgrounds, 31:155; best one-line rule, GC: 0.314)")
    assert tf["real_genome_validation"] == "none" and tf["test_metric"].startswith("MCC 0.815")
    assert new["test_metric"] == "not evaluated" and new["real_genome_validation"] == "none"
    assert mine["test_metric"] == "not evaluated (validation MCC 0.610, on the rows that selected it)"
    assert splice["real_genome_validation"].startswith("MCC 0.812 (95 % interval 0.700 to 0.900) on chrX:30-40 Mb")


def test_list_tasks_says_where_a_head_reads_tokens_at_a_fixed_place() -> None:
    from vqdna_cli.api import what_head_reads

    assert what_head_reads({"adapter": "frozen", "center_tokens": 64, "center_at": 232}) == "whole window + bases 200..263"
    assert what_head_reads({"adapter": "frozen", "center_tokens": 32}) == "whole window + its 32 middle bases"
    assert what_head_reads({"adapter": "lora"}) == "whole window"
    assert what_head_reads({"adapter": "frozen", "both_strands": True}) == "whole window, both strands"
    assert what_head_reads({"adapter": "frozen", "whole_record": True}) == "whole sequence"
    assert what_head_reads({"adapter": "frozen", "all_layers": True, "both_strands": True}) == \
        "whole window, every layer, both strands"
    assert what_head_reads({"adapter": "frozen", "center_tokens": 32, "segments": 8}) == \
        "whole window in 8 parts + its 32 middle bases"


def test_head_reads_round_trips_through_head_json_and_ignores_other_adapters():
    from vqdna_cli.head_info import HeadReads

    for reads in (HeadReads(), HeadReads(32), HeadReads(64, 232), HeadReads(both_strands=True),
                  HeadReads(whole_record=True), HeadReads(all_layers=True), HeadReads(segments=8)):
        assert HeadReads.of({"adapter": "frozen", **reads.as_info()}) == reads
    assert HeadReads().as_info() == {}  # heads without them keep head.json as it was
    assert HeadReads.of({"adapter": "lora", "center_tokens": 8, "both_strands": True}) == HeadReads()


def test_classify_from_stdin_to_file(run_vqdna, tiny_model_dir: Path, short_fasta: Path, tmp_path: Path) -> None:
    out = tmp_path / "pred.tsv"
    check_ok(run_vqdna("classify", "-", "--task", "toy", "--model", tiny_model_dir, "-o", out, stdin=short_fasta))
    header, rows = data_lines(out.read_bytes())
    assert header[0] == "id" and [row[0] for row in rows] == list(SHORT_RECORDS)


def test_bam_and_fastq_on_stdin_tokenize_as_their_files(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """`samtools view -b ... | vqdna tokenize -` and `zcat reads.fq.gz | vqdna tokenize -`."""
    import pysam

    reads = {"r1": random_dna(40, 1), "r2": random_dna(70, 2)}
    bam = tmp_path / "reads.bam"
    with pysam.AlignmentFile(str(bam), "wb", header={"HD": {"VN": "1.6"}}) as out:
        for name, seq in reads.items():
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.flag, read.query_sequence = name, 4, seq
            out.write(read)
    fastq = tmp_path / "reads.fq.gz"
    write_gzip(fastq, "".join(f"@{name}\n{seq}\n+\n{'I' * len(seq)}\n" for name, seq in reads.items()))
    fasta = tmp_path / "reads.fa"
    fasta.write_text(fasta_text(reads))
    check_ok(run_vqdna("tokenize", fasta, "--model", tiny_model_dir, "-o", tmp_path / "fasta.npz"))
    expected = load(tmp_path / "fasta.npz")
    for source in (bam, fastq):
        out = tmp_path / f"{source.name}.npz"
        check_ok(run_vqdna("tokenize", "-", "--model", tiny_model_dir, "-o", out, stdin=source))
        got = load(out)
        assert got["ids"].tolist() == ["r1", "r2"], source.name
        assert np.array_equal(got["tokens"], expected["tokens"]), source.name


def test_embedding_does_not_depend_on_other_records(tiny_model_dir: Path, short_fasta: Path, tmp_path: Path) -> None:
    """Batching pads windows to the longest one; a record's vectors must not change with
    the company it keeps in a file."""
    from vqdna_cli import api

    alone = tmp_path / "alone.fa"
    alone.write_text("".join(short_fasta.read_text().partition(">s50")[0]))  # only s30
    vectors = []
    for source in (alone, short_fasta):
        out = tmp_path / f"{source.stem}.npz"
        api.embed(InputSpec(str(source)), out, RunOptions(tiny_model_dir, threads=1), EmbedOptions(per_token=True))
        vectors.append(load(out))
    assert vectors[0]["ids"].tolist() == ["s30"]
    np.testing.assert_allclose(vectors[0]["embeddings"][0], vectors[1]["embeddings"][0], atol=1e-5)
    np.testing.assert_allclose(vectors[0]["token_embeddings"], vectors[1]["token_embeddings"][:30], atol=1e-5)


def test_class_index_is_an_index_with_text_labels(model_copy: Path, tmp_path: Path) -> None:
    from vqdna_cli import api

    rows = ["sequence,label"] + [f"{line.split(',')[0]},{'pos' if line.endswith('1') else 'neg'}"
                                 for line in toy_csv(tmp_path / "toy.csv").read_text().splitlines()[1:]]
    text_csv = tmp_path / "text.csv"
    text_csv.write_text("\n".join(rows) + "\n")
    api.finetune(HeadRows((str(text_csv),)), FinetuneSettings("text", epochs=1, batch=16),
                 RunOptions(model_copy, threads=1), TrainControl(quiet=True))
    fasta = tmp_path / "in.fa"
    fasta.write_text(fasta_text({"a": rows[1].split(",")[0], "b": rows[2].split(",")[0]}))
    out = tmp_path / "pred.tsv"
    api.classify(InputSpec(str(fasta)), out, "text", RunOptions(model_copy, threads=1))
    header, table = data_lines(out.read_bytes())
    assert header == ["id", "label", "class_index", "p_neg", "p_pos"]
    for _, label, index, *_ in table:
        assert index in ("0", "1")
        assert label == ["neg", "pos"][int(index)]


def test_clipped_and_gapped_reads_keep_their_reference_coordinates(run_vqdna, tiny_model_dir: Path,
                                                                   tmp_path: Path) -> None:
    """tokenize's positions, embed's windows and classify's BED follow each read's CIGAR."""
    import pysam

    bam = tmp_path / "reads.bam"
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chrA", "LN": 1000}]}
    reads = [("soft", 100, "10S20M", random_dna(30, 1)), ("del", 300, "10M10D20M", random_dna(30, 2)),
             ("ins", 500, "10M5I15M", random_dna(30, 3))]
    with pysam.AlignmentFile(str(bam), "wb", header=header) as out:
        for name, start, cigar, seq in reads:
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.flag, read.reference_id, read.reference_start = name, 0, 0, start
            read.cigarstring, read.query_sequence, read.mapping_quality = cigar, seq, 60
            out.write(read)
    tokens, emb, bed = tmp_path / "t.npz", tmp_path / "e.npz", tmp_path / "c.bed"
    for args in (("tokenize", bam, "-o", tokens), ("embed", bam, "-o", emb), ("classify", "--task", "toy", bam, "-o", bed)):
        check_ok(run_vqdna(*args, "--model", tiny_model_dir, "-q"))
    off = np.iinfo(np.uint32).max
    npz = load(tokens)
    positions = np.split(npz["positions"], npz["offsets"][1:-1])
    assert positions[0].tolist() == [off] * 10 + list(range(100, 120))
    assert positions[1].tolist() == list(range(300, 310)) + list(range(320, 340))
    assert positions[2].tolist() == list(range(500, 510)) + [off] * 5 + list(range(510, 525))
    assert npz["starts"].tolist() == [100, 300, 500]
    spans = [(100, 120), (300, 340), (500, 525)]
    embedded = load(emb)
    assert list(zip(embedded["window_starts"].tolist(), embedded["window_ends"].tolist())) == spans
    _, rows = data_lines(bed.read_bytes())
    assert [(int(row[1]), int(row[2])) for row in rows] == spans


def test_list_tasks_names_data_files_without_a_stray_slash() -> None:
    from vqdna_cli.cli.classify import _short_path

    assert _short_path("/data/gue/prom/prom_300_all/test.csv.gz") == "prom_300_all/test.csv.gz"
    assert _short_path("t.csv") == "t.csv" and _short_path("/t.csv") == "t.csv"
    # tf-human-0 and tf-mouse-0 both showed 0/train.csv.gz
    assert _short_path("/data/gue/tf/0/train.csv.gz") == "tf/0/train.csv.gz"
    assert _short_path("/data/gue/mouse/0/train.csv.gz") == "mouse/0/train.csv.gz"
    assert _short_path("0/t.csv") == "0/t.csv"
