package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/agenthook/agenthook/handler/delivery"
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
//		storage badger [<dir>] [{
//			gomaxprocs auto|off|<n>
//		}]
//		storage postgres <dsn> [{
//			max_conns <n>
//		}]
//		workers <n>
//		retention <duration>
//		grace_period <duration>
//		log_tasks on|off
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
//			allow_networks <cidr|ip>[:<port>|:<low>-<high>]...
//			concurrency <n>
//			workers <n>
//			agent_workers <n>
//			disable_after <duration>
//			breaker <failures> <cooldown>
//			max_registrations <n>|unlimited
//			max_hops <n>
//			response_excerpt <size>
//		}
//		agent <name> {
//			reverse_proxy <upstreams...> [{ <reverse_proxy options> }]
//			conversation_header <name>
//			webhook_token <token> | sha256:<hex>
//			request <jq>
//			answer <jq>
//			history <turns> [<max size>]
//			adapter openai {
//				model <name>
//				system <text>
//				history <turns>
//				path <path>
//			}
//			adapter langserve {
//				path <path>
//			}
//			callback <url> {
//				sign standard_webhooks <whsec_...|whsk_...>...
//				sign hmac <secret> [{ header <name>; algorithm <alg>; encoding <enc>; prefix <p> }]
//				basic_auth <user> <password>
//				header <name> <value>
//				format raw|cognigy
//				payload <jq>
//				method POST|PUT
//				ordered
//				concurrency <n>
//				events <type...>
//				filter <jq>
//				endpoint <handler name>
//				retry_schedule <duration...>
//				timeout <duration>
//				rate_limit <per second>
//			}
//		}
//		alerts <url> {
//			<callback options: sign, basic_auth, header, events, filter, ...>
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
			err = setOnce(d, opt, a.StorageRaw != nil, func() error { return a.unmarshalStorage(d) })
		case "workers":
			err = setOnce(d, opt, a.Workers != 0, func() (e error) { a.Workers, e = positiveInt(d); return })
		case "retention":
			err = setOnce(d, opt, a.Retention != 0, func() (e error) { a.Retention, e = durationArg(d); return })
		case "grace_period":
			err = setOnce(d, opt, a.GracePeriod != 0, func() (e error) { a.GracePeriod, e = durationArg(d); return })
		case "log_tasks":
			err = setOnce(d, opt, a.LogTasks != "", func() error {
				if !d.AllArgs(&a.LogTasks) || (a.LogTasks != "on" && a.LogTasks != "off") {
					return d.Err("log_tasks takes on or off")
				}
				return nil
			})
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
		case "alerts":
			err = setOnce(d, opt, a.Alerts != nil, func() error {
				cb, err := unmarshalCallback(d)
				if err != nil {
					return err
				}
				a.Alerts = cb
				return nil
			})
		default:
			return d.Errf("unrecognized agenthook option '%s'", opt)
		}
		if err != nil {
			return err
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
				if _, err := parseAllowRule(arg); err != nil {
					return d.Errf("allow_networks: %v", err)
				}
			}
			c.AllowNetworks = append(c.AllowNetworks, args...)
		case "concurrency":
			err = setOnce(d, opt, c.Concurrency != 0, func() (e error) { c.Concurrency, e = positiveInt(d); return })
		case "workers":
			err = setOnce(d, opt, c.Workers != 0, func() (e error) { c.Workers, e = positiveInt(d); return })
		case "agent_workers":
			err = setOnce(d, opt, c.AgentWorkers != 0, func() (e error) { c.AgentWorkers, e = positiveInt(d); return })
		case "max_registrations":
			err = setOnce(d, opt, c.MaxRegistrations != 0, func() (e error) {
				if d.NextArg() && d.Val() == "unlimited" {
					c.MaxRegistrations = -1
					return nil
				}
				d.Prev()
				c.MaxRegistrations, e = positiveInt(d)
				return
			})
		case "max_hops":
			err = setOnce(d, opt, c.MaxHops != 0, func() (e error) { c.MaxHops, e = positiveInt(d); return })
		case "response_excerpt":
			err = setOnce(d, opt, c.ResponseExcerpt != 0, func() (e error) {
				if c.ResponseExcerpt, e = sizeArg(d); e == nil && c.ResponseExcerpt > delivery.MaxResponseExcerpt {
					e = d.Errf("response_excerpt must be at most %d KiB", delivery.MaxResponseExcerpt>>10)
				}
				return
			})
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
