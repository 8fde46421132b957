package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
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
// DocsGPT. With auth, a caller sees a task only if the credential that
// verified the poll is one of the credentials of the auth line (for
// Basic, the user) that created the task, in the current config.
type StatusHandler struct {
	// Auth lists the accepted ways to authenticate, as on agenthook
	// endpoints, except `none` (the default) and the schemes that sign
	// the body (a status request has none).
	Auth []json.RawMessage `json:"auth,omitempty" caddy:"namespace=agenthook.auth inline_key=scheme"`
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
	auth, _, err := loadAuth(ctx, s.Auth, true)
	if err != nil {
		return err
	}
	if auth.None {
		return errors.New("auth none is the default on agenthook_status; leave auth out instead")
	}
	auth.Metrics = app.metrics
	s.h = &endpoint.Status{
		Auth:         auth,
		KeyIDs:       app.ids.keyIDsOf,
		Hooks:        hooks(),
		Store:        app.rt.store,
		Logger:       ctx.Logger(),
		Metrics:      app.metrics,
		Now:          nowFunc,
		MaxReaders:   s.MaxReaders,
		WriteTimeout: time.Duration(s.WriteTimeout),
	}
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
//		auth bearer <token...>
//		auth basic [<realm>] {
//			<user> <hash>
//		}
//		auth <scheme> ...   # any scheme that does not sign the body
//		max_readers <n>
//		write_timeout <duration>
//	}
func (s *StatusHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	count := map[string]int{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "auth":
			// Errors about the whole line name where it starts.
			file, line := d.File(), d.Line()
			raw, scheme, err := unmarshalAuthLine(d)
			if err != nil {
				return err
			}
			name := scheme.CaddyModule().ID.Name()
			count[name]++
			if _, ok := scheme.(*AuthNone); ok {
				return d.Errf("auth none is the default here; leave auth out instead")
			}
			if scheme.SignsBody() {
				return fmt.Errorf("%s:%d - Error during parsing: auth %s: %s signs the request body, and a status request has none: "+
					"its signature would be a fixed value, replayable forever; use bearer or basic here",
					file, line, endpoint.LineName(name, count[name]), name)
			}
			s.Auth = append(s.Auth, raw)
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
