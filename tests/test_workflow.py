"""The Snakemake workflow (workflow/Snakefile) and wrapper (workflow/wrappers/vqdna), run with
the real Snakemake: sharding a FASTA by record and merging the shards' outputs must give what
one unsharded run of each command writes. The split and merge helpers are also tested alone."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import fasta_text, random_dna

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "workflow"


def _script(name: str):
    """workflow/scripts/NAME.py as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(f"vqdna_workflow_{name}", WORKFLOW / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


merge, split = _script("merge"), _script("split")

try:
    import snakemake  # noqa: F401

    HAVE_SNAKEMAKE = True
except ImportError:
    HAVE_SNAKEMAKE = False
needs_snakemake = pytest.mark.skipif(not HAVE_SNAKEMAKE, reason="snakemake is not installed (pip install '.[workflow]')")

# Record lengths: all but the first three span several of the tiny model's 64-token windows.
LENGTHS = [40, 57, 64, 90, 120, 150, 200, 333]


def _snakemake(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """`python -m snakemake ARGS`, with this interpreter's `vqdna` first on PATH."""
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    logs = "".join(f"\n--- {log}\n{log.read_text()}" for log in sorted(cwd.glob("**/logs/**/*.log")))
    assert result.returncode == 0 or not check, result.stderr[-4000:] + logs
    return result


@pytest.fixture(scope="module")
def sharded_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The workflow on an 8-record FASTA in 3 shards (embed with --per-token): (workdir, fasta)."""
    root = tmp_path_factory.mktemp("workflow")
    seqs = {f"rec{i}": random_dna(length, 200 + i) for i, length in enumerate(LENGTHS)}
    seqs["rec7"] = seqs["rec7"][:40].lower() + seqs["rec7"][40:100] + "NNNNR" + seqs["rec7"][105:]
    fasta = root / "input.fa"
    fasta.write_text(fasta_text(seqs))
    workdir = root / "run"
    _snakemake("--cores", "2", "-s", str(WORKFLOW / "Snakefile"), "--directory", str(workdir), "--config",
               f"fasta={fasta}", "shards=3", f"model={tiny_model_dir}", "task=toy", "threads=1",
               "extra={embed: --per-token}", cwd=root)
    return workdir, fasta


def _unsharded(run_vqdna, command: str, fasta: Path, output: Path, model: Path, *options: str) -> Path:
    result = run_vqdna(command, *options, str(fasta), "-o", str(output), "--model", str(model), "--threads", "1")
    assert result.returncode == 0, result.stderr
    return output


def _assert_same_npz(merged: Path, single: Path) -> None:
    with np.load(merged) as a, np.load(single) as b:
        assert a.files == b.files
        for name in a.files:
            if name == "metadata":
                assert json.loads(str(a[name])) == json.loads(str(b[name]))
            elif a[name].dtype.kind == "f":  # shards batch records differently
                assert np.allclose(a[name], b[name], atol=1e-5), name
            else:
                assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name


@needs_snakemake
def test_merged_tokens_are_an_unsharded_run_byte_for_byte(sharded_run, run_vqdna, tiny_model_dir, tmp_path):
    workdir, fasta = sharded_run
    single = _unsharded(run_vqdna, "tokenize", fasta, tmp_path / "tokens.npz", tiny_model_dir)
    _assert_same_npz(workdir / "results/tokens.npz", single)
    assert (workdir / "results/tokens.npz").read_bytes() == single.read_bytes()


@needs_snakemake
def test_merged_embeddings_equal_an_unsharded_run(sharded_run, run_vqdna, tiny_model_dir, tmp_path):
    workdir, fasta = sharded_run
    single = _unsharded(run_vqdna, "embed", fasta, tmp_path / "emb.npz", tiny_model_dir, "--per-token")
    _assert_same_npz(workdir / "results/embeddings.npz", single)
    with np.load(single) as npz:
        assert len(npz["window_offsets"]) == len(LENGTHS) + 1 and npz["window_offsets"][-1] > len(LENGTHS)


@needs_snakemake
def test_merged_predictions_equal_an_unsharded_run(sharded_run, run_vqdna, tiny_model_dir, tmp_path):
    workdir, fasta = sharded_run
    single = _unsharded(run_vqdna, "classify", fasta, tmp_path / "pred.tsv", tiny_model_dir, "--task", "toy", "--format", "tsv")
    merged = (workdir / "results/classify.tsv").read_text()
    assert merged == single.read_text()
    assert "#" not in merged and merged.splitlines()[0].startswith("id\tlabel")  # the header first


@needs_snakemake
def test_merged_predictions_have_the_sidecar_of_an_unsharded_run(sharded_run, run_vqdna, tiny_model_dir, tmp_path):
    """classify's TABLE.json: the shards' are temp() like their tables, and the merged
    table gets the one an unsharded run writes (its input, the total row count)."""
    workdir, fasta = sharded_run
    single = _unsharded(run_vqdna, "classify", fasta, tmp_path / "pred.tsv", tiny_model_dir, "--task", "toy", "--format", "tsv")
    merged = workdir / "results/classify.tsv.json"
    assert merged.read_text() == Path(f"{single}.json").read_text()
    assert json.loads(merged.read_text())["rows"] == len(LENGTHS)
    assert json.loads(merged.read_text())["input"] == str(fasta)
    assert sorted(p.name for p in (workdir / "shards").iterdir()) == ["0.fa", "1.fa", "2.fa"]  # per-shard outputs are temp


def _classify_only(workdir: Path, fasta: Path, model: Path, *config: str, forceall: bool = False) -> None:
    _snakemake("--cores", "1", "-s", str(WORKFLOW / "Snakefile"), "--directory", str(workdir),
               *(["--forceall"] if forceall else []), "--config", f"fasta={fasta}", "shards=2", f"model={model}",
               "task=toy", "threads=1", *config, "--", "results/classify.tsv", cwd=workdir.parent)


@needs_snakemake
def test_merged_header_comments_are_an_unsharded_runs(run_vqdna, tiny_model_dir, tmp_path):
    """With --header-comments every shard's ##input= names its own shard: the merged table
    has the unsharded input there, as one unsharded run writes it, and the same sidecar."""
    fasta = tmp_path / "input.fa"
    fasta.write_text(fasta_text({f"rec{i}": random_dna(length, 300 + i) for i, length in enumerate(LENGTHS[:4])}))
    workdir = tmp_path / "run"
    _classify_only(workdir, fasta, tiny_model_dir, "extra={classify: --header-comments}")
    single = _unsharded(run_vqdna, "classify", fasta, tmp_path / "pred.tsv", tiny_model_dir, "--task", "toy",
                        "--format", "tsv", "--header-comments")
    merged = (workdir / "results/classify.tsv").read_text()
    assert merged == single.read_text()
    assert f"##input={fasta}\n" in merged and merged.count("\nid\tlabel\t") == 1
    assert (workdir / "results/classify.tsv.json").read_text() == Path(f"{single}.json").read_text()
    assert sorted(p.name for p in (workdir / "shards").iterdir()) == ["0.fa", "1.fa"]


@needs_snakemake
def test_rerun_is_not_refused_by_the_shards_sidecars(tiny_model_dir, tmp_path):
    """classify refuses to replace an existing TABLE.json: a rerun of every job (--forceall)
    works because the shards' sidecars are declared (temp) outputs."""
    fasta = tmp_path / "input.fa"
    fasta.write_text(fasta_text({f"rec{i}": random_dna(length, 400 + i) for i, length in enumerate(LENGTHS[:3])}))
    workdir = tmp_path / "run"
    _classify_only(workdir, fasta, tiny_model_dir)
    first = (workdir / "results/classify.tsv.json").read_text()
    _classify_only(workdir, fasta, tiny_model_dir, forceall=True)
    assert (workdir / "results/classify.tsv.json").read_text() == first
    assert sorted(p.name for p in (workdir / "shards").iterdir()) == ["0.fa", "1.fa"]  # the split input alone


@needs_snakemake
def test_every_shard_logs_its_stderr(sharded_run):
    workdir, _ = sharded_run
    for command in ("tokenize", "embed", "classify"):
        assert sorted(p.name for p in (workdir / "logs" / command).iterdir()) == ["0.log", "1.log", "2.log"]
    assert "tokenized 3 records" in (workdir / "logs/tokenize/0.log").read_text()


@needs_snakemake
def test_wrapper_tokenizes_like_the_cli(run_vqdna, tiny_model_dir, tmp_path):
    """The wrapper's own test Snakefile, run from (a copy of) its test folder as
    snakemake-wrappers does, gives the file `vqdna tokenize` gives."""
    wrapper = Path(shutil.copytree(WORKFLOW / "wrappers/vqdna", tmp_path / "vqdna"))
    test_dir = wrapper / "test"
    _snakemake("--cores", "1", "--config", f"model={tiny_model_dir}", cwd=test_dir)
    result = run_vqdna("tokenize", "sequences.fa", "-o", "direct.npz", "--model", str(tiny_model_dir),
                       "--threads", "1", cwd=test_dir)
    assert result.returncode == 0, result.stderr
    assert (test_dir / "tokens.npz").read_bytes() == (test_dir / "direct.npz").read_bytes()
    assert "tokenized 2 records" in (test_dir / "logs/vqdna_tokenize.log").read_text()


@needs_snakemake
def test_wrapper_reruns_classify_over_its_sidecar(tiny_model_dir, tmp_path):
    """`classify -o TABLE` also writes TABLE.json and refuses to replace one: a rule that
    does not declare it still reruns (the wrapper replaces the stale sidecar), as does one
    that declares it. The log's name has a space: its path is quoted, as the input's is."""
    wrapper = Path(shutil.copytree(WORKFLOW / "wrappers/vqdna", tmp_path / "vqdna"))
    (tmp_path / "in.fa").write_text(fasta_text({"a": random_dna(90, 1), "b": random_dna(150, 2)}))
    for outputs in ('"pred.tsv"', '"pred.tsv", "pred.tsv.json"'):
        (tmp_path / "Snakefile").write_text(
            "rule classify:\n"
            '    input: "in.fa"\n'
            f"    output: {outputs}\n"
            '    log: "classify run.log"\n'
            f'    params: command="classify", extra="--task toy --model {tiny_model_dir}"\n'
            "    threads: 1\n"
            f'    wrapper: "file:{wrapper}"\n')
        for _ in range(2):
            _snakemake("--cores", "1", "--forceall", cwd=tmp_path)
            assert json.loads((tmp_path / "pred.tsv.json").read_text())["rows"] == 2
            assert "classified 2 sequences" in (tmp_path / "classify run.log").read_text()
    assert not (tmp_path / "classify").exists()  # `2> classify run.log` unquoted wrote there


def test_split_makes_contiguous_non_empty_shards(tmp_path):
    seqs = {f"r{i}": random_dna(20, i) for i in range(5)}
    fasta = tmp_path / "in.fa.gz"
    fasta.write_bytes(gzip.compress(fasta_text(seqs).encode()))
    shards = [str(tmp_path / f"{i}.fa") for i in range(3)]
    split.split_fasta(str(fasta), shards)
    texts = [Path(s).read_text() for s in shards]
    assert "".join(texts) == fasta_text(seqs)
    assert [t.count(">") for t in texts] == [2, 2, 1]
    with pytest.raises(SystemExit, match="fewer than shards=6"):
        split.split_fasta(str(fasta), [str(tmp_path / f"x{i}.fa") for i in range(6)])


def test_split_reads_names_as_vqdna_does(tmp_path):
    """Two Latin-1 names that differ in one byte are two records (they were one U+FFFD name,
    refused as a duplicate), and a UTF-8 é and a Latin-1 é one name, as vqdna reads them."""
    two = tmp_path / "two.fa"
    two.write_bytes(b">caf\xe9\nACGT\n>caf\xe8\nACGT\n")
    split.split_fasta(str(two), [str(tmp_path / "0.fa"), str(tmp_path / "1.fa")])
    same = tmp_path / "same.fa"
    same.write_bytes(b">caf\xc3\xa9\nACGT\n>caf\xe9\nACGT\n")
    with pytest.raises(SystemExit, match="duplicate record ID 'café'"):
        split.split_fasta(str(same), [str(tmp_path / "a.fa"), str(tmp_path / "b.fa")])
    log = tmp_path / "split.log"
    with pytest.raises(SystemExit):
        split.run_logged(str(same), [str(tmp_path / "a.fa"), str(tmp_path / "b.fa")], str(log))
    assert log.read_text().startswith("duplicate record ID 'café'")


@needs_snakemake
def test_fewer_shards_than_the_run_before_split_again(tiny_model_dir, tmp_path):
    """With shards=3 then shards=2 in the same folder, shards 0 and 1 of the first split were
    still there: without a new split the third shard's records were left out of the results."""
    fasta = tmp_path / "input.fa"
    fasta.write_text(fasta_text({f"rec{i}": random_dna(length, 500 + i) for i, length in enumerate(LENGTHS[:6])}))
    workdir = tmp_path / "run"
    for shards in ("3", "2"):
        _snakemake("--cores", "1", "-s", str(WORKFLOW / "Snakefile"), "--directory", str(workdir), "--config",
                   f"fasta={fasta}", f"shards={shards}", f"model={tiny_model_dir}", "task=toy", "threads=1", "--",
                   "results/tokens.npz", cwd=tmp_path)
        with np.load(workdir / "results/tokens.npz") as npz:
            assert list(npz["ids"]) == [f"rec{i}" for i in range(6)], shards
    assert (workdir / "logs/split.log").read_text().endswith(": 2 shards\n")


@needs_snakemake
def test_a_classify_format_other_than_tsv_or_bed_is_refused_at_once(tiny_model_dir, tmp_path):
    fasta = tmp_path / "input.fa"
    fasta.write_text(fasta_text({f"rec{i}": random_dna(60, 600 + i) for i in range(2)}))
    result = _snakemake("--cores", "1", "-s", str(WORKFLOW / "Snakefile"), "--directory", str(tmp_path / "run"),
                        "--config", f"fasta={fasta}", "shards=2", "classify_format=BED", cwd=tmp_path, check=False)
    assert result.returncode != 0 and "classify_format='BED': must be tsv or bed" in result.stderr


def test_split_copies_lines_byte_for_byte_in_any_encoding(tmp_path):
    """Latin-1 descriptions were a UnicodeDecodeError (vqdna itself reads them), and CRLF
    lines came out as LF."""
    data = b">r0 caf\xe9\r\nACGTACGTAC\r\n>r1 na\xefve\r\nGGCCGGCCAA\r\n"
    fasta = tmp_path / "latin1.fa"
    fasta.write_bytes(data)
    shards = [tmp_path / "0.fa", tmp_path / "1.fa"]
    split.split_fasta(str(fasta), [str(s) for s in shards])
    assert b"".join(s.read_bytes() for s in shards) == data and shards[1].read_bytes().startswith(b">r1")


def test_split_says_an_input_without_records_has_none(tmp_path):
    """It told the user to lower `shards`, which cannot help."""
    empty = tmp_path / "empty.fa"
    empty.write_bytes(b"")
    with pytest.raises(SystemExit, match=r"^no FASTA records in .*empty.fa: there is nothing to shard$"):
        split.split_fasta(str(empty), [str(tmp_path / "0.fa")])


def _planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """The job counts of a dry run's "Job stats" table."""
    table = result.stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    return {line.split()[0]: int(line.split()[1]) for line in table.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}


@needs_snakemake
def test_changing_only_classify_settings_reruns_only_classify(sharded_run, tiny_model_dir):
    """The shard FASTAs were temp(): split ran again, and its new shards, newer than every
    shard's tokens and embeddings, sent those jobs again too."""
    workdir, fasta = sharded_run
    dry = _snakemake("-n", "--cores", "2", "-s", str(WORKFLOW / "Snakefile"), "--directory", str(workdir), "--config",
                     f"fasta={fasta}", "shards=3", f"model={tiny_model_dir}", "task=toy", "threads=1",
                     "extra={embed: --per-token}", "classify_format=bed", cwd=workdir.parent)
    assert _planned_jobs(dry) == {"all": 1, "classify": 3, "merge_classify": 1}


@needs_snakemake
@pytest.mark.parametrize("setting", ["shards=0", "shards=-1", "shards=2.5", "shards=two", "threads=0", "threads=1.5"])
def test_a_count_that_is_no_whole_number_is_refused(setting, tmp_path):
    """`threads` was passed to every job as given: a dry run passed, and each job failed."""
    fasta = tmp_path / "input.fa"
    fasta.write_text(fasta_text({"a": "ACGT" * 10, "b": "GGCC" * 10}))
    result = _snakemake("-n", "--cores", "1", "-s", str(WORKFLOW / "Snakefile"), "--directory", str(tmp_path / "run"),
                        "--config", f"fasta={fasta}", setting, cwd=tmp_path, check=False)
    said = result.stderr + result.stdout
    assert result.returncode != 0
    assert f"config {setting.split('=')[0]}=" in said and "must be a whole number, 1 or more" in said
    assert "Traceback" not in result.stderr


@needs_snakemake
def test_an_extra_left_empty_in_a_configfile_adds_nothing(tmp_path):
    """YAML reads `tokenize:` with no value as None, which reached the command as `None`."""
    fasta = tmp_path / "input.fa"
    fasta.write_text(fasta_text({"a": "ACGT" * 10, "b": "GGCC" * 10}))
    (tmp_path / "more.yaml").write_text("extra:\n  tokenize:\n")
    dry = _snakemake("-n", "-p", "--cores", "1", "-s", str(WORKFLOW / "Snakefile"), "--directory", str(tmp_path / "run"),
                     "--configfile", str(tmp_path / "more.yaml"), "--config", f"fasta={fasta}", "shards=1",
                     "--", "results/tokens.npz", cwd=tmp_path)
    command = next(line for line in dry.stdout.splitlines() if "vqdna tokenize" in line)
    assert "None" not in command


@needs_snakemake
def test_an_extra_of_several_lines_is_one_line_or_refused(tmp_path):
    """A YAML block (`tokenize: |`) ends in a newline: the job's command ended there, and its
    `2> log` ran as a command of its own (the log stayed empty); a second line would run alone."""
    fasta = tmp_path / "input.fa"
    fasta.write_text(fasta_text({"a": "ACGT" * 10, "b": "GGCC" * 10}))
    run = ("-n", "-p", "--cores", "1", "-s", str(WORKFLOW / "Snakefile"), "--directory", str(tmp_path / "run"))
    (tmp_path / "block.yaml").write_text("extra:\n  tokenize: |\n    --no-compress\n")
    dry = _snakemake(*run, "--configfile", str(tmp_path / "block.yaml"), "--config", f"fasta={fasta}", "shards=1",
                     "--", "results/tokens.npz", cwd=tmp_path)
    command = next(line for line in dry.stdout.splitlines() if "vqdna tokenize" in line)
    assert "--no-compress 2> " in command
    (tmp_path / "lines.yaml").write_text("extra:\n  tokenize: |\n    --no-compress\n    --device cpu\n")
    refused = _snakemake(*run, "--configfile", str(tmp_path / "lines.yaml"), "--config", f"fasta={fasta}",
                         cwd=tmp_path, check=False)
    assert refused.returncode != 0
    assert "config extra tokenize: '--no-compress\\n--device cpu' is several lines" in refused.stderr + refused.stdout


def test_split_reads_past_a_byte_order_mark_as_vqdna_does(tmp_path):
    """A FASTA saved by Notepad starts with a UTF-8 byte-order mark: its first record was not
    counted (too few records for the shards) nor its name checked (a name twice passed)."""
    fasta = tmp_path / "bom.fa"
    fasta.write_bytes(b"\xef\xbb\xbf>a\nACGTACGTAC\n>b\nGGCCGGCCAA\n")
    shards = [str(tmp_path / "0.fa"), str(tmp_path / "1.fa")]
    split.split_fasta(str(fasta), shards)
    assert [Path(shard).read_text() for shard in shards] == [">a\nACGTACGTAC\n", ">b\nGGCCGGCCAA\n"]
    fasta.write_bytes(b"\xef\xbb\xbf>a\nACGTACGTAC\n>b\nGGCCGGCCAA\n>a\nACGTACGTAC\n")
    with pytest.raises(SystemExit, match="duplicate record ID 'a'"):
        split.split_fasta(str(fasta), shards)


def test_split_keeps_mates_together_and_names_them_as_vqdna_does(tmp_path):
    """Interleaved mates with Casava comments are NAME/1 and NAME/2 to vqdna: the split refused
    them as a duplicate ID, and a pair cut between two shards would lose its /1 and /2."""
    from vqdna_cli.io.fasta import read_fasta

    fasta = tmp_path / "pairs.fa"
    fasta.write_text("".join(f">frag{i} {read}:N:0:ATCACG\n{random_dna(30, 2 * i + read)}\n"
                             for i in range(3) for read in (1, 2)))
    shards = [str(tmp_path / f"{i}.fa") for i in range(2)]
    split.split_fasta(str(fasta), shards)
    names = [[record.name for record in read_fasta(shard)] for shard in shards]
    assert names == [["frag0/1", "frag0/2", "frag1/1", "frag1/2"], ["frag2/1", "frag2/2"]]
    assert sum(names, []) == [record.name for record in read_fasta(str(fasta))]
    with pytest.raises(SystemExit, match="has 3 FASTA records or pairs of mates, fewer than shards=4"):
        split.split_fasta(str(fasta), [str(tmp_path / f"x{i}.fa") for i in range(4)])
    fasta.write_text(fasta.read_text() * 2)  # each pair twice
    with pytest.raises(SystemExit, match="duplicate record ID 'frag0/1'"):
        split.split_fasta(str(fasta), shards)


def test_split_refuses_fastq_and_old_mac_line_endings_in_one_line(tmp_path):
    """FASTQ quality lines may start with '>': they were counted as records and cut reads in
    two. A file with carriage returns alone is one line: the split said to lower `shards`."""
    shards = [str(tmp_path / "0.fa"), str(tmp_path / "1.fa")]
    fastq = tmp_path / "reads.fq"
    fastq.write_text("@q1\nACGT\n+\n>III\n@q2\nACGT\n+\nIIII\n")
    with pytest.raises(SystemExit, match="reads.fq is FASTQ: the workflow splits FASTA only"):
        split.split_fasta(str(fastq), shards)
    old_mac = tmp_path / "cr.fa"
    old_mac.write_bytes(b">a\rACGT\r>b\rACGT\r")
    with pytest.raises(SystemExit, match=r"carriage returns alone .* < .*cr.fa tr '\\r' '\\n' > fixed.fa"):
        split.split_fasta(str(old_mac), shards)
    (tmp_path / "cr.fa.gz").write_bytes(gzip.compress(old_mac.read_bytes()))
    with pytest.raises(SystemExit, match=r"e.g. gzip -dc .*cr.fa.gz \| tr"):
        split.split_fasta(str(tmp_path / "cr.fa.gz"), shards)


def test_split_refuses_a_bgzf_file_cut_at_a_block_boundary(tmp_path):
    """Cut after a whole block it decompressed without error: the workflow merged the records
    left and said nothing, where vqdna on the same file refuses it."""
    from Bio import bgzf

    whole = tmp_path / "whole.fa.gz"
    ends = []
    with bgzf.BgzfWriter(str(whole), "wb") as writer:
        for i in range(4):
            writer.write(f">r{i}\n{random_dna(30, i)}\n".encode())
            writer.flush()  # one record to a block
            ends.append(writer._handle.tell())
    cut = tmp_path / "cut.fa.gz"
    cut.write_bytes(whole.read_bytes()[: ends[2]])
    shards = [str(tmp_path / "0.fa"), str(tmp_path / "1.fa")]
    split.split_fasta(str(whole), shards)
    with pytest.raises(SystemExit, match="BGZF without its end-of-file block: the file was cut short"):
        split.split_fasta(str(cut), shards)


def test_split_says_a_truncated_gzip_is_truncated_in_its_log(tmp_path):
    """It was a zlib/EOFError traceback, and logs/split.log was left empty."""
    data = gzip.compress(fasta_text({f"r{i}": random_dna(400, i) for i in range(6)}).encode())
    cut = tmp_path / "cut.fa.gz"
    cut.write_bytes(data[: len(data) // 2])
    log = tmp_path / "split.log"
    with pytest.raises(SystemExit, match=r"cut.fa.gz is a truncated or corrupt gzip file \("):
        split.run_logged(str(cut), [str(tmp_path / "0.fa"), str(tmp_path / "1.fa")], str(log))
    assert "is a truncated or corrupt gzip file" in log.read_text()


@needs_snakemake
def test_weights_replaced_in_place_run_the_jobs_that_read_them_again(tiny_model_dir, tmp_path):
    """Nothing of the weights reached the jobs but the folder's name: a head retrained into the
    same folder left every classify result of the old head in place, as if up to date."""
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    fasta = tmp_path / "input.fa"
    fasta.write_text(fasta_text({f"rec{i}": random_dna(60, 700 + i) for i in range(2)}))
    run = ("--cores", "1", "-s", str(WORKFLOW / "Snakefile"), "--directory", str(tmp_path / "run"), "--config",
           f"fasta={fasta}", "shards=1", f"model={model}", "task=toy", "threads=1", "--",
           "results/classify.tsv", "results/tokens.npz")
    _snakemake(*run, cwd=tmp_path)
    assert "Nothing to be done" in _snakemake("-n", *run, cwd=tmp_path).stdout

    def retrained(info: Path, file: str) -> None:  # new weights, and the hash vqdna records of them
        recorded = json.loads(info.read_text())
        recorded["sha256"][file] = "0" * 64
        info.write_text(json.dumps(recorded))

    retrained(model / "heads" / "toy" / "head.json", "head.safetensors")
    assert _planned_jobs(_snakemake("-n", *run, cwd=tmp_path)) == {"classify": 1, "merge_classify": 1}
    retrained(model / "config.json", "model.safetensors")
    assert _planned_jobs(_snakemake("-n", *run, cwd=tmp_path)) == {
        "classify": 1, "merge_classify": 1, "tokenize": 1, "merge": 1}


@needs_snakemake
@pytest.mark.parametrize("setting, said", [
    ("shard=2", "unknown config 'shard': the settings are fasta, shards,"),
    ("extra=--rc", "config extra='--rc': give options per command"),
    ("extra={tokenise: --rc}", "config extra names 'tokenise': give options per command, one of tokenize,"),
])
def test_a_setting_misspelt_or_an_extra_of_no_command_is_refused(setting, said, tmp_path):
    """A misspelt key was ignored in silence; `extra=--rc` was an AttributeError traceback."""
    fasta = tmp_path / "input.fa"
    fasta.write_text(fasta_text({"a": "ACGT" * 10, "b": "GGCC" * 10}))
    result = _snakemake("-n", "--cores", "1", "-s", str(WORKFLOW / "Snakefile"), "--directory", str(tmp_path / "run"),
                        "--config", f"fasta={fasta}", setting, cwd=tmp_path, check=False)
    assert result.returncode != 0 and said in result.stderr + result.stdout
    assert "Traceback" not in result.stderr and "AttributeError" not in result.stderr


def test_split_refuses_an_id_given_twice_as_one_unsharded_run_does(tmp_path):
    """Each shard would hold one of the two records and pass vqdna's check."""
    fasta = tmp_path / "dup.fa"
    fasta.write_text(">a first\nACGTACGTAC\n>b\nGGCCGGCCAA\n>a again\nACGTACGTAC\n")
    with pytest.raises(SystemExit, match="duplicate record ID 'a' in .*dup.fa"):
        split.split_fasta(str(fasta), [str(tmp_path / "0.fa"), str(tmp_path / "1.fa")])


def test_merge_refuses_npz_shards_made_differently(run_vqdna, tiny_model_dir, tmp_path):
    """Shards of --rc and plain embeddings were merged under the first one's metadata."""
    fasta = tmp_path / "in.fa"
    fasta.write_text(fasta_text({"a": random_dna(90, 1)}))
    plain = _unsharded(run_vqdna, "embed", fasta, tmp_path / "0.npz", tiny_model_dir)
    both = _unsharded(run_vqdna, "embed", fasta, tmp_path / "1.npz", tiny_model_dir, "--rc")
    with pytest.raises(SystemExit, match=r"the shards were made differently \(.*reverse_complement"):
        merge.merge_embeddings([str(plain), str(both)], str(tmp_path / "merged.npz"), str(fasta))
    assert not (tmp_path / "merged.npz").exists()


def _tokens_file(path: Path, records: list, input_name: str) -> None:
    """A tokens `.npz` of `records` ((name, start, positions or None, length)), random tokens
    seeded by the name, written by tokenize's own writer."""
    from types import SimpleNamespace

    from vqdna_cli.io.tokens_npz import TokensNpz

    with TokensNpz(2, path) as table:
        for name, start, positions, length in records:
            rng = np.random.default_rng(sum(map(ord, name)))
            aligned = None if positions is None else np.array(positions, dtype=np.int64)
            table.add(SimpleNamespace(name=name, chrom="chr1", offset=start, reference_positions=aligned),
                      rng.integers(0, 512, size=(length, 2)))
        table.write(path, {"input": input_name})


def _tokens_shards(folder: Path, shards: list[list]) -> list[str]:
    """A tokens file per shard of records, and `one.npz`: all of them as one run writes them."""
    paths = []
    for number, records in enumerate(shards):
        paths.append(str(folder / f"{number}.npz"))
        _tokens_file(Path(paths[-1]), records, f"shard{number}.fa")
    _tokens_file(folder / "one.npz", [r for records in shards for r in records], "all.fa")
    return paths


def test_merge_streams_tokens_shards_into_the_file_of_one_run(tmp_path, monkeypatch):
    """Shards copied a few bytes at a time (so every array crosses pieces and shards), IDs of
    different widths in different shards: the merged file is the one-run file, byte for byte."""
    monkeypatch.setattr(merge, "PIECE_BYTES", 24)
    shards = [[("a", 0, None, 50), ("read_with_a_long_name/1", 70, list(range(70, 80)) + [-1, -1], 12)],
              [("b", 1000, None, 7)],
              [("c", 5, None, 0), ("dd", 20, None, 300)]]
    paths = _tokens_shards(tmp_path, shards)

    merge.merge_tokens(paths, str(tmp_path / "merged.npz"), "all.fa")
    assert (tmp_path / "merged.npz").read_bytes() == (tmp_path / "one.npz").read_bytes()


def test_merge_widens_positions_keeping_bases_off_the_reference_marked(tmp_path):
    """One shard's coordinates need int64 (a contig past 4 Gb), another's fit uint32 and mark
    a clipped base with uint32's largest value: merged, that mark is int64's largest."""
    past_4gb = 2**32 + 10
    shards = [[("clipped", 100, [100, -1, 102], 3)], [("far", past_4gb, None, 4)]]
    paths = _tokens_shards(tmp_path, shards)

    merge.merge_tokens(paths, str(tmp_path / "merged.npz"), "all.fa")
    with np.load(tmp_path / "merged.npz") as merged:
        assert merged["positions"].dtype == np.int64
        assert merged["positions"].tolist() == [100, np.iinfo(np.int64).max, 102, *range(past_4gb, past_4gb + 4)]
    assert (tmp_path / "merged.npz").read_bytes() == (tmp_path / "one.npz").read_bytes()


def test_merge_tsv_refuses_shards_of_different_formats(tmp_path):
    tsv, bed = tmp_path / "0.tsv", tmp_path / "1.tsv"
    tsv.write_text("id\tlabel\tclass_index\tp_neg\tp_pos\na\tneg\t0\t0.9\t0.1\n")
    bed.write_text("#chrom\tstart\tend\tname\tscore\tstrand\tid\tclass_index\tp_neg\tp_pos\n")
    with pytest.raises(SystemExit, match="header lines differ"):
        merge.merge_tsv([str(tsv), str(bed)], str(tmp_path / "merged.tsv"))
    assert not (tmp_path / "merged.tsv").exists()


def test_merge_tsv_keeps_header_comments_once(tmp_path):
    head = "##vqdna_version=0.1.0\n##task=toy\nid\tlabel\tclass_index\tp_neg\tp_pos\n"
    shards = [tmp_path / "0.tsv", tmp_path / "1.tsv"]
    shards[0].write_text(head + "a\tneg\t0\t0.9\t0.1\n")
    shards[1].write_text(head + "b\tpos\t1\t0.2\t0.8\n")
    merge.merge_tsv([str(s) for s in shards], str(tmp_path / "merged.tsv"))
    assert (tmp_path / "merged.tsv").read_text() == head + "a\tneg\t0\t0.9\t0.1\nb\tpos\t1\t0.2\t0.8\n"


def test_merge_tsv_rewrites_the_input_of_header_comments(tmp_path):
    """Each shard's `##input=` names the shard; the merged table names the unsharded input."""
    def head(shard: int) -> str:
        return f"##vqdna_version=0.1.0\n##task=toy\n##input=shards/{shard}.fa\n##region=null\nid\tlabel\tclass_index\tp_neg\tp_pos\n"

    shards = [tmp_path / "0.tsv", tmp_path / "1.tsv"]
    shards[0].write_text(head(0) + "a\tneg\t0\t0.9\t0.1\n")
    shards[1].write_text(head(1) + "b\tpos\t1\t0.2\t0.8\n")
    merge.merge_tsv([str(s) for s in shards], str(tmp_path / "merged.tsv"), "genome.fa")
    assert (tmp_path / "merged.tsv").read_text() == (
        head(0).replace("shards/0.fa", "genome.fa") + "a\tneg\t0\t0.9\t0.1\nb\tpos\t1\t0.2\t0.8\n")
    # Without the unsharded input's name there is nothing to set it to: the heads must agree.
    with pytest.raises(SystemExit, match="header lines differ"):
        merge.merge_tsv([str(s) for s in shards], str(tmp_path / "other.tsv"))


def test_merge_tsv_still_refuses_tsv_and_bed_with_header_comments(tmp_path):
    comments = "##task=toy\n##input=shards/{}.fa\n##output_format={}\n"
    tsv, bed = tmp_path / "0.tsv", tmp_path / "1.tsv"
    tsv.write_text(comments.format(0, "tsv") + "id\tlabel\tclass_index\tp_neg\tp_pos\na\tneg\t0\t0.9\t0.1\n")
    bed.write_text(comments.format(1, "bed") + "#chrom\tstart\tend\tname\tscore\tstrand\tid\tclass_index\tp_neg\tp_pos\n")
    with pytest.raises(SystemExit, match=r"header lines differ \(mixed TSV and BED\?"):
        merge.merge_tsv([str(tsv), str(bed)], str(tmp_path / "merged.tsv"), "genome.fa")
    assert not (tmp_path / "merged.tsv").exists()


def test_merge_classify_writes_the_merged_sidecar(tmp_path):
    """The first shard's sidecar, with the unsharded input and the total rows, in vqdna's
    own format; shards made with different options are refused before anything is written."""
    sidecar = {"format": "vqdna-predictions", "task": "toy", "columns": ["id", "label"], "stride": 64}
    tables, sidecars = [], []
    for shard, rows in enumerate((3, 2)):
        table = tmp_path / f"{shard}.classify.tsv"
        table.write_text("id\tlabel\n" + "".join(f"r{shard}{i}\tneg\n" for i in range(rows)))
        Path(f"{table}.json").write_text(json.dumps({**sidecar, "input": f"shards/{shard}.fa", "rows": rows}))
        tables.append(str(table))
        sidecars.append(f"{table}.json")
    output = tmp_path / "results.tsv"
    merge.merge_classify(tables, sidecars, str(output), "genome.fa")
    expected = {**sidecar, "input": "genome.fa", "rows": 5}
    assert Path(f"{output}.json").read_text() == json.dumps(expected, indent=2, sort_keys=True) + "\n"
    assert output.read_text().count("\n") == 6

    Path(sidecars[1]).write_text(json.dumps({**sidecar, "stride": 32, "input": "shards/1.fa", "rows": 2}))
    with pytest.raises(SystemExit, match="different options"):
        merge.merge_classify(tables, sidecars, str(tmp_path / "other.tsv"), "genome.fa")
    assert not (tmp_path / "other.tsv").exists() and not (tmp_path / "other.tsv.json").exists()


def test_readme_lists_what_the_workflow_makes():
    """workflow/README.md's table of outputs names every target of `rule all`, and says what
    vqdna writes: the classify table's first line is its header (no comment line by default)."""
    import re

    readme = (WORKFLOW / "README.md").read_text()
    rule_all = (WORKFLOW / "Snakefile").read_text().split("rule all:")[1].split("\nrule ")[0]
    targets = re.findall(r'"(results/[^"]+)"', rule_all)
    assert "results/classify.tsv.json" in targets
    listed = re.findall(r"^\| `(results/[^`]+)` \|", readme, re.M)
    assert listed == targets
    classify_row = next(line for line in readme.splitlines() if line.startswith("| `results/classify.tsv` |"))
    assert "comment line" not in classify_row and "header line first" in classify_row
