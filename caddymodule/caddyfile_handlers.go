package caddymodule

import (
	"strings"

	"github.com/agenthook/agenthook/handler/endpoint"
	"github.com/agenthook/agenthook/handler/exchange"
	"github.com/agenthook/agenthook/handler/shape"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterDirective("agenthook", parseEndpoint)
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

// parseEndpoint is what httpcaddyfile.RegisterHandlerDirective would do,
// plus one thing: an endpoint without a name is named after its path
// matcher too (support-async:/triggers/uptiq), so that two endpoints of one
// agent and mode get different names, and so their callers different
// identities, without the operator naming them.
func parseEndpoint(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	path := ""
	if h.NextArg() && strings.HasPrefix(h.Val(), "/") {
		path = h.Val()
	}
	h.Reset()
	h.Next()
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	e := new(Endpoint)
	if err := e.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	if e.Name == "" && path != "" {
		e.Name = e.defaultName() + ":" + path
	}
	return h.NewRoute(matcherSet, e), nil
}

// UnmarshalCaddyfile sets up the endpoint. Syntax:
//
//	agenthook [<matcher>] [<agent>] {
//		agent_from_token
//		auth none
//		auth basic [<realm>] {
//			<user> <hash>
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
//		auth <scheme> ...   # any module of the agenthook.auth namespace
//		mode sync|async
//		format raw|cognigy
//		chat_header <name>
//		continue_header <name>
//		max_body <size>
//		chat_ttl <duration>
//		timeout <duration>
//		sensitive
//		name <name>
//		replay_ttl <duration>
//		request <jq>
//		answer <jq>
//	}
//
// Several auth lines mean any one may pass. With none, the config is
// refused unless `auth none` says the endpoint is open on purpose. Each
// auth line is read by its scheme's module (see AuthScheme).
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
			raw, _, err := unmarshalAuthLine(d)
			if err != nil {
				return err
			}
			e.Auth = append(e.Auth, raw)
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
		case "request":
			err = setOnce(d, opt, e.Request != "", func() (err error) {
				e.Request, err = jqArg(d, opt, shape.Request, exchange.Limits)
				return
			})
		case "answer":
			err = setOnce(d, opt, e.Answer != "", func() (err error) {
				e.Answer, err = jqArg(d, opt, shape.Answer, exchange.Limits)
				return
			})
		case "replay_ttl":
			err = setOnce(d, opt, e.ReplayTTL != 0, func() (err error) { e.ReplayTTL, err = durationArg(d); return })
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
