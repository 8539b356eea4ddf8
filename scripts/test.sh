#!/usr/bin/env bash
# Installs what is missing (Debian 12, apt), builds, and runs every test (ctest): unit tests,
# loopback integration tests against the real binary, load checks; then the whole suite again
# under AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/.
#   EDGE522_SANITIZERS=0 scripts/test.sh    skip the sanitizer pass (a quicker local run)
#   EDGE522_FUZZ_SMOKE=0 scripts/test.sh    skip replaying the fuzz seed corpora (clang-14)
#   scripts/test.sh -R 522                   extra arguments go to ctest (both passes)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/.."
"$here/install-deps.sh" --test

"$here/build.sh"
(cd "$root/${BUILD_DIR:-build}" && ctest --output-on-failure -j2 --timeout 300 "$@")

if [ "${EDGE522_SANITIZERS:-1}" != 0 ]; then
    echo "== the same suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
    BUILD_DIR=build-asan BUILD_TYPE=RelWithDebInfo CMAKE_ARGS="-DEDGE522_SANITIZE=address,undefined" "$here/build.sh"
    (cd "$root/build-asan" &&
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --output-on-failure -j2 --timeout 600 "$@")
fi

if [ "${EDGE522_FUZZ_SMOKE:-1}" != 0 ]; then
    echo "== the fuzz harnesses replay their seed corpora (scripts/fuzz.sh --smoke)"
    "$here/fuzz.sh" --smoke
fi
