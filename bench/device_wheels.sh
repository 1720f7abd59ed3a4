# Sourced by the device scripts (bench/gpu_check.sh, bench/gpu_quality.sh): install_wheels DIR installs the
# carried wheels in DIR (and those in DIR/fallback only where the image's version is older) into $SITE
# without touching the image's packages, and puts $SITE and the repository on PYTHONPATH.

SITE=${GPU_CHECK_SITE:-/tmp/site}

install_wheels() {
    local dir=$1
    ls "$dir"/*.whl >/dev/null 2>&1 || { echo "no wheels in $dir/: carry it with the call"; return 3; }
    echo "$(ls "$dir"/*.whl | wc -l) wheels, $(du -sh "$dir" | cut -f1)"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        "$dir"/*.whl || { echo "wheel install failed"; return 3; }
    local wheel
    for wheel in "$dir"/fallback/*.whl; do
        [ -e "$wheel" ] || continue
        if python3 - "$wheel" <<'PY'; then
import os, sys
from importlib import metadata
from packaging.utils import parse_wheel_filename
name, version, _, _ = parse_wheel_filename(os.path.basename(sys.argv[1]))
try:
    have = metadata.version(name)
except metadata.PackageNotFoundError:
    have = None
from packaging.version import Version
print(f"fallback {name} {version}: the image has {have or 'none'}", end="")
sys.exit(0 if have is None or Version(have) < version else 1)
PY
            echo " -> installing it"
            python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
                "$wheel" || { echo "fallback install failed"; return 3; }
        else
            echo " -> keeping the image's"
        fi
    done
    export PYTHONPATH=$SITE:$PWD
}
