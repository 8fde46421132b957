package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(AuthBearer{})
}

// AuthBearer accepts `Authorization: Bearer <token>`, as Tess and most
// management APIs send it. Only the tokens' SHA-256 hashes are kept.
// The tokens of one line are one caller: list the old and the new token
// during a rotation and open chats carry on; give two senders two lines.
type AuthBearer struct {
	// Secrets are the tokens: plain, "sha256:<hex>" (what the Caddyfile
	// adapter writes for a literal token), or a placeholder such as
	// {env.TOKEN}, resolved when the config loads.
	Secrets []string `json:"secrets,omitempty"`

	v *signing.Bearer
}

// CaddyModule returns the Caddy module information.
func (AuthBearer) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "agenthook.auth.bearer",
		New: func() caddy.Module { return new(AuthBearer) },
	}
}

// Provision resolves the tokens and builds the verifier.
func (a *AuthBearer) Provision(caddy.Context) error {
	secrets, err := resolveSecrets(a.Secrets)
	if err != nil {
		return err
	}
	a.v, err = signing.NewBearer(secrets)
	return err
}

// Verifier returns the provisioned verifier.
func (a *AuthBearer) Verifier() signing.Verifier { return a.v }

// CredentialHeaders returns Authorization.
func (*AuthBearer) CredentialHeaders() []string { return []string{"Authorization"} }

// SignsBody returns false.
func (*AuthBearer) SignsBody() bool { return false }

// UnmarshalCaddyfile reads the line. Literal tokens are hashed here, so
// the JSON config never holds them. Syntax:
//
//	auth bearer <token...>
func (a *AuthBearer) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the scheme name
	for _, tok := range d.RemainingArgs() {
		h, err := hashLiteral(tok)
		if err != nil {
			return d.Errf("auth bearer: %v", err)
		}
		a.Secrets = append(a.Secrets, h)
	}
	if len(a.Secrets) == 0 {
		return d.Err("auth bearer needs at least one token")
	}
	if d.NextBlock(d.Nesting()) {
		return d.Err("auth bearer takes no options")
	}
	return nil
}

// Interface guards
var (
	_ AuthScheme            = (*AuthBearer)(nil)
	_ caddy.Provisioner     = (*AuthBearer)(nil)
	_ caddyfile.Unmarshaler = (*AuthBearer)(nil)
)
