#!/usr/bin/env bash
# Runs every check and test of the project: formatting, lints, Rust tests
# (drift-core, drift-cli, drift-bench, drift-ffi), the C programs (also under
# valgrind), libdrift installed by scripts/install-c and used through
# pkg-config, the Python package (installed into .venv) and the browser tests
# (headless Chromium, Debian's, installed if missing); the Redis store's tests
# run Debian's redis-server (installed if missing). Needs only cargo, cc and
# python3; installs what else it needs. Usage: ./run-tests.sh
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

# The Redis store's tests run Debian's redis-server (and redis-cli) on free
# loopback ports; install them when missing.
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  step "installing redis-server (Debian)"
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q redis-server redis-tools
  # The package starts a server on port 6379; the tests start their own.
  "${sudo[@]}" service redis-server stop >/dev/null 2>&1 || true
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (drift-core, drift-cli, drift-bench, drift-ffi)"
cargo test --workspace --exclude drift-py

if [ -x drift-ffi/tests/c/valgrind.sh ]; then
  step "C tests under valgrind"
  drift-ffi/tests/c/valgrind.sh
fi

step "C library installed into a prefix, examples built with pkg-config"
tests/c-install/run.sh

if [ -x drift-py/tests/run.sh ]; then
  step "Python package"
  drift-py/tests/run.sh
fi

if [ -x tests/browser/run.sh ]; then
  step "Browser (EventSource in headless Chromium)"
  tests/browser/run.sh
fi

step "all tests passed"
