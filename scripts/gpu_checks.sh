#!/usr/bin/env bash
# What a session does first when it is lent a GPU, as one command on the device machine:
# the CPU-GPU token test (tests/test_gpu.py), the speed benchmark against the GPU's fp32 and
# bf16 matmul (benchmarks/roofline.py --device cuda, at most ROOFLINE_SECONDS), then
# pre-training for the rest of the call (scripts/pretrain_gpu.sh, MINUTES, checkpoints in
# $OUT/pretrain). The defaults keep the whole under the device's 10 minutes a call.
#
# The device image has PyTorch, typer, rich and safetensors but no biopython or pysam, and
# cannot download: carry their wheels (`pip download biopython pysam -d .device-wheels`
# here, then run with carry [".device-wheels"]). To pre-train on the whole yeast genome too,
# put it (scripts/yeast_genome.py) in an ignored folder of the checkout, carry that folder
# and set EXTRA to it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -d "$here/.device-wheels" ]; then python3 -m pip install -q --no-index --find-links "$here/.device-wheels" biopython pysam; fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
PYTHONPATH="$here" python3 -m pytest -q -p no:cacheprovider "$here/tests/test_gpu.py" 2>&1 | tee "${OUT:-/tmp}/gpu_tests.txt"
PYTHONPATH="$here" timeout "${ROOFLINE_SECONDS:-240}" python3 -m benchmarks.roofline --device cuda \
  --genome human_chrX_0-70Mb_GRCh37_smalt.fa.gz --genome-bases 20000000 --json "${OUT:-/tmp}/roofline_gpu.json" \
  > "${OUT:-/tmp}/roofline_gpu.md" 2> "${OUT:-/tmp}/roofline_gpu.log" || echo "roofline: stopped or failed (see roofline_gpu.log)"
MINUTES=${MINUTES:-3} bash "$here/scripts/pretrain_gpu.sh"
