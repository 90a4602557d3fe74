"""Every example command in README.md, docs/*.md and the man pages runs, and writes something
plausible.

The examples are read from the files themselves, so a new one is tested as soon as it is
written: code blocks of README and docs/ (each line that runs `vqdna`, and each ```python
block), and the EXAMPLES section of every man/*.1 page (which scripts/make_man.py takes from
the `Example:` paragraphs of the commands' help).

How an example is run:
- Verbatim, in a scratch folder per document, in document order, so that a later line can use
  what an earlier one wrote (docs/training.md's training block is one chain) and the README's
  Python snippet reads the `tokens.npz` its first example wrote. An output a previous example
  already wrote is removed first, as a reader running them one by one would not be stopped by
  "exists: use --force".
- The input files an example names (genome.fa.gz, reads.bam, seqs.fa, genomes/*.fa.gz,
  train.csv, genes.gff, ...) are made for it by the extension and name, small enough to run
  in seconds: see `make_fixture`. A name no maker knows fails the test with that name, so a
  new kind of input is noticed, not skipped.
- `pip install` steps (README's set-up line) are left out: installing is what made the
  environment running this test, and .ci/run runs that line itself.
- Training examples run on the tiny preset for a few steps (`SPEED_OPTIONS`, appended to the
  command line so that they override the example's own values; the command is otherwise as
  written). Everything else uses the shipped weights.
- A line with only plain words (and globs) runs in the forked CLI of conftest's `run_vqdna`,
  for speed; a line with shell syntax (pipes, redirections, &&) runs under bash with `vqdna`
  on PATH, a shim that starts this interpreter's vqdna.
"""

from __future__ import annotations

import fnmatch
import glob
import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pysam
import pytest

from conftest import Completed, fasta_text, random_dna

ROOT = Path(__file__).resolve().parent.parent

# Examples deliberately not run, each with its reason (the text as extracted: see the test ids).
SKIPPED: dict[str, str] = {}

# Appended to training commands so that an example that trains for minutes runs in seconds on
# the tiny preset; appended last, they override the example's own --steps and the like.
SPEED_OPTIONS = {
    "train tokenizer": ["--preset", "tiny", "--steps", "3", "--window", "64", "--batch", "4"],
    "train pretrain": ["--steps", "3", "--window", "64", "--batch", "4"],
    "train finetune": ["--epochs", "1"],
}
# Appended after SPEED_OPTIONS to the examples that read a base beyond the tiny preset's
# 64-token window (the promoter layout's base 232): the same read, at a base the window has.
TINY_WINDOW_OPTIONS = {
    "vqdna train finetune -m my_model/final --task tss --train promoters.csv --adapter frozen "
    "--center-tokens 64 --center-at 232": ["--center-at", "40"],
}
SHELL_LANGUAGES = {"", "sh", "bash", "shell", "console"}
OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "(", ")"}
OUTPUT_OPTIONS = {"-o", "--output"}


# --- finding the examples -----------------------------------------------------------------------


@dataclass
class Example:
    document: str  # path relative to the repository
    line: int  # 1-based line of the example in the document
    kind: str  # "shell" or "python"
    text: str  # as written (comments and line continuations removed)

    @property
    def id(self) -> str:
        words = re.sub(r"[^\w./:*-]+", "_", self.text.split("\n")[0])[:60]
        return f"{self.document}:{self.line}:{words}"


def _invokes_vqdna(line: str) -> bool:
    return re.search(r"(^|[|&;(]\s*)vqdna\s", line) is not None


def _strip_comment(line: str) -> str:
    # A `  # note` after the command (README's first block); a '#' inside quotes is kept.
    return re.sub(r"\s+#[^'\"]*$", "", line).rstrip()


