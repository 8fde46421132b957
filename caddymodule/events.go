package caddymodule

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agenthook/agenthook/handler/delivery"
)

// OperationalEvent implements delivery.Observer: the config in charge
// emits the event through its events app, named as its type
// (delivery.exhausted, callback.disabled, callback.recovered) with the
// agenthook app as origin, so that the events app's handlers can act on
// it: `events { on delivery.exhausted <handler> }`. Handlers run in the
// dispatcher's goroutine, as Caddy runs them in the emitter's.
func (rt *runtime) OperationalEvent(ev delivery.OpEvent) {
	if a := rt.current(); a != nil && a.events != nil {
		a.events.Emit(a.ctx, ev.Type, ev.Data())
	}
}

// has reports whether an endpoint of this name was provisioned.
func (ids *identities) has(name string) bool {
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	_, ok := ids.endpoints[name]
	return ok
}

func (ids *identities) names() []string {
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	out := make([]string, 0, len(ids.endpoints))
	for n := range ids.endpoints {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// checkCallbackEndpoints refuses, when the config starts (its endpoints
// are provisioned by then), a callback routed to an endpoint the config
// does not have: it would never receive a task event.
func (a *App) checkCallbackEndpoints() error {
	for _, name := range a.agentNames() {
		for i, cb := range a.Agents[name].callbacks {
			if cb.Endpoint != "" && !a.ids.has(cb.Endpoint) {
				return fmt.Errorf("agent %s: callback %d: endpoint %q: no agenthook handler has that name (the names are %s; set one with `name` in the handler)",
					name, i+1, cb.Endpoint, strings.Join(a.ids.names(), ", "))
			}
		}
	}
	return nil
}
