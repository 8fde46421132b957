#!/usr/bin/env bash
# Builds ./caddy: Caddy (pinned below) with agenthook from this checkout,
# using xcaddy as pinned in go.mod (`go tool xcaddy`) and Go 1.27.3.
# Arguments go to `xcaddy build`, to add plugins such as an auth module of
# your own:
#
#	./xcaddy.sh --with example.com/agenthook-auth-header=./examples/authmodule
#
# OUTPUT names the binary (default ./caddy).
#
# What happens, and how long it takes: xcaddy writes a throwaway Go module
# in a temporary directory that imports Caddy and agenthook, resolves the
# versions there (go get, go mod tidy: seconds once the module cache holds
# them), then runs ONE long `go build ... -tags nobadger,nomysql,nopgx`.
# That build compiles Caddy, agenthook and the 160-odd modules they need:
# several minutes on a fresh machine with 2 cores (about 4 idle, 10 to 15
# when the cores are busy with other work); seconds once Go's build cache is
# warm, when xcaddy's module resolution (about 20 s) is most of the time.
# go build prints nothing until it is done, so this script prints the
# elapsed time every 20 seconds.
#
# The tags are xcaddy's defaults. They leave out database drivers of
# smallstep/nosql, the library under Caddy's internal CA: its Badger v1/v2,
# MySQL and PostgreSQL (pgx) drivers, which Caddy never uses (its ACME
# server keeps its state in bbolt). agenthook's own Badger v4 store and its
# pgx PostgreSQL store are separate packages and always compiled in.
#
# Environment: CADDY_VERSION (default below), GOTOOLCHAIN (default
# go1.27.3), and xcaddy's own (XCADDY_GO_BUILD_FLAGS replaces its default
# flags, tags included).
set -euo pipefail
cd "$(dirname "$0")"

# This machine's go may ignore go.mod's toolchain line (GOTOOLCHAIN=local);
# ask for the toolchain explicitly unless the caller chose one. xcaddy's go
# commands inherit it.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
OUTPUT="${OUTPUT:-./caddy}"
VERSION="$(sed -n 's/^const Version = "\(.*\)"$/\1/p' version.go)"
if [ -z "$VERSION" ]; then
	echo "xcaddy.sh: no 'const Version = \"...\"' in version.go" >&2
	exit 1
fi

# Plugins given as --with <module>=<dir> without a version make xcaddy run
# `go get <module>` before applying its replace. A module proxy that
# answers 403 (not 404) for modules it does not hold stops that `go get`;
# falling through ('|') to an empty local proxy lets Go go on to the
# replace. (agenthook itself is given with its version, below.)
empty_proxy="$(mktemp -d)"
first_proxy="$(go env GOPROXY | cut -d, -f1 | cut -d'|' -f1)"
if [ "$first_proxy" = "off" ] || [ "$first_proxy" = "direct" ]; then
	first_proxy="https://proxy.golang.org"
fi
export GOPROXY="${first_proxy}|file://${empty_proxy}"

# The commit being built, for the last line of output.
commit=""
if git rev-parse --short HEAD >/dev/null 2>&1; then
	commit=" (commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ', with uncommitted changes'))"
fi

# The demo agent and receiver of Caddyfile.example: a one-file module that
# imports agenthook/demo, so that production builds (--with
# github.com/agenthook/agenthook alone) never carry them. DEMO=0 leaves
# them out of ./caddy too.
demo=()
if [ "${DEMO:-1}" != 0 ]; then
	demo=(--with "github.com/agenthook/agenthook/demo/plugin@v${VERSION}=./demo/plugin")
fi

ticker=""
trap '[ -z "$ticker" ] || kill "$ticker" 2>/dev/null || true; rm -rf "$empty_proxy"' EXIT
trap 'exit 130' INT TERM HUP

echo "xcaddy.sh: building $OUTPUT: Caddy $CADDY_VERSION + agenthook v$VERSION (this checkout) with $(go version | cut -d' ' -f3)."
echo "xcaddy.sh: xcaddy's 'go build' prints nothing while it compiles: several minutes the first time, seconds"
echo "           once Go's build cache is warm. Its -tags nobadger,nomysql,nopgx drop database drivers that Caddy's"
echo "           internal CA never uses; agenthook's own Badger v4 and pgx stores are always built in."

start=$SECONDS
(
	while sleep 20; do
		s=$((SECONDS - start))
		printf 'xcaddy.sh: %dm%02ds, still building\n' $((s / 60)) $((s % 60))
	done
) &
ticker=$!

# @v$VERSION=. : agenthook from this directory, recorded in the build info
# as version v$VERSION. xcaddy replaces that version with this directory
# before its `go get`, so no module proxy is asked for agenthook (one that
# answers 403 for modules it lacks would stop the build). Without a version,
# Go would ask the proxy, then record v0.0.0-00010101000000-000000000000.
go tool xcaddy build "$CADDY_VERSION" \
	--output "$OUTPUT" \
	--with "github.com/agenthook/agenthook@v${VERSION}=." \
	"${demo[@]}" \
	"$@"

kill "$ticker" 2>/dev/null || true
ticker=""
s=$((SECONDS - start))
printf '\nxcaddy.sh: built %s in %dm%02ds\n' "$OUTPUT" $((s / 60)) $((s % 60))

# xcaddy has just printed `caddy version`; add agenthook's.
echo "agenthook v$VERSION$commit; its modules:"
"$OUTPUT" list-modules --versions --skip-standard | grep agenthook || true
