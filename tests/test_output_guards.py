"""Outputs beside the main one and outputs in odd places: a sidecar is guarded like its
table, a device is written as a stream, a file that appears during a run is kept, an
input's index is never an output, and compressed-looking text outputs are refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pysam
import pytest
from conftest import run_vqdna_process

from vqdna_cli.errors import OutputError
from vqdna_cli.io.writers import atomic_file, check_output, write_npz


def test_the_sidecar_of_an_existing_file_is_kept_without_force(run_vqdna, tiny_model_dir: Path, short_fasta: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "calls.tsv"
    (tmp_path / "calls.tsv.json").write_text("precious\n")
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, short_fasta, "-o", out)
    assert result.returncode == 4 and result.stderr_lines == [
        f"vqdna: error: output {out}.json exists: use --force to overwrite it"]
    assert (tmp_path / "calls.tsv.json").read_text() == "precious\n" and not out.exists()
    assert run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, short_fasta, "-o", out,
                     "--force").returncode == 0
    assert json.loads((tmp_path / "calls.tsv.json").read_text())["task"] == "toy"


def test_a_sidecar_is_never_an_input_nor_a_folder(run_vqdna, tiny_model_dir: Path, short_fasta: Path,
                                                   tmp_path: Path) -> None:
    source = tmp_path / "seqs.tsv.json"  # an input whose name is the sidecar's
    source.write_bytes(short_fasta.read_bytes())
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, source, "-o", tmp_path / "seqs.tsv",
                       "--force")
    assert result.returncode == 4 and "is also an input" in result.stderr_lines[0]
    assert source.read_bytes() == short_fasta.read_bytes()
    (tmp_path / "b.tsv.json").mkdir()
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, short_fasta, "-o", tmp_path / "b.tsv")
    assert result.returncode == 4 and len(result.stderr_lines) == 1 and "is a directory" in result.stderr_lines[0]
    assert not (tmp_path / "b.tsv").exists()


def test_dev_null_takes_npz_and_tables_and_gets_no_sidecar(run_vqdna, tiny_model_dir: Path, short_fasta: Path) -> None:
    for args in (("tokenize", short_fasta, "-o", "/dev/null"), ("embed", short_fasta, "-o", "/dev/null"),
                 ("classify", "--task", "toy", short_fasta, "-o", "/dev/null")):
        result = run_vqdna(*args, "--model", tiny_model_dir, "-q")
        assert result.returncode == 0, result.stderr
    assert not Path("/dev/null.json").exists()


def test_an_npz_is_the_same_bytes_in_a_file_on_stdout_and_through_a_fifo(run_vqdna, tiny_model_dir: Path,
                                                                        short_fasta: Path, tmp_path: Path) -> None:
    """zipfile writes differently where it cannot seek; md5 checks must not see the difference."""
    import threading

    out, fifo = tmp_path / "tokens.npz", tmp_path / "fifo"
    common = ("tokenize", short_fasta, "--model", tiny_model_dir, "-q")
    assert run_vqdna(*common, "-o", out).returncode == 0
    piped = run_vqdna(*common, "-o", "-")  # stdout is a pipe here
    assert piped.returncode == 0 and piped.stdout == out.read_bytes()
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert run_vqdna(*common, "-o", fifo).returncode == 0
    reader.join(timeout=60)
    assert received == [out.read_bytes()]


def test_a_file_that_appears_during_the_run_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "tokens.npz"
    check_output(out, force=False)
    out.write_bytes(b"written by someone else meanwhile")
    with pytest.raises(OutputError, match="appeared while this run was writing it"):
        write_npz(out, {"a": np.arange(3)}, {"made_by": "test"})
    assert out.read_bytes() == b"written by someone else meanwhile"
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.npz"]  # no temporary file left
    check_output(out, force=True)  # with --force the same run may replace it
    write_npz(out, {"a": np.arange(3)}, {"made_by": "test"})
    assert np.load(out)["a"].tolist() == [0, 1, 2]


def test_an_output_checked_without_force_is_still_written_when_nothing_appeared(tmp_path: Path) -> None:
    out = tmp_path / "calls.tsv"
    check_output(out, force=False)
    with atomic_file(out, "w") as handle:
        handle.write("id\tlabel\n")
    assert out.read_text() == "id\tlabel\n" and os.listdir(tmp_path) == ["calls.tsv"]


def test_an_inputs_index_is_never_an_output(run_vqdna, tiny_model_dir: Path, short_fasta: Path, tmp_path: Path) -> None:
    fasta = tmp_path / "in.fa"
    fasta.write_bytes(short_fasta.read_bytes())
    pysam.faidx(str(fasta))
    index = Path(f"{fasta}.fai")
    before = index.read_bytes()
    result = run_vqdna("tokenize", fasta, "--model", tiny_model_dir, "-o", index, "--force")
    assert result.returncode == 4 and result.stderr_lines == [
        f"vqdna: error: output {index} is the index of the input {fasta}: write the output elsewhere"]
    assert index.read_bytes() == before


@pytest.mark.parametrize("name", ["calls.bed.gz", "calls.tsv.bgz", "calls.tsv.xz"])
def test_compressed_text_outputs_are_refused(run_vqdna, tiny_model_dir: Path, short_fasta: Path, tmp_path: Path,
                                            name: str) -> None:
    out = tmp_path / name
    result = run_vqdna("classify", "--task", "toy", "--model", tiny_model_dir, short_fasta, "-o", out)
    assert result.returncode == 4 and len(result.stderr_lines) == 1
    assert "vqdna writes plain text" in result.stderr_lines[0] and "bgzip" in result.stderr_lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["tokenize", "embed"])
def test_a_compressed_npz_name_is_refused(run_vqdna, tiny_model_dir: Path, short_fasta: Path, tmp_path: Path,
                                          command: str) -> None:
    out = tmp_path / "out.npz.gz"
    result = run_vqdna(command, short_fasta, "--model", tiny_model_dir, "-o", out)
    assert result.returncode == 4 and result.stderr_lines == [
        f"vqdna: error: output {out}: vqdna writes .npz, zip-compressed already; name it {tmp_path / 'out.npz'}"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["tokenize", "embed"])
def test_an_npy_name_is_refused_for_an_npz_archive(run_vqdna, tiny_model_dir: Path, short_fasta: Path,
                                                   tmp_path: Path, command: str) -> None:
    """`-o tokens.npy` would hold a zip archive of several arrays under a one-array name."""
    out = tmp_path / "tokens.npy"
    result = run_vqdna(command, short_fasta, "--model", tiny_model_dir, "-o", out)
    assert result.returncode == 4 and result.stderr_lines == [
        f"vqdna: error: output {out}: vqdna writes an .npz archive of several arrays, not one .npy array; "
        f"name it {tmp_path / 'tokens.npz'}"]
    assert list(tmp_path.iterdir()) == []


def test_a_link_to_a_missing_file_is_named_up_front_and_replaced_with_force(run_vqdna, tiny_model_dir: Path,
                                                                            short_fasta: Path, tmp_path: Path) -> None:
    link = tmp_path / "out.npz"
    link.symlink_to(tmp_path / "nowhere" / "x.npz")
    result = run_vqdna("tokenize", short_fasta, "--model", tiny_model_dir, "-o", link)
    assert result.returncode == 4 and len(result.stderr_lines) == 1
    assert "is a link to a missing file" in result.stderr and "--force" in result.stderr
    assert link.is_symlink()
    forced = run_vqdna("tokenize", short_fasta, "--model", tiny_model_dir, "-o", link, "--force", "-q")
    assert forced.returncode == 0 and link.is_file() and not link.is_symlink()


def test_force_over_a_link_writes_the_file_it_points_to(run_vqdna, tiny_model_dir: Path, short_fasta: Path,
                                                          tmp_path: Path) -> None:
    """As a shell's `>` and samtools do: replacing the link would leave its target stale."""
    (tmp_path / "results").mkdir()
    target = tmp_path / "results" / "tokens.npz"
    target.write_bytes(b"stale")
    link = tmp_path / "out.npz"
    link.symlink_to(Path("results") / "tokens.npz")
    result = run_vqdna("tokenize", short_fasta, "--model", tiny_model_dir, "-o", link, "--force", "-q")
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and target.read_bytes()[:2] == b"PK"
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["out.npz", "results", "tokens.npz"]


