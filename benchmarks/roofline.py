"""How close `vqdna tokenize` and `vqdna embed` come to what this machine's matmul allows.

    python -m benchmarks.roofline [--threads 2] [--genome NAME] [--reads 100000] [--json F]
    python -m benchmarks.roofline --device cuda --genome-bases 20000000 [--json F]   # a GPU

In one run, on the same threads (or the same GPU):
* the machine's fp32 matmul rate (2048 x 2048 on a CPU, best of several) -- the ceiling; on a
  GPU (8192 x 8192) the fp32 rate with TF32 off, as the tokenizer runs there, and the bf16 rate,
  as the Transformer runs there;
* the model's arithmetic per base, counted by `torch.utils.flop_counter` on the shipped
  model: the tokenizer (encoder + codebook search) and the Transformer, over pieces as long
  as each input's (a full window on the genome, one read on the reads: attention's work per
  token grows with the piece);
* from these, the matmul-bound limits in bases/s, and the measured rates of the real CLI
  (child processes, start-up subtracted) on a long genome and on N short reads, with the
  fraction of the limit each reaches;
* reading and writing apart, so they are seen not to be the bottleneck: FASTA parsing,
  base encoding (N runs included) and writing the tokens `.npz`, each in bases/s.

A benchmark, not a test: it prints what it measured and exits 0 whatever the numbers are.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.memory import write_reads
from benchmarks.throughput import (DEFAULT_GENOME, data_dirs, find_genome, machine, measure_cli, read_fasta,
                                   startup_cost, write_prefix)

MATMUL_SIZE = 2048
GPU_MATMUL_SIZE = 8192  # large enough to reach a GPU's peak
HUMAN_GENOME_BASES = 3.1e9
READ_LENGTH = 150  # a common short-read length
TARGET_TOKENIZE_FRACTION = 0.5
TARGET_EMBED_FRACTION = 0.4


def matmul_flops_per_second(threads: int, repeats: int = 10) -> float:
    """Best fp32 rate of a 2048 x 2048 matmul on `threads` threads: the ceiling here."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(MATMUL_SIZE, MATMUL_SIZE), torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    out = torch.empty(MATMUL_SIZE, MATMUL_SIZE)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - began)
    return 2 * MATMUL_SIZE**3 / best


def attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """The two matmuls of attention (scores, then their weighted sum of values).

    flop_counter has formulas for the GPU attention kernels but none for the CPU one, which
    it would count as nothing: on a 512-token window that is most of the Transformer's work."""
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def flops_per_base(model_dir: Path | None, tokens: int | None = None) -> dict:
    """Floating-point operations per base of the tokenizer and of the Transformer, counted on
    the shipped model (matmuls, convolutions and attention) over pieces of `tokens` bases
    (default: the model window)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from vqdna_cli.runner import Runner

    runner = Runner.load(model_dir, "cpu")
    model, piece = runner.model, min(tokens or runner.window, runner.window)
    counted = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: attention_flops}
    bases = torch.randint(0, 4, (8, 4096))
    with torch.inference_mode():
        with FlopCounterMode(display=False, custom_mapping=counted) as counter:
            quantized = model.quantize(bases)
        tokenizer = counter.get_total_flops() / bases.numel()
        embedding = quantized.embedding[:, :piece]
        valid = torch.ones(embedding.shape[:2], dtype=torch.bool)
        with FlopCounterMode(display=False, custom_mapping=counted) as counter:
            model.contextualise(embedding, valid)
        transformer = counter.get_total_flops() / valid.numel()
    return {"piece_bases": piece, "tokenizer": tokenizer, "transformer": transformer, "embed": tokenizer + transformer}


def stand_in_tokens(codes: np.ndarray) -> np.ndarray:
    """(L, 2) uint16 tokens standing in for the model's: level 1 the 4-mer starting at each
    base (256 values), level 2 the 4-mer and the base after it (1,024 values folded to 512)."""
    bases = np.minimum(codes, 3).astype(np.uint16)
    padded = np.concatenate([bases, np.zeros(4, np.uint16)])
    kmer = padded[:-4] * 64 + padded[1:-3] * 16 + padded[2:-2] * 4 + padded[3:-1]
    return np.stack([kmer, (kmer * 4 + padded[4:]) % 512], 1).astype(np.uint16)


def io_rates(fasta: Path, work: Path) -> dict:
    """bases/s of the reading and writing steps alone, on `fasta`."""
    from vqdna_cli.data.alphabet import encode
    from vqdna_cli.io.sequences import open_sequences
    from vqdna_cli.io.tokens_npz import TokensNpz

    began = time.perf_counter()
    records = list(open_sequences(str(fasta)))
    parse = time.perf_counter() - began
    bases = sum(len(r) for r in records)
    began = time.perf_counter()
    codes = [encode(r.seq) for r in records]
    encoding = time.perf_counter() - began
    # The whole tokens .npz as `vqdna tokenize` writes it (coordinates, names and all), with
    # stand-in tokens about as compressible as the model's: each a function of a few bases.
    output = work / "io_tokens.npz"
    tokens = [stand_in_tokens(array) for array in codes]
    began = time.perf_counter()  # adding counts too: it is where the tokens go to scratch
    with TokensNpz(levels=2, output=output) as table:
        for record, array in zip(records, tokens):
            table.add(record, array)
        table.write(output, {"format": "roofline-io"})
    writing = time.perf_counter() - began
    return {"bases": bases, "parse_bases_per_second": bases / parse, "encode_bases_per_second": bases / encoding,
            "npz_bases_per_second": bases / writing}


def measure(args: argparse.Namespace, log) -> dict:
    from vqdna_cli.runner import default_weights_dir

    model = Path(args.model or default_weights_dir()).resolve()
    genome = find_genome(args.genome)
    results: dict = {"machine": machine(args.threads), "model": str(model)}
    log("matmul ceiling ...")
    results["ceilings"] = ceilings(args.device, args.threads)
    results["matmul_flops_per_second"] = results["ceilings"]["fp32"]
    results["flops_per_base"] = {"genome": flops_per_base(model), "reads": flops_per_base(model, READ_LENGTH)}
    limits = {name: limits_of(flops, results["ceilings"]) for name, flops in results["flops_per_base"].items()}
    results["limit_bases_per_second"] = limits
    with tempfile.TemporaryDirectory(prefix="vqdna-roofline-") as folder:
        work = Path(folder)
        records = read_fasta(genome)
        long_fasta, tiny = work / "genome.fa", work / "tiny.fa"
        long_bases = write_prefix(records, args.genome_bases, long_fasta)
        write_prefix(records, 1_000, tiny)
        del records
        reads = work / "reads.fa"
        write_reads(reads, args.reads, length=READ_LENGTH)
        read_bases = args.reads * READ_LENGTH
        startup = {c: startup_cost(c, tiny, work, model, args.threads, args.device) for c in ("tokenize", "embed")}
        results["startup_seconds"] = {c: run["seconds"] for c, run in startup.items()}
        inputs = {"genome": (long_fasta, long_bases), "reads": (reads, read_bases)}
        for name, (fasta, bases) in inputs.items():
            log(f"io on {name} ...")
            results[f"io_{name}"] = io_rates(fasta, work)
            for command in ("tokenize", "embed"):
                rate = measure_cli(command, fasta, bases, work, model, args.threads, args.device, startup[command], log)
                limit = limits[name]["tokenizer" if command == "tokenize" else "embed"]
                if rate.get("bases_per_second_excl_startup"):
                    rate["fraction_of_limit"] = rate["bases_per_second_excl_startup"] / limit
                results[f"{command}_{name}"] = rate
    return results


def gpu_matmul_flops_per_second(dtype_name: str, repeats: int = 10) -> float:
    """Best rate of an 8192 x 8192 matmul on the GPU in `dtype_name` ("fp32" with TF32 off,
    or "bf16"), timed with CUDA events."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    torch.backends.cuda.matmul.allow_tf32 = False  # as vqdna runs fp32 (runtime.exact_fp32)
    size = GPU_MATMUL_SIZE
    a, b = (torch.randn(size, size, device="cuda", dtype=dtype) for _ in range(2))
    out = torch.empty(size, size, device="cuda", dtype=dtype)
    torch.mm(a, b, out=out)
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.mm(a, b, out=out)
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / 1000)
    return 2 * size**3 / best


def ceilings(device: str, threads: int) -> dict:
    """The matmul rates the limits divide by: fp32 for the tokenizer, and for the Transformer
    fp32 on a CPU (its default there) or bf16 on a GPU (what vqdna runs it in there)."""
    if device == "cuda":
        return {"fp32": gpu_matmul_flops_per_second("fp32"), "bf16": gpu_matmul_flops_per_second("bf16")}
    return {"fp32": matmul_flops_per_second(threads)}


def limits_of(flops: dict, ceiling: dict) -> dict:
    """bases/s if every FLOP ran at its matmul ceiling: tokenize at fp32; embed the tokenizer
    at fp32 and the Transformer at bf16 where a GPU runs it so."""
    transformer_rate = ceiling.get("bf16") or ceiling["fp32"]
    return {"tokenizer": ceiling["fp32"] / flops["tokenizer"],
            "embed": 1 / (flops["tokenizer"] / ceiling["fp32"] + flops["transformer"] / transformer_rate)}


