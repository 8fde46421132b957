package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(AuthHMAC{})
}

// AuthHMAC checks an HMAC of the raw body in one header, in any shape:
// UPTIQ's by default (x-signature, hex of HMAC-SHA256). The secrets of
// one line are one caller across a rotation; give two senders two lines.
type AuthHMAC struct {
	// Secrets are the keys; placeholders are resolved when the config
	// loads.
	Secrets []string `json:"secrets,omitempty"`

	// Header, Algorithm, Encoding and Prefix shape the signature.
	// Defaults: x-signature, sha256, hex, no prefix.
	Header    string `json:"header,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Prefix    string `json:"prefix,omitempty"`

	v *signing.HMAC
}

// CaddyModule returns the Caddy module information.
func (AuthHMAC) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "agenthook.auth.hmac",
		New: func() caddy.Module { return new(AuthHMAC) },
	}
}

// Provision resolves the secrets and builds the verifier.
func (a *AuthHMAC) Provision(caddy.Context) error {
	secrets, err := resolveSecrets(a.Secrets)
	if err != nil {
		return err
	}
	a.v, err = signing.NewHMAC(signing.HMACConfig{Secrets: secrets, Header: a.Header, Algorithm: a.Algorithm, Encoding: a.Encoding, Prefix: a.Prefix})
	return err
}

// Verifier returns the provisioned verifier.
func (a *AuthHMAC) Verifier() signing.Verifier { return a.v }

// CredentialHeaders returns the signature header.
func (a *AuthHMAC) CredentialHeaders() []string {
	return []string{or(a.Header, "X-Signature")}
}

// SignsBody returns true.
func (*AuthHMAC) SignsBody() bool { return true }

// UnmarshalCaddyfile reads the line. Syntax:
//
//	auth hmac <secret...> [{
//		header <name>
//		algorithm sha1|sha256|sha512
//		encoding hex|base64
//		prefix <prefix>
//	}]
func (a *AuthHMAC) UnmarshalCaddyfile(d *caddyfile.Dispenser) (err error) {
	d.Next() // the scheme name
	if a.Secrets, err = secretArgs(d, "hmac"); err != nil {
		return err
	}
	return unmarshalHMACOptions(d, &a.Header, &a.Algorithm, &a.Encoding, &a.Prefix)
}

// Interface guards
var (
	_ AuthScheme            = (*AuthHMAC)(nil)
	_ caddy.Provisioner     = (*AuthHMAC)(nil)
	_ caddyfile.Unmarshaler = (*AuthHMAC)(nil)
)
