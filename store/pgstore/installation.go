package pgstore

import (
	"context"
	"sync/atomic"

	"github.com/agenthook/agenthook/store"
)

// installationCache holds the installation id once read: it never changes.
type installationCache struct{ id atomic.Pointer[string] }

// InstallationID implements store.Installation. The first instance to ask
// inserts a new id; ON CONFLICT makes concurrent first calls agree on one,
// which the SELECT, a statement of its own with a snapshot taken after the
// insert, reads.
func (s *Store) InstallationID(ctx context.Context) (string, error) {
	if id := s.installation.id.Load(); id != nil {
		return *id, nil
	}
	if err := s.live(); err != nil {
		return "", err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO agenthook_settings (key, value) VALUES ('installation_id', $1)
		ON CONFLICT (key) DO NOTHING`, store.NewInstallationID())
	if err != nil {
		return "", wrapErr("reading the installation id", err)
	}
	var id string
	if err := s.pool.QueryRow(ctx, `SELECT value FROM agenthook_settings WHERE key = 'installation_id'`).Scan(&id); err != nil {
		return "", wrapErr("reading the installation id", err)
	}
	s.installation.id.Store(&id)
	return id, nil
}
