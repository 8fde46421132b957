package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(AuthBasic{})
}

// AuthBasic checks `Authorization: Basic` against password hashes, as
// Treasure Data's Agent Foundry sends it. Unknown users cost the same
// time as known ones. Each user is a caller of its own
// (<endpoint>/basic#<n>/<user>).
type AuthBasic struct {
	// Users are the accounts.
	Users []BasicUserConfig `json:"users,omitempty"`
	// Realm is sent in WWW-Authenticate. Default "agenthook".
	Realm string `json:"realm,omitempty"`

	v *signing.Basic
}

// BasicUserConfig is one Basic-auth user.
type BasicUserConfig struct {
	Username string `json:"username"`
	// Password is a bcrypt or argon2id hash, as `caddy hash-password`
	// makes, or a placeholder holding one.
	Password string `json:"password"`
}

// CaddyModule returns the Caddy module information.
func (AuthBasic) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "agenthook.auth.basic",
		New: func() caddy.Module { return new(AuthBasic) },
	}
}

// Provision resolves the hashes and builds the verifier.
func (a *AuthBasic) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	users := make([]signing.BasicUser, len(a.Users))
	for i, u := range a.Users {
		hash, err := resolveSecret(repl, u.Password)
		if err != nil {
			return fmt.Errorf("user %s: %w", u.Username, err)
		}
		users[i] = signing.BasicUser{Username: u.Username, Hash: hash}
	}
	var err error
	a.v, err = signing.NewBasic(a.Realm, users)
	return err
}

// Verifier returns the provisioned verifier.
func (a *AuthBasic) Verifier() signing.Verifier { return a.v }

// CredentialHeaders returns Authorization.
func (*AuthBasic) CredentialHeaders() []string { return []string{"Authorization"} }

// SignsBody returns false.
func (*AuthBasic) SignsBody() bool { return false }

// UnmarshalCaddyfile reads the line. Syntax:
//
//	auth basic [<realm>] {
//		<user> <hash>
//	}
//
// Each hash is a bcrypt or argon2id hash, as `caddy hash-password` makes.
func (a *AuthBasic) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the scheme name
	if d.NextArg() {
		a.Realm = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		user := d.Val()
		var hash string
		if !d.AllArgs(&hash) {
			return d.Errf("basic user %s needs a bcrypt or argon2id hash (make one with `caddy hash-password`)", user)
		}
		for _, u := range a.Users {
			if u.Username == user {
				return d.Errf("basic user %s already specified", user)
			}
		}
		a.Users = append(a.Users, BasicUserConfig{Username: user, Password: hash})
	}
	if len(a.Users) == 0 {
		return d.Err("auth basic needs at least one user in a block: { <user> <hash> }")
	}
	return nil
}

// Interface guards
var (
	_ AuthScheme            = (*AuthBasic)(nil)
	_ caddy.Provisioner     = (*AuthBasic)(nil)
	_ caddyfile.Unmarshaler = (*AuthBasic)(nil)
)
