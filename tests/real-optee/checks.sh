#!/bin/sh
# The checks of the real-OP-TEE test, run by the guest's /init with teed up (busybox sh).
# Boot 1 runs everything and leaves an object in secure storage; boot 2 (after a power-off) reads
# it back and deletes it. Each check prints one result line (lib.sh); names are unique per boot.
. /etc/real-optee/boot.conf
. /etc/real-optee/lib.sh

HELLO=8aaaf200-2450-11e4-abe2-0002a5d5c51b      # optee_examples' hello_world: INC_VALUE is 0
STORAGE=f4e750bb-1437-4fbf-8785-8d3580c34994    # secure_storage: READ_RAW 0, WRITE_RAW 1, DELETE 2
OBJECT=teed-real-optee                          # the object boot 1 writes and boot 2 reads
MEMBER=alice                                    # in group tee
OUTSIDER=mallory                                # not in group tee
TEE_GID=$(awk -F: '$1 == "tee" { print $3 }' /etc/group)

if ! teed_alive; then
    fail teed-alive "teed is not running: no checks"
    exit 0
fi

# teed runs as the unit runs it: user teed, only CAP_SETUID and CAP_SETGID, no new privileges.
teed_uid=$(awk -F: '$1 == "teed" { print $3 }' /etc/passwd)
status_file=/proc/$TEED_PID/status
if grep -q "^Uid:[[:space:]]*${teed_uid}[[:space:]]*${teed_uid}[[:space:]]*${teed_uid}[[:space:]]*${teed_uid}\$" "$status_file" &&
    grep -q '^CapEff:[[:space:]]*00000000000000c0$' "$status_file" &&
    grep -q '^CapAmb:[[:space:]]*00000000000000c0$' "$status_file" &&
    grep -q '^CapBnd:[[:space:]]*00000000000000c0$' "$status_file" &&
    grep -q '^NoNewPrivs:[[:space:]]*1$' "$status_file"; then
    pass teed-credentials
else
    fail teed-credentials "teed does not run as teed.service would"
    grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs)' "$status_file" | sed 's/^/    | /'
fi

# --- devices -----------------------------------------------------------------------------------
# teectl devices: NAME IMPLEMENTATION CAPABILITIES SIMULATED DEVICE
run /tmp/devices.out "$MEMBER" teectl devices
sed 's/^/    /' /tmp/devices.out
DEV=$(awk 'NR > 1 && $2 == "optee" && $4 == "no" { print $1; exit }' /tmp/devices.out)
# On the optee rig OP-TEE is the only TEE, tee0. On the tstee rig arm-tstee.ko is loaded before
# optee.ko and its two partitions take tee0 and tee1, so OP-TEE is tee2. (The kernel's TEE class
# devices have no parent in sysfs that would tell.)
expected_dev=tee0
[ "$RIG" = tstee ] && expected_dev=tee2
if [ -n "$DEV" ] && [ "$DEV" = "$expected_dev" ] && ! awk 'NR > 1 && $4 != "no"' /tmp/devices.out | grep -q .; then
    pass devices
else
    fail devices "expected $expected_dev as a non-simulated optee device (got '${DEV:-none}')"
fi
[ -n "$DEV" ] || DEV=${expected_dev:-tee0}
say "OP-TEE is $DEV"

# --- hello_world through teed --------------------------------------------------------------------
# check_invoke NAME EXPECTED_RC PATTERN USER teectl-args...: teectl's status and a line of its output.
check_invoke() {
    name=$1 want_rc=$2 pattern=$3 user=$4
    shift 4
    run "/tmp/$name.out" "$user" teectl "$@"
    rc=$?
    if [ "$rc" = "$want_rc" ] && grep -q -- "$pattern" "/tmp/$name.out"; then
        pass "$name"
    else
        fail "$name" "teectl $* as $user: status $rc, expected $want_rc and '$pattern'"
        show "/tmp/$name.out"
    fi
}

check_invoke hello-world 0 'param 0: value a=43 b=0' "$MEMBER" \
    invoke "$HELLO" 0 --device "$DEV" --value-inout 42
# Without --device teed has to pick the device that can serve the TA.
check_invoke hello-world-any-device 0 'param 0: value a=1001 b=0' "$MEMBER" \
    invoke "$HELLO" 0 --value-inout 1000