def markdown_examples(path: Path = ROOT / "README.md") -> list[Example]:
    examples = []
    document = path.relative_to(ROOT).as_posix()
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        language, start = fence.group(1).lower(), i + 1
        end = next(j for j in range(start, len(lines)) if lines[j].startswith("```"))
        if language == "python":
            examples.append(Example(document, start + 1, "python", "\n".join(lines[start:end]) + "\n"))
        elif language in SHELL_LANGUAGES:
            j = start
            while j < end:
                first, logical = j, lines[j]
                while logical.endswith("\\") and j + 1 < end:  # a command continued on the next line
                    j += 1
                    logical = logical[:-1] + " " + lines[j].strip()
                command = _strip_comment(re.sub(r"^\$\s+", "", logical.strip()))
                if _invokes_vqdna(command):
                    examples.append(Example(document, first + 1, "shell", command))
                j += 1
        i = end + 1
    return examples


def _unescape_roff(text: str) -> str:
    return text.replace("\\(aq", "'").replace("\\-", "-").replace("\\e", "\\").replace("\\\\", "\\")


def man_examples(directory: Path = ROOT / "man") -> list[Example]:
    examples = []
    for page in sorted(directory.glob("*.1")):
        in_examples = in_literal = False
        for number, line in enumerate(page.read_text().splitlines(), start=1):
            if line.startswith(".SH"):
                in_examples = line.split(None, 1)[1].strip('"') == "EXAMPLES"
            elif in_examples and line.startswith(".nf"):
                in_literal = True
            elif in_examples and line.startswith(".fi"):
                in_literal = False
            elif in_examples and in_literal and not line.startswith("."):
                command = _strip_comment(_unescape_roff(line))
                if _invokes_vqdna(command):
                    examples.append(Example(f"man/{page.name}", number, "shell", command))
    return examples


ALL_EXAMPLES = [e for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))] for e in markdown_examples(doc)] + man_examples()


# --- parsing a command line ---------------------------------------------------------------------


