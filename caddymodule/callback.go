package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/signing"
)

// CallbackConfig is a static callback of an agent.
type CallbackConfig struct {
	URL string `json:"url"`
	// Method is POST (default) or PUT.
	Method string `json:"method,omitempty"`
	// Format is "raw" (default) or "cognigy".
	Format string `json:"format,omitempty"`
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

func (c *CallbackConfig) provision(repl *caddy.Replacer, agent string, index int, eg *egress) (*delivery.Callback, error) {
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