# USER and GROUP logins: teed opens the session on a thread that has taken the client's
# credentials, so the kernel derives the member's identity, not teed's.
check_invoke login-user 0 'param 0: value a=8 b=0' "$MEMBER" \
    invoke "$HELLO" 0 --device "$DEV" --login user --value-inout 7
check_invoke login-group 0 'param 0: value a=9 b=0' "$MEMBER" \
    invoke "$HELLO" 0 --device "$DEV" --login group --group "$TEE_GID" --value-inout 8

# Who may not: the bus policy refuses a user outside group tee; teed's policy refuses root.
check_invoke refused-outsider 3 'org.freedesktop.DBus.Error.AccessDenied' "$OUTSIDER" \
    invoke "$HELLO" 0 --device "$DEV" --value-inout 1
check_invoke refused-root-by-policy 3 'org.teed.Teed1.Error.AccessDenied' root \
    invoke "$HELLO" 0 --device "$DEV" --value-inout 1

# --- secure storage across the reboot, through teed's temporary memory references ----------------
if [ "$BOOT" = 1 ]; then
    check_invoke storage-write 0 'result: TEEC_SUCCESS' "$MEMBER" \
        invoke "$STORAGE" 1 --device "$DEV" --in "$OBJECT" --in "$TOKEN"
    check_invoke storage-read 0 "param 1: memref size=${#TOKEN} data=\"$TOKEN\"" "$MEMBER" \
        invoke "$STORAGE" 0 --device "$DEV" --in "$OBJECT" --out 256
    check_invoke storage-short-buffer 1 "param 1: memref size=${#TOKEN}\$" "$MEMBER" \
        invoke "$STORAGE" 0 --device "$DEV" --in "$OBJECT" --out 4
else
    check_invoke storage-read-after-reboot 0 "param 1: memref size=${#TOKEN} data=\"$TOKEN\"" \
        "$MEMBER" invoke "$STORAGE" 0 --device "$DEV" --in "$OBJECT" --out 256
    check_invoke storage-delete 0 'result: TEEC_SUCCESS' "$MEMBER" \
        invoke "$STORAGE" 2 --device "$DEV" --in "$OBJECT"
    check_invoke storage-read-deleted 1 'result: TEEC_ERROR_ITEM_NOT_FOUND' "$MEMBER" \
        invoke "$STORAGE" 0 --device "$DEV" --in "$OBJECT" --out 256
fi

# --- the optee_examples programs, unchanged, on libteec -------------------------------------------
# They open the TEE device themselves; 60-teed.rules makes it teed's alone, so they run as root.
# teed serves their TA loading and secure storage as the supplicant.
if [ "$BOOT" = 1 ]; then
    for program in /usr/bin/optee_example_*; do
        [ -x "$program" ] || continue
        name=${program##*/optee_example_}
        case "$name" in
        acipher) set -- 1024 "hello teed" ;;
        sha) set -- "hello teed" ;;
        *) set -- ;;
        esac
        say "optee_example_$name $*"
        RUN_TIMEOUT=300 run "/tmp/example-$name.out" root "$program" "$@"
        rc=$?
        if [ "$rc" = 0 ]; then
            pass "example-$name"
        else
            fail "example-$name" "$program $* as root: status $rc"
            show "/tmp/example-$name.out"
        fi
    done
fi

# --- teed's rig TA through teed-rig-client (tests/real-optee/ta, tests/real-optee/rig_client) ----
# Cancellation, 4 MiB memrefs, registered shared memory, and the identity the TA sees for USER,
# GROUP and PUBLIC logins (the kernel's UUIDv5 of the member's uid and gid). Each of its checks is
# one result here, as rig-client/NAME; rig-client is its exit status.
if [ "$BOOT" = 1 ] && [ -x /usr/bin/teed-rig-client ]; then
    if [ -f /lib/optee_armtz/767b0e2b-f3ae-4c71-96f7-4bc4bc548a8b.ta ]; then
        say "teed-rig-client --device $DEV"
        RUN_TIMEOUT=600 run /tmp/rig-client.out "$MEMBER" teed-rig-client --device "$DEV"
        rc=$?
        sed -n 's/^rig-client: PASS \([^ ]*\).*/@@check PASS rig-client\/\1/p
                s/^rig-client: FAIL \([^: ]*\): \(.*\)/@@check FAIL rig-client\/\1 \2/p' /tmp/rig-client.out
        if [ "$rc" = 0 ]; then
            pass rig-client
        else
            fail rig-client "teed-rig-client --device $DEV as $MEMBER: status $rc"
        fi
        grep -vE '^rig-client: (PASS|FAIL) ' /tmp/rig-client.out | sed 's/^/    | /'
    else
        fail rig-client "teed-rig-client is there but the rig TA is not in /lib/optee_armtz"
    fi
