package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2"

	"github.com/agenthook/agenthook/handler/admin"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the `admin.api.agenthook` module: agenthook's routes on
// Caddy's admin endpoint, under /agenthook/ (see package handler/admin),
// which `caddy agenthook` subcommands call. The admin endpoint is trusted
// as Caddy's own routes are: it listens on loopback by default, and these
// routes take no key of their own.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.agenthook",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the /agenthook/ routes.
func (AdminAPI) Routes() []caddy.AdminRoute {
	h := &admin.Admin{Prefix: admin.DefaultPrefix, Runtime: runningAdminRuntime}
	return []caddy.AdminRoute{{
		Pattern: admin.DefaultPrefix,
		Handler: caddy.AdminHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			h.ServeHTTP(w, r)
			return nil
		}),
	}}
}

// runningAdminRuntime finds the agenthook app of the running config at
// each request, not when the admin endpoint is provisioned: Caddy
// replaces the admin endpoint before it loads a new config's apps (asking
// for the app then would load it out of turn), and a config loaded later
// without replacing the admin endpoint must be the one answered for.
func runningAdminRuntime() (*admin.Runtime, error) {
	v, err := caddy.ActiveContext().AppIfConfigured("agenthook")
	if err != nil {
		return nil, errors.New("the running config has no agenthook app")
	}
	app, ok := v.(*App)
	if !ok || app.rt == nil {
		return nil, errors.New("the agenthook app is not started")
	}
	return app.adminRuntime(), nil
}

// adminRuntime is the admin routes' view of this config and its runtime.
func (a *App) adminRuntime() *admin.Runtime {
	rt := a.rt
	return &admin.Runtime{
		Store:  rt.store,
		Agents: a.agentNames(),
		Static: a.staticCallbacks(),
		Changed: func(id string) {
			rt.registry.Invalidate()
			rt.dispatcher.ResetHealth(id)
		},
		Now: nowFunc,
	}
}

// Interface guard
var _ caddy.AdminRouter = (*AdminAPI)(nil)
