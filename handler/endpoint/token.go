package endpoint

import (
	"net/http"
	"strings"

	"github.com/agenthook/agenthook/handler"
)

// hideToken is the first thing an agent_from_token endpoint does, before
// anything that can answer (a wrong method, a body too large): every
// answer is logged, by the endpoint and by Caddy's access log, and neither
// may see the token. It takes the request out of the access log, looks the
// token (the last path segment) up, and replaces it in the URL with the
// agent's name, or REDACTED when it names no agent. Every token is
// compared, so timing says nothing about which agents exist.
func (e *Endpoint) hideToken(r *http.Request, c *call) {
	if e.HideRequest != nil {
		e.HideRequest(r)
	}
	seg := lastSegment(r.URL.Path)
	name, keyID, ok := e.Tokens.LookupKeyID(seg)
	agent := e.Agents[name]
	if !ok || agent == nil {
		redactToken(r, seg, "REDACTED")
		return
	}
	redactToken(r, seg, name)
	c.tokenAgent, c.tokenKeyID = agent, keyID
}

// agentFromToken is the agent hideToken found, and the KeyID of its
// token. A miss is the same 404 as a path that does not exist.
func (e *Endpoint) agentFromToken(c *call) (*handler.Agent, string, error) {
	if c.tokenAgent == nil {
		e.Auth.metrics().AuthFailure("token", "invalid")
		return nil, "", handler.Errorf(http.StatusNotFound, handler.CodeNotFound, "no agent webhook at this URL")
	}
	return c.tokenAgent, c.tokenKeyID, nil
}

// lastSegment returns the last non-empty segment of a path.
func lastSegment(p string) string {
	p = strings.TrimRight(p, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

// redactToken replaces the token in the request's URL with the agent's
// name. The backend then sees a stable path, and the token reaches neither
// the backend nor a log.
func redactToken(r *http.Request, token, name string) {
	trimmed := strings.TrimRight(r.URL.Path, "/")
	r.URL.Path = trimmed[:len(trimmed)-len(token)] + name
	r.URL.RawPath = ""
	r.RequestURI = r.URL.RequestURI()
}
