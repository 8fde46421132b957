package api

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// The key routes let a root key hand out keys limited to some agents, one
// per user say. A minted key is shown once, in the answer that mints it;
// the store keeps its hash.

// keyInput is the body of POST /keys.
type keyInput struct {
	Agents    []string `json:"agents"`
	ReadOnly  *bool    `json:"read_only"`
	Name      *string  `json:"name"`
	ExpiresAt *string  `json:"expires_at"`
}

// maxKeyName bounds a key's name, in bytes.
const maxKeyName = 200

// newMintedKey returns a new key: the prefix and 256 random bits.
func newMintedKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return mintedPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) error {
	var in keyInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if len(in.Agents) == 0 {
		return handler.Errorf(http.StatusBadRequest, handler.CodeMissingFields, "agents is required: the agents the key may see (a minted key never sees them all)")
	}
	known := a.Agents()
	var agents []string
	for _, name := range in.Agents {
		if known[name] == nil {
			return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "agents: there is no agent %q", clip(name))
		}
		if !slices.Contains(agents, name) {
			agents = append(agents, name)
		}
	}
	now := a.Now()
	k := &store.APIKey{ID: "key_" + handler.NewID(), Agents: agents, CreatedBy: callerOf(r).keyID, CreatedAt: now}
	if in.ReadOnly != nil {
		k.ReadOnly = *in.ReadOnly
	}
	if in.Name != nil {
		if len(*in.Name) > maxKeyName || !handler.IsText([]byte(*in.Name)) {
			return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "name must be text of at most %d bytes", maxKeyName)
		}
		k.Name = *in.Name
	}
	if in.ExpiresAt != nil {
		exp, err := time.Parse(time.RFC3339Nano, *in.ExpiresAt)
		if err != nil || !exp.After(now) {
			return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "expires_at must be an RFC 3339 time in the future")
		}
		k.ExpiresAt = exp
	}
	secret, err := newMintedKey()
	if err != nil {
		return err
	}
	k.Hash = mintedHash(secret)
	if err := a.Store.CreateAPIKey(r.Context(), k); err != nil {
		return handler.StoreError(err)
	}
	a.minted.forget()
	// Who handed out which access, for the audit trail; never the key.
	a.Logger.Info("api key minted", zap.String("key_id", k.ID), zap.String("created_by", k.CreatedBy),
		zap.Strings("agents", k.Agents), zap.Bool("read_only", k.ReadOnly), zap.Timep("expires_at", timePtr(k.ExpiresAt)))
	v := mintedKeyView(k)
	v.Key = secret // shown once: the store has only its hash
	w.Header().Set("Location", a.prefix()+"/keys/"+k.ID)
	handler.WriteJSON(w, http.StatusCreated, v)
	return nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// clip shortens a caller's value quoted in an error.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	s = s[:64]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// allKeys returns the config's keys, then the minted ones.
func (a *API) allKeys(r *http.Request) ([]KeyView, error) {
	out := make([]KeyView, 0, len(a.Keys.keyIDs))
	for _, id := range a.Keys.keyIDs {
		out = append(out, configKeyView(id, a.Keys.scopes[id]))
	}
	ks, err := a.Store.ListAPIKeys(r.Context())
	if err != nil {
		return nil, handler.StoreError(err)
	}
	for _, k := range ks {
		out = append(out, mintedKeyView(k))
	}
	return out, nil
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) error {
	data, err := a.allKeys(r)
	if err != nil {
		return err
	}
	handler.WriteJSON(w, http.StatusOK, map[string]any{"data": data})
	return nil
}

// key serves GET and DELETE of one key.
func (a *API) key(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	keys, err := a.allKeys(r)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(keys, func(k KeyView) bool { return k.ID == id })
	if i < 0 {
		return notFound("no such API key")
	}
	v := keys[i]
	if r.Method != http.MethodDelete {
		handler.WriteJSON(w, http.StatusOK, v)
		return nil
	}
	if v.Source == sourceConfig {
		e := handler.Errorf(http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed, "this key comes from the Caddyfile; remove it there")
		e.Header = http.Header{"Allow": {"GET"}}
		return e
	}
	err = a.Store.DeleteAPIKey(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no such API key")
	}
	if err != nil {
		return handler.StoreError(err)
	}
	a.minted.forget()
	a.Logger.Info("api key revoked", zap.String("key_id", id), zap.String("revoked_by", callerOf(r).keyID))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
