#!/usr/bin/env python
"""Throughput and peak-memory benchmark: vqdna against DNABERT-2's BPE tokenizer and a
DNABERT-2-size Transformer, on a real genome from the shared data.

    python -m benchmarks.throughput                      # E. coli 536 (4.9 Mb), 2 threads
    python -m benchmarks.throughput --chrx --json bench.json

What is measured (see benchmarks/README.md for the meaning of every row):

* vqdna `tokenize` and `embed`, each as the real CLI in its own child process: wall time
  (with and without the fixed start-up cost, estimated on a 1 kb FASTA) and the child's
  peak RSS, read with `os.wait4` (the rusage of that child alone).
* DNABERT-2's BPE tokenizer (`tokenizers`) on the same bases, cut into 10 kb pieces.
* A randomly initialised Transformer of DNABERT-2's size (12 layers, width 768, 12 heads,
  MLP 3072) over those BPE tokens in windows of 512 tokens, timed on the first N windows.

It is a benchmark, not a test: it reports numbers and PASS/FAIL against the project's
targets, and exits 0 whatever the numbers are (1 only when a measured command crashed).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_GENOME = "ecoli_536_NC_008253.fna.gz"
CHRX_GENOME = "human_chrX_0-70Mb_GRCh37_smalt.fa.gz"
BPE_FILE = "dnabert2_bpe_tokenizer.json"
BPE_CHUNK = 10_000  # bases per piece fed to the BPE tokenizer
STARTUP_BASES = 1_000  # size of the FASTA used to estimate the fixed start-up cost
BERT_WINDOW = 512  # BPE tokens per window of the DNABERT-2-size model
BERT_VOCAB = 4096

TARGET_TOKENIZE_BPS = 100_000
TARGET_EMBED_RATIO = 10.0
TARGET_CHRX_PEAK_MIB = 2048.0


# --- locating data --------------------------------------------------------------------


def data_dirs() -> list[Path]:
    """Candidate `genomes` directories: $VQDNA_DATA/genomes, then ../shared/data/genomes."""
    dirs = []
    if os.environ.get("VQDNA_DATA"):
        dirs.append(Path(os.environ["VQDNA_DATA"]) / "genomes")
    dirs.append(REPO.parent / "shared" / "data" / "genomes")
    return dirs


def find_genome(name: str) -> Path | None:
    """A path as given when it exists, else the file of that name in a genomes directory."""
    given = Path(name).expanduser()
    if given.is_file():
        return given
    for directory in data_dirs():
        if (directory / name).is_file():
            return directory / name
    return None


def find_bpe() -> Path | None:
    candidates = [REPO.parent / "shared" / "peers" / BPE_FILE]
    if os.environ.get("VQDNA_DATA"):
        candidates.insert(0, Path(os.environ["VQDNA_DATA"]).parent / "peers" / BPE_FILE)
    return next((c for c in candidates if c.is_file()), None)


def read_fasta(path: Path) -> list[tuple[str, str]]:
    """(name, uppercase sequence) of every record of a plain or gzipped FASTA."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    records, name, chunks = [], None, []
    with opener(path, "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                if name is not None:
                    records.append((name, "".join(chunks).upper()))
                name, chunks = line[1:].split(maxsplit=1)[0] if line[1:].strip() else "unnamed", []
            else:
                chunks.append(line.strip())
    if name is not None:
        records.append((name, "".join(chunks).upper()))
    return records


def count_bases(path: Path) -> int:
    """Bases in a plain or gzipped FASTA, streamed (no sequence kept in memory)."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with (gzip.open if gzipped else open)(path, "rb") as handle:
        return sum(len(line.strip()) for line in handle if not line.startswith(b">"))


def write_prefix(records: list[tuple[str, str]], bases: int, path: Path) -> int:
    """Write the first `bases` bases of the records (in order) as a FASTA; returns the count."""
    written = 0
    with open(path, "w") as out:
        for name, seq in records:
            if written >= bases:
                break
            piece = seq[: bases - written]
            out.write(f">{name}\n")
            for i in range(0, len(piece), 80):
                out.write(piece[i : i + 80] + "\n")
            written += len(piece)
    return written


# --- vqdna in a child process -----------------------------------------------------------


def run_cli(command: str, fasta: Path, output: Path, model: Path, threads: int, device: str) -> dict:
    """Run `python -m vqdna_cli COMMAND` as a child; its wall time and peak RSS."""
    argv = [sys.executable, "-m", "vqdna_cli", command, str(fasta), "-o", str(output), "-m", str(model),
            "--threads", str(threads), "--device", device, "--quiet", "--force"]
    with tempfile.TemporaryFile() as stderr:
        began = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)  # the rusage of this child alone
        seconds = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        error = stderr.read().decode(errors="replace").strip()
    return {"argv": argv, "seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024,  # ru_maxrss: kB on Linux
            "returncode": child.returncode, "error": error[-2000:] if child.returncode else None}


def startup_cost(command: str, fasta: Path, work: Path, model: Path, threads: int, device: str, repeats: int = 2) -> dict:
    """Fixed cost of one CLI call (imports, model load, writing): the fastest of a few runs on 1 kb."""
    runs = [run_cli(command, fasta, work / f"startup_{command}.npz", model, threads, device) for _ in range(repeats)]
    failed = [r for r in runs if r["returncode"]]
    return failed[0] if failed else min(runs, key=lambda r: r["seconds"])


def measure_cli(command: str, fasta: Path, bases: int, work: Path, model: Path, threads: int, device: str,
                startup: dict | None, log) -> dict:
    log(f"vqdna {command}: {bases:,} bases of {fasta.name} ...")
    result = run_cli(command, fasta, work / f"{command}_{fasta.name}.npz", model, threads, device)
    result.update(bases=bases, input=str(fasta))
    if result["returncode"]:
        log(f"  FAILED (exit {result['returncode']}): {result['error']}")
        return result
    result["bases_per_second"] = bases / result["seconds"]
    if startup and not startup["returncode"]:
        steady = result["seconds"] - startup["seconds"]
        result["startup_seconds"] = startup["seconds"]
        result["seconds_excl_startup"] = steady
        result["bases_per_second_excl_startup"] = bases / steady if steady > 0 else None
    log(f"  {result['seconds']:.1f} s, {fmt_rate(result['bases_per_second'])}, peak RSS {result['peak_rss_mib']:.0f} MiB")
    return result


# --- DNABERT-2 BPE and the DNABERT-2-size model -------------------------------------------


def measure_bpe(path: Path, records: list[tuple[str, str]], threads: int, log) -> dict:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()  # the file truncates to 636 tokens and pads to the batch's longest
    tok.no_padding()
    chunks = [seq[i : i + BPE_CHUNK] for _, seq in records for i in range(0, len(seq), BPE_CHUNK)]
    bases = sum(map(len, chunks))
    log(f"DNABERT-2 BPE: {bases:,} bases in {len(chunks):,} pieces of {BPE_CHUNK:,} bp ...")
    began = time.perf_counter()
    encodings = tok.encode_batch(chunks, add_special_tokens=False)
    seconds = time.perf_counter() - began
    ids, spans = [], []
    for encoding in encodings:
        ids.extend(encoding.ids)
        spans.extend(end - start for start, end in encoding.offsets)
    log(f"  {seconds:.1f} s, {fmt_rate(bases / seconds)}, {len(ids):,} tokens ({bases / len(ids):.2f} bases/token)")
    return {"file": str(path), "bases": bases, "pieces": len(chunks), "piece_bases": BPE_CHUNK,
            "seconds": seconds, "bases_per_second": bases / seconds, "tokens": len(ids),
            "bases_per_token": bases / len(ids), "rayon_threads": os.environ.get("RAYON_NUM_THREADS"),
            "_ids": ids, "_spans": spans}


def measure_bert(ids: list[int], spans: list[int], windows: int, batch: int, threads: int, device: str, log) -> dict:
    import torch
    from torch import nn

    from vqdna_cli.config import TransformerConfig
    from vqdna_cli.model.transformer import TransformerEncoder

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    available = len(ids) // BERT_WINDOW
    windows = min(windows, available)
    if windows < 1:
        return {"skipped": f"fewer than {BERT_WINDOW} BPE tokens"}
    cfg = TransformerConfig(width=768, layers=12, heads=12, mlp_ratio=4, max_tokens=BERT_WINDOW, dropout=0.0,
                            local_kernel=0)
    embedding = nn.Embedding(BERT_VOCAB, 768)
    encoder = TransformerEncoder(cfg, input_dim=768)
    torch_device = torch.device(device)
    embedding.to(torch_device).eval()
    encoder.to(torch_device).eval()
    parameters = sum(p.numel() for p in encoder.parameters()) + embedding.weight.numel()
    tokens = torch.tensor(ids[: windows * BERT_WINDOW], dtype=torch.long).view(windows, BERT_WINDOW)
    bases = int(sum(spans[: windows * BERT_WINDOW]))

    def forward(x):
        x = x.to(torch_device)
        valid = torch.ones(x.shape, dtype=torch.bool, device=torch_device)
        out = encoder(embedding(x), valid)
        if torch_device.type == "cuda":
            torch.cuda.synchronize()
        return out

    log(f"DNABERT-2-size Transformer ({parameters / 1e6:.1f} M parameters): {windows} windows x {BERT_WINDOW} "
        f"tokens ({bases:,} bases), batch {batch}, {torch.get_num_threads()} threads ...")
    with torch.inference_mode():
        forward(tokens[:1])  # warm-up, not timed
        began = time.perf_counter()
        for i in range(0, windows, batch):
            forward(tokens[i : i + batch])
        seconds = time.perf_counter() - began
    log(f"  {seconds:.1f} s, {fmt_rate(bases / seconds)}")
    return {"windows": windows, "windows_available": available, "window_tokens": BERT_WINDOW, "batch": batch,
            "tokens": windows * BERT_WINDOW, "bases": bases, "seconds": seconds,
            "bases_per_second": bases / seconds, "parameters": parameters, "device": device,
            "config": {"layers": 12, "width": 768, "heads": 12, "mlp": 3072, "vocab": BERT_VOCAB}}


# --- reporting -----------------------------------------------------------------------------


def fmt_rate(bps: float | None) -> str:
    if bps is None:
        return "n/a"
    if bps >= 1e6:
        return f"{bps / 1e6:.2f} Mbp/s"
    if bps >= 1e3:
        return f"{bps / 1e3:.1f} kbp/s"
    return f"{bps:.0f} bp/s"


def fmt_ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def table(results: dict) -> list[str]:
    rows = ["| system | what | bases | seconds | bases/s | peak RSS MiB | notes |",
            "|---|---|---:|---:|---:|---:|---|"]

    def add(system, what, bases, seconds, bps, rss, notes):
        rows.append(f"| {system} | {what} | {bases if isinstance(bases, str) else f'{bases:,}'} | "
                    f"{seconds if isinstance(seconds, str) else f'{seconds:.2f}'} | {fmt_rate(bps) if bps is not None else 'n/a'} | "
                    f"{rss if isinstance(rss, str) else f'{rss:.0f}'} | {notes} |")

    if results.get("model", {}).get("skipped"):
        add("vqdna", "tokenize, embed", "", "", None, "", f"skipped: {results['model']['skipped']}")
    for key, label in (("startup_tokenize", "start-up (tokenize, 1 kb)"), ("startup_embed", "start-up (embed, 1 kb)")):
        r = results.get(key)
        if r and not r["returncode"]:
            add("vqdna", label, STARTUP_BASES, r["seconds"], None, r["peak_rss_mib"],
                "fixed cost per call: imports, model load, output; fastest of 2")
    for key, what, note in (("tokenize", "tokenize", "CLI child process; gzip read + tokens + compressed .npz"),
                            ("embed", "embed", "CLI child process; tokenize + Transformer + .npz"),
                            ("tokenize_chrx", "tokenize chrX 0-70 Mb", "CLI child process; memory target")):
        r = results.get(key)
        if not r:
            continue
        name = Path(r["input"]).name
        if r["returncode"]:
            add("vqdna", what, r["bases"], r["seconds"], None, r["peak_rss_mib"], f"FAILED (exit {r['returncode']}) on {name}")
            continue
        add("vqdna", f"{what} (wall)", r["bases"], r["seconds"], r["bases_per_second"], r["peak_rss_mib"], f"{name}; {note}")
        if r.get("seconds_excl_startup") is not None:
            add("vqdna", f"{what} (excl. start-up)", r["bases"], r["seconds_excl_startup"],
                r["bases_per_second_excl_startup"], "", f"wall minus the {r['startup_seconds']:.2f} s start-up above")
    r = results.get("bpe")
    if r and r.get("skipped"):
        add("DNABERT-2 BPE / DNABERT-2-size Transformer", "", "", "", None, "", f"skipped: {r['skipped']}")
    if r and "seconds" in r:
        add("DNABERT-2 BPE", "tokenize", r["bases"], r["seconds"], r["bases_per_second"], "n/a",
            f"{r['tokens']:,} tokens, {r['bases_per_token']:.2f} bases/token; in-process encode_batch of "
            f"{r['pieces']:,} pieces of {r['piece_bases'] // 1000} kb (BPE on one multi-Mb string is pathological); "
            "truncation and padding disabled; no special tokens")
    r = results.get("bert")
    if r and r.get("skipped"):
        add("DNABERT-2-size Transformer", "forward", "", "", None, "", f"skipped: {r['skipped']}")
    if r and "seconds" in r:
        add("DNABERT-2-size Transformer", "forward (subset)", r["bases"], r["seconds"], r["bases_per_second"], "n/a",
            f"SUBSET: first {r['windows']} of {r['windows_available']} windows x {r['window_tokens']} BPE tokens, batch "
            f"{r['batch']}; random weights, 12 layers, width 768, 12 heads, MLP 3072 ({r['parameters'] / 1e6:.0f} M params); "
            "eval + inference_mode; model only (BPE time excluded)")
    return rows


def ratios(results: dict) -> tuple[list[str], dict]:
    tok, emb, chrx = results.get("tokenize"), results.get("embed"), results.get("tokenize_chrx")
    bpe, bert = results.get("bpe") or {}, results.get("bert") or {}

    def rate(r, steady=False):
        if not r or r.get("returncode"):
            return None
        return r.get("bases_per_second_excl_startup") if steady else r.get("bases_per_second")

    out = {
        "tokenize_vs_bpe_wall": fmt_ratio(rate(tok), bpe.get("bases_per_second")),
        "tokenize_vs_bpe_excl_startup": fmt_ratio(rate(tok, True), bpe.get("bases_per_second")),
        "embed_vs_bert_wall": fmt_ratio(rate(emb), bert.get("bases_per_second")),
        "embed_vs_bert_excl_startup": fmt_ratio(rate(emb, True), bert.get("bases_per_second")),
    }
    if bpe.get("bases_per_second") and bert.get("bases_per_second"):
        pipeline = 1 / (1 / bpe["bases_per_second"] + 1 / bert["bases_per_second"])
        out["bert_pipeline_bases_per_second"] = pipeline
        out["embed_vs_bert_pipeline_excl_startup"] = fmt_ratio(rate(emb, True), pipeline)

    def x(value):
        if value is None:
            return "n/a"
        return f"{value:.1f}x" if value >= 1 else f"{value:.3f}x"

    lines = ["## Ratios", "",
             f"- vqdna tokenize vs DNABERT-2 BPE (bases/s): {x(out['tokenize_vs_bpe_wall'])} wall, "
             f"{x(out['tokenize_vs_bpe_excl_startup'])} excluding vqdna's start-up",
             f"- vqdna embed vs DNABERT-2-size Transformer (bases/s): {x(out['embed_vs_bert_wall'])} wall, "
             f"{x(out['embed_vs_bert_excl_startup'])} excluding vqdna's start-up"]
    if "bert_pipeline_bases_per_second" in out:
        lines.append(f"- (BPE + Transformer together: {fmt_rate(out['bert_pipeline_bases_per_second'])}; vqdna embed "
                     f"excl. start-up is {x(out['embed_vs_bert_pipeline_excl_startup'])} that)")

    tok_bps = rate(tok)
    targets = {
        "tokenize_100kbps": None if tok_bps is None else tok_bps >= TARGET_TOKENIZE_BPS,
        "embed_10x": None if out["embed_vs_bert_excl_startup"] is None else out["embed_vs_bert_excl_startup"] >= TARGET_EMBED_RATIO,
        "chrx_peak_below_2gib": (None if not chrx or chrx.get("returncode")
                                 else chrx["peak_rss_mib"] < TARGET_CHRX_PEAK_MIB),
    }
    steady_tok = rate(tok, True)
    lines += ["", "## Targets", "",
              f"- tokenize >= 100 kbp/s (wall, start-up included): {verdict(targets['tokenize_100kbps'])} "
              f"({fmt_rate(tok_bps)}; excluding start-up {fmt_rate(steady_tok)})",
              f"- embed >= 10x the DNABERT-2-size model (excluding vqdna's start-up; the model timing "
              f"excludes its construction too): {verdict(targets['embed_10x'])} ({x(out['embed_vs_bert_excl_startup'])}; "
              f"wall {x(out['embed_vs_bert_wall'])})"]
    if chrx and not chrx.get("returncode"):
        lines.append(f"- tokenizing the 70 Mb chrX file peaks below 2 GiB: {verdict(targets['chrx_peak_below_2gib'])} "
                     f"({chrx['peak_rss_mib']:.0f} MiB peak RSS)")
    elif chrx:
        lines.append(f"- tokenizing the 70 Mb chrX file peaks below 2 GiB: n/a ({chrx.get('skipped') or 'the run failed'})")
    else:
        lines.append("- tokenizing the 70 Mb chrX file peaks below 2 GiB: not measured (pass --chrx)")
    out["targets"] = targets
    return lines, out


def machine(threads: int) -> dict:
    info = {"cpu_count": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(), "threads_requested": threads}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import torch

        torch.set_num_threads(threads)
        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                    cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    except ImportError:
        info["torch"] = None
    try:
        import tokenizers

        info["tokenizers"] = tokenizers.__version__
    except ImportError:
        info["tokenizers"] = None
    return info


# --- main ------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for vqdna, PyTorch and BPE (default 2)")
    parser.add_argument("--model", type=Path, help="vqdna weights directory (default: the shipped weights)")
    parser.add_argument("--genome", default=DEFAULT_GENOME,
                        help=f"FASTA path, or a file name in the shared genomes directory (default {DEFAULT_GENOME})")
    parser.add_argument("--embed-bases", type=int, default=500_000,
                        help="bases of the genome's start fed to vqdna embed (default 500000)")
    parser.add_argument("--bert-windows", type=int, default=32,
                        help="windows of 512 BPE tokens timed through the DNABERT-2-size model (default 32)")
    parser.add_argument("--bert-batch", type=int, default=8, help="windows per forward pass of that model (default 8)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="device for vqdna and the DNABERT-2-size model (default cpu)")
    parser.add_argument("--chrx", action="store_true",
                        help=f"also tokenize {CHRX_GENOME} for the < 2 GiB memory target (slow: 10+ min on 2 cores)")
    parser.add_argument("--json", type=Path, help="write the raw numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.embed_bases < 1 or args.bert_windows < 1 or args.bert_batch < 1:
        parser.error("--threads, --embed-bases, --bert-windows and --bert-batch must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    # The BPE tokenizer's thread pool (Rayon) is sized when `tokenizers` is first used.
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))
    os.environ.setdefault("RAYON_RS_NUM_CPUS", str(args.threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    command_line = shlex.join(["python", "-m", "benchmarks.throughput", *(sys.argv[1:] if argv is None else argv)])

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    genome = find_genome(args.genome)
    if genome is None:
        where = ", ".join(str(d) for d in data_dirs())
        print(f"skipped: genome {args.genome!r} not found (looked in {where}; set VQDNA_DATA or pass --genome PATH)")
        return 0

    results: dict = {"command": command_line, "genome": str(genome), "threads": args.threads, "device": args.device}
    results["machine"] = machine(args.threads)
    crashed = False

    try:
        from vqdna_cli.runner import default_weights_dir

        model = args.model or default_weights_dir()
        if not (Path(model) / "config.json").is_file():
            raise FileNotFoundError(f"{model}/config.json is missing")
        model = Path(model).resolve()
        config = json.loads((model / "config.json").read_text())
        results["model"] = {"dir": str(model), "sha256": config.get("sha256", {}).get("model.safetensors"),
                            "transformer": config.get("model", {}).get("transformer"),
                            "encoder": config.get("model", {}).get("encoder")}
    except Exception as error:  # noqa: BLE001 - reported, and the peer rows still run
        model = None
        results["model"] = {"skipped": f"no vqdna weights ({error}); pass --model DIR"}
        log(f"vqdna rows skipped: no weights ({error}); pass --model DIR")

    log(f"reading {genome} ...")
    records = read_fasta(genome)
    bases = sum(len(s) for _, s in records)
    results["genome_bases"] = bases
    results["genome_records"] = len(records)

    with tempfile.TemporaryDirectory(prefix="vqdna-bench-") as tmp:
        work = Path(tmp)
        if model is not None:
            tiny = work / "startup_1kb.fa"
            write_prefix(records, STARTUP_BASES, tiny)
            embed_fasta = work / f"embed_{args.embed_bases}.fa"
            embed_bases = write_prefix(records, args.embed_bases, embed_fasta)
            log("estimating start-up cost on a 1 kb FASTA ...")
            for command in ("tokenize", "embed"):
                results[f"startup_{command}"] = startup_cost(command, tiny, work, model, args.threads, args.device)
            results["tokenize"] = measure_cli("tokenize", genome, bases, work, model, args.threads, args.device,
                                              results["startup_tokenize"], log)
            results["embed"] = measure_cli("embed", embed_fasta, embed_bases, work, model, args.threads, args.device,
                                           results["startup_embed"], log)
            if args.chrx:
                chrx = find_genome(CHRX_GENOME)
                if chrx is None:
                    results["tokenize_chrx"] = {"skipped": f"{CHRX_GENOME} not found"}
                    log(f"--chrx: {CHRX_GENOME} not found, skipped")
                else:
                    results["tokenize_chrx"] = measure_cli("tokenize", chrx, count_bases(chrx), work, model,
                                                           args.threads, args.device, results["startup_tokenize"], log)
            crashed = any(results[k].get("returncode") for k in results
                          if k.startswith(("startup_", "tokenize", "embed")) and isinstance(results[k], dict))

    bpe_path = find_bpe()
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        bpe_path = None
        results["bpe"] = {"skipped": "the `tokenizers` package is not installed (pip install tokenizers)"}
        log("DNABERT-2 BPE and Transformer rows skipped: `tokenizers` is not installed")
    else:
        if bpe_path is None:
            results["bpe"] = {"skipped": f"{BPE_FILE} not found in ../shared/peers"}
            log(f"DNABERT-2 BPE and Transformer rows skipped: {BPE_FILE} not found")
    if bpe_path is not None:
        bpe = measure_bpe(bpe_path, records, args.threads, log)
        ids, spans = bpe.pop("_ids"), bpe.pop("_spans")
        results["bpe"] = bpe
        del records
        results["bert"] = measure_bert(ids, spans, args.bert_windows, args.bert_batch, args.threads, args.device, log)

    # --- report ---
    m = results["machine"]
    print("# vqdna throughput benchmark\n")
    print(f"Genome: {genome.name} ({bases:,} bases, {results['genome_records']} record(s)); "
          f"threads {args.threads}; device {args.device}")
    print(f"Model: {results['model'].get('dir') or results['model'].get('skipped')}"
          + (f" (sha256 {results['model']['sha256'][:16]}, Transformer {results['model']['transformer']})"
             if results["model"].get("sha256") else ""))
    print()
    print("\n".join(table(results)))
    print()
    lines, summary = ratios(results)
    results["ratios"] = summary
    print("\n".join(lines))
    print()
    print("## Machine\n")
    print(f"- CPUs: {m.get('cpu_count')} ({m.get('cpus_usable', '?')} usable), {m.get('cpu_model', 'unknown model')}")
    print(f"- torch {m.get('torch')} with {m.get('torch_threads')} threads; tokenizers {m.get('tokenizers')}; "
          f"Python {m.get('python')}" + (f"; GPU {m['cuda']}" if m.get("cuda") else ""))
    load = m.get("load_average_at_start")
    print(f"- load average at start: {', '.join(f'{v:.2f}' for v in load)} (other work on the machine slows every row)")
    print(f"- {m.get('platform')}")
    print(f"\nCommand: `{command_line}`")
    for key in ("tokenize", "embed"):
        if isinstance(results.get(key), dict) and results[key].get("argv"):
            print(f"vqdna {key} child: `{shlex.join(results[key]['argv'])}`")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        log(f"raw numbers written to {args.json}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
