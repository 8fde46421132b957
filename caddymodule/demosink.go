package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(DemoSink{})
	httpcaddyfile.RegisterHandlerDirective("agenthook_demo_sink", func(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		d := new(DemoSink)
		return d, d.UnmarshalCaddyfile(h.Dispenser)
	})
	httpcaddyfile.RegisterDirectiveOrder("agenthook_demo_sink", httpcaddyfile.Before, "respond")
}

// DemoSink is a stand-in callback receiver for trying agenthook out, not
// for production. It answers every POST with 204, keeps the last 100, and
// lists them on GET, newest first. Given a whsec_ secret, it checks each
// delivery's Standard Webhooks signature the way a receiver should.
type DemoSink struct {
	// Secret, if set, verifies Standard Webhooks signatures.
	Secret string `json:"secret,omitempty"`

	verifier *signing.StandardWebhooks
	logger   *zap.Logger
}

type sunk struct {
	ReceivedAt     time.Time       `json:"received_at"`
	Path           string          `json:"path"`
	WebhookID      string          `json:"webhook_id,omitempty"`
	SignatureValid *bool           `json:"signature_valid,omitempty"`
	Authorization  string          `json:"authorization,omitempty"`
	Body           json.RawMessage `json:"body"`
}

var (
	demoSunkMu sync.Mutex
	demoSunk   []sunk
)

// CaddyModule returns the Caddy module information.
func (DemoSink) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.agenthook_demo_sink",
		New: func() caddy.Module { return new(DemoSink) },
	}
}

// Provision sets up the verifier.
func (d *DemoSink) Provision(ctx caddy.Context) error {
	d.logger = ctx.Logger()
	if d.Secret == "" {
		return nil
	}
	secret, err := resolveSecret(caddy.NewReplacer(), d.Secret)
	if err != nil {
		return err
	}
	d.verifier, err = signing.NewStandardWebhooks([]string{secret}, 0)
	return err
}

// UnmarshalCaddyfile sets up the sink. Syntax:
//
//	agenthook_demo_sink [<whsec_secret>]
func (d *DemoSink) UnmarshalCaddyfile(disp *caddyfile.Dispenser) error {
	disp.Next()
	if disp.NextArg() {
		d.Secret = disp.Val()
	}
	if disp.NextArg() {
		return disp.ArgErr()
	}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (d *DemoSink) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method == http.MethodGet {
		demoSunkMu.Lock()
		list := make([]sunk, len(demoSunk))
		for i := range demoSunk {
			list[i] = demoSunk[len(demoSunk)-1-i]
		}
		demoSunkMu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(map[string]any{"received": list})
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	s := sunk{ReceivedAt: time.Now().UTC(), Path: r.URL.Path, WebhookID: r.Header.Get("Webhook-Id"), Body: body}
	if !json.Valid(body) {
		s.Body, _ = json.Marshal(string(body))
	}
	if user, _, ok := r.BasicAuth(); ok {
		s.Authorization = "Basic " + user + ":***"
	}
	if d.verifier != nil && r.Header.Get("Webhook-Signature") != "" {
		_, err := d.verifier.Verify(r, body, time.Now())
		valid := err == nil
		s.SignatureValid = &valid
	}
	demoSunkMu.Lock()
	demoSunk = append(demoSunk, s)
	if len(demoSunk) > 100 {
		demoSunk = demoSunk[len(demoSunk)-100:]
	}
	demoSunkMu.Unlock()
	d.logger.Info("demo sink received a callback", zap.String("path", s.Path), zap.String("webhook_id", s.WebhookID), zap.Any("signature_valid", s.SignatureValid))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*DemoSink)(nil)
	_ caddyhttp.MiddlewareHandler = (*DemoSink)(nil)
	_ caddyfile.Unmarshaler       = (*DemoSink)(nil)
)