def _words(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


@dataclass
class Invocation:
    """One `vqdna ...` in a command line: its arguments and where its output goes."""

    args: list[str]
    redirect: str | None = None  # `> file`

    @property
    def command(self) -> str:
        words = [a for a in self.args if not a.startswith("-")]
        return " ".join(words[:2]) if words[:1] == ["train"] else (words[0] if words else "")

    def option(self, *names: str) -> str | None:
        for i, arg in enumerate(self.args):
            for name in names:
                if arg == name and i + 1 < len(self.args):
                    return self.args[i + 1]
                if name.startswith("--") and arg.startswith(name + "="):
                    return arg.split("=", 1)[1]
        return None

    @property
    def output(self) -> str | None:
        return self.option(*OUTPUT_OPTIONS)


def invocations(line: str) -> list[Invocation]:
    found, segment = [], []
    for word in [*_words(line), "|"]:
        if word in ("|", "||", "&&", ";", "&"):
            if "vqdna" in segment:
                rest = segment[segment.index("vqdna") + 1:]
                redirect = next((rest[k + 1] for k, w in enumerate(rest[:-1]) if w in (">", ">>")), None)
                cut = next((k for k, w in enumerate(rest) if w in (">", ">>", "<")), len(rest))
                found.append(Invocation(rest[:cut], redirect))
            segment = []
        else:
            segment.append(word)
    return found


def output_targets(line: str) -> set[str]:
    """Everything the line writes: `-o`/`--output` values and redirection targets."""
    words, targets = _words(line), set()
    for i, word in enumerate(words[:-1]):
        if word in OUTPUT_OPTIONS or word in (">", ">>"):
            targets.add(words[i + 1])
        elif word.startswith("--output="):
            targets.add(word.split("=", 1)[1])
    return targets


def is_plain(line: str) -> bool:
    """Only words and globs: no pipes, redirections, substitutions or variables."""
    return not (set(_words(line)) & OPERATORS) and not re.search(r"[$`~{}]", line) and _words(line)[0] == "vqdna"


# --- fixtures by file name ----------------------------------------------------------------------


# One small genome that every genome-like FASTA is a variant of (so `vqdna mutations` finds
# real differences between a reference and its samples). chr1 is declared 100 kb long in the
# BAM header so that README's `--region chr1:1-100000` lies inside it.
GENOME = {"chr1": random_dna(4000, 11), "chr2": random_dna(900, 12)}
BAM_CHR1_LENGTH = 100_000


class NoFixture(Exception):
    pass


def _name_seed(path: Path) -> int:
    return zlib.crc32(path.name.encode())


def _genome_variant(path: Path) -> dict[str, str]:
    """GENOME with a few substitutions seeded by the file name (none for a reference)."""
    if re.search(r"ref|NC_", path.name, re.I):
        return dict(GENOME)
    rng = np.random.default_rng(_name_seed(path))
    records = {}
    for name, seq in GENOME.items():
        bases = list(seq)
        for position in rng.choice(np.arange(50, len(bases) - 50), size=6, replace=False):
            bases[position] = {"A": "G", "G": "A", "C": "T", "T": "C"}[bases[position]]
        records[name] = "".join(bases)
    # Soft-masking, as in real assemblies (the readers uppercase it).
    records["chr2"] = records["chr2"][:100].lower() + records["chr2"][100:]
    return records


def _fasta_records(path: Path) -> dict[str, str]:
    stem = path.name.lower()
    if "read" in stem:  # pieces of the genome, as reads
        return {f"read{i + 1}": GENOME["chr1"][i * 300: i * 300 + 150] for i in range(8)}
    if "seq" in stem or "candidate" in stem:  # a set of sequences, each within one window
        return {f"seq{i + 1}": random_dna(80 + 40 * i, _name_seed(path) + i) for i in range(5)}
    return _genome_variant(path)


def _write_fasta(path: Path) -> None:
    text = fasta_text(_fasta_records(path))
    if path.name.endswith(".gz"):
        # BGZF with .fai and .gzi: plain gzip readers (zcat) read it, and --region works.
        plain = path.with_name(path.name[:-3])
        plain.write_text(text)
        pysam.tabix_compress(str(plain), str(path), force=True)
        plain.unlink()
    else:
        path.write_text(text)
    pysam.faidx(str(path))


def _write_bam(path: Path) -> None:
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": "chr1", "LN": BAM_CHR1_LENGTH}, {"SN": "chr2", "LN": len(GENOME["chr2"])}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i in range(12):
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.flag, read.reference_id = f"read{i + 1}", 0, 0
            read.reference_start, read.mapping_quality = i * 300, 60
            read.query_sequence = GENOME["chr1"][i * 300: i * 300 + 100]
            read.cigartuples = [(0, 100)]
            read.query_qualities = pysam.qualitystring_to_array("I" * 100)
            out.write(read)
        unmapped = pysam.AlignedSegment(out.header)
        unmapped.query_name, unmapped.flag, unmapped.reference_id, unmapped.reference_start = "unmapped1", 4, -1, -1
        unmapped.query_sequence = random_dna(80, 13)
        unmapped.query_qualities = pysam.qualitystring_to_array("I" * 80)
        out.write(unmapped)
    pysam.index(str(path))


def _write_labelled_csv(path: Path) -> None:
    """`sequence,label`: GC-rich rows are class 1, AT-rich rows class 0 (learnable); rows
    differ between files, so `--exclude test.csv` leaves the training rows in place."""
    seed = _name_seed(path)
    rows = ["sequence,label"]
    for i in range(40):
        label = i % 2
        rows.append(f"{random_dna(60, seed + i, 'ACGGCC' if label else 'AATTCG')},{label}")
    text = "\n".join(rows) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)


def _write_bed(path: Path) -> None:
    path.write_text("chr1\t0\t600\tfirst\nchr1\t1500\t2100\tsecond\nchr2\t100\t700\tthird\n")


def _write_gff(path: Path) -> None:
    # One gene with a CDS of 300 codons on chr1, in GFF3.
    path.write_text("##gff-version 3\n"
                    "chr1\tfixture\tgene\t101\t1000\t.\t+\t.\tID=gene-G1;Name=G1\n"
                    "chr1\tfixture\tCDS\t101\t1000\t.\t+\t0\tID=cds-G1;Parent=gene-G1;gene=G1\n")


