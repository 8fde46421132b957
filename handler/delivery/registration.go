package delivery

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
)

// AlertsID is the id of the app's alerts callback (the Caddyfile's
// `alerts` line), which receives the operational events of every agent.
const AlertsID = "cfg-alerts"

// IsAlertsID reports whether a callback id is the alerts callback's.
func IsAlertsID(id string) bool { return id == AlertsID }

// CallbackOf turns a registration into a callback, its options included.
// prev, the callback the registration made before, lends its signers and
// filter when they did not change, so that a refresh of the registry's
// cache neither parses keys nor compiles filters again. Secrets that a
// rotation retired sign too, after the current one, until their time is
// up at now. The API calls it to validate a registration before storing
// it: what it refuses, no delivery could use.
func CallbackOf(r *store.Registration, prev *Callback, now time.Time) (*Callback, error) {
	o := r.Options
	cb := &Callback{
		ID:          r.ID,
		Agent:       r.Agent,
		URL:         r.URL,
		Method:      r.Method,
		Format:      r.Format,
		Ordered:     r.Ordered,
		Concurrency: o.Concurrency,
		Header:      o.Headers.Clone(),
		Endpoint:    o.Endpoint,
		Schedule:    slices.Clone(o.RetrySchedule),
		Timeout:     o.Timeout,
		RateLimit:   o.RateLimit,
		status:      r.Status,
		registered:  true,
		disabledWhy: r.DisabledReason,
	}
	if cb.Format == "" {
		cb.Format = FormatRaw
	}
	if len(o.Events) > 0 {
		cb.Events = slices.Clone(o.Events)
	}
	if b := o.BasicAuth; b != nil {
		cb.BasicUser, cb.BasicPassword = b.Username, b.Password
	}
	secrets := []string{r.Secret}
	for _, p := range o.PreviousSecrets {
		if p.Until.After(now) {
			secrets = append(secrets, p.Secret)
		}
	}
	cb.signKey = strings.Join(secrets, " ")
	if h := o.HMAC; h != nil {
		cb.signKey += fmt.Sprintf(" %q", *h)
	}
	if prev != nil && prev.signKey == cb.signKey {
		cb.Signers = prev.Signers
	} else {
		signer, err := signing.NewStandardWebhooksSigner(secrets)
		if err != nil {
			return nil, err
		}
		cb.Signers = []signing.Signer{signer}
		if h := o.HMAC; h != nil {
			hs, err := signing.NewHMACSigner(signing.HMACConfig{Secrets: []string{h.Secret}, Header: h.Header, Algorithm: h.Algorithm, Encoding: h.Encoding, Prefix: h.Prefix})
			if err != nil {
				return nil, err
			}
			cb.Signers = append(cb.Signers, hs)
		}
	}
	if o.Filter != "" {
		if prev != nil && prev.Filter != nil && prev.Filter.String() == o.Filter {
			cb.Filter = prev.Filter
		} else {
			p, err := shape.Compile(shape.Filter, o.Filter, shape.Limits{})
			if err != nil {
				return nil, fmt.Errorf("filter: %w", err)
			}
			cb.Filter = p
		}
	}
	return cb, nil
}
