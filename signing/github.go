package signing

import (
	"net/http"
	"time"
)

// GitHub checks GitHub's webhook signature:
//
//	X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, raw body)>
//
// It is the HMAC scheme with GitHub's header and prefix. The legacy SHA-1
// X-Hub-Signature header is ignored. GitHub signs no timestamp and reuses
// the signature when a delivery is redelivered, so there is no replay key.
type GitHub struct {
	s hmacScheme
}

// NewGitHub returns a GitHub verifier accepting any of secrets (the
// webhook's "Secret" field; several during a rotation). Each secret's key
// is its UTF-8 bytes, as GitHub uses it.
func NewGitHub(secrets []string) (*GitHub, error) {
	s, err := newHMACScheme(schemeGitHub, HMACConfig{
		Secrets:   secrets,
		Header:    "X-Hub-Signature-256",
		Algorithm: "sha256",
		Encoding:  encodingHex,
		Prefix:    "sha256=",
	})
	if err != nil {
		return nil, err
	}
	return &GitHub{s: s}, nil
}

// Scheme returns "github".
func (*GitHub) Scheme() string { return schemeGitHub }

// Verify checks X-Hub-Signature-256 against body.
func (g *GitHub) Verify(r *http.Request, body []byte, _ time.Time) (Result, error) {
	id, err := g.s.verify(schemeGitHub, r, body)
	if err != nil {
		return Result{}, err
	}
	return Result{Principal: schemeGitHub, KeyID: id}, nil
}

// KeyIDs returns the KeyID of every configured secret.
func (g *GitHub) KeyIDs() []string { return distinct(g.s.keyIDs) }

// Interface guards
var (
	_ Verifier  = (*GitHub)(nil)
	_ KeyLister = (*GitHub)(nil)
)
