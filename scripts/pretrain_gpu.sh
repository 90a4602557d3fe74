#!/usr/bin/env bash
# Masked pre-training of the default model on a lent GPU, ready to run as one command:
#
#   bash scripts/pretrain_gpu.sh            # on the device machine; writes into $OUT
#
# The tokenizer is the shipped one (weights/default, frozen: tokens do not change); a fresh
# default-size Transformer learns MASKING (default input: spans of bases hidden from the
# tokenizer, which passed the probe gate on an H200 where the CPU's budget did not:
# weights/default/TRAINING.md, "On a lent GPU"; MASKING=tokens for the shipped weights'
# objective) with windows and masks drawn on the GPU and a bf16 Transformer. It checkpoints
# every CHECKPOINT_MINUTES into $OUT/pretrain and stops (with a checkpoint) after MINUTES, so
# a short loan is never lost: bring $OUT/pretrain back, put it at $OUT/pretrain again (or
# RESUME_FROM=DIR) and rerun to continue with --resume. The genomes come from $VQDNA_DATA,
# ../shared/data or ./shared/data (a shared/ folder inside the checkout travels to the device
# machine). EXTRA names a folder of more genomes, already masked (scripts/yeast_genome.py --gue
# writes the whole yeast genome so); its yeast genome replaces the data folder's chromosome I.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$here/../runs/gpu}
MINUTES=${MINUTES:-8}
CHECKPOINT_MINUTES=${CHECKPOINT_MINUTES:-2}
STEPS=${STEPS:-6000}
BATCH=${BATCH:-128}
MASKING=${MASKING:-input}
PYTHON=${PYTHON:-python3}
for candidate in "${VQDNA_DATA:-}" "$here/../shared/data" "$here/shared/data"; do
  if [ -n "$candidate" ] && [ -d "$candidate/genomes" ]; then DATA=$candidate; break; fi
done
if [ -z "${DATA:-}" ]; then
  echo "pretrain_gpu.sh: no genomes found (set VQDNA_DATA, or copy ../shared/data/genomes into ./shared/data)" >&2
  exit 2
fi
mkdir -p "$OUT/pretrain"
if [ -n "${RESUME_FROM:-}" ]; then cp -r "$RESUME_FROM"/. "$OUT/pretrain/"; fi
# Every GUE test sequence in the genomes becomes N first (benchmarks/results/gue_test_in_corpus.md):
# one process a file, so the 16 files take about as long as chrX alone.
masked=${MASKED:-${TMPDIR:-/tmp}/vqdna-genomes-masked}  # not under $OUT: nothing to bring back
mkdir -p "$masked"
pids=()
for genome in "$DATA"/genomes/*.fa.gz "$DATA"/genomes/*.fna.gz; do
  [ -f "$masked/$(basename "$genome")" ] && continue
  PYTHONPATH="$here" "$PYTHON" "$here/scripts/mask_test_sequences.py" --gue "$DATA/gue" -o "$masked" "$genome" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done  # any failure stops the script (set -e)
shopt -s nullglob
extra=()
if [ -n "${EXTRA:-}" ]; then extra=("$EXTRA"/*.fa.gz "$EXTRA"/*.fna.gz); fi
whole_yeast=("${EXTRA:-/nonexistent}"/yeast_*)
genomes=()
for genome in "$masked"/*.fa.gz "$masked"/*.fna.gz; do
  case "$(basename "$genome")" in  # chromosome I is inside a whole yeast genome of EXTRA
    yeast_Scerevisiae_chrI*) [ ${#whole_yeast[@]} -gt 0 ] && continue ;;
  esac
  genomes+=("$genome")
done
genomes+=("${extra[@]}")
shopt -u nullglob
mapfile -t holdout < <(PYTHONPATH="$here" "$PYTHON" -m vqdna_cli.train.recipes --holdout-options)
# 128 windows of 512 bases: 65,536 tokens a step, 8x the CPU recipe's batch at the same peak lr x sqrt(8)
PYTHONPATH="$here" "$PYTHON" -m vqdna_cli train pretrain "${genomes[@]}" "${holdout[@]}" \
  -m "$here/weights/default" -o "$OUT/pretrain" --transformer-preset default --masking "$MASKING" \
  --steps "$STEPS" --window 512 --batch "$BATCH" --lr 2.8e-3 --seed 0 --device cuda \
  --resume --max-minutes "$MINUTES" --checkpoint-minutes "$CHECKPOINT_MINUTES" --quiet
