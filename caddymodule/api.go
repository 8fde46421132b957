package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/api"
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
	// Keys are the bearer keys that may use the whole API (root keys):
	// plain, or sha256:<hex> (what `caddy adapt` writes for literal
	// keys), or placeholders. Root keys also mint keys through the API.
	Keys []string `json:"keys,omitempty"`
	// ScopedKeys are bearer keys limited to some agents, or to reading.
	ScopedKeys []ScopedAPIKey `json:"scoped_keys,omitempty"`
	// Prefix is the path the API lives under. Default /api.
	Prefix string `json:"prefix,omitempty"`

	api *api.API
}

// ScopedAPIKey is a management API key that may do less than a root key.
type ScopedAPIKey struct {
	// Key is as in APIHandler.Keys.
	Key string `json:"key"`
	// Agents are the agents the key sees; the others' resources are 404
	// to it. Empty: every agent.
	Agents []string `json:"agents,omitempty"`
	// ReadOnly keys get 403 on every write.
	ReadOnly bool `json:"read_only,omitempty"`
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
	if len(a.Keys) == 0 && len(a.ScopedKeys) == 0 {
		return errors.New("agenthook_api needs at least one bearer key")
	}
	appIface, err := ctx.App("agenthook")
	if err != nil {
		return err
	}
	app := appIface.(*App)
	keyring, err := a.keyring(app)
	if err != nil {
		return err
	}
	rt := app.rt
	a.api = &api.API{
		Prefix:   a.Prefix,
		Keys:     keyring,
		Store:    rt.store,
		Registry: rt.registry,
		Agents:   func() map[string]*handler.Agent { return app.agents },
		Static:   app.staticCallbacks(),
		CheckURL: app.checkURL,
		Changed:  rt.dispatcher.ResetHealth,
		Logger:   ctx.Logger(),
		Metrics:  app.metrics,
		Now:      nowFunc,
	}
	// Counted in the store, so across the instances sharing it.
	a.api.MaxRegistrations = app.Delivery.maxRegistrations()
	a.api.MaxTimeout = app.deliveryTimeout()
	a.api.Tester = rt.dispatcher
	a.api.Breakers = rt.dispatcher
	a.api.EndpointExists = app.ids.has
	a.api.Endpoints = app.ids.endpointsOf
	a.api.Stats = app.metrics.stats
	a.api.QueueDepth = rt.store.TaskCounts
	a.api.Stopping = caddy.Exiting
	return nil
}

// Cleanup ends the API's stats streams: the config is replaced, or the
// server stops, and a stream would otherwise hold its connection open
// through the graceful shutdown.
func (a *APIHandler) Cleanup() error {
	if a.api != nil {
		a.api.Close()
	}
	return nil
}

// keyring resolves the keys and checks that their agents exist.
func (a *APIHandler) keyring(app *App) (*api.Keyring, error) {
	repl := caddy.NewReplacer()
	keys := make([]api.ConfigKey, 0, len(a.Keys)+len(a.ScopedKeys))
	for _, k := range a.Keys {
		tok, err := resolveSecret(repl, k)
		if err != nil {
			return nil, err
		}
		keys = append(keys, api.ConfigKey{Token: tok})
	}
	for i, k := range a.ScopedKeys {
		tok, err := resolveSecret(repl, k.Key)
		if err != nil {
			return nil, err
		}
		if len(k.Agents) == 0 && !k.ReadOnly {
			// It would be a root key without saying so.
			return nil, fmt.Errorf("agenthook_api: scoped key %d has neither agents nor read_only", i+1)
		}
		for _, name := range k.Agents {
			if app.agents[name] == nil {
				return nil, fmt.Errorf("agenthook_api: scoped key %d names agent %q, which the agenthook option does not declare", i+1, name)
			}
		}
		keys = append(keys, api.ConfigKey{Token: tok, Scope: api.Scope{Agents: k.Agents, ReadOnly: k.ReadOnly}})
	}
	return api.NewKeyring(keys)
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
//		bearer <key...> [{
//			agents <name...>
//			read_only
//		}]
//		prefix <path>
//	}
//
// Keys without a block are root keys: every agent, every write, and the
// keys themselves.
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
			var hashed []string
			for _, k := range args {
				h, err := hashLiteral(k)
				if err != nil {
					return d.Errf("bearer: %v", err)
				}
				hashed = append(hashed, h)
			}
			scope, scoped, err := unmarshalKeyScope(d)
			if err != nil {
				return err
			}
			if !scoped {
				a.Keys = append(a.Keys, hashed...)
				continue
			}
			for _, h := range hashed {
				a.ScopedKeys = append(a.ScopedKeys, ScopedAPIKey{Key: h, Agents: scope.Agents, ReadOnly: scope.ReadOnly})
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
	if len(a.Keys) == 0 && len(a.ScopedKeys) == 0 {
		return d.Err("agenthook_api needs at least one key: bearer <key>")
	}
	return nil
}

// unmarshalKeyScope reads the block of a bearer line, if it has one.
func unmarshalKeyScope(d *caddyfile.Dispenser) (ScopedAPIKey, bool, error) {
	var k ScopedAPIKey
	scoped := false
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		scoped = true
		switch d.Val() {
		case "agents":
			if k.Agents != nil {
				return k, false, d.Err("bearer: agents already specified")
			}
			k.Agents = d.RemainingArgs()
			if len(k.Agents) == 0 {
				return k, false, d.Err("bearer: agents needs at least one agent name")
			}
		case "read_only":
			if d.NextArg() {
				return k, false, d.ArgErr()
			}
			if k.ReadOnly {
				return k, false, d.Err("bearer: read_only already specified")
			}
			k.ReadOnly = true
		default:
			return k, false, d.Errf("unrecognized bearer option '%s': use agents or read_only", d.Val())
		}
	}
	if scoped && k.Agents == nil && !k.ReadOnly {
		return k, false, d.Err("bearer: a block needs agents or read_only")
	}
	return k, scoped, nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*APIHandler)(nil)
	_ caddy.CleanerUpper          = (*APIHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*APIHandler)(nil)
	_ caddyfile.Unmarshaler       = (*APIHandler)(nil)
)
