#!/usr/bin/env bash
# The whole test suite, on any machine that has Go: installs what the tests start when it is missing
# (a C compiler for -race, PostgreSQL, Chromium, Node for DuckDB), then runs `go test -race ./...`.
# Extra arguments go to `go test` (e.g. ./test.sh -run Sync).
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v chromium >/dev/null || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing+=(postgresql)
{ command -v node && command -v npm; } >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "test.sh: installing ${missing[*]} (Debian packages the tests start)"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

exec go test -race -timeout 30m "$@" ./...
