#!/usr/bin/env bash
# bench/search_quality.py's remaining jobs on a lent GPU machine, within one device call: UCI-HAR at 25 ms
# (DNAS 40 epochs and random, seeds 3-4) on the GPU; the bundled sets on its CPU cores, one thread per job
# (DNAS and random seeds 2-4, and the loss at the derived architecture seeds 2-4); all up to float
# retraining (`--stage train`: no TensorFlow there).
# Every run is interrupted (Ctrl-C, so searches keep their last epoch) GPU_QUALITY_TIMEOUT seconds after
# the script's start; then data/bench comes back as $OUT/bench.tgz.part00, ... (`cat` them into one
# archive, merge it here, then run the bench's evaluate stage).
#
#     bash bench/gpu_quality.sh     # device tool: carry [".gpu"] (.gpu/whl: wheels, .gpu/ucihar_hapt.npz)

set -u -o pipefail
cd "$(dirname "$0")/.."
source bench/device_wheels.sh
OUT=${OUT:-$(mktemp -d)}
LIMIT=${GPU_QUALITY_TIMEOUT:-470}
export MICRONAS_UCIHAR_HAPT=${MICRONAS_UCIHAR_HAPT:-$PWD/.gpu/ucihar_hapt.npz} PYTHONUNBUFFERED=1
nvidia-smi -L; echo "$(nproc) CPU cores"
wheels=${GPU_QUALITY_WHEELS-.gpu/whl}  # empty: the packages are already there
if [ -n "$wheels" ]; then install_wheels "$wheels" || exit 3; fi
mkdir -p "$OUT/logs"

deadline=$((SECONDS + LIMIT))
bench() {  # bench LOG THREADS ARGS...: one bench invocation, stopped with SIGINT at the deadline
    local log=$1 threads=$2 left=$((deadline - SECONDS)); shift 2
    [ "$left" -gt 30 ] || { echo "no time left for $*" >>"$OUT/logs/$log.log"; return; }
    OMP_NUM_THREADS=$threads timeout -s INT -k 30 "$left" python3 bench/search_quality.py --stage train "$@" \
        >>"$OUT/logs/$log.log" 2>&1
}
gpu=${GPU_QUALITY_ACCELERATOR:-gpu}
derived=(--variant derived --set search.hardware_loss.at=derived)
bench ucihar25_dnas 2 --only ucihar_hapt --budget 25 --methods dnas --seeds 3,4 --search-epochs 40 --jobs 2 \
    --threads 2 --accelerator "$gpu" &
bench ucihar25_random 1 --only ucihar_hapt --budget 25 --methods random --seeds 3,4 --jobs 2 --threads 1 \
    --random-workers 2 --accelerator "$gpu" &
for dataset in basicmotions japanesevowels; do
    bench "${dataset}" 1 --only "$dataset" --methods dnas,random --seeds 2,3,4 --jobs 3 --threads 1 \
        --random-workers 1 &
    bench "${dataset}_derived" 1 --only "$dataset" --methods dnas --seeds 2,3,4 "${derived[@]}" &
done
wait
tail -n 3 "$OUT"/logs/*.log
python3 bench/search_quality.py --table
# Finished searches need no checkpoint; an unfinished one resumes from last.ckpt alone. Logs go into the
# archive too, split below the device tool's 16 MiB per returned file.
find data/bench -name 'epoch=*.ckpt' -delete
for summary in data/bench/search_quality/*/search/summary.json; do
    [ -e "$summary" ] && rm -rf "$(dirname "$summary")/checkpoints"
done
mv "$OUT/logs" data/bench/device_logs
tar czf - data/bench | split -b 15M -d - "$OUT/bench.tgz.part"
ls -la "$OUT"
