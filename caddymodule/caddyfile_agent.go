package caddymodule

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/exchange"
	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/signing"
)

// unmarshal reads an agent block of the agenthook global option.
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
		case "request":
			err = setOnce(d, opt, ag.Request != "", func() (e error) {
				ag.Request, e = jqArg(d, opt, shape.Request, exchange.Limits)
				return
			})
		case "answer":
			err = setOnce(d, opt, ag.Answer != "", func() (e error) {
				ag.Answer, e = jqArg(d, opt, shape.Answer, exchange.Limits)
				return
			})
		case "adapter":
			err = setOnce(d, opt, ag.Adapter != nil, func() error { return ag.unmarshalAdapter(d) })
		case "history":
			err = setOnce(d, opt, ag.History != nil, func() error {
				h := new(HistoryConfig)
				n, err := positiveInt(d)
				if err != nil {
					return err
				}
				h.Turns = n
				if d.NextArg() {
					d.Prev()
					if h.MaxBytes, err = sizeArg(d); err != nil {
						return err
					}
					if h.MaxBytes > maxHistoryBytes {
						return d.Errf("history: the size bound is at most %d bytes", maxHistoryBytes)
					}
				}
				if d.NextArg() {
					return d.ArgErr()
				}
				ag.History = h
				return nil
			})
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

// unmarshalAdapter reads `adapter openai { model; system; history; path }`
// or `adapter langserve { path }`, and builds the preset, so that a
// missing model or a bad path is refused with its line.
func (ag *AgentConfig) unmarshalAdapter(d *caddyfile.Dispenser) error {
	a := new(AdapterConfig)
	if !d.AllArgs(&a.Name) {
		return d.Err("adapter needs a name: openai or langserve")
	}
	if a.Name != "openai" && a.Name != "langserve" {
		return d.Errf("unknown adapter '%s': use openai or langserve", a.Name)
	}
	file, line := d.File(), d.Line()
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var err error
		switch {
		case opt == "path":
			err = setOnce(d, opt, a.Path != "", func() error { return oneValue(d, &a.Path) })
		case opt == "model" && a.Name == "openai":
			err = setOnce(d, opt, a.Model != "", func() error { return oneValue(d, &a.Model) })
		case opt == "system" && a.Name == "openai":
			err = setOnce(d, opt, a.System != "", func() error { return oneValue(d, &a.System) })
		case opt == "history" && a.Name == "openai":
			err = setOnce(d, opt, a.History != 0, func() (e error) { a.History, e = positiveInt(d); return })
		default:
			return d.Errf("unrecognized option '%s' of adapter %s", opt, a.Name)
		}
		if err != nil {
			return err
		}
	}
	if _, err := a.preset(); err != nil {
		// Name the adapter's line, not the end of its block.
		return fmt.Errorf("%s:%d - Error during parsing: %v", file, line, err)
	}
	ag.Adapter = a
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
				if cb.Payload != "" {
					return d.Err(errFormatAndPayload)
				}
				if !d.AllArgs(&cb.Format) || !knownPayloadFormat(cb.Format) {
					return d.Errf("format must be %s", strings.Join(delivery.FormatNames(), " or "))
				}
				return nil
			})
		case "payload":
			err = setOnce(d, opt, cb.Payload != "", func() error {
				if cb.Format != "" {
					return d.Err(errFormatAndPayload)
				}
				src, err := jqArg(d, opt, shape.Payload, delivery.PayloadLimits)
				cb.Payload = src
				return err
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
		case "events", "filter", "endpoint", "retry_schedule", "timeout", "rate_limit":
			err = cb.unmarshalSubscription(d, opt)
		default:
			return nil, d.Errf("unrecognized callback option '%s'", opt)
		}
		if err != nil {
			return nil, err
		}
	}
	return cb, nil
}

const errFormatAndPayload = "give a callback either format or payload, not both (format cognigy is a built-in payload: the README shows it)"

// jqArg reads the one jq expression of an option and compiles it for its
// stage, so that a broken expression is refused with its Caddyfile line.
func jqArg(d *caddyfile.Dispenser, opt string, stage shape.Stage, lim shape.Limits) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	src := d.Val()
	if d.NextArg() {
		return "", d.Errf("%s takes one jq expression: put it in backticks, such as %s `{text: .prompt}`", opt, opt)
	}
	if _, err := shape.Compile(stage, src, lim); err != nil {
		return "", d.Errf("%s: %v", opt, err)
	}
	return src, nil
}

// unmarshalSubscription reads the options that say what a callback
// receives and how it is paced. The filter is compiled here, so that a
// broken one is refused with its Caddyfile line.
func (cb *CallbackConfig) unmarshalSubscription(d *caddyfile.Dispenser, opt string) error {
	switch opt {
	case "events":
		return setOnce(d, opt, cb.Events != nil, func() error {
			cb.Events = d.RemainingArgs()
			if len(cb.Events) == 0 {
				return d.ArgErr()
			}
			if err := delivery.CheckEvents(cb.Events); err != nil {
				return d.Err(err.Error())
			}
			return nil
		})
	case "filter":
		return setOnce(d, opt, cb.Filter != "", func() error {
			if !d.NextArg() {
				return d.ArgErr()
			}
			cb.Filter = d.Val()
			if d.NextArg() {
				return d.Err("filter takes one jq expression: put it in backticks, such as filter `.result.priority == \"high\"`")
			}
			if _, err := shape.Compile(shape.Filter, cb.Filter, shape.Limits{}); err != nil {
				return d.Errf("filter: %v", err)
			}
			return nil
		})
	case "endpoint":
		return setOnce(d, opt, cb.Endpoint != "", func() error {
			if !d.AllArgs(&cb.Endpoint) || cb.Endpoint == "" {
				return d.Err("endpoint needs the name of an agenthook handler")
			}
			return nil
		})
	case "retry_schedule":
		return setOnce(d, opt, cb.RetrySchedule != nil, func() error {
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			cb.RetrySchedule = []caddy.Duration{}
			for _, arg := range args {
				v, err := caddy.ParseDuration(arg)
				if err != nil || v < 0 {
					return d.Errf("retry_schedule: invalid duration '%s'", arg)
				}
				cb.RetrySchedule = append(cb.RetrySchedule, caddy.Duration(v))
			}
			return nil
		})
	case "timeout":
		return setOnce(d, opt, cb.Timeout != 0, func() (e error) { cb.Timeout, e = durationArg(d); return })
	case "rate_limit":
		return setOnce(d, opt, cb.RateLimit != 0, func() error {
			var arg string
			if !d.AllArgs(&arg) {
				return d.ArgErr()
			}
			v, err := strconv.ParseFloat(strings.TrimSuffix(arg, "/s"), 64)
			if err != nil || v <= 0 || math.IsInf(v, 0) {
				return d.Errf("rate_limit: '%s' is not a positive number of deliveries per second", arg)
			}
			cb.RateLimit = v
			return nil
		})
	}
	return d.Errf("unrecognized callback option '%s'", opt)
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

// knownPayloadFormat reports whether a callback format name exists.
func knownPayloadFormat(name string) bool {
	_, ok := delivery.Format(name)
	return ok && name != ""
}