def report(results: dict, args: argparse.Namespace, command_line: str) -> list[str]:
    limits, flops = results["limit_bases_per_second"], results["flops_per_base"]
    lines = ["# vqdna against the matmul-bound limit", ""]
    ceiling = results.get("ceilings") or {"fp32": results["matmul_flops_per_second"]}  # older JSON: fp32 alone
    if ceiling.get("bf16"):
        lines += [f"- GPU matmul ({GPU_MATMUL_SIZE}x{GPU_MATMUL_SIZE}): fp32 (TF32 off) "
                  f"{ceiling['fp32'] / 1e12:.1f} TFLOP/s, bf16 {ceiling['bf16'] / 1e12:.1f} TFLOP/s"]
    else:
        lines += [f"- fp32 matmul ({MATMUL_SIZE}x{MATMUL_SIZE}, {args.threads} threads): "
                  f"{ceiling['fp32'] / 1e9:.0f} GFLOP/s"]
    for name in ("genome", "reads"):
        f = flops[name]
        lines.append(f"- arithmetic per base, {name} (Transformer pieces of {f['piece_bases']} bases): tokenizer "
                     f"{f['tokenizer'] / 1e3:.0f} kFLOP, Transformer {f['transformer'] / 1e3:.0f} kFLOP; limits: "
                     f"tokenize {limits[name]['tokenizer'] / 1e3:.0f} kbp/s, embed {limits[name]['embed'] / 1e3:.0f} kbp/s")
    lines += ["", "| command | input | bases | s (excl. start-up) | kbp/s | limit kbp/s | fraction | target |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    for command, target, kind in (("tokenize", TARGET_TOKENIZE_FRACTION, "tokenizer"),
                                  ("embed", TARGET_EMBED_FRACTION, "embed")):
        for name in ("genome", "reads"):
            limit = limits[name][kind]
            r = results[f"{command}_{name}"]
            if r.get("returncode") or r.get("seconds_excl_startup") is None:
                why = r.get("error") or "its start-up run failed"
                lines.append(f"| {command} | {name} | | | FAILED: {why[:80]} | | | |")
                continue
            fraction = r.get("fraction_of_limit")
            verdict = "n/a" if fraction is None else ("PASS" if fraction >= target else "FAIL")
            lines.append(f"| {command} | {name} | {r['bases']:,} | {r['seconds_excl_startup']:.1f} | "
                         f"{(r['bases_per_second_excl_startup'] or 0) / 1e3:.1f} | {limit / 1e3:.0f} | "
                         f"{fraction or 0:.3f} | >= {target} {verdict} |")
    genome_rate = results["tokenize_genome"].get("bases_per_second_excl_startup")
    if genome_rate:
        minutes = HUMAN_GENOME_BASES / genome_rate / 60
        took = f"{minutes:.0f} minutes" if minutes < 120 else f"{minutes / 60:,.1f} hours"
        lines += ["", f"At the genome's tokenize rate a human genome's worth ({HUMAN_GENOME_BASES / 1e9:.1f} Gb) "
                  f"takes {took}."]
    lines += ["", "| step alone | genome kbp/s | reads kbp/s |", "|---|---:|---:|"]
    for key, label in (("parse_bases_per_second", "FASTA parsing"), ("encode_bases_per_second", "base encoding"),
                       ("npz_bases_per_second", "tokens .npz writing")):
        lines.append(f"| {label} | {results['io_genome'][key] / 1e3:,.0f} | {results['io_reads'][key] / 1e3:,.0f} |")
    load = results["machine"].get("load_average_at_start")
    lines += ["", f"Start-up subtracted: tokenize {results['startup_seconds']['tokenize']:.2f} s, embed "
              f"{results['startup_seconds']['embed']:.2f} s (fastest of 2 runs on 1 kb). Load average at start: "
              f"{', '.join(f'{v:.2f}' for v in load)}.", "", f"Command: `{command_line}`"]
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", type=Path, help="weights directory (default: the shipped weights)")
    parser.add_argument("--genome", default=DEFAULT_GENOME, help=f"long input (default {DEFAULT_GENOME})")
    parser.add_argument("--genome-bases", type=int, default=2_000_000, help="bases of it to use (default 2000000)")
    parser.add_argument("--reads", type=int, default=100_000, help=f"short reads of {READ_LENGTH} bp (default 100000)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="where the CLI runs and whose matmul is the ceiling (default cpu)")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    command_line = shlex.join(["python", "-m", "benchmarks.roofline", *(sys.argv[1:] if argv is None else argv)])
    if find_genome(args.genome) is None:
        print(f"skipped: genome {args.genome!r} not found (looked in {', '.join(map(str, data_dirs()))})")
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    results = measure(args, lambda message: print(message, file=sys.stderr, flush=True))
    results["command"] = command_line
    print("\n".join(report(results, args, command_line)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
