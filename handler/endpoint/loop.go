package endpoint

import (
	"context"
	"net/http"

	"github.com/agenthook/agenthook/handler"
)

// checkLoop refuses a request that is one of this installation's own
// deliveries coming back, or that has passed through more agenthook
// callbacks than MaxHops, before anything else is done with it. It
// returns the request's hop count, which an async task keeps for its own
// deliveries.
func (e *Endpoint) checkLoop(r *http.Request) (int, error) {
	hops, ok := handler.ParseHops(r.Header.Get(handler.HeaderHops))
	if !ok {
		return 0, handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "the %s header must be a number", handler.HeaderHops)
	}
	if origin := r.Header.Get(handler.HeaderOrigin); origin != "" && e.Origin != nil {
		ctx, cancel := handler.WithStoreTimeout(r.Context())
		defer cancel()
		own, err := e.Origin(ctx)
		if err != nil {
			return 0, handler.StoreError(err)
		}
		if origin == own {
			return 0, loopDetected("this request is a callback delivery of this agenthook installation: the callback points back at it, which would loop")
		}
	}
	if limit := e.maxHops(); hops > limit {
		return 0, loopDetected("this request has passed through more agenthook callbacks than the limit of %d; a callback probably loops", limit)
	}
	return hops, nil
}

func loopDetected(format string, args ...any) error {
	return handler.Errorf(http.StatusLoopDetected, handler.CodeLoopDetected, format, args...)
}

func (e *Endpoint) maxHops() int {
	if e.MaxHops > 0 {
		return e.MaxHops
	}
	return handler.DefaultMaxHops
}

// OriginFunc returns this installation's id (see store.Installation).
type OriginFunc func(ctx context.Context) (string, error)
