#!/usr/bin/env bash
# libFuzzer harnesses of tests/fuzz/ (clang-14, ASan + UBSan), built into build-fuzz/.
#
#   scripts/fuzz.sh [harness...]          fuzz each harness for FUZZ_SECONDS (default 600)
#   FUZZ_SECONDS=60 scripts/fuzz.sh       all harnesses, one minute each
#   scripts/fuzz.sh --smoke [harness...]  replay only the committed seeds once (for CI)
#   scripts/fuzz.sh --build [harness...]  build only
#   FUZZ_KEEP_GOING=1 scripts/fuzz.sh ...   go on after a finding (libFuzzer -fork=1 -ignore_crashes=1):
#                                         every crashing input is saved, for the whole FUZZ_SECONDS
#
# Harnesses: fuzz_config fuzz_request_head fuzz_origin_response fuzz_exchange fuzz_cidr.
# Each run works on build-fuzz/corpus/<harness>/ (seeded from tests/fuzz/corpus/<harness>/, grows
# across runs, never committed); crashes go to build-fuzz/artifacts/<harness>/. Exits non-zero when
# any harness found something (or a seed fails in --smoke). The HTTP harnesses take inputs up to
# 256 KiB (-max_len): a field over 64 KiB, past what Beast's fields can store, must be reachable.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-600}"
all=(fuzz_config fuzz_request_head fuzz_origin_response fuzz_exchange fuzz_cidr)

mode=fuzz
case "${1:-}" in
--smoke) mode=smoke; shift ;;
--build) mode=build; shift ;;
-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
esac
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${all[@]}")
for h in "${harnesses[@]}"; do
    [ -f "$root/tests/fuzz/$h.cpp" ] || { echo "fuzz.sh: no harness $h (tests/fuzz/$h.cpp)" >&2; exit 2; }
done

# --- toolchain (idempotent) ---------------------------------------------------------------------
CXX="${FUZZ_CXX:-clang++-14}"
if ! command -v "$CXX" >/dev/null || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    echo "fuzz.sh: installing clang-14 and libclang-rt-14-dev"
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq clang-14 libclang-rt-14-dev
fi

