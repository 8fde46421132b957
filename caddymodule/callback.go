package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/signing"
)

// CallbackConfig is a static callback of an agent.
type CallbackConfig struct {
	URL string `json:"url"`
	// Method is POST (default) or PUT.
	Method string `json:"method,omitempty"`
	// Format is "raw" (default) or "cognigy".
	Format string `json:"format,omitempty"`
	// Payload is a jq expression that renders the callback's body from
	// the event as the raw format renders it, with $task and $chat; it
	// takes the place of Format.
	Payload string `json:"payload,omitempty"`
	// Ordered delivers one chat's results one at a time, in order.
	Ordered bool `json:"ordered,omitempty"`
	// Concurrency bounds attempts in flight to this callback. Default:
	// the delivery block's concurrency.
	Concurrency int `json:"concurrency,omitempty"`
	// StandardWebhooks signs with these secrets (whsec_ for v1, whsk_ for
	// v1a ed25519); several mean one signature each, for rotation.
	StandardWebhooks []string `json:"standard_webhooks,omitempty"`
	// HMAC adds one signature header over the body.
	HMAC *HMACSignConfig `json:"hmac,omitempty"`
	// BasicAuth sends an Authorization: Basic header.
	BasicAuth *BasicAuthConfig `json:"basic_auth,omitempty"`
	// Headers are added to every delivery.
	Headers http.Header `json:"headers,omitempty"`

	// Events are the event types the callback receives: task.started,
	// task.succeeded, task.failed, delivery.exhausted, callback.disabled,
	// callback.recovered. Default: task.succeeded and task.failed (for
	// alerts: the three operational ones).
	Events []string `json:"events,omitempty"`
	// Filter is a jq expression over the event's raw body (and $task) that
	// must give true for the callback to receive the event.
	Filter string `json:"filter,omitempty"`
	// Endpoint, if set, restricts task events to the tasks accepted by the
	// agenthook handler of that name, so that one agent's endpoints can
	// send their results to different places.
	Endpoint string `json:"endpoint,omitempty"`
	// RetrySchedule replaces the delivery block's retry_schedule.
	RetrySchedule []caddy.Duration `json:"retry_schedule,omitempty"`
	// Timeout bounds one attempt, at most the delivery block's timeout.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// RateLimit paces deliveries to at most this many per second.
	RateLimit float64 `json:"rate_limit,omitempty"`
}

