#!/usr/bin/env python
"""Speed of candidate model sizes on this machine (random weights: speed does not depend
on what the weights have learned). Used to choose the `default` preset.

    python -m benchmarks.candidates [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import torch

from vqdna_cli.config import PRESETS, EncoderConfig, QuantizerConfig, TransformerConfig
from vqdna_cli.model.vqdna import VQDNA

DEFAULT = PRESETS["default"]
CANDIDATES = {
    "**default** (HRQ)": DEFAULT,
    "one codebook (VQ, preset `vq`)": PRESETS["vq"],
    "wider tokenizer": replace(DEFAULT, encoder=EncoderConfig(stem_width=64, width=128, blocks=4)),
    "bigger codebooks": replace(DEFAULT, quantizer=QuantizerConfig(codebook_sizes=(1024, 2048), level_blocks=(2, 4))),
    "wider Transformer": replace(DEFAULT, transformer=TransformerConfig(width=128, layers=4, heads=4)),
    "paper": PRESETS["paper"],
}


def sizes(cfg) -> str:
    """The sizes that tell candidates apart, e.g. "D=64, 4 blocks, 256/512; 4 x 96"."""
    codebooks = "/".join(str(size) for size in cfg.quantizer.codebook_sizes)
    return (f"D={cfg.encoder.width}, {cfg.encoder.blocks} blocks, {codebooks}; "
            f"{cfg.transformer.layers} x {cfg.transformer.width}")


def rate(function, bases: int, repeats: int = 3) -> float:
    function()  # warm-up
    began = time.perf_counter()
    for _ in range(repeats):
        function()
    return bases * repeats / (time.perf_counter() - began)


@torch.inference_mode()
def measure(cfg) -> dict:
    torch.manual_seed(0)
    model = VQDNA(cfg).eval()
    bases = torch.randint(0, 4, (8, 4096))
    tokenize = rate(lambda: model.quantize(bases), bases.numel())
    window = torch.randint(0, 4, (8, cfg.transformer.max_tokens))
    embedding = model.quantize(window).embedding
    valid = torch.ones(window.shape, dtype=torch.bool)
    transformer = rate(lambda: model.contextualise(embedding, valid), window.numel(), repeats=1)
    embed = 1 / (1 / tokenize + 1 / transformer)
    return {"parameters": sum(p.numel() for p in model.parameters()), "tokenize": tokenize, "embed": embed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| candidate | parameters | tokenize kbp/s | embed kbp/s |")
    print("|---|---:|---:|---:|")
    for name, cfg in CANDIDATES.items():
        m = measure(cfg)
        print(f"| {name}: {sizes(cfg)} | {m['parameters'] / 1e6:.2f} M | {m['tokenize'] / 1e3:.1f} | {m['embed'] / 1e3:.1f} |", flush=True)
    print(f"\n{torch.get_num_threads()} threads, torch {torch.__version__}; command: python -m benchmarks.candidates {' '.join(sys.argv[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
