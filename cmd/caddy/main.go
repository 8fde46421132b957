// Command caddy is Caddy with agenthook and its demo modules built in: the
// binary Caddyfile.example runs and the end-to-end tests use. A production
// build takes agenthook alone (`xcaddy build --with
// github.com/agenthook/agenthook`), which leaves package demo out.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/agenthook/agenthook"
	_ "github.com/agenthook/agenthook/demo"
)

func main() {
	caddycmd.Main()
}
