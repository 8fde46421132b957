package caddymodule

import (
	"strings"

	"github.com/agenthook/agenthook/handler/endpoint"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("agenthook", parseEndpoint)
	httpcaddyfile.RegisterHandlerDirective("agenthook_status", parseStatus)
	httpcaddyfile.RegisterHandlerDirective("agenthook_api", parseAPI)
	// All before reverse_proxy, so agenthook routes win over a catch-all
	// proxy in the same site; each is inserted just before reverse_proxy,
	// so they keep this order: endpoints, then status, then the API, whose
	// usual /api prefix would otherwise shadow the other two.
	httpcaddyfile.RegisterDirectiveOrder("agenthook", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("agenthook_status", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterDirectiveOrder("agenthook_api", httpcaddyfile.Before, "reverse_proxy")
}

func parseEndpoint(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	e := new(Endpoint)
	err := e.UnmarshalCaddyfile(h.Dispenser)
	return e, err
}

// UnmarshalCaddyfile sets up the endpoint. Syntax:
//
//	agenthook [<matcher>] [<agent>] {
//		agent_from_token
//		auth none
//		auth basic [<realm>] {
//			<user> <bcrypt-hash>
//		}
//		auth bearer <token...>
//		auth hmac <secret...> [{
//			header <name>
//			algorithm sha1|sha256|sha512
//			encoding hex|base64
//			prefix <prefix>
//		}]
//		auth standard_webhooks <whsec_...|whpk_...>... [{
//			tolerance <duration>
//		}]
//		auth github <secret...>
//		auth stripe <secret...> [{
//			tolerance <duration>
//		}]
//		mode sync|async
//		format raw|cognigy
//		chat_header <name>
//		continue_header <name>
//		max_body <size>
//		chat_ttl <duration>
//		timeout <duration>
//		sensitive
//		name <name>
//	}
//
// Several auth lines mean any one may pass. With none, the config is
// refused unless `auth none` says the endpoint is open on purpose.
func (e *Endpoint) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		e.Agent = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var err error
		switch opt {
		case "agent_from_token":
			err = setOnce(d, opt, e.AgentFromToken, func() error {
				if d.NextArg() {
					return d.ArgErr()
				}
				e.AgentFromToken = true
				return nil
			})
		case "auth":
			a, err := unmarshalAuth(d)
			if err != nil {
				return err
			}
			e.Auth = append(e.Auth, a)
		case "mode":
			err = setOnce(d, opt, e.Mode != "", func() error {
				if !d.AllArgs(&e.Mode) || (e.Mode != "sync" && e.Mode != "async") {
					return d.Err("mode must be sync or async")
				}
				return nil
			})
		case "format":
			err = setOnce(d, opt, e.Format != "", func() error {
				if !d.AllArgs(&e.Format) || !knownRequestFormat(e.Format) {
					return d.Errf("format must be %s", strings.Join(endpoint.FormatNames(), " or "))
				}
				return nil
			})
		case "chat_header":
			err = setOnce(d, opt, e.ChatHeader != "", func() error { return oneValue(d, &e.ChatHeader) })
		case "continue_header":
			err = setOnce(d, opt, e.ContinueHeader != "", func() error { return oneValue(d, &e.ContinueHeader) })
		case "max_body":
			err = setOnce(d, opt, e.MaxBody != 0, func() (err error) { e.MaxBody, err = sizeArg(d); return })
		case "chat_ttl":
			err = setOnce(d, opt, e.ChatTTL != 0, func() (err error) { e.ChatTTL, err = durationArg(d); return })
		case "timeout":
			err = setOnce(d, opt, e.Timeout != 0, func() (err error) { e.Timeout, err = durationArg(d); return })
		case "sensitive":
			err = setOnce(d, opt, e.Sensitive, func() error {
				if d.NextArg() {
					return d.ArgErr()
				}
				e.Sensitive = true
				return nil
			})
		case "name":
			err = setOnce(d, opt, e.Name != "", func() error { return oneValue(d, &e.Name) })
		default:
			return d.Errf("unrecognized agenthook option '%s'", opt)
		}
		if err != nil {
			return err
		}
	}
	if err := e.validate(); err != nil {
		// Name the directive's own line, not the end of its block.
		d.Reset()
		d.Next()
		return d.Err(err.Error())
	}
	return nil
}

// unmarshalAuth reads one `auth <scheme> ...` line.
func unmarshalAuth(d *caddyfile.Dispenser) (AuthConfig, error) {
	var a AuthConfig
	if !d.NextArg() {
		return a, d.Errf("auth needs a scheme: %s", authSchemes)
	}
	a.Scheme = d.Val()
	switch a.Scheme {
	case "none":
		if d.NextArg() {
			return a, d.ArgErr()
		}
	case "basic":
		if d.NextArg() {
			a.Realm = d.Val()
		}
		if d.NextArg() {
			return a, d.ArgErr()
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			user := d.Val()
			var hash string
			if !d.AllArgs(&hash) {
				return a, d.Errf("basic user %s needs a bcrypt hash (make one with `caddy hash-password`)", user)
			}
			for _, u := range a.Users {
				if u.Username == user {
					return a, d.Errf("basic user %s already specified", user)
				}
			}
			a.Users = append(a.Users, BasicUserConfig{Username: user, Password: hash})
		}
		if len(a.Users) == 0 {
			return a, d.Err("auth basic needs at least one user in a block: { <user> <bcrypt-hash> }")
		}
	case "bearer":
		for _, tok := range d.RemainingArgs() {
			h, err := hashLiteral(tok)
			if err != nil {
				return a, d.Errf("auth bearer: %v", err)
			}
			a.Secrets = append(a.Secrets, h)
		}
		if len(a.Secrets) == 0 {
			return a, d.Err("auth bearer needs at least one token")
		}
	case "hmac", "standard_webhooks", "github", "stripe":
		a.Secrets = d.RemainingArgs()
		if len(a.Secrets) == 0 {
			return a, d.Errf("auth %s needs at least one secret", a.Scheme)
		}
		switch a.Scheme {
		case "hmac":
			if err := unmarshalHMACOptions(d, &a.Header, &a.Algorithm, &a.Encoding, &a.Prefix); err != nil {
				return a, err
			}
		case "standard_webhooks", "stripe":
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				if d.Val() != "tolerance" {
					return a, d.Errf("unrecognized auth %s option '%s'", a.Scheme, d.Val())
				}
				err := setOnce(d, d.Val(), a.Tolerance != 0, func() (err error) { a.Tolerance, err = durationArg(d); return })
				if err != nil {
					return a, err
				}
			}
		}
	default:
		return a, d.Errf("unknown auth scheme '%s': use one of %s", a.Scheme, authSchemes)
	}
	return a, nil
}

// knownRequestFormat reports whether an endpoint format name exists.
func knownRequestFormat(name string) bool {
	_, ok := endpoint.Format(name)
	return ok && name != ""
}

// oneValue reads an option's single, non-empty argument.
func oneValue(d *caddyfile.Dispenser, v *string) error {
	opt := d.Val()
	if !d.AllArgs(v) || *v == "" {
		return d.Errf("%s needs one non-empty value", opt)
	}
	return nil
}

func parseAPI(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	a := new(APIHandler)
	return a, a.UnmarshalCaddyfile(h.Dispenser)
}

func parseStatus(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(StatusHandler)
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*Endpoint)(nil)
	_ caddyfile.Unmarshaler = (*App)(nil)
)
