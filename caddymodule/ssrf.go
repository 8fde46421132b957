package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"code.dny.dev/ssrf"
)

// egress is how deliveries reach receivers: an HTTP client whose dialer
// refuses loopback, private, link-local, CGNAT, multicast and cloud
// metadata addresses (unless allowed), checked after DNS resolution, so a
// hostname that resolves somewhere internal, or a DNS rebinding, is
// refused at connect time too.
type egress struct {
	guard  *ssrf.Guardian
	client *http.Client
}

func newEgress(allowed []netip.Prefix) *egress {
	var v4, v6 []netip.Prefix
	for _, p := range allowed {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	g := ssrf.New(ssrf.WithAnyPort(), ssrf.WithAllowedV4Prefixes(v4...), ssrf.WithAllowedV6Prefixes(v6...))
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.Safe}
	transport := &http.Transport{
		// No proxy from the environment: it would dial for us, past the
		// address check.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	return &egress{
		guard: g,
		client: &http.Client{
			Transport: transport,
			// A redirect could point anywhere, including inside; the
			// receiver's 3xx counts as a failed attempt.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// close drops idle connections, when a reload replaces this egress.
func (e *egress) close() {
	if t, ok := e.client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// checkURL refuses, when a callback is registered, URLs that are not
// absolute http(s) or whose host resolves to a refused address.
func (e *egress) checkURL(ctx context.Context, raw string) error {
	if err := checkCallbackURL(raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	host := u.Hostname()
	if host == "" {
		return errors.New("it has no host")
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return fmt.Errorf("its host %s could not be resolved", host)
		}
	}
	for _, a := range addrs {
		if err := e.guard.SafeAddr(a.Unmap()); err != nil {
			if errors.Is(err, ssrf.ErrProhibitedIP) {
				return fmt.Errorf("it points to %s, a loopback, private, link-local or otherwise internal address; allow it with allow_networks in the agenthook delivery block", a)
			}
			return err
		}
	}
	return nil
}