def _write_labels_tsv(path: Path) -> None:
    path.write_text("".join(f"read{i + 1}\t{i % 2}\n" for i in range(8)))


FIXTURES = [
    (r"\.(fa|fasta|fna)(\.gz)?$", _write_fasta),
    (r"\.bam$", _write_bam),
    (r"\.csv(\.gz)?$", _write_labelled_csv),
    (r"\.bed$", _write_bed),
    (r"\.gff3?$", _write_gff),
    (r"\.tsv$", _write_labels_tsv),
]
# Words that look like input files: any of the above, or another data file extension that
# would need a new maker (reported as such rather than run with a missing file).
INPUT_LIKE = re.compile(r"\.(fa|fasta|fna|fq|fastq|bam|sam|cram|bed|csv|tsv|gff3?|gtf|vcf|bcf)(\.gz)?$", re.I)


def make_fixture(path: Path) -> None:
    for pattern, maker in FIXTURES:
        if re.search(pattern, path.name, re.I):
            path.parent.mkdir(parents=True, exist_ok=True)
            maker(path)
            return
    raise NoFixture(f"no test input can be made for {path.name!r}: add a maker to FIXTURES in tests/test_examples.py")


def prepare_inputs(line: str, workdir: Path) -> None:
    """Make every input file the line names that does not exist yet (and that the line does
    not write itself)."""
    words = _words(line)
    written = output_targets(line)
    # --holdout-file names one of the input files by its file name: a glob of inputs gets it.
    holdout = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--holdout-file"]
    for i, word in enumerate(words):
        if word in written or word in OPERATORS or word.startswith("-") or (i and words[i - 1] == "--holdout-file"):
            continue
        if not INPUT_LIKE.search(word):
            continue
        if glob.has_magic(word):
            if not glob.glob(word, root_dir=workdir):
                names = [h for h in holdout if fnmatch.fnmatch(h, Path(word).name)] + ["sample1" + Path(word).name.lstrip("*")]
                for name in names:
                    make_fixture(workdir / Path(word).parent / name)
        elif not (workdir / word).exists():
            make_fixture(workdir / word)


def prepare_python_inputs(text: str, workdir: Path) -> None:
    """The sequence files a Python example reads by a quoted name (docs/python.md's
    "sequences.fa"), made as for a shell line; its outputs (.npz, .tsv) it writes itself."""
    for name in re.findall(r"""["']([\w./-]+\.(?:fa|fasta|fna|fq|fastq)(?:\.gz)?)["']""", text):
        if not (workdir / name).exists():
            make_fixture(workdir / name)


# --- plausible outputs --------------------------------------------------------------------------


def _npz(path: Path, expected_format: str) -> list[str]:
    if not path.is_file():
        return [f"{path.name} was not written"]
    with np.load(path) as z:
        meta = json.loads(str(z["metadata"]))
        problems = [] if meta.get("format") == expected_format else [f"{path.name}: format {meta.get('format')!r}"]
        if expected_format == "vqdna-tokens":
            tokens, offsets = z["tokens"], z["offsets"]
            if not (len(tokens) > 0 and tokens.shape[1] == meta["levels"] and offsets[-1] == len(tokens)):
                problems.append(f"{path.name}: tokens {tokens.shape}, offsets ending at {offsets[-1]}")
        else:
            vectors, offsets = z["embeddings"], z["window_offsets"]
            if not (len(vectors) > 0 and offsets[-1] == len(vectors) and np.isfinite(vectors).all()):
                problems.append(f"{path.name}: embeddings {vectors.shape}, offsets ending at {offsets[-1]}")
        chroms = set(map(str, z["chroms"]))
    region = meta.get("region")
    if region and chroms != {str(region).split(":")[0]}:
        problems.append(f"{path.name}: --region {region} but records on {sorted(chroms)}")
    return problems


