package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/signing"
)

// ConfigKey is an API key from the config.
type ConfigKey struct {
	// Token is the key, or "sha256:<hex>" of it.
	Token string
	Scope
}

// Keyring holds the config's API keys and what each may do. Only their
// hashes are kept (see signing.Bearer).
type Keyring struct {
	bearer *signing.Bearer
	keyIDs []string         // in config order
	scopes map[string]Scope // by KeyID
}

// NewKeyring checks the config's keys: at least one, none empty or twice.
func NewKeyring(keys []ConfigKey) (*Keyring, error) {
	tokens := make([]string, len(keys))
	for i, k := range keys {
		tokens[i] = k.Token
	}
	b, err := signing.NewBearer(tokens)
	if err != nil {
		return nil, err
	}
	// NewBearer refuses duplicates, so its KeyIDs follow the keys one to
	// one.
	ids := b.KeyIDs()
	if len(ids) != len(keys) {
		return nil, errors.New("bearer: the keys do not have one id each")
	}
	kr := &Keyring{bearer: b, keyIDs: ids, scopes: make(map[string]Scope, len(keys))}
	for i, k := range keys {
		kr.scopes[ids[i]] = k.Scope
	}
	return kr, nil
}

// RootKeys returns a keyring of root keys, for tests and simple configs.
func RootKeys(tokens ...string) (*Keyring, error) {
	keys := make([]ConfigKey, len(tokens))
	for i, t := range tokens {
		keys[i] = ConfigKey{Token: t}
	}
	return NewKeyring(keys)
}

// Agents returns every agent named by a key's scope, to check against the
// config.
func (k *Keyring) Agents() []string {
	var out []string
	for _, id := range k.keyIDs {
		out = append(out, k.scopes[id].Agents...)
	}
	return out
}

// errNoKey is a request without a valid key.
var errNoKey = &handler.Error{Status: http.StatusUnauthorized, Code: handler.CodeUnauthorized,
	Message: "a valid API key is required (Authorization: Bearer <key>)",
	Header:  http.Header{"Www-Authenticate": {`Bearer realm="agenthook"`}}}

// authenticate finds the request's key: one of the config's (compared in
// constant time by signing.Bearer), else a minted one. A minted key is
// looked up by the SHA-256 of what was presented: the lookup's timing can
// only tell about hashes, and finding a key from its hash is out of reach.
func (a *API) authenticate(r *http.Request) (*caller, error) {
	res, err := a.Keys.bearer.Verify(r, nil, a.Now())
	if err == nil {
		return &caller{keyID: res.KeyID, Scope: a.Keys.scopes[res.KeyID]}, nil
	}
	if errors.Is(err, signing.ErrMissing) {
		return nil, errNoKey
	}
	token, ok := presentedBearer(r.Header.Get("Authorization"))
	if !ok {
		return nil, errNoKey
	}
	k, err := a.minted.lookup(r.Context(), a, mintedHash(token))
	if err != nil {
		return nil, handler.StoreError(err)
	}
	if k == nil {
		return nil, errNoKey
	}
	return &caller{keyID: k.ID, minted: true, Scope: Scope{Agents: k.Agents, ReadOnly: k.ReadOnly}}, nil
}

// presentedBearer returns the token of an "Authorization: Bearer" header.
func presentedBearer(h string) (string, bool) {
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.Trim(token, " \t")
	return token, strings.EqualFold(scheme, "Bearer") && token != "" && len(token) <= 1024
}

// mintedPrefix starts every minted key, so that one found in a log or a
// repository is recognisable for what it is.
const mintedPrefix = "ahk_"

// mintedHash is how a minted key is stored: the hex SHA-256 of the key.
// Minted keys are 256 random bits, so a fast hash loses nothing.
func mintedHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// keyExpired reports whether a key expiring at exp (zero: never) has
// expired at now.
func keyExpired(exp, now time.Time) bool { return !exp.IsZero() && !now.Before(exp) }
