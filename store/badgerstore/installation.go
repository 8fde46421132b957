package badgerstore

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/agenthook/agenthook/store"
)

// installationKey holds the installation id. No other key prefix starts
// with "m/".
var installationKey = []byte("m/installation")

// InstallationID implements store.Installation: made and stored by the
// first call, read by the others (and cached, since it never changes).
func (s *Store) InstallationID(ctx context.Context) (string, error) {
	if id := s.installation.Load(); id != nil {
		return *id, nil
	}
	var id string
	err := s.write(ctx, true, 256, func(tx *wtxn) error {
		err := tx.value(installationKey, func(v []byte) error { id = string(v); return nil })
		if errors.Is(err, badger.ErrKeyNotFound) {
			id = store.NewInstallationID()
			tx.set(installationKey, []byte(id), time.Time{})
			return nil
		}
		return err
	})
	if err != nil {
		return "", store.Safe("reading the installation id", err)
	}
	s.installation.Store(&id)
	return id, nil
}
