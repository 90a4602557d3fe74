#!/usr/bin/env bash
# What a session does first when it is lent a GPU, as one command on the device machine:
# the CPU-GPU token test (tests/test_gpu.py), the speed benchmark against the GPU's fp32 and
# bf16 matmul (benchmarks/roofline.py --device cuda, at most ROOFLINE_SECONDS), then
# pre-training for the rest of the call (scripts/pretrain_gpu.sh, MINUTES, checkpoints in
# $OUT/pretrain). The defaults keep the whole under the device's 10 minutes a call; the
# reports go into one $OUT/reports.tar, so that at most 6 files come back.
#
# Getting it there (what worked on an H200, benchmarks/results/gpu_h200.md):
# - The device image has PyTorch 2.11 on Python 3.12, typer, rich and safetensors, but no
#   biopython or pysam, and cannot download. Here: `pip download --no-deps --only-binary=:all:
#   --python-version 3.12 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
#   -d shared/wheels biopython pysam`.
# - The genomes: a shared/ folder inside the checkout travels (64 MiB in all with the
#   checkout). Mask them here (`python scripts/mask_test_sequences.py --gue ../shared/data/gue
#   -o shared/data/genomes ../shared/data/genomes/*`) and run with MASKED=shared/data/genomes,
#   so that GUE (20 MB) need not travel. The heads (35 MB) are not needed there: leave them out
#   of what travels with `git rm -r -q --cached weights/default/heads` and an entry in
#   .git/info/exclude, and undo both (`git reset -q weights/default/heads`) after the call.
# - Delete shared/ afterwards: it is not part of the project.
# To pre-train on the whole yeast genome too, put it (scripts/yeast_genome.py) in an ignored
# folder of the checkout, carry that folder and set EXTRA to it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp}
for wheels in "$here/shared/wheels" "$here/.device-wheels"; do
  if [ -d "$wheels" ]; then python3 -m pip install -q --no-index --find-links "$wheels" biopython pysam; fi
done
if [ -z "${VQDNA_DATA:-}" ] && [ -d "$here/shared/data/genomes" ]; then export VQDNA_DATA=$here/shared/data; fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
PYTHONPATH="$here" python3 -m pytest -q -s -p no:cacheprovider "$here/tests/test_gpu.py" > "$OUT/gpu_tests.txt" 2>&1 || true
tail -n 5 "$OUT/gpu_tests.txt"
PYTHONPATH="$here" timeout "${ROOFLINE_SECONDS:-150}" python3 -m benchmarks.roofline --device cuda \
  --genome human_chrX_0-70Mb_GRCh37_smalt.fa.gz --genome-bases 5000000 --reads 20000 --json "$OUT/roofline_gpu.json" \
  > "$OUT/roofline_gpu.md" 2> "$OUT/roofline_gpu.log" || echo "roofline: stopped or failed (see roofline_gpu.log)"
(cd "$OUT" && tar cf reports.tar gpu_tests.txt roofline_gpu.* && rm -f gpu_tests.txt roofline_gpu.*)
MINUTES=${MINUTES:-3} bash "$here/scripts/pretrain_gpu.sh"
