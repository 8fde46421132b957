package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"

	"code.dny.dev/ssrf"

	"github.com/agenthook/agenthook/handler/delivery"
)

// egress is how deliveries reach receivers: an HTTP client whose dialer
// checks every address it connects to, after DNS resolution, so that a
// host name that resolves somewhere internal, or a DNS rebinding, is
// refused at connect time too. In order, it refuses:
//
//   - Caddy's admin endpoint and the unspecified address ("this host"),
//     always;
//   - this server's own listeners, unless allow_networks names exactly
//     that address and port;
//   - loopback, private, link-local, CGNAT, multicast and cloud metadata
//     addresses, unless allow_networks opens them (on every port, or on
//     the ports it names);
//
// and, before dialling, host names the config serves.
type egress struct {
	guard  *ssrf.Guardian // the built-in deny lists, on any port
	allow  []allowRule
	self   atomic.Pointer[selfSet] // set when the app starts
	client *http.Client
	// lookup resolves host names when a callback is registered.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// refusal says why a callback URL or address is refused. It wraps
// delivery.ErrRefused: the API and the delivery log show that sentence
// only, and the reason goes to the operator (config errors, debug logs).
type refusal struct{ reason string }

func (r *refusal) Error() string { return "the callback URL is refused: " + r.reason }
func (r *refusal) Unwrap() error { return delivery.ErrRefused }

func refused(format string, args ...any) error {
	return &refusal{reason: fmt.Sprintf(format, args...)}
}

func newEgress(allowed []allowRule) *egress {
	e := &egress{
		guard: ssrf.New(ssrf.WithAnyPort()),
		allow: allowed,
		lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		},
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: e.control}
	transport := &http.Transport{
		// No proxy from the environment: it would dial for us, past the
		// address check.
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				if err := e.checkHost(host); err != nil {
					return nil, err
				}
			}
			return dialer.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	e.client = &http.Client{
		Transport: transport,
		// A redirect could point anywhere, including inside; the
		// receiver's 3xx counts as a failed attempt.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return e
}

// setSelf installs what callbacks may never reach, from the config that
// is starting.
func (e *egress) setSelf(s *selfSet) { e.self.Store(s) }

// close drops idle connections, when a reload replaces this egress.
func (e *egress) close() {
	if t, ok := e.client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// control is the dialer's check of the address it is about to connect
// to, after DNS resolution.
func (e *egress) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return refused("the network %s is not TCP", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return refused("the address %s cannot be read", address)
	}
	return e.checkAddr(ap)
}

// checkAddr applies the address rules (see egress) to one address.
func (e *egress) checkAddr(ap netip.AddrPort) error {
	a := ap.Addr().Unmap()
	ap = netip.AddrPortFrom(a, ap.Port())
	if a.IsUnspecified() {
		return refused("it points to %s, which means this host", ap)
	}
	if s := e.self.Load(); s != nil {
		if s.isAdmin(ap) {
			return refused("it points to %s, Caddy's admin endpoint, which callbacks may never reach", ap)
		}
		if s.isListener(ap) && !e.namesExactly(ap) {
			return refused("it points to %s, a listener of this server, which callbacks may not call (allow_networks opens one only when an entry names exactly that address and port)", ap)
		}
	}
	for _, r := range e.allow {
		if r.matches(ap) {
			return nil
		}
	}
	if err := e.guard.SafeAddr(a); err != nil {
		return refused("it points to %s, a loopback, private, link-local or otherwise internal address; allow it with allow_networks in the agenthook delivery block", ap)
	}
	return nil
}

func (e *egress) namesExactly(ap netip.AddrPort) bool {
	for _, r := range e.allow {
		if r.names(ap) {
			return true
		}
	}
	return false
}

// checkHost refuses a host name this server serves.
func (e *egress) checkHost(host string) error {
	if s := e.self.Load(); s != nil && s.servesName(host) {
		return refused("its host %s is a name this server serves, which callbacks may not call", normalizeHost(host))
	}
	return nil
}

// checkURL refuses, when a callback is registered, URLs that are not
// absolute http(s), whose host this server serves, or whose host resolves
// to an address the dialer would refuse. Errors for malformed URLs say
// what is wrong; every other refusal wraps delivery.ErrRefused.
func (e *egress) checkURL(ctx context.Context, raw string) error {
	if err := checkCallbackURL(raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	host := u.Hostname()
	if host == "" {
		return errors.New("it has no host")
	}
	port, err := urlPort(u)
	if err != nil {
		return err
	}
	if err := e.checkHost(host); err != nil {
		return err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		addrs, err = e.lookup(ctx, normalizeHost(host))
		if err != nil || len(addrs) == 0 {
			return refused("its host %s could not be resolved", normalizeHost(host))
		}
	}
	for _, a := range addrs {
		if err := e.checkAddr(netip.AddrPortFrom(a, port)); err != nil {
			return err
		}
	}
	return nil
}

// urlPort is the port a URL's requests go to.
func urlPort(u *url.URL) (uint16, error) {
	p := u.Port()
	if p == "" {
		if u.Scheme == "https" {
			return 443, nil
		}
		return 80, nil
	}
	n, err := parsePort(p)
	if err != nil {
		return 0, errors.New("callback url has a bad port")
	}
	return n, nil
}