def _predictions(text: str) -> list[str]:
    # --header-comments' lines, and the `# vqdna ...` line a --scan BED opens with
    lines = [line for line in text.splitlines() if not line.startswith(("##", "# vqdna "))]
    if len(lines) < 2:
        return [f"expected a header and rows, got {text[:300]!r}"]
    header = lines[0].lstrip("#").split("\t")
    columns = [k for k, name in enumerate(header) if name.startswith("p_")]
    problems = [] if len(columns) >= 2 else [f"no p_<class> columns in {lines[0]!r}"]
    for row in lines[1:]:
        values = row.split("\t")
        probabilities = [float(values[k]) for k in columns]
        if len(values) != len(header) or not all(0 <= p <= 1 for p in probabilities) or abs(sum(probabilities) - 1) > 1e-3:
            problems.append(f"implausible row {row!r}")
    return problems


def check_invocation(call: Invocation, stdout: str, workdir: Path) -> list[str]:
    """What each command should have written, looked at (not just its exit code)."""
    if "--help" in call.args or "-h" in call.args or "--version" in call.args:
        return [] if stdout.strip() else ["nothing printed"]
    target = call.output or call.redirect

    def text() -> str:  # where the command's main output went
        return (workdir / target).read_text() if target else stdout

    if call.command in ("tokenize", "embed") and not call.output:
        return ["no -o: where did the .npz go?"]
    if call.command == "tokenize":
        return _npz(workdir / call.output, "vqdna-tokens")
    if call.command == "embed":
        return _npz(workdir / call.output, "vqdna-embeddings")
    if call.command == "classify" and "--list-tasks" in call.args:
        rows = text().splitlines()
        return [] if rows and rows[0].startswith("task\t") and len(rows) > 1 else [f"no task table: {text()[:200]!r}"]
    if call.command == "classify":
        return _predictions(text())
    if call.command in ("train tokenizer", "train pretrain"):
        directory = workdir / call.output
        return [f"{directory.name}/{name} missing" for name in ("config.json", "model.safetensors")
                if not (directory / name).is_file()]
    if call.command == "train finetune":
        head = workdir / (call.output or call.option("-m", "--model")) / "heads" / call.option("--task") / "head.json"
        return [] if head.is_file() else [f"{head} missing"]
    if call.command == "train evaluate":
        scores = json.loads(text()) if text().strip().startswith("{") else {}
        return [] if "mcc" in scores else [f"no scores printed: {text()[:200]!r}"]
    # A command this test has no specific check for (yet): it must have written something.
    if target:
        written = workdir / target
        present = written.is_file() and written.stat().st_size > 0 or written.is_dir() and any(written.iterdir())
        return [] if present else [f"{target} is missing or empty"]
    return [] if stdout.strip() else ["no output"]


# --- running ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    completed: Completed | None = None
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None


SHIM = """#!{python}
# `vqdna` for the example tests: this interpreter's vqdna, with SPEED_OPTIONS appended.
import sys
speed = {speed!r}
args = sys.argv[1:]
words = [a for a in args if not a.startswith("-")]
sys.argv = ["vqdna", *args, *speed.get(" ".join(words[:2]), [])]
from vqdna_cli.cli.app import main
main()
"""


