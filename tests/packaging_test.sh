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
start_teed "$work" --simulate --no-hardware
output=$("$work/hello_world" "$TEED_BUS_ADDRESS")
echo "$output"
[ "$output" = "42 -> 43" ] || die "unexpected output: $output"
