package endpoint

import (
	"net/http"
	"strings"

	"github.com/agenthook/agenthook/handler"
)

// agentFromToken picks the agent by a DocsGPT-style token, the last path
// segment. Every token is compared, so timing says nothing about which
// agents exist, and a miss is the same 404 as a path that does not exist.
// It returns the agent and the KeyID of the token.
func (e *Endpoint) agentFromToken(r *http.Request) (*handler.Agent, string, error) {
	if e.HideRequest != nil {
		e.HideRequest(r)
	}
	seg := lastSegment(r.URL.Path)
	name, keyID, ok := e.Tokens.LookupKeyID(seg)
	agent := e.Agents[name]
	if !ok || agent == nil {
		redactToken(r, seg, "REDACTED")
		e.Auth.metrics().AuthFailure("token", "invalid")
		return nil, "", handler.Errorf(http.StatusNotFound, handler.CodeNotFound, "no agent webhook at this URL")
	}
	redactToken(r, seg, name)
	return agent, keyID, nil
}

// lastSegment returns the last non-empty segment of a path.
func lastSegment(p string) string {
	p = strings.TrimRight(p, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

// redactToken replaces the token in the request's URL with the agent's
// name. The backend then sees a stable path, and the token reaches neither
// the backend nor Caddy's access log, which reads the same request.
func redactToken(r *http.Request, token, name string) {
	trimmed := strings.TrimRight(r.URL.Path, "/")
	r.URL.Path = trimmed[:len(trimmed)-len(token)] + name
	r.URL.RawPath = ""
	r.RequestURI = r.URL.RequestURI()
}
