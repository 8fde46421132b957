package caddymodule

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// allowRule is one allow_networks entry: a range of addresses, and the
// ports it opens (lo 0: every port).
type allowRule struct {
	prefix netip.Prefix
	lo, hi uint16
}

// matches reports whether the rule opens an address and port.
func (r allowRule) matches(ap netip.AddrPort) bool {
	if !r.prefix.Contains(ap.Addr()) {
		return false
	}
	return r.lo == 0 || (ap.Port() >= r.lo && ap.Port() <= r.hi)
}

// names reports whether the rule names exactly this address and port:
// one address, one port. Only such a rule opens one of this server's own
// listeners (the demo receiver is one), never a range.
func (r allowRule) names(ap netip.AddrPort) bool {
	return r.prefix.IsSingleIP() && r.prefix.Addr() == ap.Addr() && r.lo != 0 && r.lo == r.hi && r.lo == ap.Port()
}

func (r allowRule) String() string {
	s := r.prefix.String()
	if r.prefix.IsSingleIP() {
		s = r.prefix.Addr().String()
	}
	if r.lo == 0 {
		return s
	}
	if r.prefix.Addr().Is6() {
		s = "[" + s + "]"
	}
	if r.lo == r.hi {
		return s + ":" + strconv.Itoa(int(r.lo))
	}
	return fmt.Sprintf("%s:%d-%d", s, r.lo, r.hi)
}

// parseAllowRule reads an allow_networks entry: a CIDR range or an IP
// address, with an optional :port or :low-high; an IPv6 one with a port
// goes in brackets ([::1]:9002, [fd00::/8]:9000-9099). Without a port, the
// range is open on every port.
func parseAllowRule(s string) (allowRule, error) {
	network, ports, bracketed := s, "", false
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return allowRule{}, badNetwork(s)
		}
		network, bracketed = s[1:end], true
		if rest := s[end+1:]; rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok || p == "" {
				return allowRule{}, badNetwork(s)
			}
			ports = p
		}
	case strings.Count(s, ":") == 1:
		// One colon: an IPv4 address or range with a port. IPv6 has more.
		network, ports, _ = strings.Cut(s, ":")
		if ports == "" {
			return allowRule{}, badNetwork(s)
		}
	}
	p, err := parseNetwork(network)
	if err != nil || (bracketed && !p.Addr().Is6()) {
		return allowRule{}, badNetwork(s)
	}
	r := allowRule{prefix: p}
	if ports != "" {
		if r.lo, r.hi, err = parsePorts(ports); err != nil {
			return allowRule{}, fmt.Errorf("%q: %w", s, err)
		}
	}
	return r, nil
}

func badNetwork(s string) error {
	return fmt.Errorf("%q is not a CIDR range or an IP address, with an optional :port or :low-high (an IPv6 one in brackets, as [::1]:9002)", s)
}

// parsePorts reads "9002" or "9000-9099".
func parsePorts(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parsePort(a); err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = parsePort(b); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("the port range %s runs backwards", s)
		}
	}
	return lo, hi, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	return uint16(n), nil
}

// parseNetwork reads a CIDR range or a single address.
func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	if _, _, err := net.ParseCIDR(s); err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range or an IP address", s)
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range", s)
}
