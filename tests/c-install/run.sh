#!/usr/bin/env bash
# Installs libdrift with scripts/install-c into a temporary prefix, as a C
# user would, then builds the README's example programs (examples/c/) with
# nothing but the flags pkg-config gives for that prefix, once linked
# dynamically and once statically, and runs each pair against a real
# `drift serve` on a free loopback port: the publisher's message must reach
# the subscriber. Usage, from anywhere: tests/c-install/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() {
  echo "c-install: $*" >&2
  exit 1
}

# pkg-config is what a C user builds with; readelf (binutils) comes with cc.
if ! command -v pkg-config >/dev/null; then
  echo "== installing pkg-config (Debian)"
  sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q pkg-config
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
prefix="$work/prefix"

start=$SECONDS
scripts/install-c "$prefix"
echo "scripts/install-c took $((SECONDS - start)) s"

# The layout of the install, and the ABI version in the SONAME.
[ -f "$prefix/lib/libdrift.so.0" ] || fail "no lib/libdrift.so.0"
[ "$(readlink "$prefix/lib/libdrift.so")" = libdrift.so.0 ] || fail "lib/libdrift.so is not a link to libdrift.so.0"
[ -f "$prefix/lib/libdrift.a" ] || fail "no lib/libdrift.a"
cmp -s "$prefix/include/drift.h" include/drift.h || fail "include/drift.h differs from the repository's"
readelf -d "$prefix/lib/libdrift.so.0" | grep -q '(SONAME).*\[libdrift\.so\.0\]' ||
  fail "libdrift.so.0 has not the SONAME libdrift.so.0"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ "$(pkg-config --modversion drift)" = "$(cargo pkgid -p drift-ffi | sed 's/.*[#@]//')" ] ||
  fail "drift.pc has not the crate's version"

# Dynamic: only pkg-config's flags; the programs find the library through
# LD_LIBRARY_PATH, as for any prefix the loader does not search.
# Static: -Bstatic makes the linker take libdrift.a (Libs.private switches
# back to shared system libraries).
for name in publisher subscriber; do
  # shellcheck disable=SC2046 # pkg-config's output is a list of flags
  cc -std=c11 -Wall -Wextra -Werror "examples/c/$name.c" $(pkg-config --cflags --libs drift) \
    -o "$work/$name-dynamic"
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Wextra -Werror "examples/c/$name.c" $(pkg-config --cflags drift) \
    -Wl,-Bstatic $(pkg-config --static --libs drift) -o "$work/$name-static"
  readelf -d "$work/$name-dynamic" | grep -q 'NEEDED.*\[libdrift\.so\.0\]' ||
    fail "$name-dynamic does not load libdrift.so.0"
  if readelf -d "$work/$name-static" | grep -q 'NEEDED.*libdrift'; then
    fail "$name-static loads libdrift.so; it should contain libdrift.a"
  fi
done

# A real server on a free port, with its generated certificate in $work.
cargo build --quiet -p drift-cli --bin drift
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
exec 3< <(cd "$work" && NO_COLOR=1 exec "$target_dir/debug/drift" serve --listen 127.0.0.1:0 2>&1)
server_pid=$!
url=
while IFS= read -r -t 60 line <&3; do
  if [[ $line =~ listening\ on\ (https://[^ ]+) ]]; then
    url=${BASH_REMATCH[1]}
    break
  fi
done
[ -n "$url" ] || fail "drift serve did not say where it listens"
cat <&3 >/dev/null & # keep the log drained
cert="$work/.drift/cert.pem"

# Publishes a line with ./publisher-LINK, then expects ./subscriber-LINK to
# print it (replayed from the topic's history), and to stop on Ctrl-C.
check() {
  local link=$1 topic="c-install-$1" text="hello from C, $1"
  local out
  out=$(echo "$text" | timeout 60 "$work/publisher-$link" "$topic" "$url" "$cert") ||
    fail "publisher-$link failed: $out"
  [[ $out == "published "*"-1 ("*" bytes) to $topic" ]] || fail "publisher-$link printed: $out"

  exec 4< <(exec "$work/subscriber-$link" "$topic" "$url" "$cert" 10 2>"$work/sub.err")
  local sub_pid=$! got=
  while IFS= read -r -t 60 line <&4; do
    if [[ $line == *"-1 $text" ]]; then
      got=1
      break
    fi
  done
  # Ctrl-C; it exits, which closes its output (bounded by read's timeout).
  kill -INT "$sub_pid" 2>/dev/null || true
  while IFS= read -r -t 60 line <&4; do :; done
  kill -KILL "$sub_pid" 2>/dev/null || true
  local rc=0
  wait "$sub_pid" || rc=$?
  exec 4<&-
  [ -n "$got" ] || fail "subscriber-$link did not print '$text': $(cat "$work/sub.err")"
  [ "$rc" = 0 ] || fail "subscriber-$link exited $rc on Ctrl-C: $(cat "$work/sub.err")"
  echo "examples/c linked $link: the subscriber got the publisher's message"
}

LD_LIBRARY_PATH="$prefix/lib" check dynamic
check static
