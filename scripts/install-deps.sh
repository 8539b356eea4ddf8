#!/usr/bin/env bash
# Installs the Debian 12 packages edge522 builds and tests with. Idempotent: installs only what is
# missing, so a second run does nothing and needs no network.
set -euo pipefail

# chromium and openssl are for the tests: the browser check of every error page
# (tests/integration/test_page_browser.cpp; it skips without chromium) and the openssl tool.
pkgs=(g++ cmake make libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
      libspdlog-dev libtomlplusplus-dev catch2 libssl-dev libcli11-dev python3 curl
      chromium openssl)
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(nginx haproxy wrk hyperfine)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
