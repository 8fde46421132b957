// Package demo holds the stand-ins that Caddyfile.example runs beside
// agenthook: a demo agent backend (agenthook_demo_agent) and a demo
// callback receiver (agenthook_demo_sink). They exist so that the README's
// examples work on a fresh machine; they are not for production.
//
// The package is apart from caddymodule so that production builds never
// carry them: `xcaddy build --with github.com/agenthook/agenthook` imports
// the root package, which does not import this one. The demo build
// (cmd/caddy, and xcaddy.sh) imports it explicitly.
package demo
