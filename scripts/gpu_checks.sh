#!/usr/bin/env bash
# What a session does first when it is lent a GPU, as one command on the device machine:
# the CPU-GPU token test (tests/test_gpu.py), then pre-training for the rest of the loan
# (scripts/pretrain_gpu.sh, checkpoints in $OUT/pretrain).
#
# The device image has PyTorch, typer, rich and safetensors but no biopython or pysam, and
# cannot download: carry their wheels (`pip download biopython pysam -d .device-wheels`
# here, then run with carry [".device-wheels"]).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -d "$here/.device-wheels" ]; then python3 -m pip install -q --no-index --find-links "$here/.device-wheels" biopython pysam; fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
PYTHONPATH="$here" python3 -m pytest -q -p no:cacheprovider "$here/tests/test_gpu.py" 2>&1 | tee "${OUT:-/tmp}/gpu_tests.txt"
MINUTES=${MINUTES:-7} bash "$here/scripts/pretrain_gpu.sh"
