#!/usr/bin/env bash
# Builds the playground into a folder of static files, ready to serve or publish as they are:
#   web/build.sh [OUT_DIR]        (default: $CARGO_TARGET_DIR/web, or target/web)
# Installs the wasm32 target with rustup when it is missing; needs no other tool.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
target_dir="${CARGO_TARGET_DIR:-target}"
out="${1:-$target_dir/web}"
# Without debug info the module is a fraction of the size; it is its own build (other target).
CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true \
  cargo build --release --target wasm32-unknown-unknown -p borel-web --lib
mkdir -p "$out"
cp web/index.html web/style.css web/app.js web/worker.js "$out/"
cp "$target_dir/wasm32-unknown-unknown/release/borel_web.wasm" "$out/"
echo "built the playground in $out"
