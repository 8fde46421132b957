package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// rotateInput is the body of rotate-secret; every field may be left out.
type rotateInput struct {
	// GracePeriod is how long the replaced secret still signs, next to
	// the new one: a Go duration, "24h" by default, "0s" to stop at once.
	GracePeriod *string `json:"grace_period"`
	// Signature switches the scheme (v1 or v1a); default the current one.
	Signature *string `json:"signature"`
	// Secret is the caller's new secret; default a generated one.
	Secret *string `json:"secret"`
}

// rotateSecret gives a registration a new signing secret. Until the grace
// period ends every delivery is signed with both, so that receivers can
// switch at their pace: each accepts a delivery as long as one signature
// verifies. The answer holds the new secret, once.
func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request, agent *handler.Agent) error {
	id := r.PathValue("id")
	if a.staticCallback(agent.Name, id) != nil {
		return badRequest("this callback comes from the Caddyfile: rotate its secret there (sign standard_webhooks <new> <old>, then drop the old one)")
	}
	reg, err := a.registration(r.Context(), agent.Name, id)
	if err != nil {
		return err
	}
	var in rotateInput
	if r.ContentLength != 0 {
		if err := readJSON(r, &in); err != nil {
			return err
		}
	}
	grace := DefaultGracePeriod
	if in.GracePeriod != nil {
		d, err := time.ParseDuration(*in.GracePeriod)
		if err != nil || d < 0 || d > maxGracePeriod {
			return badRequest("grace_period must be a duration from 0s to 720h, such as \"24h\"")
		}
		grace = d
	}
	scheme := in.Signature
	if scheme == nil {
		current := registrationView(reg, a.Now()).Signature
		scheme = &current
	}
	secret, err := newSigningSecret(scheme, in.Secret)
	if err != nil {
		return err
	}
	if secret == reg.Secret {
		return badRequest("secret is the current one; give a new one, or none to have one made")
	}
	now := a.Now()
	o := &reg.Options
	// Secrets whose grace period is over are dropped; the newest few stay.
	o.PreviousSecrets = slices.DeleteFunc(o.PreviousSecrets, func(p store.RetiredSecret) bool { return !p.Until.After(now) })
	if grace > 0 {
		o.PreviousSecrets = append(o.PreviousSecrets, store.RetiredSecret{Secret: reg.Secret, Until: now.Add(grace)})
	}
	if n := len(o.PreviousSecrets); n > maxRetiredSecrets {
		o.PreviousSecrets = o.PreviousSecrets[n-maxRetiredSecrets:]
	}
	reg.Secret, reg.UpdatedAt = secret, now
	if err := a.Store.UpdateRegistration(r.Context(), reg); err != nil {
		return handler.StoreError(err)
	}
	a.changed(id)
	v := registrationView(reg, now)
	if in.Secret == nil || *in.Secret == "" {
		v.Secret = secret
	}
	handler.WriteJSON(w, http.StatusOK, v)
	return nil
}
