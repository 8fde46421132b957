package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/agenthook/agenthook/handler/endpoint"
	"github.com/agenthook/agenthook/signing"
)

// AuthScheme is a module in the agenthook.auth namespace: one way callers
// prove who they are, configured by one `auth <scheme> …` line of an
// agenthook or agenthook_status handler. The scheme's name is the module's
// name (agenthook.auth.hmac is `auth hmac`), and its JSON sits in the
// handler's "auth" list with that name as "scheme".
//
// A scheme module owns its config, its Caddyfile syntax (UnmarshalCaddyfile
// receives the line from the scheme's name on, with its block) and its
// provisioning (resolving placeholders in secrets). Adding a scheme is one
// file that registers such a module; see examples/authmodule for one that
// lives in a Go module of its own.
type AuthScheme interface {
	caddy.Module

	// Verifier returns the verifier built when the module was
	// provisioned. Its Results should carry a KeyID (see signing.KeyIDOf)
	// and the verifier should be a signing.KeyLister: KeyIDs name the
	// caller's credential, for task visibility and replay keys.
	Verifier() signing.Verifier

	// CredentialHeaders names the request headers that carry the
	// credential. They are removed before the request is forwarded or
	// queued, so the backend never sees them.
	CredentialHeaders() []string

	// SignsBody reports whether the credential is a signature over the
	// request body. Such schemes are refused on agenthook_status: a
	// status request has no body, so its signature would be a fixed value,
	// replayable forever.
	SignsBody() bool
}

// authNamespace is the module namespace of auth schemes.
const authNamespace = "agenthook.auth"

