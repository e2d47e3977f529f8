#!/usr/bin/env bash
# Runs every check and test of the project: formatting, lints, Rust tests
# (drift-core, drift-cli, drift-bench, drift-ffi), the C programs (also under
# valgrind), libdrift installed by scripts/install-c and used through
# pkg-config, the Python package (installed into .venv) and the browser tests
# (headless Chromium, Debian's, installed if missing). Needs only cargo, cc
# and python3; installs what else it needs. Usage: ./run-tests.sh
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

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
