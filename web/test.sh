#!/usr/bin/env bash
# The playground's browser test: builds the page (wasm32) and the native trainer, then drives
# the page in headless Chromium (web/test.py). Installs what is missing: the wasm32 target,
# and Debian's chromium and chromium-driver.
#   web/test.sh [--screenshots DIR]     (DIR: where to write the before/after screenshots)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
target_dir="${CARGO_TARGET_DIR:-target}"
web/build.sh "$target_dir/web"
cargo build --release -p borel-web --bin borel-web-native
python3 web/test.py "$target_dir/web" "$target_dir/release/borel-web-native" \
  --losses-out "$target_dir/web-browser-losses.json" "$@"