// authSchemeNames lists the registered auth schemes, for messages.
func authSchemeNames() string {
	var names []string
	for _, m := range caddy.GetModules(authNamespace) {
		names = append(names, m.ID.Name())
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// isAuthScheme reports whether a scheme name is a registered module.
func isAuthScheme(name string) bool {
	if name == "" || strings.Contains(name, ".") {
		return false
	}
	_, err := caddy.GetModule(authNamespace + "." + name)
	return err == nil
}

// unknownScheme is the error for a scheme no module provides. It names
// the scheme only: what follows it on the line may be a secret.
func unknownScheme(name string) error {
	return fmt.Errorf("unknown auth scheme %q: use one of %s", name, authSchemeNames())
}

// unmarshalAuthLine reads one `auth <scheme> …` line, the dispenser on
// `auth`, through the scheme module's own UnmarshalCaddyfile. It returns
// the line's JSON, the scheme's name inline as "scheme", and the module.
func unmarshalAuthLine(d *caddyfile.Dispenser) (json.RawMessage, AuthScheme, error) {
	if !d.NextArg() {
		return nil, nil, d.Errf("auth needs a scheme: %s", authSchemeNames())
	}
	name := d.Val()
	if !isAuthScheme(name) {
		return nil, nil, d.Errf("unknown auth scheme '%s': use one of %s", name, authSchemeNames())
	}
	unm, err := caddyfile.UnmarshalModule(d, authNamespace+"."+name)
	if err != nil {
		return nil, nil, err
	}
	scheme, ok := unm.(AuthScheme)
	if !ok {
		return nil, nil, d.Errf("module %s.%s is not an auth scheme", authNamespace, name)
	}
	return caddyconfig.JSONModuleObject(unm, "scheme", name, nil), scheme, nil
}

// authSchemesOf returns the scheme of each auth line, for checks that
// need no provisioning.
func authSchemesOf(raws []json.RawMessage) ([]string, error) {
	names := make([]string, len(raws))
	for i, raw := range raws {
		var v struct {
			Scheme string `json:"scheme"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("auth %d: %v", i+1, err)
		}
		if !isAuthScheme(v.Scheme) {
			return nil, unknownScheme(v.Scheme)
		}
		names[i] = v.Scheme
	}
	return names, nil
}

// checkAuthSchemes refuses an auth list that cannot work, before anything
// is provisioned: unknown schemes, and `none` beside other lines (it would
// make them pointless).
func checkAuthSchemes(raws []json.RawMessage) error {
	names, err := authSchemesOf(raws)
	if err != nil {
		return err
	}
	if slices.Contains(names, "none") && len(names) > 1 {
		return errors.New("auth none cannot be combined with other auth lines")
	}
	return nil
}

// loadAuth provisions auth lines: each scheme's module, named
// "<scheme>#<n>" as identities name it. It returns the endpoint's Auth and
// the credential headers to strip before forwarding. For agenthook_status
// (status true), schemes that sign the body are refused.
func loadAuth(ctx caddy.Context, raws []json.RawMessage, status bool) (endpoint.Auth, []string, error) {
	var (
		auth  endpoint.Auth
		strip []string
		count = map[string]int{}
	)
	if err := checkAuthSchemes(raws); err != nil {
		return auth, nil, err
	}
	for _, raw := range raws {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return auth, nil, err // checked above
		}
		var name string
		_ = json.Unmarshal(obj["scheme"], &name)
		delete(obj, "scheme")
		rest, err := json.Marshal(obj)
		if err != nil {
			return auth, nil, err
		}
		count[name]++
		line := endpoint.LineName(name, count[name])
		id := authNamespace + "." + name
		mod, err := ctx.LoadModuleByID(id, rest)
		if err != nil {
			// Caddy says "provision <id>: <the module's error>"; the
			// line's name already says which module.
			msg := strings.TrimPrefix(err.Error(), "provision "+id+": ")
			return auth, nil, fmt.Errorf("auth %s: %s", line, msg)
		}
		scheme, ok := mod.(AuthScheme)
		if !ok {
			return auth, nil, fmt.Errorf("auth %s: module %s.%s is not an auth scheme", line, authNamespace, name)
		}
		if _, ok := mod.(*AuthNone); ok {
			auth.None = true
			continue
		}
		if status && scheme.SignsBody() {
			return auth, nil, fmt.Errorf("auth %s: %s signs the request body, and a status request has none: "+
				"its signature would be a fixed value, replayable forever; use bearer or basic on agenthook_status", line, name)
		}
		v := scheme.Verifier()
		if v == nil {
			return auth, nil, fmt.Errorf("auth %s: the module gave no verifier", line)
		}
		auth.Lines = append(auth.Lines, endpoint.AuthLine{Name: line, Verifier: v})
		strip = append(strip, scheme.CredentialHeaders()...)
	}
	return auth, dedupe(strip), nil
}

// resolveSecrets resolves the placeholders of a line's secrets. Errors
// name the secret by position, never by value.
func resolveSecrets(secrets []string) ([]string, error) {
	repl := caddy.NewReplacer()
	out := make([]string, 0, len(secrets))
	for i, s := range secrets {
		v, err := resolveSecret(repl, s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i+1, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// secretArgs reads a line's secrets: at least one is required.
func secretArgs(d *caddyfile.Dispenser, scheme string) ([]string, error) {
	secrets := d.RemainingArgs()
	if len(secrets) == 0 {
		return nil, d.Errf("auth %s needs at least one secret", scheme)
	}
	return secrets, nil
}

// toleranceBlock reads an optional `{ tolerance <duration> }` block.
func toleranceBlock(d *caddyfile.Dispenser, scheme string, tolerance *caddy.Duration) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "tolerance" {
			return d.Errf("unrecognized auth %s option '%s'", scheme, d.Val())
		}
		err := setOnce(d, d.Val(), *tolerance != 0, func() (err error) { *tolerance, err = durationArg(d); return })
		if err != nil {
			return err
		}
	}
	return nil
}

func dedupe(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := names[:0]
	for _, n := range names {
		k := http.CanonicalHeaderKey(strings.TrimSpace(n))
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
