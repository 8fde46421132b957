package caddymodule

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/dustin/go-humanize"

	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/signing"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("agenthook", parseGlobalOption)
}

func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		d.Next() // so the error names this block's line
		return nil, d.Err("the agenthook global option is given twice; merge the two blocks")
	}
	var app App
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "agenthook", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the agenthook global option.
// Syntax:
//
//	agenthook {
//		storage badger [<dir>]
//		storage postgres <dsn> [{
//			max_conns <n>
//		}]
//		workers <n>
//		retention <duration>
//		grace_period <duration>
//		queue {
//			max_depth <n>|unlimited
//			attempts <n>
//			backoff <duration>
//			timeout <duration>
//			lease <duration>
//			max_result <size>
//		}
//		delivery {
//			timeout <duration>
//			retry_schedule <duration...>
//			allow_networks <cidr...>
//			concurrency <n>
//			workers <n>
//			disable_after <duration>
//			breaker <failures> <cooldown>
//		}
//		agent <name> {
//			reverse_proxy <upstreams...> [{ <reverse_proxy options> }]
//			conversation_header <name>
//			webhook_token <token> | sha256:<hex>
//			callback <url> {
//				sign standard_webhooks <whsec_...|whsk_...>...
//				sign hmac <secret> [{ header <name>; algorithm <alg>; encoding <enc>; prefix <p> }]
//				basic_auth <user> <password>
//				header <name> <value>
//				format raw|cognigy
//				method POST|PUT
//				ordered
//				concurrency <n>
//			}
//		}
//	}
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var err error
		switch opt {
		case "storage":
			err = setOnce(d, opt, a.Storage != nil, func() error { return a.parseStorage(d) })
		case "workers":
			err = setOnce(d, opt, a.Workers != 0, func() (e error) { a.Workers, e = positiveInt(d); return })
		case "retention":
			err = setOnce(d, opt, a.Retention != 0, func() (e error) { a.Retention, e = durationArg(d); return })
		case "grace_period":
			err = setOnce(d, opt, a.GracePeriod != 0, func() (e error) { a.GracePeriod, e = durationArg(d); return })
		case "queue":
			err = setOnce(d, opt, a.Queue != nil, func() error {
				a.Queue = new(QueueConfig)
				return a.Queue.unmarshal(d)
			})
		case "delivery":
			err = setOnce(d, opt, a.Delivery != nil, func() error {
				a.Delivery = new(DeliveryConfig)
				return a.Delivery.unmarshal(d)
			})
		case "agent":
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			if !agentName.MatchString(name) {
				return d.Errf("agent name %q: use letters, digits, '.', '_' and '-' (at most 64)", name)
			}
			if _, dup := a.Agents[name]; dup {
				return d.Errf("agent %s already declared", name)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			ag := new(AgentConfig)
			if err := ag.unmarshal(d); err != nil {
				return err
			}
			if a.Agents == nil {
				a.Agents = make(map[string]*AgentConfig)
			}
			a.Agents[name] = ag
		default:
			return d.Errf("unrecognized agenthook option '%s'", opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (a *App) parseStorage(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	s := &StorageConfig{Engine: d.Val()}
	switch s.Engine {
	case "badger":
		if d.NextArg() {
			s.Dir = d.Val()
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	case "postgres":
		if !d.NextArg() || d.Val() == "" {
			return d.Err("storage postgres needs a connection string, e.g. {env.AGENTHOOK_PG_DSN}")
		}
		s.DSN = d.Val()
		if d.NextArg() {
			// Not ArgErr: it would quote the token, which may hold a password.
			return d.Err("storage postgres takes one connection string; quote it if it has spaces")
		}
		for nesting := d.Nesting(); d.NextBlock(nesting); {
			switch opt := d.Val(); opt {
			case "max_conns":
				if err := setOnce(d, opt, s.MaxConns != 0, func() (e error) { s.MaxConns, e = positiveInt(d); return }); err != nil {
					return err
				}
			default:
				return d.Errf("unrecognized storage postgres option '%s'", d.Val())
			}
		}
	default:
		return d.Errf("unknown storage engine '%s': use badger or postgres", s.Engine)
	}
	a.Storage = s
	return nil
}

func (q *QueueConfig) unmarshal(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var err error
		switch opt {
		case "max_depth":
			err = setOnce(d, opt, q.MaxDepth != 0, func() (e error) {
				if d.NextArg() && d.Val() == "unlimited" {
					q.MaxDepth = -1
					return nil
				}
				d.Prev()
				q.MaxDepth, e = positiveInt(d)
				return
			})
		case "attempts":
			err = setOnce(d, opt, q.Attempts != 0, func() (e error) { q.Attempts, e = positiveInt(d); return })
		case "backoff":
			err = setOnce(d, opt, q.Backoff != 0, func() (e error) { q.Backoff, e = durationArg(d); return })
		case "timeout":
			err = setOnce(d, opt, q.Timeout != 0, func() (e error) { q.Timeout, e = durationArg(d); return })
		case "lease":
			err = setOnce(d, opt, q.Lease != 0, func() (e error) { q.Lease, e = durationArg(d); return })
		case "max_result":
			err = setOnce(d, opt, q.MaxResult != 0, func() (e error) { q.MaxResult, e = sizeArg(d); return })
		default:
			return d.Errf("unrecognized queue option '%s'", opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *DeliveryConfig) unmarshal(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var err error
		switch opt {
		case "timeout":
			err = setOnce(d, opt, c.Timeout != 0, func() (e error) { c.Timeout, e = durationArg(d); return })
		case "retry_schedule":
			err = setOnce(d, opt, c.RetrySchedule != nil, func() error {
				args := d.RemainingArgs()
				if len(args) == 0 {
					return d.ArgErr()
				}
				for _, arg := range args {
					v, err := caddy.ParseDuration(arg)
					if err != nil || v < 0 {
						return d.Errf("retry_schedule: invalid duration '%s'", arg)
					}
					c.RetrySchedule = append(c.RetrySchedule, caddy.Duration(v))
				}
				return nil
			})
		case "allow_networks":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, arg := range args {
				if _, err := parseNetwork(arg); err != nil {
					return d.Errf("allow_networks: %v", err)
				}
			}
			c.AllowNetworks = append(c.AllowNetworks, args...)
		case "concurrency":
			err = setOnce(d, opt, c.Concurrency != 0, func() (e error) { c.Concurrency, e = positiveInt(d); return })
		case "workers":
			err = setOnce(d, opt, c.Workers != 0, func() (e error) { c.Workers, e = positiveInt(d); return })
		case "disable_after":
			err = setOnce(d, opt, c.DisableAfter != 0, func() (e error) { c.DisableAfter, e = durationArg(d); return })
		case "breaker":
			err = setOnce(d, opt, c.BreakerThreshold != 0, func() (e error) {
				if c.BreakerThreshold, e = positiveInt(d); e != nil {
					return e
				}
				c.BreakerCooldown, e = durationArg(d)
				return e
			})
		default:
			return d.Errf("unrecognized delivery option '%s'", opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (ag *AgentConfig) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var err error
		switch opt {
		case "reverse_proxy":
			err = setOnce(d, opt, ag.ReverseProxyRaw != nil, func() error { return ag.unmarshalReverseProxy(d) })
		case "conversation_header":
			err = setOnce(d, opt, ag.ConversationHeader != "", func() error {
				if !d.AllArgs(&ag.ConversationHeader) || ag.ConversationHeader == "" {
					return d.Err("conversation_header needs one header name")
				}
				return nil
			})
		case "webhook_token":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			for _, tok := range args {
				h, err := hashLiteral(tok)
				if err != nil {
					return d.Errf("webhook_token: %v", err)
				}
				ag.WebhookTokens = append(ag.WebhookTokens, h)
			}
		case "callback":
			cb, err := unmarshalCallback(d)
			if err != nil {
				return err
			}
			ag.Callbacks = append(ag.Callbacks, cb)
		default:
			return d.Errf("unrecognized agent option '%s'", opt)
		}
		if err != nil {
			return err
		}
	}
	if ag.ReverseProxyRaw == nil {
		return d.Err("an agent needs a reverse_proxy to its backend")
	}
	return nil
}

// unmarshalReverseProxy reads an agent's reverse_proxy segment.
func (ag *AgentConfig) unmarshalReverseProxy(d *caddyfile.Dispenser) error {
	seg := d.NextSegment()
	// Errors name the segment's own lines: d has moved past it.
	at := func(i int) *caddyfile.Dispenser {
		e := caddyfile.NewDispenser(seg[i:])
		e.Next()
		return e
	}
	for i, tok := range seg {
		if tok.Text == "handle_response" && i > 0 && seg[i-1].Line != tok.Line {
			return at(i).Err("handle_response is not supported in an agent's reverse_proxy")
		}
	}
	rp := new(reverseproxy.Handler)
	if err := rp.UnmarshalCaddyfile(caddyfile.NewDispenser(seg)); err != nil {
		return err
	}
	if len(rp.Upstreams) == 0 && rp.DynamicUpstreamsRaw == nil {
		return at(0).Err("reverse_proxy needs at least one upstream")
	}
	ag.ReverseProxyRaw = caddyconfig.JSONModuleObject(rp, "handler", "reverse_proxy", nil)
	return nil
}

// placeholder matches a token that is one Caddy placeholder, such as
// {env.API_KEY} or {file./run/secrets/key}.
var placeholder = regexp.MustCompile(`^\{[a-z_]+\.[^{}]+\}$`)

// hashLiteral hashes a literal token at adapt time, so that the JSON
// config, and anything that prints it, never holds the token itself.
// Placeholders are kept: their value is only known when the config loads,
// and is hashed then. Errors never quote the token.
func hashLiteral(tok string) (string, error) {
	switch {
	case tok == "":
		return "", errors.New("a token must not be empty")
	case placeholder.MatchString(tok) || signing.IsHashedToken(tok):
		return tok, nil
	case strings.HasPrefix(tok, "sha256:"):
		return "", errors.New(`a value starting with "sha256:" must be followed by 64 hex digits`)
	}
	return signing.HashToken(tok), nil
}

func unmarshalCallback(d *caddyfile.Dispenser) (*CallbackConfig, error) {
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	cb := &CallbackConfig{URL: d.Val()}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	if err := checkCallbackURL(cb.URL); err != nil && !strings.Contains(cb.URL, "{") {
		// The URL is not quoted: it may hold credentials.
		return nil, d.Err(err.Error())
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var err error
		switch opt {
		case "sign":
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			switch kind := d.Val(); kind {
			case "standard_webhooks":
				err = setOnce(d, "sign "+kind, cb.StandardWebhooks != nil, func() error {
					cb.StandardWebhooks = d.RemainingArgs()
					if len(cb.StandardWebhooks) == 0 {
						return d.ArgErr()
					}
					return nil
				})
			case "hmac":
				err = setOnce(d, "sign "+kind, cb.HMAC != nil, func() error {
					h := new(HMACSignConfig)
					if !d.NextArg() {
						return d.ArgErr()
					}
					h.Secret = d.Val()
					if d.NextArg() {
						return d.Err("sign hmac takes one secret")
					}
					if err := unmarshalHMACOptions(d, &h.Header, &h.Algorithm, &h.Encoding, &h.Prefix); err != nil {
						return err
					}
					cb.HMAC = h
					return nil
				})
			default:
				return nil, d.Errf("unknown signature '%s': use standard_webhooks or hmac", kind)
			}
		case "basic_auth":
			err = setOnce(d, opt, cb.BasicAuth != nil, func() error {
				var user, pass string
				if !d.AllArgs(&user, &pass) {
					return d.Err("basic_auth needs a user and a password")
				}
				cb.BasicAuth = &BasicAuthConfig{Username: user, Password: pass}
				return nil
			})
		case "header":
			var name, value string
			if !d.AllArgs(&name, &value) {
				return nil, d.Err("header needs a name and a value")
			}
			if cb.Headers == nil {
				cb.Headers = make(map[string][]string)
			}
			cb.Headers.Add(name, value)
		case "format":
			err = setOnce(d, opt, cb.Format != "", func() error {
				if !d.AllArgs(&cb.Format) || !knownPayloadFormat(cb.Format) {
					return d.Errf("format must be %s", strings.Join(delivery.FormatNames(), " or "))
				}
				return nil
			})
		case "method":
			err = setOnce(d, opt, cb.Method != "", func() error {
				if !d.AllArgs(&cb.Method) {
					return d.ArgErr()
				}
				cb.Method = strings.ToUpper(cb.Method)
				if cb.Method != "POST" && cb.Method != "PUT" {
					return d.Err("method must be POST or PUT")
				}
				return nil
			})
		case "ordered":
			err = setOnce(d, opt, cb.Ordered, func() error {
				if d.NextArg() {
					return d.ArgErr()
				}
				cb.Ordered = true
				return nil
			})
		case "concurrency":
			err = setOnce(d, opt, cb.Concurrency != 0, func() (e error) { cb.Concurrency, e = positiveInt(d); return })
		default:
			return nil, d.Errf("unrecognized callback option '%s'", opt)
		}
		if err != nil {
			return nil, err
		}
	}
	return cb, nil
}

// unmarshalHMACOptions reads an optional block of HMAC settings.
func unmarshalHMACOptions(d *caddyfile.Dispenser, header, algorithm, encoding, prefix *string) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var target *string
		switch opt {
		case "header":
			target = header
		case "algorithm":
			target = algorithm
		case "encoding":
			target = encoding
		case "prefix":
			target = prefix
		default:
			return d.Errf("unrecognized hmac option '%s'", opt)
		}
		err := setOnce(d, opt, *target != "", func() error {
			if !d.NextArg() {
				return d.ArgErr()
			}
			*target = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			if opt != "prefix" && *target == "" {
				return d.Errf("%s must not be empty", opt)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// setOnce parses an option that may be given once: if it was already
// set, the error names it, such as "workers already specified".
func setOnce(d *caddyfile.Dispenser, name string, already bool, parse func() error) error {
	if already {
		return d.Errf("%s already specified", name)
	}
	return parse()
}

// knownPayloadFormat reports whether a callback format name exists.
func knownPayloadFormat(name string) bool {
	_, ok := delivery.Format(name)
	return ok && name != ""
}

func positiveInt(d *caddyfile.Dispenser) (int, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	n, err := strconv.Atoi(d.Val())
	if err != nil || n <= 0 {
		return 0, d.Errf("'%s' is not a positive integer", d.Val())
	}
	return n, nil
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	v, err := caddy.ParseDuration(d.Val())
	if err != nil || v <= 0 {
		return 0, d.Errf("'%s' is not a positive duration", d.Val())
	}
	return caddy.Duration(v), nil
}

func sizeArg(d *caddyfile.Dispenser) (int64, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	v, err := humanize.ParseBytes(d.Val())
	if err != nil || v == 0 || v > 1<<40 {
		return 0, d.Errf("'%s' is not a size such as 1MB or 512KiB", d.Val())
	}
	return int64(v), nil
}
