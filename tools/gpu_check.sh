#!/usr/bin/env bash
# The GPU check (docs/gpu.md), for a GPU node with TensorFlow; never part of the tests.
#
#   tools/gpu_check.sh
#
# 1. checks that TensorFlow sees a GPU (and prints the device record: GPUs, compute capability,
#    the CUDA/cuDNN TensorFlow was built with, the NVIDIA driver);
# 2. runs the tiny config (tests/configs/tiny.yaml) end to end twice, in two temporary work
#    directories, and compares the two runs: every .h5 (checkpoints, CKA features) dataset and
#    attribute bit for bit, every results/**/*.parquet table column by column, bit for bit
#    (tools/gpu_check.py compare; provenance records and the history's wall-clock `seconds`
#    column are not compared); prints "bit-identical" or the first differences;
# 3. prints the seconds per epoch of small_cnn, medium_cnn and resnet20v1 trained with the
#    pipeline's own loop (deepens.nets.training.train_run) on random CIFAR-shaped data (10,000
#    images of 32x32x3 uint8, 10 classes, batch 128, 3 epochs), float32 and mixed precision.
#
# Exit status: 0 when the two runs are bit-identical, 1 when they differ, 2 without a GPU,
# 3 when a step fails (its log is shown).
#
# Environment (all optional):
#   PYTHON, SNAKEMAKE     the interpreter and snakemake to use (default: .venv-gpu, built with
#                         `make venv-gpu` when missing; SNAKEMAKE defaults to the one beside PYTHON)
#   GPU_CHECK_CONFIG      config of the two runs (default tests/configs/tiny.yaml)
#   GPU_CHECK_CORES       snakemake --cores (default all)
#   GPU_CHECK_IMAGES      training images per epoch for the timings (default 10000)
#   GPU_CHECK_EPOCHS      epochs per timed run (default 3; the first includes tracing)
#   GPU_CHECK_TIMES_ARGS  more arguments for `tools/gpu_check.py epoch-times` (e.g. --models small_cnn)
#   GPU_CHECK_SKIP_RUNS=1, GPU_CHECK_SKIP_TIMES=1   leave out step 2 or step 3
#   GPU_CHECK_KEEP=1      keep the two work directories (kept anyway when the runs differ)
#   GPU_CHECK_ALLOW_CPU=1 go on without a GPU (to try the script on a CPU machine)
#   TMPDIR                where the work directories go
# TF_FORCE_GPU_ALLOW_GROWTH defaults to true here: snakemake runs several TensorFlow jobs at
# once on the one GPU, and by default each would reserve all of its memory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ -z "${PYTHON:-}" ]]; then
    if [[ ! -x .venv-gpu/bin/python || ! -e .venv-gpu/.installed ]]; then
        echo "== building the GPU venv (make venv-gpu)"
        make venv-gpu
    fi
    PYTHON="$ROOT/.venv-gpu/bin/python"
fi
PYTHON="$(command -v "$PYTHON")" || { echo "no python at ${PYTHON} (set PYTHON)" >&2; exit 3; }
SNAKEMAKE="${SNAKEMAKE:-$(dirname "$PYTHON")/snakemake}"
SNAKEMAKE="$(command -v "$SNAKEMAKE")" || { echo "no snakemake at ${SNAKEMAKE} (set SNAKEMAKE)" >&2; exit 3; }
CONFIG="$(cd "$(dirname "${GPU_CHECK_CONFIG:-tests/configs/tiny.yaml}")" && pwd)/$(basename "${GPU_CHECK_CONFIG:-tests/configs/tiny.yaml}")"
export TF_FORCE_GPU_ALLOW_GROWTH="${TF_FORCE_GPU_ALLOW_GROWTH:-true}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

echo "== device (python: $PYTHON)"
allow=()
[[ "${GPU_CHECK_ALLOW_CPU:-0}" == 1 ]] && allow=(--allow-cpu)
status=0
"$PYTHON" tools/gpu_check.py device ${allow[@]+"${allow[@]}"} || status=$?
if (( status == 2 )); then
    echo "TensorFlow sees no GPU: nothing to check (GPU_CHECK_ALLOW_CPU=1 runs the check on the CPU)" >&2
    exit 2
elif (( status != 0 )); then
    echo "could not ask TensorFlow for its devices (exit status $status)" >&2
    exit 3
fi

differ=0
if [[ "${GPU_CHECK_SKIP_RUNS:-0}" != 1 ]]; then
    work="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")"
    cleanup() { if [[ "${GPU_CHECK_KEEP:-0}" != 1 && "$differ" == 0 ]]; then rm -rf "$work"; fi; }
    trap cleanup EXIT
    for run in run1 run2; do
        mkdir -p "$work/$run"
        echo "== $run: $SNAKEMAKE --cores ${GPU_CHECK_CORES:-all} --configfile $CONFIG (in $work/$run)"
        start=$SECONDS
        if ! "$SNAKEMAKE" -s "$ROOT/Snakefile" --directory "$work/$run" --configfile "$CONFIG" \
                --cores "${GPU_CHECK_CORES:-all}" > "$work/$run.log" 2>&1; then
            tail -n 60 "$work/$run.log" >&2
            echo "$run failed; log: $work/$run.log" >&2
            GPU_CHECK_KEEP=1
            exit 3
        fi
        echo "   done in $((SECONDS - start)) s"
    done
    echo "== comparing the two runs"
    status=0
    "$PYTHON" tools/gpu_check.py compare "$work/run1" "$work/run2" || status=$?
    if (( status == 4 )); then
        differ=1
    elif (( status != 0 )); then
        GPU_CHECK_KEEP=1
        echo "the comparison failed (exit status $status); work directories kept: $work" >&2
        exit 3
    fi
    if [[ "$differ" == 1 || "${GPU_CHECK_KEEP:-0}" == 1 ]]; then
        echo "   work directories kept: $work/run1 $work/run2"
    fi
fi

if [[ "${GPU_CHECK_SKIP_TIMES:-0}" != 1 ]]; then
    echo "== epoch times"
    # shellcheck disable=SC2086  # GPU_CHECK_TIMES_ARGS is a list of arguments
    "$PYTHON" tools/gpu_check.py epoch-times --images "${GPU_CHECK_IMAGES:-10000}" \
        --epochs "${GPU_CHECK_EPOCHS:-3}" ${GPU_CHECK_TIMES_ARGS:-} || { echo "epoch times failed" >&2; exit 3; }
fi

if [[ "$differ" == 1 ]]; then
    echo "RESULT: the two runs differ on this machine" >&2
    exit 1
fi
if [[ "${GPU_CHECK_SKIP_RUNS:-0}" != 1 ]]; then
    echo "RESULT: the two runs are bit-identical on this machine"
fi
