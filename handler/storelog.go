package handler

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
)

// StoreErrField is the log field of a store failure: its category, never
// its text. An engine's error may quote a key or the bytes of a record
// (Badger hex-dumps the start of a value that is too big); engines promise
// not to, and the logs do not take their word for it.
func StoreErrField(err error) zap.Field {
	return zap.String("error", StoreErrCategory(err))
}

// StoreErrCategory names the kind of a store failure in fixed text.
func StoreErrCategory(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return store.ErrUnavailable.Error()
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, store.ErrTooLarge):
		return store.ErrTooLarge.Error()
	case errors.Is(err, store.ErrLeaseLost):
		return store.ErrLeaseLost.Error()
	case errors.Is(err, store.ErrNotFound):
		return store.ErrNotFound.Error()
	case errors.Is(err, store.ErrInvalid):
		return store.ErrInvalid.Error()
	case errors.Is(err, store.ErrIdempotencyMismatch):
		return store.ErrIdempotencyMismatch.Error()
	}
	return store.ErrInternal.Error()
}

// storeFailure is the cause of an answer that a store failure caused. It
// prints as its category, so a log line that records an answer's cause
// with zap.Error says no more than StoreErrField; errors.Is still reaches
// the store's error.
type storeFailure struct{ err error }

func (s storeFailure) Error() string { return StoreErrCategory(s.err) }
func (s storeFailure) Unwrap() error { return s.err }
