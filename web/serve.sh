#!/usr/bin/env bash
# Builds the playground and serves it at http://127.0.0.1:${PORT:-8000}/ (Ctrl-C stops).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${CARGO_TARGET_DIR:-target}/web"
web/build.sh "$out"
echo "open http://127.0.0.1:${PORT:-8000}/"
exec python3 -m http.server --bind 127.0.0.1 --directory "$out" "${PORT:-8000}"
