// Package authheader is an example of an agenthook auth scheme that lives
// in a Go module of its own: `auth header <name> <secret...>` accepts a
// request whose header <name> holds one of the secrets, as many SaaS
// webhooks send a shared key (X-Api-Key, X-Webhook-Token).
//
// Build it into Caddy beside agenthook:
//
//	xcaddy build v2.11.9 \
//		--with github.com/agenthook/agenthook \
//		--with example.com/agenthook-auth-header=./examples/authmodule
package authheader

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agenthook/agenthook/caddymodule"
	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(Header{})
}

// scheme is the name callers' identities and KeyIDs carry: the module's
// name, `auth header`.
const scheme = "header"

// Header checks a shared secret in one request header. The secrets of
// one line are one caller, whichever of them matched (a rotation).
type Header struct {
	// Name is the header that carries the secret, such as X-Api-Key.
	Name string `json:"name,omitempty"`
	// Secrets are the accepted values; placeholders such as {env.KEY}
	// are resolved when the config loads.
	Secrets []string `json:"secrets,omitempty"`

	v *verifier
}

// CaddyModule returns the Caddy module information. The ID's namespace,
// agenthook.auth, is what makes it an auth scheme; its name is the word
// after `auth` in the Caddyfile.
func (Header) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "agenthook.auth.header",
		New: func() caddy.Module { return new(Header) },
	}
}

// Provision resolves the secrets and builds the verifier.
func (h *Header) Provision(caddy.Context) error {
	if h.Name == "" {
		return errors.New("a header name is required")
	}
	repl := caddy.NewReplacer()
	v := &verifier{header: h.Name}
	for i, s := range h.Secrets {
		secret, err := repl.ReplaceOrErr(s, true, true)
		if err != nil || strings.TrimSpace(secret) == "" {
			// Never quote the value: it is a secret.
			return fmt.Errorf("secret %d is empty or its placeholder is unknown", i+1)
		}
		sum := sha256.Sum256([]byte(secret))
		v.hashes = append(v.hashes, sum)
		v.keyIDs = append(v.keyIDs, signing.KeyIDOf(scheme, sum[:]))
	}
	if len(v.hashes) == 0 {
		return errors.New("at least one secret is required")
	}
	h.v = v
	return nil
}

// Verifier returns the provisioned verifier.
func (h *Header) Verifier() signing.Verifier { return h.v }

// CredentialHeaders returns the header, so the backend never sees it.
func (h *Header) CredentialHeaders() []string { return []string{h.Name} }

// SignsBody returns false: the secret does not depend on the body, so
// the scheme also works on agenthook_status.
func (*Header) SignsBody() bool { return false }

// UnmarshalCaddyfile reads the line. Syntax:
//
//	auth header <name> <secret...>
func (h *Header) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the scheme name
	if !d.Args(&h.Name) {
		return d.Err("auth header needs a header name and at least one secret")
	}
	h.Secrets = d.RemainingArgs()
	if len(h.Secrets) == 0 {
		return d.Err("auth header needs at least one secret")
	}
	return nil
}

// verifier is the signing.Verifier behind the module.
type verifier struct {
	header string
	hashes [][sha256.Size]byte
	keyIDs []string
}

func (*verifier) Scheme() string { return scheme }

// Verify compares the hash of the presented value with every secret's,
// to the end of the list, so timing tells nothing about which matched.
func (v *verifier) Verify(r *http.Request, _ []byte, _ time.Time) (signing.Result, error) {
	got := r.Header.Get(v.header)
	if got == "" {
		return signing.Result{}, fmt.Errorf("%s: %w", scheme, signing.ErrMissing)
	}
	sum := sha256.Sum256([]byte(got))
	match, index := 0, 0
	for i := range v.hashes {
		eq := subtle.ConstantTimeCompare(sum[:], v.hashes[i][:])
		index = subtle.ConstantTimeSelect(eq, i, index)
		match |= eq
	}
	if match != 1 {
		return signing.Result{}, fmt.Errorf("%s: %w", scheme, signing.ErrInvalid)
	}
	return signing.Result{Principal: scheme, KeyID: v.keyIDs[index]}, nil
}

// KeyIDs lets agenthook_status tell this line's callers from others.
func (v *verifier) KeyIDs() []string { return append([]string(nil), v.keyIDs...) }

// Interface guards
var (
	_ caddymodule.AuthScheme = (*Header)(nil)
	_ caddy.Provisioner      = (*Header)(nil)
	_ caddyfile.Unmarshaler  = (*Header)(nil)
	_ signing.KeyLister      = (*verifier)(nil)
)
