# shellcheck shell=sh
# Shared by the guest's /init and checks.sh (busybox sh): results, users, teed's start and stop.

# say TEXT: a line for the host's output, with the guest's uptime in seconds.
say() { echo "real-optee: [$(cut -d' ' -f1 /proc/uptime)] $*"; }

# pass NAME / fail NAME REASON: one result line each, for the host to count.
pass() { echo "@@check PASS $1"; }
fail() {
    name=$1
    shift
    echo "@@check FAIL $name $*"
}

# show FILE: a command's output, indented, under a failed check.
show() { sed 's/^/    | /' "$1"; }

# as_user USER COMMAND...: runs COMMAND with USER's uid, primary gid and groups.
as_user() {
    user=$1
    shift
    /usr/bin/setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
}

# run OUT USER COMMAND...: runs COMMAND as USER (or root) with a time limit, its output in OUT.
# Returns COMMAND's status (124 when it ran out of time).
run() {
    out=$1
    user=$2
    shift 2
    if [ "$user" = root ]; then
        timeout "${RUN_TIMEOUT:-120}" "$@" >"$out" 2>&1
    else
        timeout "${RUN_TIMEOUT:-120}" /usr/bin/setpriv --reuid="$user" --regid="$user" --init-groups -- "$@" \
            >"$out" 2>&1
    fi
}

teed_alive() {
    [ -n "${TEED_PID:-}" ] && [ -r "/proc/$TEED_PID/status" ] &&
        ! grep -q '^State:[[:space:]]*Z' "/proc/$TEED_PID/status"
}

# As systemd/teed.service runs teed: User=teed, Group=teed, only CAP_SETUID and CAP_SETGID
# (ambient and bounding), SecureBits=no-setuid-fixup no-setuid-fixup-locked, NoNewPrivileges=yes,
# UMask=0077. Its standard error (its log, there being no journal) goes to /tmp/teed.log.
start_teed() {
    (
        umask 077
        cd /
        exec /usr/bin/setpriv --reuid=teed --regid=teed --init-groups \
            --inh-caps=-all,+setuid,+setgid --ambient-caps=-all,+setuid,+setgid \
            --bounding-set=-all,+setuid,+setgid \
            --securebits=+no_setuid_fixup,+no_setuid_fixup_locked --no-new-privs \
            -- /usr/sbin/teed
    ) >/tmp/teed.log 2>&1 &
    TEED_PID=$!
    # Ready once it answers on the bus (what Type=notify's READY=1 would say).
    i=0
    while [ $i -lt 300 ]; do
        if ! teed_alive; then
            fail teed-start "teed exited at start"
            show /tmp/teed.log
            return 1
        fi
        if teectl status >/tmp/status.out 2>&1; then
            say "teed is up (pid $TEED_PID, $(grep '^status' /tmp/status.out))"
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    fail teed-start "teed did not answer on the system bus within 30 s"
    show /tmp/status.out
    show /tmp/teed.log
    return 1
}

# Stops teed as systemd would (SIGTERM, then SIGKILL after 30 s) and checks that it exits 0.
stop_teed() {
    [ -n "${TEED_PID:-}" ] || return 0
    if ! teed_alive; then
        wait "$TEED_PID"
        fail teed-stop "teed was no longer running before the stop (exit status $?)"
        TEED_PID=
        return 1
    fi
    kill -TERM "$TEED_PID"
    (sleep 30 && kill -KILL "$TEED_PID") 2>/dev/null &
    watchdog=$!
    wait "$TEED_PID"
    status=$?
    kill "$watchdog" 2>/dev/null
    TEED_PID=
    case $status in
    0) pass teed-stop ;;
    137) fail teed-stop "teed did not stop within 30 s of SIGTERM and was killed" ;;
    *) fail teed-stop "teed exited with status $status after SIGTERM" ;;
    esac
}
