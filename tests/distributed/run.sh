#!/usr/bin/env bash
# The MPI test programs under mpirun: data-parallel training equals one process on 2 ranks
# and on 3 (uneven shards), and a rank that panics or aborts with an error ends the whole
# job promptly with its message on stderr (never a hang: each run has a timeout).
# Needs `mpirun` and what `--features mpi` builds with (Debian: openmpi-bin libopenmpi-dev
# libclang-dev). Usage: bash tests/distributed/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
launch=(mpirun --oversubscribe)
# OpenMPI refuses root unless told; CI containers run as root.
[ "$(id -u)" -ne 0 ] || launch+=(--allow-run-as-root)

# The test binaries' paths, from cargo's own report.
paths=$(cargo test --release --features mpi --test distributed --test distributed_fault --no-run \
  --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"].startswith("distributed"):
        print(m["target"]["name"], m["executable"])')
equivalence=$(awk '$1 == "distributed" {print $2}' <<<"$paths")
fault=$(awk '$1 == "distributed_fault" {print $2}' <<<"$paths")

for np in 2 3; do
  echo "== equivalence on $np ranks"
  timeout 600 "${launch[@]}" -np "$np" "$equivalence"
done

echo "== no fault: the fault program ends normally"
timeout 120 "${launch[@]}" -np 2 "$fault"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for kind in panic error; do
  echo "== a rank that fails with a $kind ends the job"
  started=$SECONDS
  set +e
  BOREL_FAULT=$kind timeout 60 "${launch[@]}" -x BOREL_FAULT -np 2 "$fault" 2>"$log"
  status=$?
  set -e
  took=$((SECONDS - started))
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    cat "$log" >&2
    echo "FAIL: the job hung after an injected $kind (killed by the timeout)" >&2
    exit 1
  fi
  if [ "$status" -eq 0 ]; then
    cat "$log" >&2
    echo "FAIL: the job ended with status 0 after an injected $kind" >&2
    exit 1
  fi
  if ! grep -q "injected $kind on rank 1 at step 3" "$log"; then
    cat "$log" >&2
    echo "FAIL: stderr lacks the $kind's message" >&2
    exit 1
  fi
  echo "ok: status $status after ${took}s, message on stderr"
done
echo "distributed tests: all passed"
