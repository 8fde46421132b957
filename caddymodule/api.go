package caddymodule

import (
	"errors"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/api"
	"github.com/agenthook/agenthook/signing"
)

func init() {
	caddy.RegisterModule(APIHandler{})
	// The directive and its order are registered with the others, in
	// caddyfile_handlers.go, so it comes after agenthook and
	// agenthook_status.
}

// APIHandler is the `agenthook_api` HTTP handler: the management API for
// callback registrations (Tess-compatible), deliveries and tasks.
type APIHandler struct {
	// Keys are the bearer keys that may use the API: plain, or
	// sha256:<hex> (what `caddy adapt` writes for literal keys), or
	// placeholders.
	Keys []string `json:"keys,omitempty"`
	// Prefix is the path the API lives under. Default /api.
	Prefix string `json:"prefix,omitempty"`

	api *api.API
}

// CaddyModule returns the Caddy module information.
func (APIHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.agenthook_api",
		New: func() caddy.Module { return new(APIHandler) },
	}
}

// Provision sets the API up.
func (a *APIHandler) Provision(ctx caddy.Context) error {
	if len(a.Keys) == 0 {
		return errors.New("agenthook_api needs at least one bearer key")
	}
	appIface, err := ctx.App("agenthook")
	if err != nil {
		return err
	}
	app := appIface.(*App)
	repl := caddy.NewReplacer()
	keys := make([]string, len(a.Keys))
	for i, k := range a.Keys {
		if keys[i], err = resolveSecret(repl, k); err != nil {
			return err
		}
	}
	bearer, err := signing.NewBearer(keys)
	if err != nil {
		return err
	}
	rt := app.rt
	a.api = &api.API{
		Prefix:   a.Prefix,
		Keys:     bearer,
		Store:    rt.store,
		Registry: rt.registry,
		Agents:   func() map[string]*handler.Agent { return app.agents },
		Static:   app.staticCallbacks(),
		CheckURL: app.egress.checkURL,
		Changed:  rt.dispatcher.ResetHealth,
		Logger:   ctx.Logger(),
		Metrics:  app.metrics,
		Now:      nowFunc,
	}
	// Counted in the store, so across the instances sharing it.
	a.api.MaxRegistrations = app.Delivery.maxRegistrations()
	a.api.MaxTimeout = app.deliveryTimeout()
	a.api.Tester = rt.dispatcher
	a.api.EndpointExists = app.ids.has
	return nil
}

// ServeHTTP implements caddyhttp.MiddlewareHandler. Paths outside the
// API's prefix go on to the next handler, so the directive works without
// a matcher.
func (a *APIHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !a.api.Owns(r.URL.Path) {
		return next.ServeHTTP(w, r)
	}
	a.api.ServeHTTP(w, r)
	return nil
}

// UnmarshalCaddyfile sets up the API. Syntax:
//
//	agenthook_api [<matcher>] {
//		bearer <key...>
//		prefix <path>
//	}
func (a *APIHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "bearer":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, k := range args {
				h, err := hashLiteral(k)
				if err != nil {
					return d.Errf("bearer: %v", err)
				}
				a.Keys = append(a.Keys, h)
			}
		case "prefix":
			err := setOnce(d, "prefix", a.Prefix != "", func() error {
				if !d.AllArgs(&a.Prefix) || !strings.HasPrefix(a.Prefix, "/") || a.Prefix == "/" {
					return d.Err("prefix must be a path such as /api")
				}
				return nil
			})
			if err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized agenthook_api option '%s'", d.Val())
		}
	}
	if len(a.Keys) == 0 {
		return d.Err("agenthook_api needs at least one key: bearer <key>")
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*APIHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*APIHandler)(nil)
	_ caddyfile.Unmarshaler       = (*APIHandler)(nil)
)
