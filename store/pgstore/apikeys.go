package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/agenthook/agenthook/store"
)

// CreateAPIKey implements store.APIKeys. The primary key and the unique
// hash refuse a used id or hash, also between instances; an expired key
// that the sweeper has not yet removed is replaced.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	if err := s.live(); err != nil {
		return err
	}
	if k == nil || k.ID == "" || k.Hash == "" {
		return store.Invalid("an API key needs an id and a hash")
	}
	if !validID(k.ID) || !validID(k.Hash) || !validText(k.Name) || !validText(k.CreatedBy) || len(validTexts(k.Agents)) != len(k.Agents) {
		return store.Invalid("an API key's fields must be valid UTF-8 without NUL")
	}
	if err := store.CheckSize("an API key", k.RecordBytes()); err != nil {
		return err
	}
	agents := k.Agents
	if agents == nil {
		agents = []string{}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.clock()
		if _, err := tx.Exec(ctx, `DELETE FROM agenthook_api_keys WHERE (id = $1 OR hash = $2) AND expires_at <= $3`,
			k.ID, k.Hash, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO agenthook_api_keys (id, hash, name, agents, read_only, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			k.ID, k.Hash, k.Name, agents, k.ReadOnly, k.CreatedBy, k.CreatedAt, ts(k.ExpiresAt))
		return err
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return store.Invalid("the API key id or hash is already used")
	}
	return wrapErr("creating API key", err)
}

// ListAPIKeys implements store.APIKeys.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*store.APIKey, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id, hash, name, agents, read_only, created_by, created_at, expires_at
		FROM agenthook_api_keys WHERE expires_at IS NULL OR expires_at > $1
		ORDER BY created_at, id COLLATE "C"`, s.clock())
	if err != nil {
		return nil, wrapErr("listing API keys", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.APIKey, error) {
		var k store.APIKey
		var created, expires pgtype.Timestamptz
		if err := row.Scan(&k.ID, &k.Hash, &k.Name, &k.Agents, &k.ReadOnly, &k.CreatedBy, &created, &expires); err != nil {
			return nil, err
		}
		k.CreatedAt, k.ExpiresAt = fromTS(created), fromTS(expires)
		return &k, nil
	})
	if err != nil {
		return nil, wrapErr("listing API keys", err)
	}
	if out == nil {
		out = []*store.APIKey{}
	}
	return out, nil
}

// DeleteAPIKey implements store.APIKeys.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	if err := s.live(); err != nil {
		return err
	}
	if !validID(id) {
		return store.ErrNotFound
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM agenthook_api_keys WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)`, id, s.clock())
	if err != nil {
		return wrapErr("revoking API key", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}
