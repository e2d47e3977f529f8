#!/usr/bin/env bash
# Browser tests: EventSource pages in headless Chromium against the real
# `drift serve` (the debug build `cargo test` makes; DRIFT_BIN overrides).
# Uses Debian's chromium and chromium-driver, installed here if missing, and
# Selenium in .venv at the repository root (made here if missing). Called by
# run-tests.sh; usable by hand from any directory.
#
# Environment:
#   PYTEST_ARGS  extra pytest arguments, e.g. "-k gap -x".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# Selenium drives Debian's chromedriver, which is built with the browser, so
# the two always match and nothing is downloaded at run time.
deps=(
  "selenium==4.51.0"
  "pytest==9.2.0"
  "pytest-timeout==2.4.0"
)

if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
  echo "== installing chromium and chromium-driver (Debian)"
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q chromium chromium-driver
fi

if [[ ! -x "$root/.venv/bin/python" ]]; then
  echo "== creating .venv"
  python3 -m venv "$root/.venv"
fi
py="$root/.venv/bin/python"
echo "== installing browser test dependencies"
"$py" -m pip install --quiet --disable-pip-version-check "${deps[@]}"

if [[ -z "${DRIFT_BIN:-}" ]]; then
  target="${CARGO_TARGET_DIR:-$root/target}"
  case "$target" in /*) ;; *) target="$root/$target" ;; esac
  if [[ ! -x "$target/debug/drift" ]]; then
    echo "== building drift (debug)"
    (cd "$root" && cargo build -p drift-cli)
  fi
fi

echo "== pytest (Chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'))"
cd "$here"
set +e
# shellcheck disable=SC2086
"$py" -m pytest ${PYTEST_ARGS:-}
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "pytest collected no browser tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
