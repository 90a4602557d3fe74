"""Progress: it moves batch by batch (one long record no longer sits at 0 bp until its end),
knows its total from a `.fai`, and prints plain lines where stderr is not a terminal."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pysam
import pytest

from conftest import fasta_text, random_dna
from vqdna_cli.cli import progress as progress_module
from vqdna_cli.cli.progress import bases_progress, status
from vqdna_cli.io.sequences import known_bases


@pytest.mark.parametrize("command", ["tokenize", "embed", "embed-rc", "classify"])
def test_one_long_record_advances_batch_by_batch(command: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    from vqdna_cli import api
    from vqdna_cli.options import EmbedOptions, InputSpec, RunOptions

    fasta = tmp_path / "long.fa"
    fasta.write_text(fasta_text({"chr": random_dna(10_000, 1)}))  # three tokenizer chunks
    calls: list[int] = []
    inputs, run = InputSpec(str(fasta)), RunOptions(tiny_model_dir, batch_tokens=512, threads=1)
    if command == "tokenize":
        api.tokenize(inputs, tmp_path / "out.npz", run, progress=calls.append)
    elif command == "classify":
        api.classify(inputs, tmp_path / "out.tsv", "toy", run, progress=calls.append)
    else:
        api.embed(inputs, tmp_path / "out.npz", run, EmbedOptions(reverse_complement=command == "embed-rc"),
                  progress=calls.append)
    assert sum(calls) == 10_000  # every base once, however the passes share them
    assert len(calls) >= 3 and all(n > 0 for n in calls)


def test_a_scan_moves_before_its_first_thousands_of_windows_are_embedded(tiny_model_dir: Path, tmp_path: Path,
                                                                          monkeypatch) -> None:
    """Windows go through the model a few hundred at a time, so the bar (and the first BED
    rows) move after the first of them, not after the model's usual group of thousands."""
    from vqdna_cli import api
    from vqdna_cli.api.classify import SCAN_BATCH
    from vqdna_cli.options import InputSpec, RunOptions, ScanSettings
    from vqdna_cli.scan import ScanSource

    fasta = tmp_path / "genome.fa"
    fasta.write_text(fasta_text({"chr": random_dna(40_000, 3)}))
    pysam.faidx(str(fasta))
    handed = [0]  # windows the scan has handed to the model so far
    windows = ScanSource.windows

    def counted(self, layout):
        for window in windows(self, layout):
            handed[0] += 1
            yield window

    monkeypatch.setattr(ScanSource, "windows", counted)
    handed_at_first_move: list[int] = []

    def progress(bases: int) -> None:
        if not handed_at_first_move:
            handed_at_first_move.append(handed[0])

    result = api.scan(InputSpec(str(fasta)), tmp_path / "out.bed", "toy", RunOptions(tiny_model_dir, threads=1),
                      ScanSettings(window=40, stride=20), progress=progress)
    assert result["windows"] > 4 * SCAN_BATCH
    assert handed_at_first_move and handed_at_first_move[0] <= 2 * SCAN_BATCH


def test_status_line() -> None:
    assert status(0, None, 0.0) == "0 bp"
    assert status(1_200_000, None, 2.0) == "1.2 Mb, 600.0 kb/s"
    assert status(1_000_000, 4_000_000, 10.0) == "1.0 Mb of 4.0 Mb (25%), 100.0 kb/s, 0:00:30 left"
    assert status(5_000, 4_000, 1.0) == "5.0 kb of 4.0 kb (125%), 5.0 kb/s"  # a stale index: no time left shown


def test_plain_lines_when_stderr_is_not_a_terminal(capsys, monkeypatch) -> None:
    """Snakemake and Nextflow logs: a line every PLAIN_EVERY_S seconds, even between batches."""
    monkeypatch.setattr(progress_module, "PLAIN_EVERY_S", 0.05)
    with bases_progress("embedding", quiet=False, total=4000) as advance:
        advance(1000)
        time.sleep(0.3)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("vqdna: embedding: 1.0 kb of 4.0 kb (25%), ") and line.endswith(" left") for line in lines)


def test_no_plain_lines_before_the_first_bases(capsys, monkeypatch) -> None:
    """Loading the model, or failing on the input's first record, prints no progress line."""
    monkeypatch.setattr(progress_module, "PLAIN_EVERY_S", 0.05)
    with bases_progress("embedding", quiet=False) as advance:
        time.sleep(0.2)
        advance(0)
    assert capsys.readouterr().err == ""


def test_quiet_prints_nothing(capsys, monkeypatch) -> None:
    monkeypatch.setattr(progress_module, "PLAIN_EVERY_S", 0.05)
    with bases_progress("embedding", quiet=True) as advance:
        advance(10)
        time.sleep(0.15)
    assert capsys.readouterr().err == ""


