package caddymodule

import (
	"context"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// selfSet is what callbacks may never reach, whatever allow_networks
// says: Caddy's admin endpoint (a POST to /stop ends the process, /load
// replaces the config), this server's own listeners, and the host names it
// serves (a callback there would call an agenthook endpoint of this
// server, and loop).
type selfSet struct {
	admin     []portRule
	listeners []portRule
	// local is where a wildcard listener answers: the loopback ranges
	// and the addresses of this machine's interfaces.
	local []netip.Prefix
	// names are host names the config serves, lower case, maybe with
	// "*" labels.
	names []string
}

// portRule is a listener: one address (or, when addr is not valid, every
// local one) and a range of ports.
type portRule struct {
	addr   netip.Addr
	lo, hi uint16
}

func (s *selfSet) isAdmin(ap netip.AddrPort) bool    { return s.hits(s.admin, ap) }
func (s *selfSet) isListener(ap netip.AddrPort) bool { return s.hits(s.listeners, ap) }

func (s *selfSet) hits(rules []portRule, ap netip.AddrPort) bool {
	a, port := ap.Addr(), ap.Port()
	for _, r := range rules {
		if port < r.lo || port > r.hi {
			continue
		}
		if r.addr.IsValid() && r.addr == a {
			return true
		}
		if !r.addr.IsValid() && s.isLocal(a) {
			return true
		}
	}
	return false
}

func (s *selfSet) isLocal(a netip.Addr) bool {
	for _, p := range s.local {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// servesName reports whether host is, or matches, a name the config
// serves.
func (s *selfSet) servesName(host string) bool {
	host = normalizeHost(host)
	for _, pattern := range s.names {
		if hostMatches(pattern, host) {
			return true
		}
	}
	return false
}

func normalizeHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
}

// hostMatches matches a host against a host matcher's pattern, where a
// "*" label stands for any one label, as in Caddy's host matcher.
func hostMatches(pattern, host string) bool {
	if pattern == host {
		return true
	}
	if !strings.Contains(pattern, "*") {
		return false
	}
	pl, hl := strings.Split(pattern, "."), strings.Split(host, ".")
	if len(pl) != len(hl) {
		return false
	}
	for i := range pl {
		if pl[i] != "*" && pl[i] != hl[i] {
			return false
		}
	}
	return true
}

// ownName reports whether a host matcher's pattern names this server in
// a way only a name check can catch. IP literals and localhost are left
// to the address check, which knows the port; a pattern that is mostly
// wildcards ("*", "*.com") would refuse half the Internet.
func ownName(pattern string) bool {
	if pattern == "" || strings.Contains(pattern, "{") {
		return false // a placeholder, known only per request
	}
	if _, err := netip.ParseAddr(pattern); err == nil {
		return false
	}
	if pattern == "localhost" || strings.HasSuffix(pattern, ".localhost") {
		return false
	}
	if strings.Contains(pattern, "*") {
		literal := 0
		for _, l := range strings.Split(pattern, ".") {
			if l != "*" && l != "" {
				literal++
			}
		}
		return literal >= 2
	}
	return true
}

// buildSelf collects the self set from the config of ctx: the admin
// address (Caddy's default when none is set), and the listeners and host
// matchers of the http app's servers. It runs when the app starts, after
// every app has been provisioned.
func buildSelf(ctx caddy.Context, logger *zap.Logger) *selfSet {
	s := &selfSet{local: localPrefixes(logger)}
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	names := map[string]bool{}
	for _, listen := range adminListens(ctx) {
		s.admin = append(s.admin, listenRules(rctx, listen, nil, logger)...)
	}
	if app, err := ctx.AppIfConfigured("http"); err == nil {
		if httpApp, ok := app.(*caddyhttp.App); ok {
			for _, srv := range httpApp.Servers {
				for _, listen := range srv.Listen {
					s.listeners = append(s.listeners, listenRules(rctx, listen, names, logger)...)
				}
				collectHosts(srv.Routes, names, 0)
			}
		}
	}
	for n := range names {
		s.names = append(s.names, n)
	}
	return s
}

// adminListens returns the addresses of Caddy's admin endpoints in the
// config of ctx. Caddy keeps the config unexported in its Context; its
// admin settings are read by reflection, which only reads. Should a later
// Caddy rename them, the default address is refused, as before any
// config sets one.
func adminListens(ctx caddy.Context) []string {
	cfg := reflect.ValueOf(ctx).FieldByName("cfg")
	if !cfg.IsValid() || cfg.Kind() != reflect.Pointer || cfg.IsNil() {
		return []string{caddy.DefaultAdminListen}
	}
	admin := cfg.Elem().FieldByName("Admin")
	if !admin.IsValid() || admin.Kind() != reflect.Pointer {
		return []string{caddy.DefaultAdminListen}
	}
	if admin.IsNil() {
		return []string{caddy.DefaultAdminListen}
	}
	var out []string
	if d := admin.Elem().FieldByName("Disabled"); !d.IsValid() || d.Kind() != reflect.Bool || !d.Bool() {
		listen := caddy.DefaultAdminListen
		if l := admin.Elem().FieldByName("Listen"); l.IsValid() && l.Kind() == reflect.String && l.String() != "" {
			listen = l.String()
		}
		out = append(out, listen)
	}
	if remote := admin.Elem().FieldByName("Remote"); remote.IsValid() && remote.Kind() == reflect.Pointer && !remote.IsNil() {
		listen := caddy.DefaultRemoteAdminListen
		if l := remote.Elem().FieldByName("Listen"); l.IsValid() && l.Kind() == reflect.String && l.String() != "" {
			listen = l.String()
		}
		out = append(out, listen)
	}
	return out
}

// listenRules turns a listen address into port rules. A host name is
// resolved now, and kept in names (unless it is localhost); an empty or
// unspecified host is every local address.
func listenRules(ctx context.Context, listen string, names map[string]bool, logger *zap.Logger) []portRule {
	na, err := caddy.ParseNetworkAddress(caddy.NewReplacer().ReplaceKnown(listen, ""))
	if err != nil || na.IsUnixNetwork() || na.IsFdNetwork() || na.StartPort == 0 {
		return nil
	}
	lo, hi := uint16(na.StartPort), uint16(na.EndPort)
	host := normalizeHost(na.Host)
	if host == "" {
		return []portRule{{lo: lo, hi: hi}}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a = a.Unmap(); a.IsUnspecified() {
			return []portRule{{lo: lo, hi: hi}}
		}
		return []portRule{{addr: a, lo: lo, hi: hi}}
	}
	if names != nil && ownName(host) {
		names[host] = true
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		// It cannot be listened on either; the name check still holds.
		logger.Debug("resolving a listener's host", zap.String("host", host), zap.Error(err))
		return nil
	}
	out := make([]portRule, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, portRule{addr: a.Unmap(), lo: lo, hi: hi})
	}
	return out
}

// collectHosts adds the host matchers of routes, and of the subroutes
// their handlers hold (the Caddyfile puts each site in one), to names.
func collectHosts(routes caddyhttp.RouteList, names map[string]bool, depth int) {
	if depth > 16 {
		return
	}
	for _, r := range routes {
		for _, set := range r.MatcherSets {
			for _, m := range set {
				var hosts []string
				switch hm := m.(type) {
				case caddyhttp.MatchHost:
					hosts = hm
				case *caddyhttp.MatchHost:
					hosts = *hm
				}
				for _, h := range hosts {
					if h = normalizeHost(h); ownName(h) {
						names[h] = true
					}
				}
			}
		}
		for _, h := range r.Handlers {
			if sr, ok := h.(*caddyhttp.Subroute); ok {
				collectHosts(sr.Routes, names, depth+1)
			}
		}
	}
}

// localPrefixes is where a wildcard listener can be reached from this
// machine: loopback, and every interface's own address.
func localPrefixes(logger *zap.Logger) []netip.Prefix {
	out := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		logger.Warn("listing network interfaces; callbacks to this machine's non-loopback addresses are refused by the private-network check only", zap.Error(err))
		return out
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
				ip = ip.Unmap()
				out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			}
		}
	}
	return out
}
