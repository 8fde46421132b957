package memstore

import (
	"context"

	"github.com/agenthook/agenthook/store"
)

// InstallationID implements store.Installation. The id is made on first
// use and lives as long as the store.
func (s *Store) InstallationID(ctx context.Context) (string, error) {
	if err := s.lock(); err != nil {
		return "", err
	}
	defer s.mu.Unlock()
	if s.installation == "" {
		s.installation = store.NewInstallationID()
	}
	return s.installation, nil
}
