# shellcheck shell=bash
# Shared by the scripts in scripts/: where things are, messages, and a private bus with teed on it
# (used by scripts/demo and scripts/bench; the C++ tests have their own in tests/integration).

TEED_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TEED_BUILD_DIR=${TEED_BUILD_DIR:-$TEED_ROOT/build}
export TEED_ROOT TEED_BUILD_DIR

die() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# The built binary named $1 (teed, teectl), or nothing.
built_binary() {
  find "$TEED_BUILD_DIR" -path "$TEED_BUILD_DIR/CMakeFiles" -prune -o \
    -type f -name "$1" -perm -u+x -print -quit 2>/dev/null
}

# start_private_bus DIR
# Starts dbus-daemon on a private system-type bus (tests/integration/test-bus.conf.in, including
# the build tree's copy of the shipped policy) with its socket in DIR. Sets TEED_BUS_PID and
# TEED_BUS_ADDRESS.
start_private_bus() {
  local dir=$1
  local policy_dir=$TEED_BUILD_DIR/dbus-policy
  [ -f "$policy_dir/org.teed.Teed1.conf" ] || die "no bus policy in $policy_dir: build first (scripts/build)"
  chmod 0755 "$dir"
  sed -e "s|@TEED_BUS_DIR@|$dir|g" -e "s|@TEED_POLICY_DIR@|$policy_dir|g" \
    "$TEED_ROOT/tests/integration/test-bus.conf.in" >"$dir/bus.conf"
  # As root only the shipped policy applies; otherwise let this user run and call teed.
  mkdir -p "$dir/developer-policy"
  if ! is_root; then
    cat >"$dir/developer-policy/developer.conf" <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="$(id -un)">
    <allow own="org.teed.Teed1"/>
    <allow send_destination="org.teed.Teed1"/>
  </policy>
</busconfig>
XML
  fi
  mkfifo "$dir/address"
  dbus-daemon --config-file="$dir/bus.conf" --nofork --nopidfile --print-address=3 \
    3>"$dir/address" 2>"$dir/bus.log" &
  TEED_BUS_PID=$!
  # dbus-daemon writes its address once it listens; the read waits for it, with a deadline.
  if ! read -r -t 10 TEED_BUS_ADDRESS <"$dir/address" || [ -z "$TEED_BUS_ADDRESS" ]; then
    cat "$dir/bus.log" >&2
    die "the private bus did not start"
  fi
  export TEED_BUS_ADDRESS
}

# start_teed DIR ARGS...
# Starts the built teed on $TEED_BUS_ADDRESS with ARGS, logging to DIR/teed.log, and waits (10 s
# at most) until it owns org.teed.Teed1. Sets TEED_PID.
start_teed() {
  local dir=$1
  shift
  local teed
  teed=$(built_binary teed)
  [ -n "$teed" ] || die "teed is not built in $TEED_BUILD_DIR: run scripts/build"
  "$teed" --bus-address "$TEED_BUS_ADDRESS" "$@" >"$dir/teed.log" 2>&1 &
  TEED_PID=$!
  local deadline=$((SECONDS + 10))
  until busctl --address="$TEED_BUS_ADDRESS" status org.teed.Teed1 >/dev/null 2>&1; do
    if ! kill -0 "$TEED_PID" 2>/dev/null; then
      cat "$dir/teed.log" >&2
      die "teed exited at start"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      cat "$dir/teed.log" >&2
      die "teed did not take org.teed.Teed1 within 10 s"
    fi
    sleep 0.05
  done
}

# stop_private_bus_and_teed: for an EXIT trap.
stop_private_bus_and_teed() {
  local pid
  for pid in ${TEED_PID:-} ${TEED_BUS_PID:-}; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
