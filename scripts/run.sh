#!/usr/bin/env bash
# Installs what is missing (Debian 12, apt), builds, and serves edge522 in the foreground.
#   scripts/run.sh                     the embedded default: 127.0.0.1:8080 -> origin 127.0.0.1:3000
#   scripts/run.sh --config FILE       any other arguments are passed to edge522
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/install-deps.sh"
"$here/build.sh"
exec "$here/../${BUILD_DIR:-build}/edge522" "$@"
