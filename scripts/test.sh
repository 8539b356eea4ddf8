#!/usr/bin/env bash
# Installs what is missing (Debian 12, apt), builds, and runs every test (ctest): unit tests and
# loopback integration tests against the real binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/install-deps.sh"
"$here/build.sh"
cd "$here/../${BUILD_DIR:-build}"
ctest --output-on-failure -j2 --timeout 180 "$@"
