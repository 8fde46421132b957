package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(AuthGitHub{})
}

// AuthGitHub checks GitHub's webhook signature, X-Hub-Signature-256:
// sha256=<hex HMAC-SHA256 of the body>. The secrets of one line are one
// caller across a rotation.
type AuthGitHub struct {
	// Secrets are the webhook secrets; placeholders are resolved when the
	// config loads.
	Secrets []string `json:"secrets,omitempty"`

	v *signing.GitHub
}

// CaddyModule returns the Caddy module information.
func (AuthGitHub) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "agenthook.auth.github",
		New: func() caddy.Module { return new(AuthGitHub) },
	}
}

// Provision resolves the secrets and builds the verifier.
func (a *AuthGitHub) Provision(caddy.Context) error {
	secrets, err := resolveSecrets(a.Secrets)
	if err != nil {
		return err
	}
	a.v, err = signing.NewGitHub(secrets)
	return err
}

// Verifier returns the provisioned verifier.
func (a *AuthGitHub) Verifier() signing.Verifier { return a.v }

// CredentialHeaders returns GitHub's signature headers, the legacy SHA-1
// one included.
func (*AuthGitHub) CredentialHeaders() []string {
	return []string{"X-Hub-Signature-256", "X-Hub-Signature"}
}

// SignsBody returns true.
func (*AuthGitHub) SignsBody() bool { return true }

// UnmarshalCaddyfile reads the line. Syntax:
//
//	auth github <secret...>
func (a *AuthGitHub) UnmarshalCaddyfile(d *caddyfile.Dispenser) (err error) {
	d.Next() // the scheme name
	if a.Secrets, err = secretArgs(d, "github"); err != nil {
		return err
	}
	if d.NextBlock(d.Nesting()) {
		return d.Err("auth github takes no options")
	}
	return nil
}

// Interface guards
var (
	_ AuthScheme            = (*AuthGitHub)(nil)
	_ caddy.Provisioner     = (*AuthGitHub)(nil)
	_ caddyfile.Unmarshaler = (*AuthGitHub)(nil)
)
