#!/usr/bin/env bash
# Measures Borel, the hand-written floor, PyTorch, JAX and NumPy on the same workloads in one
# run, at 1 and 2 threads, and prints the ratio table. PyTorch/JAX/NumPy are measured when
# the Python environment exists ($REFENV, default ~/.cache/borel-refenv; create it with
# `python3 -m venv $REFENV && $REFENV/bin/pip install numpy torch jax`). Never part of the tests.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q
bin=$CARGO_TARGET_DIR/release
py=${REFENV:-$HOME/.cache/borel-refenv}/bin/python
reps=${REPS:-3}
log=${LOG:-$(mktemp)}
# NumPy runs without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: some machines set them for older
# OpenBLAS builds, and they slow a current one down (its kernel is printed in the heading).
numpy() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" "$@"; }
{
  # The heading: the CPU, its SIMD features, and the kernels Borel and NumPy run on it.
  echo "INFO cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1 | tr ' ' '_')"
  simd=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|avx2|fma|avx512.*|avx_vnni|amx.*)$' | paste -sd,)
  echo "INFO simd=$simd"
  "$bin/borel-steps" info
  if [ -x "$py" ]; then numpy numpy_gemm.py info; fi
} | tee "$log" >&2
for t in 1 2; do
  tag() { sed "s/^RESULT /RESULT threads=$t /"; }
  export RAYON_NUM_THREADS=$t OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t
  for m in linear sigmoid relu; do
    REPS=$reps "$bin/borel-steps" small $m | tag
    REPS=$reps "$bin/borel-steps" small-captured $m | tag
    REPS=$reps "$bin/peer-handwritten" small $m | tag
  done
  REPS=$reps "$bin/borel-steps" large | tag
  REPS=$reps "$bin/peer-handwritten" large | tag
  for n in 64 256 1024; do REPS=$reps "$bin/borel-steps" matmul $n | tag; done
  REPS=$reps "$bin/peer-handwritten" matmul | sed 's/bench=matmul/bench=matmul n=1024/' | tag
  REPS=$reps "$bin/borel-steps" chain | tag
  REPS=$reps "$bin/borel-steps" chain-captured | tag
  REPS=$reps "$bin/borel-steps" pinn | tag
  if [ -x "$py" ]; then
    numpy numpy_gemm.py 64 256 1024 | tag
    "$py" torch_steps.py $t | tag
    for m in A B C; do
      taskset -c 0-$((t - 1)) "$py" jax_seed_step.py $m | tag
    done
    taskset -c 0-$((t - 1)) "$py" jax_pinn_step.py | tag
  fi
done | tee -a "$log" >&2
python3 table.py < "$log"
