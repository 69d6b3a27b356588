#!/usr/bin/env bash
# Data-parallel throughput, one run: the MLP 784-1024-1024-10 with batch 256 per rank, Borel on
# 2 ranks x 1 thread (mpirun), 1 rank x 1 thread and 1 rank x 2 threads, with the share of the
# step spent averaging gradients; and PyTorch DDP (gloo, `torchrun --nproc-per-node 2`, one
# thread each) and one PyTorch process on the same work when the reference environment exists
# ($REFENV, default ~/.cache/borel-refenv). Needs what `--features mpi` needs. Never a test.
set -euo pipefail
cd "$(dirname "$0")/../.."
launch=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" -ne 0 ] || launch+=(--allow-run-as-root)
bin=$(cargo bench --features mpi --bench mpi_mlp --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "mpi_mlp":
        print(m["executable"])')
py=${REFENV:-$HOME/.cache/borel-refenv}/bin
for run in "2 1" "1 1" "1 2"; do
  read -r ranks threads <<<"$run"
  RAYON_NUM_THREADS=$threads "${launch[@]}" -x RAYON_NUM_THREADS -np "$ranks" "$bin"
done
if [ -x "$py/torchrun" ]; then
  OMP_NUM_THREADS=1 "$py/torchrun" --standalone --nproc-per-node 2 benches/compare/torch_ddp.py 2>/dev/null
  OMP_NUM_THREADS=1 "$py/torchrun" --standalone --nproc-per-node 1 benches/compare/torch_ddp.py 2>/dev/null
fi