@pytest.mark.parametrize("option", [("--seed", "-1"), ("--seed", str(2**32)), ("--threads", "99999999999")])
def test_seed_and_threads_out_of_range_are_usage_errors(run_vqdna, tiny_model_dir: Path, short_fasta: Path,
                                                       tmp_path: Path, option) -> None:
    result = run_vqdna("embed", short_fasta, "--model", tiny_model_dir, *option, "-o", tmp_path / "e.npz")
    assert result.returncode == 2 and "Traceback" not in result.stderr and option[0] in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_empty_input_path_is_a_usage_error(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    result = run_vqdna("tokenize", "", "--model", tiny_model_dir, "-o", tmp_path / "t.npz")
    assert result.returncode == 2 and result.stderr_lines == [
        "vqdna: error: the input path is empty (''): give a file, or - for stdin"]


def test_signals_after_the_command_are_ignored_so_shutdown_cannot_print_a_traceback() -> None:
    import subprocess
    import sys

    code = ("import signal; from vqdna_cli.cli import app as cli; cli.app = lambda **kwargs: None; cli.main(); "
            "print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN, signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["True", "True"], result.stderr


@pytest.mark.parametrize("folder", [".", "..", "/"])
def test_a_folder_with_no_file_name_as_input_is_one_line(folder: str, run_vqdna, tiny_model_dir: Path,
                                                         tmp_path: Path) -> None:
    """`vqdna tokenize . -o x.npz` was a traceback (the check for an input's index swapped a
    suffix onto a path without a name)."""
    work = tmp_path / "here"
    work.mkdir()
    result = run_vqdna("tokenize", folder, "--model", tiny_model_dir, "-o", "x.npz", cwd=work)
    assert result.returncode == 2 and result.stderr_lines == [
        f"vqdna: error: input {folder} is a directory; give a FASTA, BAM, SAM or CRAM file"]
    assert list(work.iterdir()) == []


def test_a_table_whose_sidecar_cannot_be_written_is_not_left(tiny_model_dir: Path, short_fasta: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that filled up while the sidecar was written left the table: without what made
    it, and refusing the rerun without --force."""
    import errno

    from vqdna_cli import api
    from vqdna_cli.io import writers
    from vqdna_cli.options import InputSpec, RunOptions

    class FullDisk:
        @staticmethod
        def dumps(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "calls.tsv"
    monkeypatch.setattr(writers, "json", FullDisk)
    with pytest.raises(OutputError, match=r"cannot write .*calls.tsv.json: No space left on device"):
        api.classify(InputSpec(str(short_fasta)), out, "toy", RunOptions(tiny_model_dir, threads=1))
    assert sorted(tmp_path.iterdir()) == []
    monkeypatch.undo()
    api.classify(InputSpec(str(short_fasta)), out, "toy", RunOptions(tiny_model_dir, threads=1))  # the rerun
    assert json.loads((tmp_path / "calls.tsv.json").read_text())["rows"] == len(out.read_text().splitlines()) - 1


def test_a_name_longer_than_the_file_system_takes_is_named_not_blamed_on_stdout(run_vqdna, tiny_model_dir: Path,
                                                                                 short_fasta: Path,
                                                                                 tmp_path: Path) -> None:
    """Every such name was "cannot write to stdout: File name too long"; a task of that name
    is an unknown task (exit 3)."""
    long = "b" * 256
    result = run_vqdna("embed", short_fasta, "--model", tiny_model_dir, "-o", tmp_path / f"{long}.npz")
    assert result.returncode == 4 and result.stderr_lines == [
        f"vqdna: error: cannot use {tmp_path / f'{long}.npz'}: File name too long"]
    result = run_vqdna("classify", "--task", long, "--model", tiny_model_dir, short_fasta)
    assert result.returncode == 3 and result.stderr_lines[0].startswith(f"vqdna: error: unknown task '{long}'")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("length", [241, 250, 255])
def test_a_name_the_file_system_takes_is_written_however_long(tmp_path: Path, length: int) -> None:
    """The temporary file beside an output adds about 14 bytes to its name: a legal name of
    242 to 255 bytes was "File name too long". Its part is named by a digest of the name, and a
    part a killed run left is still found and removed."""
    from vqdna_cli.io.writers import claim_parts, part_of

    letters = length - len(".npz")
    out = tmp_path / ("é" * (letters // 2) + "t" * (letters % 2) + ".npz")  # cut inside a two-byte letter or not
    assert len(os.fsencode(out.name)) == length
    part = part_of(out)
    assert len(os.fsencode(part.name)) <= 255 and part.parent == tmp_path
    left = part.with_name(part.name.replace(f".{os.getpid()}.", ".4194303."))  # the largest process ID: no writer
    left.write_bytes(b"partial")
    claim_parts(out)
    assert not left.exists()
    check_output(out, force=False)
    write_npz(out, {"a": np.arange(3)}, {"made_by": "test"})
    assert np.load(out)["a"].tolist() == [0, 1, 2] and os.listdir(tmp_path) == [out.name]


@pytest.mark.parametrize("under", ["afile/x.npz", "afile/sub/x.npz"])
def test_an_output_under_a_file_says_the_file_is_in_the_way(tmp_path: Path, under: str) -> None:
    """`-o afile/x.npz` said that folder afile does not exist; it does, as a file."""
    (tmp_path / "afile").write_text("data\n")
    with pytest.raises(OutputError, match=rf"^cannot write {tmp_path / under}: {tmp_path / 'afile'} is a file, not a "
                                          "folder$"):
        check_output(tmp_path / under, force=False)
    with pytest.raises(OutputError, match="folder .*nowhere does not exist"):
        check_output(tmp_path / "nowhere" / "x.npz", force=False)


def test_a_full_tmpdir_under_an_npz_to_stdout_is_named() -> None:
    """An .npz for stdout is made in TMPDIR first: a full TMPDIR said only "cannot write the
    output: No space left on device", pointing at nothing the user could change."""
    import errno
    import tempfile

    from vqdna_cli.io.writers import binary_output

    with pytest.raises(OutputError, match=rf"^cannot write the .npz in {tempfile.gettempdir()} \(TMPDIR\), where it is "
                                          "made before it is copied to stdout: No space left on device; set TMPDIR"):
        with binary_output("-"):
            raise OSError(errno.ENOSPC, "No space left on device")


def test_dev_stdout_is_written_as_dash_o_is(run_vqdna, tiny_model_dir: Path, short_fasta: Path) -> None:
    """`-o /dev/stdout` (and `/dev/fd/N`, as bash's `>(cmd)` names a pipe) goes through the
    descriptor the shell opened: the same bytes as `-o -`, no 'exists' refusal where stdout is
    a redirected file, and no /dev/stdout.json sidecar."""
    for args in (("tokenize", short_fasta), ("classify", "--task", "toy", short_fasta)):
        common = (*args, "--model", tiny_model_dir, "-q")
        dash, named = run_vqdna(*common, "-o", "-"), run_vqdna(*common, "-o", "/dev/stdout")
        assert named.returncode == 0, named.stderr
        assert dash.stdout and named.stdout == dash.stdout
    assert not Path("/dev/stdout.json").exists()


def test_dev_stdout_into_a_pipe(run_vqdna, tiny_model_dir: Path, short_fasta: Path) -> None:
    """Where stdout is a pipe, /dev/stdout names `pipe:[N]`, which cannot be opened by that name."""
    common = ("classify", "--task", "toy", short_fasta, "--model", tiny_model_dir, "-q")
    piped = run_vqdna_process(*common, "-o", "/dev/stdout")  # capture_output: stdout is a pipe
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == run_vqdna(*common, "-o", "-").stdout


def test_a_descriptor_output_keeps_what_the_shell_appended_before(tmp_path: Path) -> None:
    """`>> log` then `-o /dev/fd/N`: written at the end through the descriptor, never a
    rename that would replace the file (and its earlier lines) behind the shell's back."""
    log = tmp_path / "log.tsv"
    log.write_text("earlier\n")
    with open(log, "a") as appending:
        path = f"/dev/fd/{appending.fileno()}"
        check_output(path, force=False)
        with atomic_file(path, "w") as handle:
            handle.write("new\n")
    assert log.read_text() == "earlier\nnew\n"
    reading, writing = os.pipe()
    with open(reading, "rb") as pipe_end:
        with atomic_file(f"/dev/fd/{writing}") as handle:
            handle.write(b"through a pipe")
        os.close(writing)
        assert pipe_end.read() == b"through a pipe"


def test_a_descriptor_that_is_not_open_is_one_line(run_vqdna, tiny_model_dir: Path, short_fasta: Path) -> None:
    result = run_vqdna("classify", "--task", "toy", short_fasta, "--model", tiny_model_dir, "-o", "/dev/fd/57")
    assert result.returncode == 4 and result.stderr_lines == [
        "vqdna: error: cannot write /dev/fd/57: file descriptor 57 is not open"]


def _classify_over_an_earlier_pair(tiny_model_dir: Path, short_fasta: Path, folder: Path) -> tuple[Path, Path]:
    """classify -o folder/c.tsv --force where an earlier run left c.tsv and c.tsv.json."""
    from vqdna_cli import api
    from vqdna_cli.options import ClassifyOptions, InputSpec, RunOptions

    folder.mkdir()
    table, sidecar = folder / "c.tsv", folder / "c.tsv.json"
    table.write_text("the earlier table\n")
    sidecar.write_text('{"earlier": true}\n')
    api.classify(InputSpec(str(short_fasta)), table, "toy", RunOptions(tiny_model_dir, threads=1), ClassifyOptions(),
                 force=True)
    return table, sidecar


def test_a_full_disk_at_the_sidecar_keeps_the_earlier_table_and_sidecar(tiny_model_dir: Path, short_fasta: Path,
                                                                         tmp_path: Path, monkeypatch) -> None:
    """The earlier table was removed and its sidecar kept: a record of a table that was gone."""
    import errno

    from vqdna_cli.io import writers

    class FullDisk:
        @staticmethod
        def dumps(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writers, "json", FullDisk)
    with pytest.raises(OutputError, match=r"cannot write .*c\.tsv\.json: No space left on device$"):
        _classify_over_an_earlier_pair(tiny_model_dir, short_fasta, tmp_path / "out")
    assert {p.name: p.read_text() for p in (tmp_path / "out").iterdir()} == {
        "c.tsv": "the earlier table\n", "c.tsv.json": '{"earlier": true}\n'}


def test_a_kill_between_the_table_and_its_sidecar_waits_for_both(tiny_model_dir: Path, short_fasta: Path,
                                                                  tmp_path: Path, monkeypatch) -> None:
    """A SIGTERM once the table was in place left it beside the earlier run's sidecar (or, for
    a new output, without one: the rerun was then refused)."""
    import signal

    from vqdna_cli.cli.app import _terminate
    from vqdna_cli.errors import Terminated
    from vqdna_cli.io import writers

    real_replace = os.replace

    def replace_then_killed(source, target):
        if str(target).endswith("c.tsv"):
            os.kill(os.getpid(), signal.SIGTERM)  # delivered once the table is moved
        real_replace(source, target)

    before = signal.signal(signal.SIGTERM, _terminate)
    monkeypatch.setattr(writers.os, "replace", replace_then_killed)
    try:
        with pytest.raises(Terminated):
            _classify_over_an_earlier_pair(tiny_model_dir, short_fasta, tmp_path / "out")
    finally:
        signal.signal(signal.SIGTERM, before)
    table, sidecar = tmp_path / "out" / "c.tsv", tmp_path / "out" / "c.tsv.json"
    rows = [line for line in table.read_text().splitlines() if not line.startswith("#")]
    assert json.loads(sidecar.read_text())["rows"] == len(rows) - 1 > 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c.tsv", "c.tsv.json"]
