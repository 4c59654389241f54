#!/usr/bin/env bash
# Issue 24, item 4 (the GPU half) in one call of the workplace's device machine, about 9 minutes:
#   1. benchmarks/bench_gpu.py: per evaluation vs the network's forward + backward (256 and 512 px,
#      target <= 1.3x at 512), and the tutorial's algorithm vs nstlib at 320 evaluations (512 px,
#      target >= 3x faster, no higher loss);
#   2. the test suite (tests/, nstlib's doctests, every notebook in quick mode) with NSTLIB_DEVICE=cuda.
# Both outputs are written to $OUT (the device tool brings that folder back).
#
# The device machine's image has torch, torchvision, scikit-image, matplotlib and pytest (with
# pytest-xdist), but not the notebook stack; that travels as wheels in .whl (about 20 MB):
#   here, once (needs the package registry):   bash benchmarks/gpu_check.sh fetch
#   there: the device tool's run with carry [".whl"], timeout_s 600:   bash benchmarks/gpu_check.sh
# DEVICE=cpu BENCH_ARGS="--sizes 64 --tutorial-size 64 --evals 40 --repeats 1" PYTEST_ARGS="tests/test_lbfgs.py"
# runs the same steps on a machine without a GPU (a check of this script, not a measurement).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/nstlib-gpu-check}"
mkdir -p "$OUT"

if [ "${1:-}" = fetch ]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >>.git/info/exclude
  python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl nbval nbformat nbclient ipywidgets ipykernel || exit 1
  # what the device image already holds (/work/.library/device/KINDS.md): one version of each
  for name in attrs coverage iniconfig packaging pluggy psutil pygments pytest python_dateutil typing_extensions; do
    rm -f .whl/"$name"-*.whl
  done
  ls .whl | wc -l
  du -sh .whl
  exit 0
fi

if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "could not install the carried wheels" >&2; exit 1; }
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export NSTLIB_WEIGHTS=random NSTLIB_QUICK=1
DEVICE="${DEVICE:-cuda}"

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"

echo "== 1. bench_gpu.py on $DEVICE"
# shellcheck disable=SC2086
timeout 240 python3 benchmarks/bench_gpu.py --device "$DEVICE" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench_gpu.txt"
bench=$?

echo "== 2. the test suite with NSTLIB_DEVICE=$DEVICE (8 workers; a notebook's cells stay on one worker)"
# shellcheck disable=SC2086
NSTLIB_DEVICE="$DEVICE" timeout 300 python3 -m pytest -q -p no:cacheprovider -n 8 --dist loadfile \
  ${PYTEST_ARGS:-tests nstlib notebooks} >"$OUT/pytest.txt" 2>&1
suite=$?
tail -n 40 "$OUT/pytest.txt"
echo "== bench rc $bench, suite rc $suite (124: stopped by its timeout)"
[ "$bench" -eq 0 ] && [ "$suite" -eq 0 ]
