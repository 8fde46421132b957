package signing

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// hashedTokenPrefix marks a token that is given as its SHA-256 hash rather
// than in plaintext, so that configuration files need not hold the token
// itself.
const hashedTokenPrefix = "sha256:"

// tokenHash is the SHA-256 of a token: the only form in which a token is
// kept in memory.
type tokenHash [sha256.Size]byte

// HashToken returns the form in which a token may be written into a
// configuration instead of the token itself: "sha256:" followed by the
// lowercase hex SHA-256 of the token's bytes.
//
// A plain, unsalted hash is enough here because tokens are long random
// strings, not passwords: there is nothing to guess by brute force.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hashedTokenPrefix + hex.EncodeToString(sum[:])
}

// IsHashedToken reports whether s has the form HashToken produces:
// "sha256:" and 64 hex digits (either case).
func IsHashedToken(s string) bool {
	_, ok := parseHashedToken(s)
	return ok
}

func parseHashedToken(s string) (tokenHash, bool) {
	var h tokenHash
	rest, ok := strings.CutPrefix(s, hashedTokenPrefix)
	if !ok || len(rest) != hex.EncodedLen(len(h)) {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(rest)); err != nil {
		return h, false
	}
	return h, true
}

// configuredTokenHash turns one configured token, plaintext or
// "sha256:<hex>", into its hash. A string that merely starts with
// "sha256:" but is not a well-formed hash is refused rather than taken as
// a plaintext token: it is almost certainly a pasting mistake, and using
// it verbatim would silently lock the caller out. The error does not
// repeat the value.
func configuredTokenHash(token string) (tokenHash, error) {
	if token == "" {
		return tokenHash{}, errors.New("token is empty")
	}
	if strings.HasPrefix(token, hashedTokenPrefix) {
		h, ok := parseHashedToken(token)
		if !ok {
			return tokenHash{}, errors.New(`token starts with "sha256:" but is not followed by 64 hex digits`)
		}
		return h, nil
	}
	return sha256.Sum256([]byte(token)), nil
}

// presentedTokenHash hashes a token presented by a caller. A presented
// token is always hashed as plaintext, even if it looks like
// "sha256:<hex>": otherwise anyone who read the hash from a configuration
// file could log in with it.
func presentedTokenHash(token string) tokenHash {
	return sha256.Sum256([]byte(token))
}

// fingerprint is a short, stable, non-secret name for a token: the first
// 12 hex characters of its hash. It is enough to tell tokens apart in logs
// and far too little to help anyone guess one.
func (h tokenHash) fingerprint() string {
	return hex.EncodeToString(h[:6])
}

// TokenSet maps URL tokens to the names of the agents they open, the way
// DocsGPT puts the agent's token in the last path segment of its webhook
// URL. Only the tokens' SHA-256 hashes are kept.
//
// The zero value is not usable; call NewTokenSet. A TokenSet is safe for
// concurrent use.
type TokenSet struct {
	mu      sync.RWMutex
	entries []tokenEntry
}

type tokenEntry struct {
	hash  tokenHash
	name  string
	keyID string
}

// schemeURLToken labels the KeyIDs of URL tokens, which are no Verifier's.
const schemeURLToken = "url_token"

// NewTokenSet returns an empty TokenSet.
func NewTokenSet() *TokenSet {
	return &TokenSet{}
}

// Add registers token (plaintext, or "sha256:<hex>" as HashToken writes
// it) for the agent called name. One name may have several tokens, which
// is how a token is rotated; one token may not open two agents, so a token
// whose hash is already present is refused.
func (s *TokenSet) Add(name, token string) error {
	if name == "" {
		return errors.New("token set: agent name is empty")
	}
	h, err := configuredTokenHash(token)
	if err != nil {
		return fmt.Errorf("token set: agent %q: %v", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.hash == h {
			return fmt.Errorf("token set: agent %q: token is already in use (by agent %q)", name, e.name)
		}
	}
	s.entries = append(s.entries, tokenEntry{hash: h, name: name, keyID: keyID(schemeURLToken, h[:])})
	return nil
}

// Lookup returns the name of the agent that presented opens. It hashes
// presented once and compares the hash with every entry, without stopping
// at a match, so the time taken does not depend on which entry matched,
// or whether any did.
func (s *TokenSet) Lookup(presented string) (name string, ok bool) {
	name, _, ok = s.LookupKeyID(presented)
	return name, ok
}

// LookupKeyID is Lookup that also returns the KeyID of the token that
// matched: like a Verifier's Result.KeyID, a non-secret name of the
// credential, the same in every process, for a token given in plaintext
// or as its hash.
func (s *TokenSet) LookupKeyID(presented string) (name, keyID string, ok bool) {
	if presented == "" || len(presented) > maxHeaderBytes {
		return "", "", false
	}
	h := presentedTokenHash(presented)

	s.mu.RLock()
	defer s.mu.RUnlock()
	found, index := 0, 0
	for i := range s.entries {
		eq := subtle.ConstantTimeCompare(h[:], s.entries[i].hash[:])
		index = subtle.ConstantTimeSelect(eq, i, index)
		found |= eq
	}
	if found != 1 {
		return "", "", false
	}
	return s.entries[index].name, s.entries[index].keyID, true
}

// KeyIDs returns the KeyIDs of the tokens of the agent called name, in
// the order they were added.
func (s *TokenSet) KeyIDs(name string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for _, e := range s.entries {
		if e.name == name {
			ids = append(ids, e.keyID)
		}
	}
	return ids
}

// Len returns the number of tokens in the set.
func (s *TokenSet) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}
