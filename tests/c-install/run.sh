#!/usr/bin/env bash
# Installs libdrift with scripts/install-c into a temporary prefix and
# builds the example programs (examples/c/) with nothing but the flags
# pkg-config gives for it, once linked dynamically and once statically, by
# running the README's C commands as written; then runs each publisher and
# subscriber pair against a real `drift serve` on a free loopback port: the
# publisher's message must reach the subscriber.
# Usage, from anywhere: tests/c-install/run.sh
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
# The README's C section, its first two shell blocks as written: the first
# installs into "$HOME/.local" (HOME is $work/home here; cargo and rustup
# keep their own homes) and builds the examples dynamically linked, the
# second statically. Each runs in its own directory, where `scripts` and
# `examples` link to the checkout's. What they would then run by hand, a
# subscriber and a publisher on the default port, is done by check below.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
prefix="$work/home/.local"
readme_block() { # the Nth ```sh block of the README section "## C"
  awk -v want="$1" '
    /^## / { in_c = ($0 == "## C") }
    in_c && /^```sh$/ { n++; inside = 1; next }
    inside && /^```$/ { inside = 0; next }
    inside && n == want && !/^(\.\/|echo )/ { print }
  ' README.md
}
dynamic_block=$(readme_block 1)
static_block=$(readme_block 2)
grep -q '^scripts/install-c ' <<<"$dynamic_block" || fail "README's C block does not run scripts/install-c"
[ "$(grep -c '^cc .*pkg-config' <<<"$dynamic_block")" = 2 ] || fail "README's C block does not build both examples"
[ "$(grep -c '^cc .*pkg-config --static' <<<"$static_block")" = 2 ] || fail "README's static block does not build both examples"
for link in dynamic static; do
  mkdir -p "$work/$link"
  ln -s "$PWD/scripts" "$PWD/examples" "$work/$link/"
done
start=$SECONDS
(
  export HOME="$work/home"
  mkdir -p "$HOME"
  cd "$work/dynamic"
  printf 'set -euo pipefail\n%s\ncd ../static\n%s\n' "$dynamic_block" "$static_block" >"$work/readme-c.sh"
  bash "$work/readme-c.sh"
)
echo "the README's C blocks (scripts/install-c and four cc) took $((SECONDS - start)) s"

# The layout of the install, and the ABI version in the SONAME.
[ -f "$prefix/lib/libdrift.so.0" ] || fail "no lib/libdrift.so.0"
[ "$(readlink "$prefix/lib/libdrift.so")" = libdrift.so.0 ] || fail "lib/libdrift.so is not a link to libdrift.so.0"
[ -f "$prefix/lib/libdrift.a" ] || fail "no lib/libdrift.a"
cmp -s "$prefix/include/drift.h" include/drift.h || fail "include/drift.h differs from the repository's"
readelf -d "$prefix/lib/libdrift.so.0" | grep -q '(SONAME).*\[libdrift\.so\.0\]' ||
  fail "libdrift.so.0 has not the SONAME libdrift.so.0"
[ "$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --modversion drift)" = \
  "$(cargo pkgid -p drift-ffi | sed 's/.*[#@]//')" ] || fail "drift.pc has not the crate's version"

# What each block built: the dynamic programs load libdrift.so.0 (found
# through LD_LIBRARY_PATH, as the README exports), the static ones contain
# libdrift.a.
for name in publisher subscriber; do
  readelf -d "$work/dynamic/$name" | grep -q 'NEEDED.*\[libdrift\.so\.0\]' ||
    fail "the dynamic $name does not load libdrift.so.0"
  if readelf -d "$work/static/$name" | grep -q 'NEEDED.*libdrift'; then
    fail "the static $name loads libdrift.so; it should contain libdrift.a"
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

# Publishes a line with LINK/publisher, then expects LINK/subscriber to
# print it (replayed from the topic's history), and to stop on Ctrl-C.
check() {
  local link=$1 topic="c-install-$1" text="hello from C, $1"
  local out
  out=$(echo "$text" | timeout 60 "$work/$link/publisher" "$topic" "$url" "$cert") ||
    fail "the $link publisher failed: $out"
  [[ $out == "published "*"-1 ("*" bytes) to $topic" ]] || fail "the $link publisher printed: $out"

  exec 4< <(exec "$work/$link/subscriber" "$topic" "$url" "$cert" 10 2>"$work/sub.err")
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
  [ -n "$got" ] || fail "the $link subscriber did not print '$text': $(cat "$work/sub.err")"
  [ "$rc" = 0 ] || fail "the $link subscriber exited $rc on Ctrl-C: $(cat "$work/sub.err")"
  echo "examples/c linked $link: the subscriber got the publisher's message"
}

LD_LIBRARY_PATH="$prefix/lib" check dynamic
check static
