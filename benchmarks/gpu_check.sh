#!/usr/bin/env bash
# One device run on the lent GPU (no TensorFlow, no network there): JAX backend, carried wheels.
#   run(command="bash benchmarks/gpu_check.sh", carry=[".whl", ".gpudata"], timeout_s=590)
# .whl: bash ../shared/gpu/fetch-wheels.sh ; .gpudata/train: photos resized to 144² (≤ 40 MB).
# 1. the training-throughput benchmark at 64² and 256², batch 16, bfloat16;
# 2. the default-model recipe, time-boxed, its model and history written to $OUT.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 NO_ALBUMENTATIONS_UPDATE=1
OUT=${OUT:-runs/gpu}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
BENCH_SECONDS=${BENCH_SECONDS:-210}; TRAIN_MINUTES=${TRAIN_MINUTES:-4.5}
[ "$BENCH_SECONDS" = 0 ] || timeout "$BENCH_SECONDS" python3 benchmarks/bench_training.py --sizes 64 256 --batch-size 16 --images 640 --steps 50 --epochs 3 \
  --views 2 --workers 8 --lab-in-graph --mixed-precision bfloat16 --seed-steps 3 --data .gpudata/train \
  --out "$OUT/bench_gpu.json" 2>&1 | grep -v "UserWarning\|self._interrupted\|data_adapter" | tail -12
timeout 420 python3 -m colored.cli train --config colored/recipes/default.yaml --dataset-dir .gpudata/train \
  --run-dir /tmp/default-run --cache-dir /tmp/cache --max-minutes "$TRAIN_MINUTES" --verbose 2 2>&1 \
  | grep -v "UserWarning\|data_adapter" | tail -25 > "$OUT/train_log.txt"
tail -8 "$OUT/train_log.txt"
cp /tmp/default-run/history.json /tmp/default-run/config.json "$OUT/" 2>/dev/null
# files coming back are capped at 16 MB: split the model (reassemble with cat model.keras.part*)
split -b 15M /tmp/default-run/model.keras "$OUT/model.keras.part" 2>/dev/null
ls -la "$OUT"
