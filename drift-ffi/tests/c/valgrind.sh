#!/usr/bin/env bash
# Runs the C test programs (roundtrip.c, threads.c, server.c; linked against
# libdrift.so) under valgrind memcheck. Fails on any memory error or
# definite leak (--errors-for-leak-kinds=definite --error-exitcode=99).
# Usage, from anywhere: drift-ffi/tests/c/valgrind.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
if ! command -v valgrind >/dev/null; then
  echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2
  exit 1
fi
DRIFT_VALGRIND=1 exec cargo test -p drift-ffi --test c_api -- --exact under_valgrind --nocapture
