#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this).
#
# Needs Go and the PostgreSQL server binaries (initdb, pg_ctl, postgres),
# which it installs from Debian's packages if they are missing. It builds
# its own Caddy with agenthook, starts its own PostgreSQL on a loopback
# port (as the unprivileged user "postgres" when run as root), and stops
# everything it started. Set AGENTHOOK_PG_DSN to use an existing
# server instead. FUZZTIME sets how long each fuzz target runs (default 5s).
set -euo pipefail
cd "$(dirname "$0")"

FUZZTIME="${FUZZTIME:-5s}"

step() { printf '\n== %s\n' "$*"; }

# The PostgreSQL tests must run, not skip: install the server if it is missing.
export AGENTHOOK_REQUIRE_PG=1
if [ -z "${AGENTHOOK_PG_DSN:-}" ] && ! command -v initdb >/dev/null 2>&1 &&
	! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	step "installing the PostgreSQL server"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

step "gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [ -n "$unformatted" ]; then
	echo "not gofmt'd:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "unit and package tests (race detector)"
go test -race -count=1 -timeout 15m ./signing/... ./store/... ./handler/... ./caddymodule/...

step "end-to-end tests against a real Caddy"
go test -count=1 -timeout 25m ./e2e/...

step "fuzz targets, ${FUZZTIME} each"
for pkg in $(go list ./...); do
	dir="$(go list -f '{{.Dir}}' "$pkg")"
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "-- $pkg $target"
		if ! out="$(go test "$pkg" -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" 2>&1)"; then
			echo "$out"; exit 1
		fi
	done
done

step "all tests passed"
