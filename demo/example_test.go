package demo

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/agenthook/agenthook/caddymodule"
)

// adaptFile adapts a Caddyfile of this repository, as `caddy adapt` does.
func adaptFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(b, map[string]any{"filename": path})
	if err != nil {
		t.Fatalf("adapting %s: %v", path, err)
	}
	return out
}

// TestExampleListensOnLoopbackOnly: the demo's sidecar, agent and
// receiver (whose GET lists every payload it got) listen on 127.0.0.1,
// and its admin endpoint stays on Caddy's loopback default.
func TestExampleListensOnLoopbackOnly(t *testing.T) {
	var cfg struct {
		Admin *struct {
			Listen string `json:"listen"`
		} `json:"admin"`
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(adaptFile(t, "../Caddyfile.example"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Admin != nil && cfg.Admin.Listen != "" && !strings.HasPrefix(cfg.Admin.Listen, "localhost:") && !strings.HasPrefix(cfg.Admin.Listen, "127.0.0.1:") {
		t.Errorf("the admin endpoint listens on %s", cfg.Admin.Listen)
	}
	ports := map[string]bool{}
	for name, srv := range cfg.Apps.HTTP.Servers {
		if len(srv.Listen) == 0 {
			t.Errorf("server %s has no listen address", name)
		}
		for _, l := range srv.Listen {
			port, ok := strings.CutPrefix(l, "127.0.0.1:")
			if !ok {
				t.Errorf("server %s listens on %s, not on 127.0.0.1 only", name, l)
			}
			ports[port] = true
		}
	}
	for _, p := range []string{"8080", "9001", "9002"} {
		if !ports[p] {
			t.Errorf("nothing listens on 127.0.0.1:%s (listening: %v)", p, ports)
		}
	}
}
