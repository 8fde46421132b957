package endpoint

import (
	"errors"
	"net/http"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/signing"
)

// Auth decides who is calling. With several lines, passing any one of
// them is enough, which is how operators accept two kinds of caller (or
// rotate from one scheme to another) on one endpoint.
type Auth struct {
	Lines []AuthLine
	// None opens the endpoint to anyone. It must be asked for explicitly
	// (`auth none`); an endpoint with no lines and no None is refused
	// when the config loads.
	None    bool
	Metrics handler.Metrics
}

// AuthLine is one `auth <scheme> …` line of an endpoint.
type AuthLine struct {
	// Name is the line's part of a principal: LineName(scheme, n).
	Name     string
	Verifier signing.Verifier
}

// Enabled reports whether any verification is configured.
func (a *Auth) Enabled() bool { return len(a.Lines) > 0 }

// Authenticate returns the line and credential that accepted the request,
// as an Identity not yet bound to an endpoint (see Identity.bind), or a
// *handler.Error: 401 when no line accepts the request, and 503 when a
// line that might have accepted it had no slot free for its check.
func (a *Auth) Authenticate(r *http.Request, body []byte, now time.Time) (Identity, error) {
	if len(a.Lines) == 0 {
		if a.None {
			return Identity{Line: Anonymous}, nil
		}
		// Unreachable with a validated config; fail closed regardless.
		return Identity{}, handler.Errorf(http.StatusUnauthorized, handler.CodeUnauthorized, "authentication required")
	}
	var challenge string
	expired, busy := false, false
	for _, l := range a.Lines {
		v := l.Verifier
		res, err := v.Verify(r, body, now)
		if err == nil {
			id := Identity{Line: l.Name, KeyID: res.KeyID, User: res.User}
			id.named(res.ReplayKey, res.ReplayTTL)
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

// KeyIDs maps every principal the lines can produce on the endpoint
// called endpoint to the KeyIDs of the credentials behind it: for a line,
// every credential listed on it; for a user of a line whose verifier
// names users (Basic), that user's own. A line whose verifier lists no
// KeyIDs maps to none, so its callers are never shown a task by KeyID.
func (a *Auth) KeyIDs(endpoint string) map[string][]string {
	m := make(map[string][]string)
	for _, l := range a.Lines {
		if kl, ok := l.Verifier.(signing.KeyLister); ok {
			m[Principal(endpoint, l.Name, "")] = kl.KeyIDs()
		}
		if ul, ok := l.Verifier.(signing.UserKeyLister); ok {
			for user, id := range ul.UserKeyIDs() {
				m[Principal(endpoint, l.Name, user)] = []string{id}
			}
		}
	}
	return m
}

func (a *Auth) metrics() handler.Metrics {
	if a.Metrics == nil {
		return handler.NopMetrics{}
	}
	return a.Metrics
}
