#!/usr/bin/env bash
# Installs the build into a scratch DESTDIR, builds client/examples/hello_world.cpp against it with
# nothing but pkg-config's teed-client.pc, and runs it against teed on a private bus.
set -euo pipefail
build_dir=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TEED_BUILD_DIR=$build_dir
# shellcheck source=../scripts/lib/common.sh
. "$here/scripts/lib/common.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/teed-packaging-XXXXXX")
cleanup() {
  stop_private_bus_and_teed
  rm -rf "$work"
}
trap cleanup EXIT

DESTDIR=$work/root cmake --install "$build_dir" >/dev/null
pc=$(find "$work/root" -name teed-client.pc -print -quit)
[ -n "$pc" ] || die "teed-client.pc was not installed"
export PKG_CONFIG_PATH=${pc%/*} PKG_CONFIG_SYSROOT_DIR=$work/root
# shellcheck disable=SC2046 # pkg-config output is a list of flags
c++ "$here/client/examples/hello_world.cpp" $(pkg-config --cflags --libs --static teed-client) \
  -o "$work/hello_world"

start_private_bus "$work"
# The installed policy, plus a rule for whoever runs this (the installed one admits group tee).
shipped=$(find "$work/root" -type d -path '*/teed/policy.d' -print -quit)
[ -n "$shipped" ] || die "the shipped policy.d was not installed"
mkdir -p "$work/policy.d"
printf '{"version": 1, "rules": [{"name": "packaging-test", "match": {"users": [%s]}, "allow": {"sessions": {}}}]}\n' \
  "$(id -u)" >"$work/policy.d/90-packaging-test.json"
start_teed "$work" --simulate --no-hardware --policy-dir="$shipped" --policy-dir="$work/policy.d"
output=$("$work/hello_world" "$TEED_BUS_ADDRESS")
echo "$output"
[ "$output" = "42 -> 43" ] || die "unexpected output: $output"
