#!/usr/bin/env bash
# Soak: mixed traffic against the real binary for SECONDS (default 600 = 10 minutes), then checks
# no crash, fds back to baseline, RSS growth under 5%. CI runs a 60 s form through ctest.
#   tests/soak.sh [SECONDS] [CLIENTS]        (EDGE522_BIN defaults to build/edge522)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${EDGE522_BIN:-build/edge522}"
[ -x "$bin" ] || scripts/build.sh
exec python3 tests/load/loadcheck.py soak --bin "$bin" --seconds "${1:-600}" --n "${2:-32}"
