#!/usr/bin/env bash
# The benchmark on a GPU machine, once: CUDA fp32 and bf16 throughput of the paper-size and tiny
# models against the naive loop and the peak matmul of the same run, scoring growth to 16k
# posts, and the collection scoring command (bench/score_collection.py: its RSS at 2k vs 20k
# posts, its posts/s against the dashboard's CSV path and the naive loop), and the three paper-size
# tasks' posts/s in bf16 with one reading of each post shared by the three (bench/shared_reading.py)
# against each task reading it alone. Installs nothing: it needs python3 with torch, torchvision, transformers, tokenizers,
# safetensors, pandas and pillow (the device image has them).
#
# From a session that is lent a GPU machine (device tool), in the repo root here:
#     echo /.bench-data/ >> .git/info/exclude
#     mkdir -p .bench-data/crisismmd && cp -r ../shared/crisismmd/crisismmd_datasplit_all .bench-data/crisismmd/
#     run(command="bash bench/gpu_check.sh", carry=[".bench-data"], timeout_s=600)
# (without .bench-data the stand-in tokenizer is trained on 8 invented posts, which makes posts
# longer in tokens: the figures then differ from the CPU run's). It takes about 9 minutes.
# Results land in $OUT (bench-cuda.json, bench-cuda.md, score-collection-cuda.json,
# shared-reading-cuda.json, log.txt): paste the tables into
# bench/NOTES.md with the card's name (the table's first line names it).
set -uo pipefail
OUT=${OUT:-artifacts/bench/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -z "${CRISISMMD_ROOT:-}" ] && [ -d .bench-data/crisismmd ]; then
    export CRISISMMD_ROOT=$PWD/.bench-data/crisismmd
fi
PY=${PYTHON:-python3}
{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
    "$PY" -c 'import torch, torchvision, transformers; print("torch", torch.__version__, "torchvision", torchvision.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())'
    echo "CRISISMMD_ROOT=${CRISISMMD_ROOT:-(none: invented texts)}  CPUs: $(nproc)"
    timeout 400 "$PY" bench/run.py --quick --device cuda --only scoring bf16 growth \
        --posts paper 128 --posts tiny 256 --batch-sizes 1 8 32 128 --growth 1000 4000 16000 \
        --photos-dir "$OUT/photos" --json "$OUT/bench-cuda.json" --markdown "$OUT/bench-cuda.md"
    echo "exit status $?"
    # three paper-size tasks, bf16: each post read once for all (predict_tasks) vs each task reading it
    timeout 90 "$PY" -m bench.shared_reading --device cuda --precision bf16 --posts 512 --batch-size 64 \
        --photos-dir "$OUT/photos" --json "$OUT/shared-reading-cuda.json"
    echo "exit status $?"
    timeout 170 "$PY" bench/score_collection.py --quick --device cuda --json "$OUT/score-collection-cuda.json"
    echo "exit status $?"
} 2>&1 | tee "$OUT/log.txt"
rm -rf "$OUT/photos"  # generated inputs: not worth bringing back
