package signing

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Bearer checks "Authorization: Bearer <token>" against a list of tokens,
// as Tess and most management APIs send them.
//
// Only the tokens' SHA-256 hashes are kept. The presented token is hashed
// once and its hash compared with every configured hash, to the end of the
// list, so that timing tells nothing about which token matched. Comparing
// hashes rather than tokens also makes the comparison independent of the
// presented token's length.
type Bearer struct {
	hashes []tokenHash
	keyIDs []string // keyIDs[i] names hashes[i]
}

// NewBearer returns a Bearer that accepts any of tokens. Each token is
// either the plaintext token or "sha256:<64 hex>" as HashToken writes it.
// Empty, malformed and duplicate tokens are refused.
func NewBearer(tokens []string) (*Bearer, error) {
	if len(tokens) == 0 {
		return nil, errors.New("bearer: at least one token is required")
	}
	b := &Bearer{hashes: make([]tokenHash, 0, len(tokens))}
	for i, t := range tokens {
		h, err := configuredTokenHash(t)
		if err != nil {
			return nil, fmt.Errorf("bearer: token %d: %v", i, err)
		}
		for j, seen := range b.hashes {
			if seen == h {
				return nil, fmt.Errorf("bearer: token %d is the same as token %d", i, j)
			}
		}
		b.hashes = append(b.hashes, h)
		// From the hash, not the token: a token configured as
		// "sha256:<hex>" is the same credential as the plain token.
		b.keyIDs = append(b.keyIDs, keyID(schemeBearer, h[:]))
	}
	return b, nil
}

// Scheme returns "bearer".
func (*Bearer) Scheme() string { return schemeBearer }

// Verify checks the Authorization header. A request with no Authorization
// header, or one that uses another scheme (Basic, say), is ErrMissing: the
// bearer credentials are absent, and another configured scheme may still
// accept it.
func (b *Bearer) Verify(r *http.Request, _ []byte, _ time.Time) (Result, error) {
	token, err := bearerToken(headerValue(r, "Authorization"))
	if err != nil {
		return Result{}, err
	}
	h := presentedTokenHash(token)
	match, index := 0, 0
	for i := range b.hashes {
		eq := subtle.ConstantTimeCompare(h[:], b.hashes[i][:])
		index = subtle.ConstantTimeSelect(eq, i, index)
		match |= eq
	}
	if match != 1 {
		return Result{}, invalid(schemeBearer, "unknown token")
	}
	return Result{Principal: schemeBearer + ":" + h.fingerprint(), KeyID: b.keyIDs[index]}, nil
}

// KeyIDs returns the KeyID of every configured token.
func (b *Bearer) KeyIDs() []string { return distinct(b.keyIDs) }

// bearerToken extracts the token from an Authorization header value. The
// scheme word is case-insensitive (RFC 9110, section 11.1) and may be
// followed by any amount of spaces.
func bearerToken(header string) (string, error) {
	if header == "" {
		return "", missing(schemeBearer, "no Authorization header")
	}
	if len(header) > maxHeaderBytes {
		return "", invalid(schemeBearer, "Authorization header too long")
	}
	scheme, token, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", missing(schemeBearer, "Authorization header is not Bearer")
	}
	token = strings.Trim(token, " \t")
	if token == "" {
		return "", invalid(schemeBearer, "empty token")
	}
	return token, nil
}

// Interface guards
var (
	_ Verifier  = (*Bearer)(nil)
	_ KeyLister = (*Bearer)(nil)
)
