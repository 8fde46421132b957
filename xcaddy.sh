#!/usr/bin/env bash
# Builds ./caddy: Caddy (pinned below) with agenthook from this checkout,
# using xcaddy as pinned in go.mod (`go tool xcaddy`). Arguments go to
# `xcaddy build`, to add plugins such as an auth module of your own:
#
#	./xcaddy.sh --with example.com/agenthook-auth-header=./examples/authmodule
#
# OUTPUT names the binary (default ./caddy).
set -euo pipefail
cd "$(dirname "$0")"

CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
OUTPUT="${OUTPUT:-./caddy}"

# xcaddy runs `go get github.com/agenthook/agenthook` before applying its
# replace to this directory. A module proxy that answers 403 (not 404) for
# modules it does not hold stops that `go get`; falling through ('|') to an
# empty local proxy lets Go go on to the replace.
empty_proxy="$(mktemp -d)"
trap 'rm -rf "$empty_proxy"' EXIT
first_proxy="$(go env GOPROXY | cut -d, -f1 | cut -d'|' -f1)"
if [ "$first_proxy" = "off" ] || [ "$first_proxy" = "direct" ]; then
	first_proxy="https://proxy.golang.org"
fi
export GOPROXY="${first_proxy}|file://${empty_proxy}"

go tool xcaddy build "$CADDY_VERSION" \
	--output "$OUTPUT" \
	--with github.com/agenthook/agenthook=. \
	"$@"

"$OUTPUT" version
"$OUTPUT" list-modules | grep -E '^(agenthook|http\.handlers\.agenthook)' || true
