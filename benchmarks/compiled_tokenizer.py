"""Whether `torch.compile` would speed up tokenizing without changing a token.

    python -m benchmarks.compiled_tokenizer [--chunks 60] [--chunk-bases 4124] [--rounds 3] [--threads 2]

Tokenizes chunks of a genome (one chunk a batch, as `vqdna tokenize` batches a genome) with
the shipped model as it runs today and with `model.quantize` compiled by inductor; prints the
compile time of the first call, how many batches gave other tokens than the eager model, and
the rate of each form in interleaved rounds in one process. Tokens are the product's contract:
a compiled tokenizer is usable only where every batch is identical.

A benchmark, not a test: it prints what it measured and exits 0 whatever the numbers are.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchmarks.throughput import DEFAULT_GENOME, find_genome, read_fasta


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--genome", default=DEFAULT_GENOME)
    p.add_argument("--chunks", type=int, default=60)
    p.add_argument("--chunk-bases", type=int, default=4124)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    path = find_genome(args.genome)
    if path is None:
        print(f"skipped: genome {args.genome} not found (set VQDNA_DATA)", file=sys.stderr)
        return

    import torch

    from vqdna_cli.checkpoint import load_model
    from vqdna_cli.data.alphabet import encode
    from vqdna_cli.runner import default_weights_dir

    torch.set_num_threads(args.threads)
    model, _ = load_model(default_weights_dir())
    model.eval()
    sequence = "".join(seq for _, seq in read_fasta(path))[: args.chunks * args.chunk_bases]
    chunks = torch.from_numpy(encode(sequence).astype(np.int64)).view(-1, 1, args.chunk_bases)
    compiled = torch.compile(model.quantize, dynamic=False)
    with torch.inference_mode():
        began = time.perf_counter()
        compiled(chunks[0])
        print(f"first compiled call: {time.perf_counter() - began:.1f} s")
        differ = sum(not torch.equal(compiled(c).tokens, model.quantize(c).tokens) for c in chunks)
        print(f"batches with other tokens than the eager model: {differ} of {len(chunks)}")
        for number in range(1, args.rounds + 1):
            for name, quantize in (("eager", model.quantize), ("compiled", compiled)):
                began = time.perf_counter()
                for c in chunks:
                    quantize(c)
                rate = chunks.numel() / (time.perf_counter() - began) / 1e3
                print(f"round {number} {name}: {rate:.0f} kbp/s")


if __name__ == "__main__":
    main()