def test_total_from_the_fai(tmp_path: Path) -> None:
    fasta = tmp_path / "genome.fa"
    fasta.write_text(fasta_text({"a": random_dna(300, 1), "b": random_dna(200, 2)}))
    assert known_bases(str(fasta)) is None  # no index: no total
    pysam.faidx(str(fasta))
    assert known_bases(str(fasta)) == 500
    assert known_bases(str(fasta), region="a:11-60") == 50
    bed = tmp_path / "r.bed"
    bed.write_text("a\t0\t10\nb\t100\t200\n")
    assert known_bases(str(fasta), bed=str(bed)) == 110
    assert known_bases(str(fasta), region="nosuch:1-10") is None  # the reader reports it
    assert known_bases("-") is None
    old = os.path.getmtime(fasta) - 100
    os.utime(str(fasta) + ".fai", (old, old))
    assert known_bases(str(fasta)) is None  # an index older than its FASTA may be stale


@pytest.mark.parametrize("total", [None, 4000])
def test_terminal_bar_shows_the_status(total: int | None) -> None:
    import io

    from rich.console import Console

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    with progress_module._bar("embedding", total, console) as advance:
        advance(1000)
        time.sleep(0.2)  # rich redraws from its own thread
    assert "embedding" in screen.getvalue() and "1.0 kb" in screen.getvalue()


def test_a_stage_that_is_not_counted_says_what_runs_and_for_how_long(capsys, monkeypatch) -> None:
    """`mutations` scores its variants after calling them: the lines name that stage with
    its time, not the calling stage's rate falling as the bases stop."""
    import io

    from rich.console import Console

    monkeypatch.setattr(progress_module, "PLAIN_EVERY_S", 0.05)
    with bases_progress("calling variants", quiet=False) as progress:
        progress(3000)
        time.sleep(0.12)
        progress.stage("scoring 3 variant sites")
        time.sleep(0.2)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("vqdna: calling variants: 3.0 kb")
    assert lines[-1] == "vqdna: scoring 3 variant sites: 0:00:00 elapsed"
    screen = io.StringIO()
    with progress_module._bar("calling variants", None, Console(file=screen, force_terminal=True, width=120)) as bar:
        bar(3000)
        bar.stage("scoring 3 variant sites")
        time.sleep(0.2)
    assert "scoring 3 variant sites" in screen.getvalue() and "elapsed" in screen.getvalue()


def test_a_counted_stage_says_how_far_it_is(capsys, monkeypatch) -> None:
    """A stage given its amount (a scoring pass of `mutations`) is counted from zero by the
    same callback: lines give its share done and the time left."""
    import io

    from rich.console import Console

    from vqdna_cli.cli.progress import stage_status

    assert stage_status(0, 400, 3.0) == "0:00:03 elapsed"  # nothing done yet: no estimate
    assert stage_status(100, 400, 3.0) == "25%, 0:00:09 left"
    assert stage_status(500, 400, 3.0) == "100%, 0:00:00 left"
    monkeypatch.setattr(progress_module, "PLAIN_EVERY_S", 0.05)
    with bases_progress("calling variants", quiet=False) as progress:
        progress(3000)
        progress.stage("scoring 3 variant sites, pass 1 of 3 (tokens)", 400)
        progress(100)
        time.sleep(0.2)
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("vqdna: scoring 3 variant sites, pass 1 of 3 (tokens): 25%, ") and last.endswith(" left")
    screen = io.StringIO()
    with progress_module._bar("calling variants", None, Console(file=screen, force_terminal=True, width=120)) as bar:
        bar(3000)
        bar.stage("scoring 3 variant sites, pass 2 of 3", 400)
        bar(200)
        time.sleep(0.2)
    assert "pass 2 of 3" in screen.getvalue() and "50%" in screen.getvalue()


def test_a_stderr_nobody_reads_ends_the_messages_not_the_run(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """`vqdna ... 2>&1 >/dev/null | head -1`: once stderr's reader has gone, a warning during
    the run took vqdna's exit for a stdout reader that had all it wanted (exit 0 and no
    output), and the closing line rich's exit 1. Now the messages stop and the run finishes."""
    from test_mutations import CHROM, REF, SNV_ALT, SNV_POS

    reference = tmp_path / "ref.fa"
    reference.write_text(fasta_text({CHROM: REF}))
    filtered = "A" if REF[19] != "A" else "C"
    vcf = tmp_path / "calls.vcf"
    vcf.write_text("\n".join([
        "##fileformat=VCFv4.2", f"##contig=<ID={CHROM},length={len(REF)}>", '##FILTER=<ID=q10,Description="low">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]),
        "\t".join([CHROM, str(SNV_POS + 1), ".", REF[SNV_POS], SNV_ALT, ".", "PASS", "."]),
        "\t".join([CHROM, "20", ".", REF[19], filtered, ".", "q10", "."])]) + "\n")  # warned of mid-run
    done = run_vqdna("mutations", "--reference", reference, vcf, "-o", tmp_path / "muts", "-m", tiny_model_dir,
                     "--no-plot", stderr_closed=True)
    assert done.returncode == 0
    assert len((tmp_path / "muts" / "variants.tsv").read_text().splitlines()) == 3  # comment, header, the SNV

    fasta = tmp_path / "x.fa"
    fasta.write_text(fasta_text({f"s{i}": random_dna(120, i) for i in range(3)}))
    done = run_vqdna("classify", "--task", "toy", fasta, "-o", tmp_path / "p.tsv", "-m", tiny_model_dir,
                     stderr_closed=True)
    assert done.returncode == 0
    assert len((tmp_path / "p.tsv").read_text().splitlines()) == 4


def test_the_bar_is_one_line_at_80_columns_and_a_warning_under_it_too() -> None:
    """At 80 columns the status wrapped under the bar (half of it left behind on screen), and a
    warning printed while the bar was up was broken at the terminal's width."""
    import io
    import re

    from rich.console import Console

    from vqdna_cli.heartbeat import to_stderr

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    warning = "vqdna: warning:" + " a long message" * 10
    with progress_module._bar("tokenizing", 306_796, console) as advance:
        advance(95_100)
        time.sleep(0.2)  # rich redraws from its own thread
        to_stderr(warning)
        time.sleep(0.2)
    shown = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen.getvalue())
    lines = re.split(r"[\r\n]", shown)
    assert warning in lines  # whole, on a line of its own
    bar_lines = [line for line in lines if "tokenizing" in line]
    assert bar_lines and all(len(line) <= 80 and "kb (31%)" in line for line in bar_lines[1:])
    assert not any(line.strip().startswith(("kb", "left")) for line in lines)


