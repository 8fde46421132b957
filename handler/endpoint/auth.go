package endpoint

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
)

// Anonymous is the principal of callers on an endpoint with `auth none`.
const Anonymous = "anonymous"

// Auth decides who is calling. With several verifiers, passing any one of
// them is enough, which is how operators accept two kinds of caller (or
// rotate from one scheme to another) on one endpoint.
type Auth struct {
	Verifiers []signing.Verifier
	// None opens the endpoint to anyone. It must be asked for explicitly
	// (`auth none`); an endpoint with no verifiers and no None is refused
	// when the config loads.
	None bool
	// Replay remembers message ids of schemes that name them (Standard
	// Webhooks), so a captured request cannot be sent again.
	Replay  store.ReplayGuard
	Metrics handler.Metrics
}

// Enabled reports whether any verification is configured.
func (a *Auth) Enabled() bool { return len(a.Verifiers) > 0 }

// Identity is who a request comes from.
type Identity struct {
	Principal string
	// ReplayKey, when set, was remembered as used; Release it if the
	// request fails, so the sender's retry is not taken for a replay.
	ReplayKey string
}

// Authenticate returns the caller's identity, or a *handler.Error: 401
// when no verifier accepts the request, 409 for a replayed message, and
// 503 when a verifier that might have accepted it had no slot free for
// its check.
func (a *Auth) Authenticate(ctx context.Context, r *http.Request, body []byte, now time.Time) (Identity, error) {
	if len(a.Verifiers) == 0 {
		if a.None {
			return Identity{Principal: Anonymous}, nil
		}
		// Unreachable with a validated config; fail closed regardless.
		return Identity{}, handler.Errorf(http.StatusUnauthorized, handler.CodeUnauthorized, "authentication required")
	}
	var challenge string
	expired, busy := false, false
	for _, v := range a.Verifiers {
		res, err := v.Verify(r, body, now)
		if err == nil {
			id := Identity{Principal: res.Principal}
			if res.ReplayKey != "" && a.Replay != nil {
				fresh, err := a.Replay.Remember(ctx, res.ReplayKey, res.ReplayTTL)
				if err != nil {
					return Identity{}, handler.Unavailable(err)
				}
				if !fresh {
					a.metrics().AuthFailure(v.Scheme(), "replayed")
					return Identity{}, handler.Errorf(http.StatusConflict, handler.CodeReplayed, "this signed message was already received")
				}
				id.ReplayKey = res.ReplayKey
			}
			return id, nil
		}
		reason := "invalid"
		switch {
		case errors.Is(err, signing.ErrMissing):
			reason = "missing"
		case errors.Is(err, signing.ErrExpired):
			reason, expired = "expired", true
		case errors.Is(err, signing.ErrBusy):
			reason, busy = "busy", true
		}
		a.metrics().AuthFailure(v.Scheme(), reason)
		if c, ok := v.(interface{ Challenge() string }); ok && challenge == "" {
			challenge = c.Challenge()
		}
	}
	if busy {
		// The credentials were not judged, so 401 would be a lie; the
		// caller should try again shortly.
		return Identity{}, &handler.Error{
			Status:     http.StatusServiceUnavailable,
			Code:       handler.CodeOverloaded,
			Message:    "too many credential checks are running, try again shortly",
			RetryAfter: 1,
		}
	}
	e := handler.Errorf(http.StatusUnauthorized, handler.CodeUnauthorized, "authentication failed")
	if expired {
		e.Message = "the signature's timestamp is outside the allowed window"
	}
	if challenge != "" {
		e.Header = http.Header{"Www-Authenticate": {challenge}}
	}
	return Identity{}, e
}

// Release forgets an identity's replay key after the request failed.
func (a *Auth) Release(ctx context.Context, id Identity) {
	if id.ReplayKey != "" && a.Replay != nil {
		_ = a.Replay.Forget(context.WithoutCancel(ctx), id.ReplayKey)
	}
}

func (a *Auth) metrics() handler.Metrics {
	if a.Metrics == nil {
		return handler.NopMetrics{}
	}
	return a.Metrics
}
