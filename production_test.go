package agenthook

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestProductionBuildHasNoDemo: `xcaddy build --with
// github.com/agenthook/agenthook` imports this package, and so must not
// bring the demo agent and receiver, which only the demo build imports.
func TestProductionBuildHasNoDemo(t *testing.T) {
	for _, id := range caddy.Modules() {
		if strings.Contains(id, "demo") {
			t.Errorf("the root package registers the demo module %s", id)
		}
	}
	if _, err := caddy.GetModule("http.handlers.agenthook"); err != nil {
		t.Fatalf("the root package does not register agenthook itself: %v", err)
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/agenthook/agenthook/demo" {
			t.Fatal("the root package imports github.com/agenthook/agenthook/demo")
		}
	}
}
