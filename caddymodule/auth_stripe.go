package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(AuthStripe{})
}

// AuthStripe checks Stripe's webhook signature, Stripe-Signature:
// t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">, within a tolerance.
// Each signed attempt is a message: a duplicate of an accepted one gets
// the first answer. The secrets of one line are one caller.
type AuthStripe struct {
	// Secrets are the endpoint secrets (whsec_…); placeholders are
	// resolved when the config loads.
	Secrets []string `json:"secrets,omitempty"`
	// Tolerance bounds the signed time's distance from now. Default 300s.
	Tolerance caddy.Duration `json:"tolerance,omitempty"`

	v *signing.Stripe
}

// CaddyModule returns the Caddy module information.
func (AuthStripe) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "agenthook.auth.stripe",
		New: func() caddy.Module { return new(AuthStripe) },
	}
}

// Provision resolves the secrets and builds the verifier.
func (a *AuthStripe) Provision(caddy.Context) error {
	secrets, err := resolveSecrets(a.Secrets)
	if err != nil {
		return err
	}
	a.v, err = signing.NewStripe(secrets, time.Duration(a.Tolerance))
	return err
}

// Verifier returns the provisioned verifier.
func (a *AuthStripe) Verifier() signing.Verifier { return a.v }

// CredentialHeaders returns Stripe-Signature.
func (*AuthStripe) CredentialHeaders() []string { return []string{"Stripe-Signature"} }

// SignsBody returns true.
func (*AuthStripe) SignsBody() bool { return true }

// UnmarshalCaddyfile reads the line. Syntax:
//
//	auth stripe <secret...> [{
//		tolerance <duration>
//	}]
func (a *AuthStripe) UnmarshalCaddyfile(d *caddyfile.Dispenser) (err error) {
	d.Next() // the scheme name
	if a.Secrets, err = secretArgs(d, "stripe"); err != nil {
		return err
	}
	return toleranceBlock(d, "stripe", &a.Tolerance)
}

// Interface guards
var (
	_ AuthScheme            = (*AuthStripe)(nil)
	_ caddy.Provisioner     = (*AuthStripe)(nil)
	_ caddyfile.Unmarshaler = (*AuthStripe)(nil)
)
