#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this).
#
# Needs Go (any version: the go command fetches Go 1.27.3, see GOTOOLCHAIN
# below), the PostgreSQL server binaries (initdb, pg_ctl, postgres) and
# Chromium (the dashboard's browser test), which it installs from Debian's
# packages if they are missing. It builds
# its own Caddy with agenthook once, into a temporary directory removed on
# exit, starts its own PostgreSQL on a loopback port (as the unprivileged
# user "postgres" when run as root), and stops everything it started.
#
# Steps: gofmt, go vet, staticcheck, govulncheck, build Caddy, unit tests
# (race detector), end-to-end tests, fuzzing; each prints its time, and a
# summary of all of them ends the run.
#
# Environment:
#   GOTOOLCHAIN       Go to build and test with (default go1.27.3)
#   AGENTHOOK_PG_DSN  an existing PostgreSQL server to use instead
#   AGENTHOOK_CHROMIUM  the browser the dashboard test drives (default:
#                     chromium on PATH)
#   FUZZTIME          how long each fuzz target runs (default 5s)
#   GOVULNDB          vulnerability database for govulncheck (default: one
#                     built from the golang.org/x/vulndb module pinned below,
#                     cached in ${XDG_CACHE_HOME:-~/.cache}/agenthook/vulndb)
set -euo pipefail
cd "$(dirname "$0")"

# This machine's go may ignore go.mod's toolchain line (GOTOOLCHAIN=local);
# ask for the toolchain explicitly unless the caller chose one.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
FUZZTIME="${FUZZTIME:-5s}"
# The Go vulnerability database, as the golang.org/x/vulndb module holds it
# (newest: go list -m golang.org/x/vulndb@latest).
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
# xcaddy's default build tags, as in xcaddy.sh and internal/testkit.
CADDY_TAGS=nobadger,nomysql,nopgx

work="$(mktemp -d "${TMPDIR:-/tmp}/agenthook-test.XXXXXX")"
run_start=$SECONDS
step_name=""
step_start=0
times=()
passed=""

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

end_step() {
	[ -n "$step_name" ] || return 0
	local d=$((SECONDS - step_start))
	times+=("$(printf '%8s  %s' "$(fmt_secs "$d")" "$step_name")")
	printf -- '-- %s (%s)\n' "$step_name" "$(fmt_secs "$d")"
	step_name=""
}

step() {
	end_step
	step_name="$*"
	step_start=$SECONDS
	printf '\n== %s\n' "$*"
}

finish() {
	local rc=$?
	local failed="$step_name"
	end_step
	rm -rf "$work"
	printf '\n== step times\n'
	printf '%s\n' "${times[@]}"
	printf '%8s  total\n' "$(fmt_secs $((SECONDS - run_start)))"
	if [ "$rc" = 0 ] && [ -n "$passed" ]; then
		printf '\nall tests passed\n'
	elif [ "$rc" != 0 ]; then
		printf '\nFAILED in: %s\n' "${failed:-setup}"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM HUP

# The PostgreSQL tests must run, not skip: install the server if it is missing.
export AGENTHOOK_REQUIRE_PG=1
if [ -z "${AGENTHOOK_PG_DSN:-}" ] && ! command -v initdb >/dev/null 2>&1 &&
	! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	step "installing the PostgreSQL server"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# The dashboard's browser test must run, not skip: install Chromium if it
# is missing (AGENTHOOK_SKIP_BROWSER is never set here).
unset AGENTHOOK_SKIP_BROWSER
if [ -z "${AGENTHOOK_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 &&
	! command -v chromium-browser >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then
	step "installing Chromium"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

step "Go toolchain ($GOTOOLCHAIN; the first use downloads it)"
go version

step "gofmt"
# The toolchain's own gofmt, not whichever is first on PATH.
unformatted="$("$(go env GOROOT)/bin/gofmt" -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [ -n "$unformatted" ]; then
	echo "not gofmt'd:"
	echo "$unformatted"
	exit 1
fi

step "go vet"
go vet ./...

step "staticcheck (go tool staticcheck, default checks)"
go tool staticcheck ./...

step "govulncheck (vulnerabilities our code reaches)"
db="${GOVULNDB:-}"
if [ -z "$db" ]; then
	cache="${XDG_CACHE_HOME:-$HOME/.cache}/agenthook/vulndb"
	dbdir="$cache/$VULNDB_VERSION"
	if [ ! -f "$dbdir/index/modules.json" ]; then
		echo "building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION into $dbdir"
		# Downloaded outside this module, so go.mod and go.sum stay as they are.
		src="$(cd "$work" && GOWORK=off go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
		if [ ! -d "$src/data/osv" ]; then
			echo "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv directory (at '$src')"
			exit 1
		fi
		mkdir -p "$cache"
		# Built aside and moved into place, so that a run beside this one
		# never reads half a database.
		tmp="$(mktemp -d "$cache/.build.XXXXXX")"
		go run ./internal/tools/vulndbindex -osv "$src/data/osv" -out "$tmp/db"
		mv -T "$tmp/db" "$dbdir" 2>/dev/null || true # another run may have won
		rm -rf "$tmp"
		# Databases of other vulndb versions, and builds cut short, over an hour old.
		find "$cache" -mindepth 1 -maxdepth 1 \( -name 'v*' ! -name "$VULNDB_VERSION" -o -name '.build.*' \) -mmin +60 -exec rm -rf {} +
	fi
	db="file://$dbdir"
fi
# Exit status 3, failing the run, when our code calls a vulnerable function.
go tool govulncheck -db "$db" ./...

step "build Caddy with agenthook (-tags $CADDY_TAGS)"
export AGENTHOOK_CADDY="$work/caddy"
go build -tags "$CADDY_TAGS" -o "$AGENTHOOK_CADDY" ./cmd/caddy
"$AGENTHOOK_CADDY" version

step "unit and package tests (race detector)"
go test -race -count=1 -timeout 15m $(go list ./... | grep -v '/e2e$')

step "end-to-end tests against a real Caddy"
go test -count=1 -timeout 25m ./e2e/...

step "fuzz targets, ${FUZZTIME} each"
for pkg in $(go list ./...); do
	dir="$(go list -f '{{.Dir}}' "$pkg")"
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "-- $pkg $target"
		if ! out="$(go test "$pkg" -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" 2>&1)"; then
			echo "$out"
			exit 1
		fi
	done
done

end_step
passed=1
