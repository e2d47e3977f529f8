#!/usr/bin/env bash
# Tests of the Python package `drift`: builds and installs it into .venv at
# the repository root (made here if missing), runs the pytest suite, then
# checks the type stubs against the built module with mypy's stubtest.
#
# Needs only python3 (with venv and pip), cargo, and access to PyPI and
# crates.io. Called by .ci/run; usable by hand from any directory.
#
# Environment:
#   DRIFT_PY_SKIP_INSTALL=1  reuse the drift already installed in .venv
#                            (e.g. after `maturin develop`) instead of
#                            `maturin build` (a release build).
#   PYTEST_ARGS              extra pytest arguments, e.g. "-k history -x".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

# Pinned test dependencies (the build backend's range is in pyproject.toml).
deps=(
  "maturin==1.16.0"
  "pytest==9.2.0"
  "pytest-asyncio==1.5.0"
  "pytest-timeout==2.4.0"
  "mypy==2.4.1"
  "httpx[http2]==0.28.1"
)

if [[ ! -x .venv/bin/python ]]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
py="$root/.venv/bin/python"

echo "== installing test dependencies"
"$py" -m pip install --quiet --disable-pip-version-check "${deps[@]}"

if [[ "${DRIFT_PY_SKIP_INSTALL:-0}" != 1 ]]; then
  echo "== building the wheel and sdist (maturin build --release; maturin sdist)"
  # One build, as users get it: the manylinux/abi3 wheel and the sdist that
  # `pip install drift` installs by name from this directory. The test
  # package uses it, and so does the fresh-virtualenv test (test_install.py)
  # instead of building a second time.
  dist="$root/target/drift-py-dist"
  rm -rf "$dist"
  # Two commands, not `build --sdist`, which would compile the wheel again
  # from the unpacked sdist in a target directory of its own.
  "$py" -m maturin build --release --out "$dist"
  "$py" -m maturin sdist --out "$dist"
  "$py" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
    --no-index --find-links "$dist" drift
  export DRIFT_TEST_DIST="$dist"
fi

echo "== pytest"
set +e
# shellcheck disable=SC2086
"$py" -m pytest ${PYTEST_ARGS:-}
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
if [[ $status -ne 0 ]]; then
  exit "$status"
fi

echo "== stubtest"
"$py" -m mypy.stubtest drift._drift
echo "stubtest: drift._drift matches its stubs"
