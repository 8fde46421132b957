package store

import (
	"context"
	"time"
)

// APIKey is a management API key minted through the API. Only the hash of
// the key is stored: the key itself is shown once, to whoever minted it.
type APIKey struct {
	// ID names the key in the API (key_...); it is not a secret.
	ID string `json:"id"`
	// Hash is the hex SHA-256 of the key. The keys are 256 random bits,
	// so a plain hash is as good as a slow one.
	Hash string `json:"hash"`
	Name string `json:"name,omitempty"`
	// Agents are the agents the key may see; never empty for a minted
	// key.
	Agents   []string `json:"agents"`
	ReadOnly bool     `json:"read_only,omitempty"`
	// CreatedBy names the key that minted this one (a key id, never a
	// key).
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// ExpiresAt, if set, is when the key stops working; the record is
	// gone after it.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// RecordBytes counts the key's ids, hash, name and agents.
func (k *APIKey) RecordBytes() int {
	n := len(k.ID) + len(k.Hash) + len(k.Name) + len(k.CreatedBy)
	for _, a := range k.Agents {
		n += len(a)
	}
	return n
}

// APIKeys holds the management API keys minted through the API, shared by
// every instance on the store.
type APIKeys interface {
	// CreateAPIKey stores a new key. An id or a hash already stored is
	// ErrInvalid, and nothing is written.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// ListAPIKeys returns every key that has not expired, oldest first.
	ListAPIKeys(ctx context.Context) ([]*APIKey, error)
	// DeleteAPIKey revokes a key; ErrNotFound if there is none.
	DeleteAPIKey(ctx context.Context, id string) error
}
