#!/usr/bin/env bash
# Installs the Debian 12 packages edge522 builds and tests with. Idempotent: installs only what is
# missing, so a second run does nothing and needs no network.
set -euo pipefail

#   install-deps.sh           what building and serving need (scripts/run.sh)
#   install-deps.sh --test    plus what the tests need (scripts/test.sh): chromium for the browser
#                             check of every error page (tests/integration/test_page_browser.cpp),
#                             openssl for certificates, clang-14 + its runtime for the fuzzers
#   install-deps.sh --bench   plus the peers and load tools of bench/ (valgrind, strace and perf for
#                             bench/instructions.sh)
pkgs=(g++ cmake make libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
      libspdlog-dev libtomlplusplus-dev catch2 libssl-dev libcli11-dev libmimalloc-dev python3 curl)
case "${1:-}" in
  --test) pkgs+=(chromium openssl clang-14 libclang-rt-14-dev) ;;
  --bench) pkgs+=(nginx haproxy wrk hyperfine valgrind strace linux-perf) ;;
esac

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