# --- build --------------------------------------------------------------------------------------
# The .cpp files behind the project headers that the given files include, transitively (a header
# proxy/x.hpp brings proxy/x.cpp): fuzz_exchange runs the real session, whose files change.
closure() {
    local -A seen=()
    local queue=("$@") f inc
    while [ ${#queue[@]} -gt 0 ]; do
        f=${queue[0]}
        queue=("${queue[@]:1}")
        [ -n "${seen[$f]:-}" ] && continue
        seen[$f]=1
        for inc in $(sed -n 's/^#include "\(\(config\|proxy\)\/[A-Za-z0-9_/]*\.hpp\)".*/\1/p' "$root/$f"); do
            queue+=("$inc")
            [ -f "$root/${inc%.hpp}.cpp" ] && queue+=("${inc%.hpp}.cpp")
        done
    done
    for f in "${!seen[@]}"; do [[ $f == *.cpp && $f != tests/* ]] && echo "$f"; done | sort
}
# The production files each harness needs: for the HTTP harnesses, whatever the headers they
# include bring (the session's files change); fuzz_config and fuzz_cidr, a fixed list.
sources_for() {
    case "$1" in
    fuzz_request_head|fuzz_origin_response|fuzz_exchange) closure "tests/fuzz/$1.cpp" ;;
    fuzz_config) echo config/config.cpp config/duration.cpp config/cidr.cpp proxy/access.cpp proxy/router.cpp ;;
    fuzz_cidr) echo config/cidr.cpp proxy/access.cpp ;;
    esac
}
max_len_for() {
    case "$1" in
    # 256 KiB: above max_request_header / max_response_header (the 431 and 520 paths), and room
    # for one field over 64 KiB (std::length_error from Beast's basic_fields) with the rest.
    fuzz_request_head|fuzz_origin_response|fuzz_exchange) echo 262144 ;;
    fuzz_config) echo 16384 ;;
    *) echo 4096 ;;
    esac
}
dict_for() {
    case "$1" in
    fuzz_request_head|fuzz_origin_response|fuzz_exchange) echo "$root/tests/fuzz/http.dict" ;;
    fuzz_config) echo "$root/tests/fuzz/toml.dict" ;;
    *) echo "" ;;
    esac
}

FLAGS=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
       -DBOOST_BEAST_USE_STD_STRING_VIEW -DBOOST_ASIO_NO_DEPRECATED -DEDGE522_VERSION=\"fuzz\"
       -DSPDLOG_SHARED_LIB -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -I"$root")
LIBS=(-ltomlplusplus -lboost_json -lpthread)
libs_for() {
    case "$1" in
    fuzz_request_head|fuzz_origin_response|fuzz_exchange) echo -lboost_url -lspdlog -lfmt -lssl -lcrypto ;;
    esac
}
# clang 14 cannot emit -fsanitize=function's prologue data for coroutine functions ("Cannot
# represent a difference across sections"): off for files with coroutines (the rest of UBSan stays).
coro_flags() {
    if grep -qE 'co_await|co_spawn|awaitable' "$1"; then echo -fno-sanitize=function; fi
}

# Other people edit the tree while this builds: an object is stamped with the time its compile
# started, so that a header changed during the compile makes it stale; objects are rebuilt until
# none is older than a header (else two objects could disagree on a struct layout: undefined
# behaviour that UBSan reports in the harness, not a finding).
stale() {  # stale SRC OBJ
    [ ! -f "$2" ] || [ "$root/$1" -nt "$2" ] || [ -n "$(find "$root/proxy" "$root/config" -name '*.hpp' -newer "$2" | head -1)" ]
}
build() {
    mkdir -p "$out/obj"
    local h=$1 objs=() src obj pass started
    for pass in 1 2 3 4; do
        local rebuilt=0
        objs=()
        for src in $(sources_for "$h"); do
            obj="$out/obj/$(echo "$src" | tr / _).o"
            objs+=("$obj")
            stale "$src" "$obj" || continue
            local extra=()
            # toml++ 3.3 asserts on some malformed table headers ("[\norigins]]") where it goes on to
            # report a parse error; production (RelWithDebInfo, NDEBUG) never asserts: neither do we.
            [ "$src" = config/config.cpp ] && extra=('-DTOML_ASSERT(expr)=static_cast<void>(0)')
            extra+=($(coro_flags "$root/$src"))
            echo "  CXX $src"
            started=$(date +%s.%N)
            "$CXX" "${FLAGS[@]}" "${extra[@]}" -fsanitize=fuzzer-no-link -c "$root/$src" -o "$obj.tmp.$$"
            mv "$obj.tmp.$$" "$obj"
            touch -d "@$started" "$obj"
            rebuilt=1
        done
        [ $rebuilt = 0 ] && break
    done
    if [ ! -f "$out/$h" ] || [ -n "$(find "$root/tests/fuzz" "${objs[@]}" -newer "$out/$h" | head -1)" ]; then
        echo "  LINK $h"
        started=$(date +%s.%N)
        "$CXX" "${FLAGS[@]}" $(coro_flags "$root/tests/fuzz/$h.cpp") -fsanitize=fuzzer "$root/tests/fuzz/$h.cpp" "${objs[@]}" \
            "${LIBS[@]}" $(libs_for "$h") -o "$out/$h.tmp.$$"
        mv "$out/$h.tmp.$$" "$out/$h"
        touch -d "@$started" "$out/$h"
    fi
}
mkdir -p "$out"
(
    flock 9  # two fuzz.sh at once (one per core) must not build the same objects together
    for h in "${harnesses[@]}"; do build "$h"; done
) 9>"$out/.build.lock"
[ "$mode" = build ] && exit 0

# --- smoke: every seed once ------------------------------------------------------------------------
if [ "$mode" = smoke ]; then
    status=0
    for h in "${harnesses[@]}"; do
        seeds=("$root/tests/fuzz/corpus/$h"/*)
        if "$out/$h" -runs=1 "${seeds[@]}" >"$out/$h.smoke.log" 2>&1; then
            echo "$h: ${#seeds[@]} seeds OK"
        else
            echo "$h: FAILED (see $out/$h.smoke.log)"; tail -30 "$out/$h.smoke.log"; status=1
        fi
    done
    exit $status
fi

# --- fuzz ---------------------------------------------------------------------------------------
status=0
summary=()
for h in "${harnesses[@]}"; do
    corpus="$out/corpus/$h"
    artifacts="$out/artifacts/$h"
    mkdir -p "$corpus" "$artifacts"
    cp -n "$root/tests/fuzz/corpus/$h"/* "$corpus/" 2>/dev/null || true
    dict="$(dict_for "$h")"
    # fuzz_exchange bounds a session itself (5 s); libFuzzer's -timeout is the backstop.
    timeout=10; [ "$h" = fuzz_exchange ] && timeout=30
    args=(-max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 -max_len="$(max_len_for "$h")"
          -print_final_stats=1 -artifact_prefix="$artifacts/")
    [ -n "$dict" ] && [ -f "$dict" ] && args+=(-dict="$dict")
    # Seeds that crash are saved as artifacts and skipped instead of ending the run at once.
    [ "${FUZZ_KEEP_GOING:-0}" = 1 ] && args+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    log="$out/$h.log"
    echo "$h: fuzzing for ${seconds}s (log $log)"
    start=$(date +%s)
    rc=0
    "$out/$h" "${args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}' || true)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -o 'cov: [0-9]*' || true)
    if [ -z "$execs" ]; then  # -fork: the parent's last "#N: cov: ... exec/s R ..." line
        last=$(grep -E '^#[0-9]+:' "$log" | tail -1 || true)
        execs=$(echo "$last" | sed -n 's/^#\([0-9]*\):.*/\1/p')
        rate=$(echo "$last" | sed -n 's/.*exec\/s \([0-9]*\).*/\1/p')
    fi
    crashes=$(find "$artifacts" -type f | wc -l)
    if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        found="FOUND (exit $rc, $crashes artifact(s) in $artifacts)"
        status=1
        grep -m5 -E 'ERROR: |FUZZ_CHECK|runtime error|terminate called|fuzz_exchange: ' "$log" || true
    else
        found="no findings"
    fi
    line="$h: ${took}s, ${execs:-?} execs, ${rate:-?} execs/s, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) files, $found"
    echo "$line"
    summary+=("$line")
done
echo "--- summary"
printf '%s\n' "${summary[@]}"
exit $status