// HMACSignConfig signs a delivery's body with one header.
type HMACSignConfig struct {
	Secret    string `json:"secret"`
	Header    string `json:"header,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
}

// BasicAuthConfig is a user and password for the receiver.
type BasicAuthConfig struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// provision makes the callback of an agent (id cfg-<agent>-<n>), or, with
// an empty agent, the app's alerts callback.
func (c *CallbackConfig) provision(repl *caddy.Replacer, agent string, index int, eg *egress, maxTimeout time.Duration) (*delivery.Callback, error) {
	u, err := repl.ReplaceOrErr(c.URL, true, true)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if err := checkCallbackURL(u); err != nil {
		return nil, err
	}
	if err := checkStaticHost(u, eg); err != nil {
		return nil, err
	}
	cb := &delivery.Callback{
		ID:          fmt.Sprintf("cfg-%s-%d", agent, index+1),
		Agent:       agent,
		URL:         u,
		Method:      strings.ToUpper(c.Method),
		Format:      c.Format,
		Ordered:     c.Ordered,
		Concurrency: c.Concurrency,
		Header:      c.Headers.Clone(),
	}
	if agent == "" {
		cb.ID = delivery.AlertsID
	}
	if err := c.provisionSubscription(cb, agent == "", maxTimeout); err != nil {
		return nil, err
	}
	if cb.Method == "" {
		cb.Method = DefaultCallbackMethod
	}
	if cb.Method != http.MethodPost && cb.Method != http.MethodPut {
		return nil, fmt.Errorf("method %s: use POST or PUT", c.Method)
	}
	if cb.Format == "" {
		cb.Format = DefaultCallbackFormat
	}
	if _, ok := delivery.Format(cb.Format); !ok {
		return nil, fmt.Errorf("format %q: use %s", c.Format, strings.Join(delivery.FormatNames(), " or "))
	}
	if len(c.StandardWebhooks) > 0 {
		secrets := make([]string, len(c.StandardWebhooks))
		for i, s := range c.StandardWebhooks {
			if secrets[i], err = resolveSecret(repl, s); err != nil {
				return nil, fmt.Errorf("standard_webhooks secret %d: %w", i+1, err)
			}
		}
		signer, err := signing.NewStandardWebhooksSigner(secrets)
		if err != nil {
			return nil, err
		}
		cb.Signers = append(cb.Signers, signer)
	}
	if h := c.HMAC; h != nil {
		secret, err := resolveSecret(repl, h.Secret)
		if err != nil {
			return nil, fmt.Errorf("hmac secret: %w", err)
		}
		signer, err := signing.NewHMACSigner(signing.HMACConfig{Secrets: []string{secret}, Header: h.Header, Algorithm: h.Algorithm, Encoding: h.Encoding, Prefix: h.Prefix})
		if err != nil {
			return nil, err
		}
		cb.Signers = append(cb.Signers, signer)
	}
	if b := c.BasicAuth; b != nil {
		if cb.BasicUser, err = repl.ReplaceOrErr(b.Username, true, true); err != nil {
			return nil, fmt.Errorf("basic_auth user: %w", err)
		}
		if cb.BasicPassword, err = resolveSecret(repl, b.Password); err != nil {
			return nil, fmt.Errorf("basic_auth password: %w", err)
		}
	}
	return cb, nil
}

// provisionSubscription sets what the callback receives and how it is
// paced. Errors name the setting, never a secret.
func (c *CallbackConfig) provisionSubscription(cb *delivery.Callback, alerts bool, maxTimeout time.Duration) error {
	if err := delivery.CheckEvents(c.Events); err != nil {
		return err
	}
	if len(c.Events) > 0 {
		cb.Events = slices.Clone(c.Events)
	}
	if alerts {
		if cb.Events == nil {
			cb.Events = delivery.OperationalEventNames()
		}
		for _, e := range cb.Events {
			if !delivery.IsOperational(e) {
				return fmt.Errorf("alerts receive operational events only (%s), not %s", strings.Join(delivery.OperationalEventNames(), ", "), e)
			}
		}
		if c.Endpoint != "" || c.Ordered {
			return errors.New("alerts take neither endpoint nor ordered: their events are about no task")
		}
	}
	if c.Payload != "" {
		if alerts {
			return errors.New("alerts take no payload: their events are about no task")
		}
		if c.Format != "" {
			return errors.New("give a callback either format or payload, not both")
		}
		p, err := shape.Compile(shape.Payload, c.Payload, delivery.PayloadLimits)
		if err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		cb.Payload = p
	}
	if c.Filter != "" {
		p, err := shape.Compile(shape.Filter, c.Filter, shape.Limits{})
		if err != nil {
			return fmt.Errorf("filter: %w", err)
		}
		cb.Filter = p
	}
	cb.Endpoint = c.Endpoint
	if c.RetrySchedule != nil {
		cb.Schedule = make([]time.Duration, len(c.RetrySchedule))
		for i, s := range c.RetrySchedule {
			if s < 0 {
				return errors.New("retry_schedule: durations must not be negative")
			}
			cb.Schedule[i] = time.Duration(s)
		}
	}
	if c.Timeout < 0 || time.Duration(c.Timeout) > maxTimeout {
		return fmt.Errorf("timeout must be positive and at most the delivery timeout (%s)", maxTimeout)
	}
	cb.Timeout = time.Duration(c.Timeout)
	if c.RateLimit < 0 {
		return errors.New("rate_limit must be positive")
	}
	cb.RateLimit = c.RateLimit
	return nil
}

// checkCallbackURL accepts absolute http(s) URLs without credentials.
func checkCallbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("callback url is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("callback url must start with http:// or https://")
	}
	if u.Host == "" {
		return errors.New("callback url has no host")
	}
	if u.User != nil {
		return errors.New("callback url must not hold credentials; use basic_auth")
	}
	return nil
}

// checkStaticHost refuses, when the config loads, a callback whose host
// is an IP literal (or localhost) that deliveries may not reach. Other
// hostnames are checked when each delivery dials, since their addresses
// may change.
func checkStaticHost(raw string, eg *egress) error {
	u, _ := url.Parse(raw)
	host := normalizeHost(u.Hostname())
	if host != "localhost" && !strings.HasSuffix(host, ".localhost") {
		if _, err := netip.ParseAddr(host); err != nil {
			return nil
		}
	}
	return eg.checkURL(context.Background(), raw)
}

// DeliveryConfig tunes callback deliveries.
type DeliveryConfig struct {
	// Timeout of one attempt. Default 15s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// RetrySchedule is the wait before each retry after the first
	// attempt, which is immediate. Default 5s 5m 30m 2h 5h 10h 10h.
	RetrySchedule []caddy.Duration `json:"retry_schedule,omitempty"`
	// AllowNetworks opens these ranges, which are refused by default when
	// private, loopback, link-local and the like: CIDR ranges or
	// addresses, each on every port or, with :port or :low-high, on those
	// ports only (IPv6 in brackets: [::1]:9002). Caddy's admin endpoint is
	// never opened, and this server's own listeners only by an entry that
	// names exactly one address and one port.
	AllowNetworks []string `json:"allow_networks,omitempty"`
	// Concurrency bounds attempts in flight per callback. Default 16.
	Concurrency int `json:"concurrency,omitempty"`
	// Workers bounds attempts in flight on this instance. Default 256.
	Workers int `json:"workers,omitempty"`
	// DisableAfter disables a callback that has failed without a success
	// for this long. Default 5 days.
	DisableAfter caddy.Duration `json:"disable_after,omitempty"`
	// BreakerThreshold is how many failures in a row pause a callback;
	// BreakerCooldown how long the pause lasts. Defaults 10 and 30s.
	BreakerThreshold int            `json:"breaker_threshold,omitempty"`
	BreakerCooldown  caddy.Duration `json:"breaker_cooldown,omitempty"`
	// AgentWorkers bounds the attempts in flight for one agent on this
	// instance, so that one agent's slow receivers leave workers to the
	// others. Default: half of workers (all of them with a single agent).
	AgentWorkers int `json:"agent_workers,omitempty"`
	// MaxRegistrations caps the callbacks registered through the API per
	// agent. Default 100; -1 means no cap.
	MaxRegistrations int `json:"max_registrations,omitempty"`
	// MaxHops is how many agenthook callbacks (of other installations) a
	// request may have passed through, in X-Agenthook-Hops. Default 3.
	MaxHops int `json:"max_hops,omitempty"`
	// ResponseExcerpt is how many bytes of a receiver's answer each
	// attempt keeps for the delivery log. Default 4 KiB, at most 64 KiB.
	ResponseExcerpt int64 `json:"response_excerpt,omitempty"`

	allowed []allowRule
}

func (d *DeliveryConfig) provision() error {
	d.allowed = d.allowed[:0]
	for _, n := range d.AllowNetworks {
		r, err := parseAllowRule(n)
		if err != nil {
			return fmt.Errorf("delivery allow_networks: %w", err)
		}
		d.allowed = append(d.allowed, r)
	}
	if d.AgentWorkers < 0 || d.MaxHops < 0 || d.MaxRegistrations < -1 {
		return errors.New("delivery agent_workers, max_hops and max_registrations must be positive")
	}
	if d.ResponseExcerpt < 0 || d.ResponseExcerpt > delivery.MaxResponseExcerpt {
		return fmt.Errorf("delivery response_excerpt must be between 1 byte and %d KiB", delivery.MaxResponseExcerpt>>10)
	}
	for _, s := range d.RetrySchedule {
		if s < 0 {
			return errors.New("delivery retry_schedule: durations must not be negative")
		}
	}
	return nil
}

// maxRegistrations is the cap handed to the store (0: none).
func (d *DeliveryConfig) maxRegistrations() int {
	switch {
	case d.MaxRegistrations < 0:
		return 0
	case d.MaxRegistrations == 0:
		return DefaultMaxRegistrations
	}
	return d.MaxRegistrations
}

// checkStaticCallbacks refuses, when the config starts, a static callback
// that would call this server: one whose host is a name the config serves,
// or an address that is the admin endpoint or one of its listeners. Host
// names are resolved at each delivery, not here, since their addresses may
// change (the dialer checks them then).
func (a *App) checkStaticCallbacks() error {
	if cb := a.alerts; cb != nil {
		u, err := url.Parse(cb.URL)
		if err != nil {
			return errors.New("alerts: not a URL")
		}
		if err := a.egress.checkHost(u.Hostname()); err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		if err := checkStaticHost(cb.URL, a.egress); err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
	}
	for _, name := range a.agentNames() {
		for i, cb := range a.Agents[name].callbacks {
			u, err := url.Parse(cb.URL)
			if err != nil {
				// Provision checked it; the error would quote the URL.
				return fmt.Errorf("agent %s: callback %d: not a URL", name, i+1)
			}
			if err := a.egress.checkHost(u.Hostname()); err != nil {
				return fmt.Errorf("agent %s: callback %d: %w", name, i+1, err)
			}
			if err := checkStaticHost(cb.URL, a.egress); err != nil {
				return fmt.Errorf("agent %s: callback %d: %w", name, i+1, err)
			}
		}
	}
	return nil
}
