#!/usr/bin/env bash
# bench/search_quality.py's remaining jobs on a lent GPU machine, within one device call: the UCI-HAR
# searches (50 ms DNAS and random, DARTS, the default 60-epoch DNAS at 25 ms) on the GPU, the bundled sets
# on its CPU cores (one thread per job), all up to float retraining (`--stage train`: no TensorFlow there).
# Every run is interrupted (Ctrl-C, so searches keep their last epoch) after GPU_QUALITY_TIMEOUT seconds;
# then data/bench comes back as $OUT/bench.tgz.part00, ... (`cat` them into one archive, merge it here,
# then run the bench's evaluate stage).
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

bench() {  # bench LOG THREADS ARGS...: one bench invocation in the background, stopped with SIGINT at LIMIT
    local log=$1 threads=$2; shift 2
    OMP_NUM_THREADS=$threads timeout -s INT -k 30 "$LIMIT" python3 bench/search_quality.py --stage train "$@" \
        >"$OUT/logs/$log.log" 2>&1 &
}
gpu=${GPU_QUALITY_ACCELERATOR:-gpu}
bench ucihar50 2 --only ucihar_hapt --budget 50 --methods dnas,random --search-epochs 40 --jobs 2 \
    --random-workers 2 --accelerator "$gpu"
bench darts 2 --only ucihar_hapt --methods darts --search-epochs 40 --accelerator "$gpu"
bench ucihar25_default 2 --only ucihar_hapt --budget 25 --methods dnas --accelerator "$gpu"
bench basicmotions 1 --only basicmotions --jobs 4 --random-workers 1
bench japanesevowels 1 --only japanesevowels --jobs 4 --random-workers 1
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