fi

# --- what the supplicant did ----------------------------------------------------------------------
# After the clients: requests served, none failed but the ordinary negative answers the secure
# world expects and acts on (a file that does not exist yet: teed counts those as failed and logs
# each at debug level, which teed.conf here turns on), nothing in flight, every answer taken by the
# kernel, and no shared memory left with the secure world.
# The supplicant is found by the client device's name (teectl supplicant DEV); the counters are
# still checked, on the supplicant teed reports first, when that fails.
run /tmp/supplicant.json "$MEMBER" teectl --json supplicant "$DEV"
run /tmp/supplicant.txt "$MEMBER" teectl supplicant "$DEV"
if grep -q '"counters"' /tmp/supplicant.json; then
    pass supplicant-of-device
else
    fail supplicant-of-device "teectl supplicant $DEV: $(cat /tmp/supplicant.txt)"
    run /tmp/supplicant.json "$MEMBER" teectl --json supplicant
    run /tmp/supplicant.txt "$MEMBER" teectl supplicant
    say "the counters below are those of 'teectl supplicant' without a device"
fi
echo "@@begin supplicant"
cat /tmp/supplicant.txt
echo "@@end supplicant"
sed 's/^/    /' /tmp/supplicant.txt
number() { grep -o "\"$1\":[0-9]*" /tmp/supplicant.json | awk -F: '{ sum += $2 } END { print sum + 0 }'; }
served=$(number served)
failed=$(number failed)
in_flight=$(number in_flight)
buffers=$(number shared_memory_buffers)
bytes=$(number shared_memory_bytes)
send_failures=$(number send_failures)
grep 'message="supplicant: request answered with an error"' /tmp/teed.log >/tmp/supplicant-errors.log
ordinary=$(grep -c 'level=debug' /tmp/supplicant-errors.log)
unexpected=$(grep -vc 'level=debug' /tmp/supplicant-errors.log)
sed -e 's/.*TEED_RPC_COMMAND=\([^ ]*\) TEED_TEEC_RESULT=\([^ ]*\) TEED_REASON=/\1 \2 /' /tmp/supplicant-errors.log |
    sort | uniq -c | sed 's/^ *\([0-9]*\) \(.*\)/    error answer (x\1): \2/'
if ! grep -q '"counters"' /tmp/supplicant.json; then
    fail supplicant-counters "teed reports no supplicant"
    fail supplicant-shm-released "teed reports no supplicant"
else
    if [ "$served" -gt 0 ] && [ "$failed" = "$ordinary" ] && [ "$unexpected" = 0 ] &&
        [ "$in_flight" = 0 ] && [ "$send_failures" = 0 ]; then
        pass supplicant-counters
    else
        fail supplicant-counters "served $served, failed $failed ($ordinary ordinary answers logged, $unexpected other errors), in flight $in_flight, answers not taken $send_failures"
    fi
    if [ "$buffers" = 0 ] && [ "$bytes" = 0 ]; then
        pass supplicant-shm-released
    else
        fail supplicant-shm-released "the secure world still holds $buffers buffer(s), $bytes byte(s)"
    fi
fi

# --- teed itself ---------------------------------------------------------------------------------
if teed_alive; then
    pass teed-alive
else
    fail teed-alive "teed is gone"
fi
if grep -qE 'terminate called|Segmentation fault|Aborted|AddressSanitizer|runtime error' /tmp/teed.log ||
    dmesg | grep -qE 'teed.*(segfault|unhandled)'; then
    fail teed-log-clean "teed's log or the kernel's shows a crash"
else
    pass teed-log-clean
fi
grep -E 'level=(error|warning)' /tmp/teed.log | sed 's/^/    teed: /'
exit 0
