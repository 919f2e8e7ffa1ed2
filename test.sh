#!/usr/bin/env bash
# The whole test suite, on any machine that has Go: installs what the tests start when it is missing
# (a C compiler for -race, PostgreSQL, Chromium, Node for DuckDB, the Temporal CLI), then runs `go test -race ./...`.
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

# The Temporal dev server of the Temporal tests (temporal/temporaltest): the CLI built from its Go module at
# the version temporaltest.CLIVersion pins (newer ones do not build here), once, into a cache kept between runs.
temporal_cli_version=v1.5.1
export COUPA_TEMPORAL_CLI="${COUPA_TEMPORAL_CLI:-$HOME/.cache/coupa-connector/bin/temporal}"
if [ ! -x "$COUPA_TEMPORAL_CLI" ]; then
  echo "test.sh: building the Temporal CLI $temporal_cli_version into $COUPA_TEMPORAL_CLI (once; about 10 minutes)"
  gobin=$(mktemp -d)
  # GOFLAGS cleared: CI's -mod=readonly is about this module, and go install pkg@version builds another one.
  GOFLAGS="" GOBIN="$gobin" go install "github.com/temporalio/cli/cmd/temporal@$temporal_cli_version"
  mkdir -p "$(dirname "$COUPA_TEMPORAL_CLI")"
  mv "$gobin/temporal" "$COUPA_TEMPORAL_CLI"
  rmdir "$gobin"
fi

exec go test -race -timeout 30m "$@" ./...
