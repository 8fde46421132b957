package caddymodule

import (
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestAllowRuleParse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"::1", "::1"},
		{"fd00::/8", "fd00::/8"},
		{"127.0.0.1:9002", "127.0.0.1:9002"},
		{"127.0.0.0/8:9000-9099", "127.0.0.0/8:9000-9099"},
		{"127.0.0.0/8:9000-9000", "127.0.0.0/8:9000"},
		{"[::1]:9002", "[::1]:9002"},
		{"[fd00::/8]:9000-9099", "[fd00::/8]:9000-9099"},
		{"[::1]", "::1"},
		{"::ffff:127.0.0.1", "127.0.0.1"},
	} {
		r, err := parseAllowRule(c.in)
		if err != nil {
			t.Errorf("parseAllowRule(%q): %v", c.in, err)
			continue
		}
		if r.String() != c.want {
			t.Errorf("parseAllowRule(%q) = %s, want %s", c.in, r, c.want)
		}
	}
}

func TestAllowRuleParseErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, says string }{
		{"intranet", "is not a CIDR range or an IP address"},
		{"intranet:80", "is not a CIDR range or an IP address"},
		{"127.0.0.1:", "is not a CIDR range"},
		{"127.0.0.1:0", "from 1 to 65535"},
		{"127.0.0.1:65536", "from 1 to 65535"},
		{"127.0.0.1:http", "from 1 to 65535"},
		{"127.0.0.1:9100-9000", "runs backwards"},
		{"127.0.0.1:9000-", "from 1 to 65535"},
		{"[::1]9002", "brackets"},
		{"[::1]:", "brackets"},
		{"[::1", "brackets"},
		{"[127.0.0.1]:80", "brackets"},
		{"10.0.0.0/33", "is not a CIDR range"},
		{"", "is not a CIDR range"},
	} {
		_, err := parseAllowRule(c.in)
		if err == nil {
			t.Errorf("parseAllowRule(%q) accepted it", c.in)
			continue
		}
		if !strings.Contains(err.Error(), c.says) {
			t.Errorf("parseAllowRule(%q) = %q, want it to say %q", c.in, err, c.says)
		}
	}
}

func TestAllowRuleMatches(t *testing.T) {
	t.Parallel()
	ap := netip.MustParseAddrPort
	for _, c := range []struct {
		rule   string
		addr   string
		match  bool
		naming bool
	}{
		{"127.0.0.1/32", "127.0.0.1:2019", true, false},
		{"127.0.0.1", "127.0.0.1:9002", true, false},
		{"127.0.0.1:9002", "127.0.0.1:9002", true, true},
		{"127.0.0.1:9002", "127.0.0.1:9003", false, false},
		{"127.0.0.1:9002", "127.0.0.2:9002", false, false},
		{"127.0.0.0/8:9000-9099", "127.9.9.9:9050", true, false},
		{"127.0.0.0/8:9000-9099", "127.0.0.1:2019", false, false},
		{"127.0.0.0/8:9002", "127.0.0.1:9002", true, false},
		{"[::1]:9002", "[::1]:9002", true, true},
		{"[::1]:9002", "127.0.0.1:9002", false, false},
		{"127.0.0.1:9000-9001", "127.0.0.1:9000", true, false},
	} {
		r, err := parseAllowRule(c.rule)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.matches(ap(c.addr)); got != c.match {
			t.Errorf("%s matches %s = %v, want %v", c.rule, c.addr, got, c.match)
		}
		if got := r.names(ap(c.addr)); got != c.naming {
			t.Errorf("%s names %s = %v, want %v", c.rule, c.addr, got, c.naming)
		}
	}
}

// TestDemoOpensOnlyItsReceiver: the demo's allow_networks names its
// receiver's address and port, and the port examples/receivers listen on,
// not a range that would open every local port.
func TestDemoOpensOnlyItsReceiver(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	out, err := adaptCaddyfile(t, string(b))
	if err != nil {
		t.Fatalf("adapting Caddyfile.example: %v", err)
	}
	var cfg struct {
		Apps struct {
			Agenthook App `json:"agenthook"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	d := cfg.Apps.Agenthook.Delivery
	if d == nil || strings.Join(d.AllowNetworks, " ") != "127.0.0.1:9002 127.0.0.1:9003" {
		t.Fatalf("the demo's allow_networks is %v, want [127.0.0.1:9002 127.0.0.1:9003] (its receiver, and examples/receivers)", d)
	}
	if !strings.Contains(string(b), "127.0.0.1:9002/hooks") {
		t.Fatal("the demo's callbacks no longer go to 127.0.0.1:9002")
	}
}
