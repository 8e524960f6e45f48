#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into BUILD_DIR and runs one of them for a bounded time
# from a seed corpus of well-formed inputs, written by TARGET's seed script (rpc_request_fuzzer:
# rpc_request_seeds.py). Exits non-zero if the fuzzer finds a crash.
#
#   run_fuzzer.sh SOURCE_DIR BUILD_DIR TARGET [SECONDS]
# TEED_FUZZ_SECONDS overrides SECONDS (scripts/test: 30 s; TEED_LONG_TESTS=1: 600 s).
set -euo pipefail
source_dir=$1 build_dir=$2 target=$3
default_seconds=${4:-30}
[ "${TEED_LONG_TESTS:-0}" = 1 ] && default_seconds=600
seconds=${TEED_FUZZ_SECONDS:-$default_seconds}

cmake -S "$source_dir/tests/fuzz" -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=None >/dev/null
cmake --build "$build_dir" --target "$target" >/dev/null

corpus=$build_dir/$target.corpus
mkdir -p "$corpus"
python3 "$source_dir/tests/fuzz/${target%_fuzzer}_seeds.py" "$corpus"
# Crash reproducers land in the build directory, not the working directory.
"$build_dir/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$build_dir/" -print_final_stats=1 "$corpus" 2>&1 | tail -n 25