class DocumentRunner:
    """Runs all examples of a document once, in order, in one folder; keeps each outcome."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, run_vqdna):
        self.factory, self.run_vqdna = tmp_path_factory, run_vqdna
        self.outcomes: dict[str, dict[int, Outcome]] = {}
        shim_dir = tmp_path_factory.mktemp("shim")
        shim = shim_dir / "vqdna"
        shim.write_text(SHIM.format(python=sys.executable, speed=SPEED_OPTIONS))
        shim.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{shim_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                    "OMP_NUM_THREADS": "1"}  # the machine has 2 cores and other work on them

    def outcome(self, example: Example) -> Outcome:
        if example.document not in self.outcomes:
            self.outcomes[example.document] = self._run_document(example.document)
        return self.outcomes[example.document][example.line]

    def _run_document(self, document: str) -> dict[int, Outcome]:
        workdir = self.factory.mktemp(re.sub(r"\W+", "_", document))
        written: set[Path] = set()
        outcomes = {}
        for example in (e for e in ALL_EXAMPLES if e.document == document):
            if example.text in SKIPPED:
                outcomes[example.line] = Outcome(skipped=SKIPPED[example.text])
            elif example.kind == "python":
                prepare_python_inputs(example.text, workdir)
                result = subprocess.run([sys.executable, "-c", example.text], cwd=workdir, env=self.env,
                                        capture_output=True, text=True, timeout=300)
                outcomes[example.line] = Outcome(Completed(result.returncode, result.stdout.encode(), result.stderr))
            else:
                outcomes[example.line] = self._run_shell(example, workdir, written)
        return outcomes

    def _run_shell(self, example: Example, workdir: Path, written: set[Path]) -> Outcome:
        # Installing is what set up the environment running this test (.ci/run runs that line).
        line = re.sub(r"^(pip install [^&|;]*&&\s*)+", "", example.text)
        try:
            prepare_inputs(line, workdir)
        except NoFixture as missing:
            return Outcome(problems=[str(missing)])
        targets = {workdir / t for t in output_targets(line)}
        for stale in targets & written:
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink(missing_ok=True)
        written |= targets
        if is_plain(line):
            args = []
            for word in _words(line)[1:]:
                matches = sorted(glob.glob(word, root_dir=workdir)) if glob.has_magic(word) else []
                args += matches or [word]  # bash keeps a glob that matches nothing as it is
            words = [a for a in args if not a.startswith("-")]
            args += SPEED_OPTIONS.get(" ".join(words[:2]), []) + TINY_WINDOW_OPTIONS.get(line, [])
            completed = self.run_vqdna(*args, cwd=workdir)
        else:
            result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", line], cwd=workdir, env=self.env,
                                    stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
            completed = Completed(result.returncode, result.stdout, result.stderr.decode(errors="replace"))
        if completed.returncode != 0:
            return Outcome(completed, [f"exit code {completed.returncode}"])
        stdout = completed.stdout.decode(errors="replace")
        problems = [p for call in invocations(line) for p in check_invocation(call, stdout, workdir)]
        return Outcome(completed, problems)


@pytest.fixture(scope="module")
def documents(tmp_path_factory, run_vqdna) -> DocumentRunner:
    return DocumentRunner(tmp_path_factory, run_vqdna)


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=[e.id for e in ALL_EXAMPLES])
def test_example_runs(example: Example, documents: DocumentRunner):
    outcome = documents.outcome(example)
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    detail = ""
    if outcome.completed is not None:
        detail = f"\nstderr:\n{outcome.completed.stderr[-3000:]}\nstdout:\n{outcome.completed.stdout[-1000:]!r}"
    assert not outcome.problems and outcome.completed.returncode == 0, (
        f"{example.document}:{example.line}: {example.text}\n" + "; ".join(outcome.problems) + detail)


def test_the_examples_are_found():
    """The extraction itself: the examples the documents are known to have are all there, so a
    change of format cannot quietly leave them untested."""
    readme = [e.text for e in ALL_EXAMPLES if e.document == "README.md"]
    assert "vqdna tokenize genome.fa.gz -o tokens.npz" in readme  # comment stripped
    assert "zcat reads.fa.gz | vqdna embed - -o emb.npz" in readme
    assert any(t.startswith("pip install torch") and "vqdna classify --task core-promoter demo.fa" in t for t in readme)
    training = [e.text for e in ALL_EXAMPLES if e.document == "docs/training.md"]
    assert any(t.startswith("vqdna train tokenizer genomes/*.fa.gz") for t in training)
    assert any(e.kind == "python" and "np.load" in e.text for e in ALL_EXAMPLES if e.document == "README.md")
    pages_with_examples = {p.name for p in (ROOT / "man").glob("*.1") if ".SH EXAMPLES" in p.read_text()}
    assert pages_with_examples and pages_with_examples == {Path(e.document).name for e in ALL_EXAMPLES if e.document.startswith("man/")}
    man = {e.text for e in ALL_EXAMPLES if e.document.startswith("man/")}
    assert "vqdna classify --task promoter seqs.fa > promoters.tsv" in man  # roff escapes undone

