package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(AuthStandardWebhooks{})
}

// AuthStandardWebhooks checks Standard Webhooks signatures (webhook-id,
// webhook-timestamp, webhook-signature; Svix's svix-* names too): v1 with
// whsec_ secrets, v1a with whpk_ ed25519 public keys. The webhook-id
// names the message: a duplicate of an accepted one gets the first
// answer. The keys of one line are one caller across a rotation.
type AuthStandardWebhooks struct {
	// Secrets are whsec_ secrets and whpk_ public keys; placeholders are
	// resolved when the config loads.
	Secrets []string `json:"secrets,omitempty"`
	// Tolerance bounds webhook-timestamp's distance from now. Default 5m.
	Tolerance caddy.Duration `json:"tolerance,omitempty"`

	v *signing.StandardWebhooks
}

// CaddyModule returns the Caddy module information.
func (AuthStandardWebhooks) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "agenthook.auth.standard_webhooks",
		New: func() caddy.Module { return new(AuthStandardWebhooks) },
	}
}

// Provision resolves the keys and builds the verifier.
func (a *AuthStandardWebhooks) Provision(caddy.Context) error {
	secrets, err := resolveSecrets(a.Secrets)
	if err != nil {
		return err
	}
	a.v, err = signing.NewStandardWebhooks(secrets, time.Duration(a.Tolerance))
	return err
}

// Verifier returns the provisioned verifier.
func (a *AuthStandardWebhooks) Verifier() signing.Verifier { return a.v }

// CredentialHeaders returns the signature headers; the id and timestamp
// are no secret and stay, for the backend to read.
func (*AuthStandardWebhooks) CredentialHeaders() []string {
	return []string{"Webhook-Signature", "Svix-Signature"}
}

// SignsBody returns true.
func (*AuthStandardWebhooks) SignsBody() bool { return true }

// UnmarshalCaddyfile reads the line. Syntax:
//
//	auth standard_webhooks <whsec_...|whpk_...>... [{
//		tolerance <duration>
//	}]
func (a *AuthStandardWebhooks) UnmarshalCaddyfile(d *caddyfile.Dispenser) (err error) {
	d.Next() // the scheme name
	if a.Secrets, err = secretArgs(d, "standard_webhooks"); err != nil {
		return err
	}
	return toleranceBlock(d, "standard_webhooks", &a.Tolerance)
}

// Interface guards
var (
	_ AuthScheme            = (*AuthStandardWebhooks)(nil)
	_ caddy.Provisioner     = (*AuthStandardWebhooks)(nil)
	_ caddyfile.Unmarshaler = (*AuthStandardWebhooks)(nil)
)