def test_a_dumb_terminal_gets_the_plain_lines(monkeypatch) -> None:
    """TERM=dumb: rich draws no live bar there, so a long run showed no progress at all."""
    import io

    from rich.console import Console

    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setattr(progress_module, "stderr_console", lambda: Console(file=io.StringIO(), force_terminal=True))
    with bases_progress("tokenizing", quiet=False, total=100) as advance:
        assert isinstance(advance, progress_module._PlainLines)


def test_closing_lines_say_stdout_and_count_one_as_one(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """`-o -` was '-> -', a file of that name; '1 of 1 windows is', 'on 1 rows'."""
    from vqdna_cli.api.train import _of_rows
    from vqdna_cli.api.classify import _part_of

    fasta = tmp_path / "one.fa"
    fasta.write_text(fasta_text({"one": random_dna(300, 2)}))
    for command in ("tokenize", "embed"):
        result = run_vqdna(command, fasta, "-o", "-", "--model", tiny_model_dir, stdout_closed=False)
        assert result.returncode == 0 and result.stderr_lines[-1].endswith(" -> stdout"), result.stderr
    assert _part_of(1, {"read_count": 1, "read": "windows"}) == "1 of 1 window is"
    assert _part_of(2, {"read_count": 5, "read": "sequences"}) == "2 of 5 sequences are"
    assert _of_rows(1, 1, "x.csv") == "1 of the 1 row of x.csv is"
    assert _of_rows(2, 5, "x.csv") == "2 of the 5 rows of x.csv are"


def test_training_on_a_dumb_terminal_prints_the_plain_lines(monkeypatch) -> None:
    """TERM=dumb: training's bar was on (and drawn nowhere) and its plain lines off."""
    import io

    from rich.console import Console

    from vqdna_cli.train import loop

    monkeypatch.setenv("TERM", "dumb")
    dumb = Console(file=io.StringIO(), force_terminal=True)
    assert loop._Heartbeat(dumb, "pretrain", 0, 10).on
    monkeypatch.setattr(loop, "stderr_console", lambda **options: dumb)
    assert loop._progress("pretrain", quiet=False).disable


def test_every_stderr_line_starts_with_vqdna(run_vqdna, tiny_model_dir: Path, tmp_path: Path) -> None:
    """A pipeline log holds many tools' lines: vqdna's are found by their `vqdna: ` start.
    The closing lines of tokenize, embed, classify and train evaluate had none, and training's
    step lines neither."""
    from conftest import toy_csv

    fasta = tmp_path / "two.fa"
    fasta.write_text(fasta_text({"a": random_dna(300, 3), "b": random_dna(80, 4)}))
    runs = [("tokenize", fasta, "-o", tmp_path / "t.npz"), ("embed", fasta, "-o", tmp_path / "e.npz"),
            ("classify", "--task", "toy", fasta, "-o", tmp_path / "c.tsv"),
            ("train", "evaluate", "--task", "toy", "--test", toy_csv(tmp_path / "test.csv", rows=6)),
            ("train", "tokenizer", fasta, "-o", tmp_path / "tok", "--preset", "tiny", "--steps", "2",
             "--window", "64", "--batch", "2")]
    for args in runs:
        result = run_vqdna(*args, *(() if "tokenizer" in args else ("--model", tiny_model_dir)), "--threads", "1")
        assert result.returncode == 0, result.stderr
        assert result.stderr_lines and all(line.startswith("vqdna: ") for line in result.stderr_lines), \
            (args[0], result.stderr)


def test_a_clock_reads_hours_minutes_and_seconds():
    from vqdna_cli.heartbeat import clock

    assert clock(3725.4) == "1:02:05"
    assert clock(59.6) == "0:01:00"
