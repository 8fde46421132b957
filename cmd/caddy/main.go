// Command caddy is Caddy with agenthook built in: the same program xcaddy
// builds with `--with github.com/agenthook/agenthook`, kept here so the
// tests and `go run` need no module proxy round trip.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/agenthook/agenthook"
)

func main() {
	caddycmd.Main()
}
