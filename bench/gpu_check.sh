#!/usr/bin/env bash
# The GPU check on a lent CUDA machine: install the carried wheels, import, run tests/test_gpu.py (the real
# search.py CLIs and the retraining path with trainer.accelerator=gpu), then the GPU step times of
# bench/search.py. Run from the repository root with the wheels in .whl/ (see below); prints everything
# and writes gpu_tests.log and gpu_bench.log into $OUT (a temporary folder when OUT is unset).
#
#     bash bench/gpu_check.sh        # device tool: carry [".whl"], timeout_s about 450
#
# .whl/ holds the wheels (CPython 3.12, manylinux x86_64, or pure Python) of what micronas needs and the
# device image lacks: hydra-core, omegaconf, antlr4 runtime, mlflow with its dependencies, pyserial,
# aeon. Nothing TensorFlow: train.py's int8 export cannot run there, so its test is skipped.
# .whl/fallback/ holds wheels installed only where the image's version of that package is older.
# Limits (seconds, overridable): GPU_CHECK_TEST_TIMEOUT (tests), GPU_CHECK_BENCH_TIMEOUT (bench).

set -u -o pipefail
cd "$(dirname "$0")/.."
source bench/device_wheels.sh
OUT=${OUT:-$(mktemp -d)}
TEST_TIMEOUT=${GPU_CHECK_TEST_TIMEOUT:-270}
BENCH_TIMEOUT=${GPU_CHECK_BENCH_TIMEOUT:-90}
SECONDS=0
step() { printf '\n=== [%4ds] %s\n' "$SECONDS" "$*"; }

step "GPU"
nvidia-smi -L
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader
echo "python3: $(command -v python3) ($(python3 -V 2>&1)); $(nproc) CPU cores"

step "install .whl into $SITE"
install_wheels .whl || exit 3

step "versions, CUDA, and the carried packages' requirements against the image's (informational)"
python3 - <<'EOF'
import os
from importlib import metadata
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import torch

print(f"torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}), "
      f"cuda available: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print(f"device: {torch.cuda.get_device_name(0)}, capability {torch.cuda.get_device_capability(0)}")
    x = torch.randn(512, 512, device="cuda")
    print(f"a matmul on the GPU: {float((x @ x).abs().sum()):.4g}")
names = ["pytorch-lightning", "lightning", "torchmetrics", "lightning-utilities", "numpy", "scipy", "pandas",
         "scikit-learn", "numba", "llvmlite", "matplotlib", "pyyaml", "typing-extensions", "protobuf", "pyarrow",
         "anyio", "click", "werkzeug", "jinja2", "python-dateutil", "packaging", "requests", "tqdm", "pytest",
         "pytest-timeout", "hydra-core", "omegaconf", "mlflow", "mlflow-skinny", "sqlalchemy", "pydantic",
         "pyserial", "aeon"]
installed = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
print(" ".join(f"{n}={installed[n].version if n in installed else 'MISSING'}" for n in names))
site = os.environ["PYTHONPATH"].split(":")[0].rstrip("/")
carried = [d for d in metadata.distributions() if str(d.locate_file("")).rstrip("/") == site]
problems = 0
for dist in carried:
    for spec in dist.requires or []:
        req = Requirement(spec)
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        found = installed.get(canonicalize_name(req.name))
        if found is None:
            print(f"MISSING  {dist.metadata['Name']} needs {req}")
            problems += 1
        elif not req.specifier.contains(found.version, prereleases=True):
            print(f"UNMET    {dist.metadata['Name']} needs {req}, found {found.version}")
            problems += 1
print(f"{len(carried)} carried distributions, {problems} requirement(s) not met as declared")
EOF

step "import"
python3 -c 'import hydra, mlflow, serial, micronas; print("hydra", hydra.__version__, "mlflow", mlflow.__version__, "serial", serial.__version__)' \
    || { echo "import failed"; exit 4; }
python3 -c 'import micronas.search.search_run, micronas.train.retrain, micronas.train.qat, micronas.data; print("micronas modules import")' \
    || { echo "import failed"; exit 4; }

step "tests/test_gpu.py (at most ${TEST_TIMEOUT}s)"
PYTHONUNBUFFERED=1 timeout -k 10 "$TEST_TIMEOUT" python3 -m pytest -q -x tests/test_gpu.py -p no:cacheprovider -rs \
    --durations=0 2>&1 | tee "$OUT/gpu_tests.log"
tests=$?

step "bench/search.py --accelerator gpu --step-times-only (at most ${BENCH_TIMEOUT}s)"
PYTHONUNBUFFERED=1 timeout -k 10 "$BENCH_TIMEOUT" python3 bench/search.py --accelerator gpu --step-times-only 2>&1 \
    | tee "$OUT/gpu_bench.log"
bench=$?

step "done: tests exit $tests, bench exit $bench (124: timed out); logs in $OUT"
nvidia-smi --query-gpu=memory.used --format=csv,noheader
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
