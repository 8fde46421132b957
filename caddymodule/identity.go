package caddymodule

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/caddyserver/caddy/v2"

	"github.com/agenthook/agenthook/handler/api"
	"github.com/agenthook/agenthook/handler/endpoint"
)

// identities is what one config knows about callers: which endpoint names
// are taken, and the KeyIDs behind every principal its endpoints can
// produce. Endpoints fill it as they are provisioned; status handlers read
// it while serving, so a task is shown by the credentials the current
// config gives its creator.
type identities struct {
	mu        sync.RWMutex
	count     int // endpoints claimed so far
	endpoints map[string]endpointClaim
	keyIDs    map[string][]string
	byAgent   map[string][]api.EndpointView // the endpoints that reach each agent
}

// addEndpoint records that an endpoint reaches an agent, for the API's
// agent listing. The same endpoint on two listeners is recorded once.
func (ids *identities) addEndpoint(agent string, v api.EndpointView) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if ids.byAgent == nil {
		ids.byAgent = make(map[string][]api.EndpointView)
	}
	if !slices.Contains(ids.byAgent[agent], v) {
		ids.byAgent[agent] = append(ids.byAgent[agent], v)
	}
}

// endpointsOf returns the endpoints that reach an agent.
func (ids *identities) endpointsOf(agent string) []api.EndpointView {
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	return slices.Clone(ids.byAgent[agent])
}

// endpointClaim is an endpoint name's holder: which agenthook handler of
// the config took it first, and a digest of its settings.
type endpointClaim struct {
	ordinal int
	digest  [sha256.Size]byte
}

// claim takes name for the ordinal-th endpoint of the config. A name is
// a caller's namespace, so two different endpoints may not share one; the
// same endpoint served on two listeners (one site with two addresses) has
// the same settings, and is one endpoint.
func (ids *identities) claim(name string, settings any) error {
	raw, err := json.Marshal(settings)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(raw)
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if ids.endpoints == nil {
		ids.endpoints = make(map[string]endpointClaim)
	}
	ids.count++
	n := ids.count
	if prev, ok := ids.endpoints[name]; ok {
		if prev.digest == digest {
			return nil
		}
		return fmt.Errorf("two agenthook endpoints are named %q (the %s and the %s in the config): "+
			"give one of them `name <x>`; the name is part of every caller's identity", name, ordinal(prev.ordinal), ordinal(n))
	}
	ids.endpoints[name] = endpointClaim{ordinal: n, digest: digest}
	return nil
}

// add records the KeyIDs behind principals.
func (ids *identities) add(m map[string][]string) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if ids.keyIDs == nil {
		ids.keyIDs = make(map[string][]string, len(m))
	}
	for p, keys := range m {
		ids.keyIDs[p] = keys
	}
}

// keyIDsOf returns the KeyIDs behind a principal, or nil.
func (ids *identities) keyIDsOf(principal string) []string {
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	return ids.keyIDs[principal]
}

// ordinal spells 1 as "1st", 2 as "2nd" and so on.
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// The placeholders agenthook sets on the requests it serves. The first is
// Caddy's own (caddyauth sets it too), so access logs record the caller
// in user_id, and rate limiters and `header` can key on it.
const (
	placeholderUser   = "http.auth.user.id"
	placeholderPrefix = "http.agenthook."
)

// hooks returns the endpoint hooks that set the placeholders: the
// principal as {http.auth.user.id}, and {http.agenthook.agent},
// {http.agenthook.chat_id} and {http.agenthook.task_id} once known.
func hooks() endpoint.Hooks {
	return endpoint.Hooks{
		OnIdentity: func(r *http.Request, id endpoint.Identity) {
			if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
				repl.Set(placeholderUser, id.Principal)
			}
		},
		OnValue: func(r *http.Request, name, value string) {
			if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
				repl.Set(placeholderKey(name), value)
			}
		},
	}
}

// placeholderKeys are the placeholders of the values the endpoint sets on
// every request, spelt out so that setting one allocates no key.
var placeholderKeys = map[string]string{
	endpoint.ValueAgent:  placeholderPrefix + endpoint.ValueAgent,
	endpoint.ValueChatID: placeholderPrefix + endpoint.ValueChatID,
	endpoint.ValueTaskID: placeholderPrefix + endpoint.ValueTaskID,
}

func placeholderKey(name string) string {
	if k, ok := placeholderKeys[name]; ok {
		return k
	}
	return placeholderPrefix + name
}
