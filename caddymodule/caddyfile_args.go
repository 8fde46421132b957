package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
)

// setOnce parses an option that may be given once: if it was already
// set, the error names it, such as "workers already specified".
func setOnce(d *caddyfile.Dispenser, name string, already bool, parse func() error) error {
	if already {
		return d.Errf("%s already specified", name)
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
