// Package agenthook puts AI agent backends behind webhooks, as Caddy v2 modules.
//
// Build Caddy with it:
//
//	xcaddy build --with github.com/agenthook/agenthook
//
// The modules themselves live in package caddymodule; importing this package
// registers them.
package agenthook

import _ "github.com/agenthook/agenthook/caddymodule"
