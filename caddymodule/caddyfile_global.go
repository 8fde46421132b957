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
		switch d.Val() {
		case "storage":
			if a.StorageRaw != nil {
				return d.Err("storage already specified")
			}
			if err := a.unmarshalStorage(d); err != nil {
				return err
			}
		case "workers":
			if a.Workers != 0 {
				return d.Err("workers already specified")
			}
			n, err := positiveInt(d)
			if err != nil {
				return err
			}
			a.Workers = n
		case "retention":
			if a.Retention != 0 {
				return d.Err("retention already specified")
			}
			v, err := durationArg(d)
			if err != nil {
				return err
			}
			a.Retention = v
		case "grace_period":
			if a.GracePeriod != 0 {
				return d.Err("grace_period already specified")
			}
			v, err := durationArg(d)
			if err != nil {
				return err
			}
			a.GracePeriod = v
		case "queue":
			if a.Queue != nil {
				return d.Err("queue already specified")
			}
			a.Queue = new(QueueConfig)
			if err := a.Queue.unmarshal(d); err != nil {
				return err
			}
		case "delivery":
			if a.Delivery != nil {
				return d.Err("delivery already specified")
			}
			a.Delivery = new(DeliveryConfig)
			if err := a.Delivery.unmarshal(d); err != nil {
				return err
			}
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
			return d.Errf("unrecognized agenthook option '%s'", d.Val())
		}
	}
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
			err = setOnce(d, q.MaxDepth != 0, func() (e error) {
				if d.NextArg() && d.Val() == "unlimited" {
					q.MaxDepth = -1
					return nil
				}
				d.Prev()
				q.MaxDepth, e = positiveInt(d)
				return
			})
		case "attempts":
			err = setOnce(d, q.Attempts != 0, func() (e error) { q.Attempts, e = positiveInt(d); return })
		case "backoff":
			err = setOnce(d, q.Backoff != 0, func() (e error) { q.Backoff, e = durationArg(d); return })
		case "timeout":
			err = setOnce(d, q.Timeout != 0, func() (e error) { q.Timeout, e = durationArg(d); return })
		case "lease":
			err = setOnce(d, q.Lease != 0, func() (e error) { q.Lease, e = durationArg(d); return })
		case "max_result":
			err = setOnce(d, q.MaxResult != 0, func() (e error) { q.MaxResult, e = sizeArg(d); return })
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
			err = setOnce(d, c.Timeout != 0, func() (e error) { c.Timeout, e = durationArg(d); return })
		case "retry_schedule":
			if c.RetrySchedule != nil {
				return d.Err("retry_schedule already specified")
			}
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
			err = setOnce(d, c.Concurrency != 0, func() (e error) { c.Concurrency, e = positiveInt(d); return })
		case "workers":
			err = setOnce(d, c.Workers != 0, func() (e error) { c.Workers, e = positiveInt(d); return })
		case "disable_after":
			err = setOnce(d, c.DisableAfter != 0, func() (e error) { c.DisableAfter, e = durationArg(d); return })
		case "breaker":
			if c.BreakerThreshold != 0 {
				return d.Err("breaker already specified")
			}
			if c.BreakerThreshold, err = positiveInt(d); err != nil {
				return err
			}
			if c.BreakerCooldown, err = durationArg(d); err != nil {
				return err
			}
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
		switch d.Val() {
		case "reverse_proxy":
			if ag.ReverseProxyRaw != nil {
				return d.Err("reverse_proxy already specified")
			}
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
		case "conversation_header":
			if ag.ConversationHeader != "" {
				return d.Err("conversation_header already specified")
			}
			if !d.AllArgs(&ag.ConversationHeader) || ag.ConversationHeader == "" {
				return d.Err("conversation_header needs one header name")
			}
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
			return d.Errf("unrecognized agent option '%s'", d.Val())
		}
	}
	if ag.ReverseProxyRaw == nil {
		return d.Err("an agent needs a reverse_proxy to its backend")
	}
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
		switch opt {
		case "sign":
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			switch d.Val() {
			case "standard_webhooks":
				if cb.StandardWebhooks != nil {
					return nil, d.Err("sign standard_webhooks already specified")
				}
				cb.StandardWebhooks = d.RemainingArgs()
				if len(cb.StandardWebhooks) == 0 {
					return nil, d.ArgErr()
				}
			case "hmac":
				if cb.HMAC != nil {
					return nil, d.Err("sign hmac already specified")
				}
				h := new(HMACSignConfig)
				if !d.NextArg() {
					return nil, d.ArgErr()
				}
				h.Secret = d.Val()
				if d.NextArg() {
					return nil, d.Err("sign hmac takes one secret")
				}
				if err := unmarshalHMACOptions(d, &h.Header, &h.Algorithm, &h.Encoding, &h.Prefix); err != nil {
					return nil, err
				}
				cb.HMAC = h
			default:
				return nil, d.Errf("unknown signature '%s': use standard_webhooks or hmac", d.Val())
			}
		case "basic_auth":
			if cb.BasicAuth != nil {
				return nil, d.Err("basic_auth already specified")
			}
			var user, pass string
			if !d.AllArgs(&user, &pass) {
				return nil, d.Err("basic_auth needs a user and a password")
			}
			cb.BasicAuth = &BasicAuthConfig{Username: user, Password: pass}
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
			if cb.Format != "" {
				return nil, d.Err("format already specified")
			}
			if !d.AllArgs(&cb.Format) || (cb.Format != "raw" && cb.Format != "cognigy") {
				return nil, d.Err("format must be raw or cognigy")
			}
		case "method":
			if cb.Method != "" {
				return nil, d.Err("method already specified")
			}
			if !d.AllArgs(&cb.Method) {
				return nil, d.ArgErr()
			}
			cb.Method = strings.ToUpper(cb.Method)
			if cb.Method != "POST" && cb.Method != "PUT" {
				return nil, d.Err("method must be POST or PUT")
			}
		case "ordered":
			if cb.Ordered {
				return nil, d.Err("ordered already specified")
			}
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			cb.Ordered = true
		case "concurrency":
			if cb.Concurrency != 0 {
				return nil, d.Err("concurrency already specified")
			}
			n, err := positiveInt(d)
			if err != nil {
				return nil, err
			}
			cb.Concurrency = n
		default:
			return nil, d.Errf("unrecognized callback option '%s'", opt)
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
		if *target != "" {
			return d.Errf("%s already specified", opt)
		}
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
	}
	return nil
}

// setOnce rejects a repeated setting, else parses it.
func setOnce(d *caddyfile.Dispenser, already bool, parse func() error) error {
	if already {
		return d.Errf("%s already specified", d.Val())
	}
	return parse()
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
