package caddymodule

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/agenthook/agenthook/handler/endpoint"
	"github.com/agenthook/agenthook/signing"
)

// AuthConfig is one way callers may authenticate. An endpoint with
// several accepts a caller that passes any one.
type AuthConfig struct {
	// Scheme is one of none, basic, bearer, hmac, standard_webhooks,
	// github, stripe.
	Scheme string `json:"scheme"`

	// Users are for basic: usernames with bcrypt hashes.
	Users []BasicUserConfig `json:"users,omitempty"`
	// Realm is sent in WWW-Authenticate for basic.
	Realm string `json:"realm,omitempty"`

	// Secrets are bearer tokens (plain or sha256:<hex>), HMAC keys,
	// whsec_/whpk_ keys, or GitHub/Stripe webhook secrets. Several mean
	// rotation: any one may match. Placeholders such as {env.X} and
	// {file./path} are resolved when the config loads.
	Secrets []string `json:"secrets,omitempty"`

	// Header, Algorithm, Encoding and Prefix shape the hmac scheme.
	// Defaults: x-signature, sha256, hex, no prefix (UPTIQ's shape).
	Header    string `json:"header,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Encoding  string `json:"encoding,omitempty"`
	Prefix    string `json:"prefix,omitempty"`

	// Tolerance is the allowed clock skew of signed timestamps for
	// standard_webhooks (default 5m) and stripe (default 300s).
	Tolerance caddy.Duration `json:"tolerance,omitempty"`
}

// BasicUserConfig is one Basic-auth user.
type BasicUserConfig struct {
	Username string `json:"username"`
	// Password is a bcrypt hash, as made by `caddy hash-password`.
	Password string `json:"password"`
}

// authSchemes lists the schemes, for messages.
const authSchemes = "none, basic, bearer, hmac, standard_webhooks, github, stripe"

// buildAuth turns auth configs into verifiers, plus the request headers
// that carry credentials (stripped before forwarding).
func buildAuth(cfgs []AuthConfig) (auth endpoint.Auth, strip []string, err error) {
	repl := caddy.NewReplacer()
	for i, c := range cfgs {
		secrets := make([]string, 0, len(c.Secrets))
		for j, s := range c.Secrets {
			v, err := resolveSecret(repl, s)
			if err != nil {
				return auth, nil, fmt.Errorf("auth %s: secret %d: %w", c.Scheme, j+1, err)
			}
			secrets = append(secrets, v)
		}
		var v signing.Verifier
		switch c.Scheme {
		case "none":
			if len(cfgs) > 1 {
				return auth, nil, fmt.Errorf("auth none cannot be combined with other auth lines")
			}
			auth.None = true
			continue
		case "basic":
			users := make([]signing.BasicUser, len(c.Users))
			for k, u := range c.Users {
				hash, err := resolveSecret(repl, u.Password)
				if err != nil {
					return auth, nil, fmt.Errorf("auth basic: user %s: %w", u.Username, err)
				}
				users[k] = signing.BasicUser{Username: u.Username, Hash: hash}
			}
			v, err = signing.NewBasic(c.Realm, users)
			strip = append(strip, "Authorization")
		case "bearer":
			v, err = signing.NewBearer(secrets)
			strip = append(strip, "Authorization")
		case "hmac":
			h := signing.HMACConfig{Secrets: secrets, Header: c.Header, Algorithm: c.Algorithm, Encoding: c.Encoding, Prefix: c.Prefix}
			v, err = signing.NewHMAC(h)
			header := c.Header
			if header == "" {
				header = "X-Signature"
			}
			strip = append(strip, header)
		case "standard_webhooks":
			v, err = signing.NewStandardWebhooks(secrets, time.Duration(c.Tolerance))
			strip = append(strip, "Webhook-Signature", "Svix-Signature")
		case "github":
			v, err = signing.NewGitHub(secrets)
			strip = append(strip, "X-Hub-Signature-256", "X-Hub-Signature")
		case "stripe":
			v, err = signing.NewStripe(secrets, time.Duration(c.Tolerance))
			strip = append(strip, "Stripe-Signature")
		default:
			return auth, nil, fmt.Errorf("unknown auth scheme %q: use one of %s", c.Scheme, authSchemes)
		}
		if err != nil {
			return auth, nil, fmt.Errorf("auth %d (%s): %w", i+1, c.Scheme, err)
		}
		auth.Verifiers = append(auth.Verifiers, v)
	}
	return auth, dedupe(strip), nil
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
