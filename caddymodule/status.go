package caddymodule

import (
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/agenthook/agenthook/handler/endpoint"
)

func init() {
	caddy.RegisterModule(StatusHandler{})
}

// StatusHandler is the `agenthook_status` HTTP handler: DocsGPT-style
// task polling, GET ?task_id=<id> or GET .../<id>.
//
// Without auth, the task id (128 random bits) is the capability, as in
// DocsGPT. With auth, callers see only the tasks they created.
type StatusHandler struct {
	Auth []AuthConfig `json:"auth,omitempty"`
	// MaxReaders bounds the polls this handler answers at once; more get
	// 503 with Retry-After. Default 64.
	MaxReaders int `json:"max_readers,omitempty"`
	// WriteTimeout bounds the writing of one answer, so that a slow
	// reader lets go of it. Default 30s.
	WriteTimeout caddy.Duration `json:"write_timeout,omitempty"`

	h *endpoint.Status
}

// CaddyModule returns the Caddy module information.
func (StatusHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.agenthook_status",
		New: func() caddy.Module { return new(StatusHandler) },
	}
}

// Provision sets the handler up.
func (s *StatusHandler) Provision(ctx caddy.Context) error {
	appIface, err := ctx.App("agenthook")
	if err != nil {
		return err
	}
	app := appIface.(*App)
	if s.MaxReaders < 0 || s.WriteTimeout < 0 {
		return errors.New("max_readers and write_timeout must be positive")
	}
	auth, _, err := buildAuth(s.Auth)
	if err != nil {
		return err
	}
	auth.Replay = app.rt.store
	auth.Metrics = app.metrics
	s.h = &endpoint.Status{Auth: auth, Store: app.rt.store, Logger: ctx.Logger(), Metrics: app.metrics, Now: nowFunc,
		MaxReaders: s.MaxReaders, WriteTimeout: time.Duration(s.WriteTimeout)}
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (s *StatusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	s.h.ServeHTTP(w, r)
	return nil
}

// UnmarshalCaddyfile sets up the handler. Syntax:
//
//	agenthook_status [<matcher>] {
//		auth <scheme> ...   # as on agenthook endpoints; optional here
//		max_readers <n>
//		write_timeout <duration>
//	}
func (s *StatusHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "auth":
			a, err := unmarshalAuth(d)
			if err != nil {
				return err
			}
			if a.Scheme == "none" {
				return d.Err("auth none is the default here; leave auth out instead")
			}
			s.Auth = append(s.Auth, a)
		case "max_readers":
			err := setOnce(d, "max_readers", s.MaxReaders != 0, func() (err error) {
				s.MaxReaders, err = positiveInt(d)
				return err
			})
			if err != nil {
				return err
			}
		case "write_timeout":
			err := setOnce(d, "write_timeout", s.WriteTimeout != 0, func() (err error) {
				s.WriteTimeout, err = durationArg(d)
				return err
			})
			if err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized agenthook_status option '%s'", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*StatusHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*StatusHandler)(nil)
	_ caddyfile.Unmarshaler       = (*StatusHandler)(nil)
)
