#!/usr/bin/env bash
# ThreadSanitizer run of the multi-worker tests (threads = 2: admin metrics collection, reload,
# drain, soak) in build-tsan/. Clean = no report; any report fails the run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/install-deps.sh"
BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo CMAKE_ARGS="-DEDGE522_SANITIZE=thread" "$here/build.sh"
cd "$here/../build-tsan"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    ctest --output-on-failure -j2 --timeout 600 -R "${1:-admin|SIGHUP|SIGTERM|drain|soak|listener|max_connections}"
