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
for t in 1 2; do
  tag() { sed "s/^RESULT /RESULT threads=$t /"; }
  export RAYON_NUM_THREADS=$t MATMUL_NUM_THREADS=$t OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t
  for m in linear sigmoid relu; do
    REPS=$reps "$bin/borel-steps" small $m | tag
    REPS=$reps "$bin/peer-handwritten" small $m | tag
  done
  REPS=$reps "$bin/borel-steps" large | tag
  REPS=$reps "$bin/peer-handwritten" large | tag
  for n in 64 256 1024; do REPS=$reps "$bin/borel-steps" matmul $n | tag; done
  REPS=$reps "$bin/peer-handwritten" matmul | sed 's/bench=matmul/bench=matmul n=1024/' | tag
  REPS=$reps "$bin/borel-steps" chain | tag
  if [ -x "$py" ]; then
    "$py" numpy_gemm.py 64 256 1024 | tag
    "$py" torch_steps.py $t | tag
    for m in A B C; do
      taskset -c 0-$((t - 1)) "$py" jax_seed_step.py $m | tag
    done
  fi
done | tee "$log" >&2
python3 table.py < "$log"
