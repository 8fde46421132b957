package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(AuthNone{})
}

// AuthNone opens an endpoint to anyone. It has to be asked for: an
// endpoint without auth lines is refused, so that forgetting them never
// opens one by accident. It cannot be combined with other lines, and is
// the default on agenthook_status (where it is refused, to say so).
// Every caller of such an endpoint is one principal, <endpoint>/anonymous.
type AuthNone struct{}

// CaddyModule returns the Caddy module information.
func (AuthNone) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "agenthook.auth.none",
		New: func() caddy.Module { return new(AuthNone) },
	}
}

// Verifier returns nil: there is nothing to verify.
func (*AuthNone) Verifier() signing.Verifier { return nil }

// CredentialHeaders returns nothing: there are no credentials.
func (*AuthNone) CredentialHeaders() []string { return nil }

// SignsBody returns false.
func (*AuthNone) SignsBody() bool { return false }

// UnmarshalCaddyfile reads the line. Syntax:
//
//	auth none
func (*AuthNone) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the scheme name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(d.Nesting()) {
		return d.Err("auth none takes no options")
	}
	return nil
}

// Interface guards
var (
	_ AuthScheme            = (*AuthNone)(nil)
	_ caddyfile.Unmarshaler = (*AuthNone)(nil)
)
