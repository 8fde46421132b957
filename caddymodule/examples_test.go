package caddymodule

import (
	"os"
	"strings"
	"testing"
)

// TestMinimalExampleAdapts: examples/minimal/Caddyfile, the README's "your
// own agent" config, adapts to its JSON twin beside it, caddy.json (which
// runs as it is: caddy run --config examples/minimal/caddy.json). Rewrite
// the twin with: go test ./caddymodule/ -run TestMinimalExampleAdapts -update
func TestMinimalExampleAdapts(t *testing.T) {
	const dir = "../examples/minimal/"
	cf, err := os.ReadFile(dir + "Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, err := adaptCaddyfile(t, string(cf))
	if err != nil {
		t.Fatalf("adapting examples/minimal/Caddyfile: %v", err)
	}
	got, err := normalizeJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	if *updateGolden {
		if err := os.WriteFile(dir+"caddy.json", []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	golden, err := os.ReadFile(dir + "caddy.json")
	if err != nil {
		t.Fatalf("%v; write it with -update", err)
	}
	want, err := normalizeJSON(golden)
	if err != nil {
		t.Fatalf("examples/minimal/caddy.json: %v", err)
	}
	// The README shows the same config, without the file's comments.
	config := string(cf[strings.Index(string(cf), "\n{\n")+1:])
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```caddyfile\n"+config+"```") {
		t.Errorf("README.md does not show examples/minimal/Caddyfile as it is:\n%s", config)
	}
	if got != want {
		t.Errorf("examples/minimal/Caddyfile adapts to other JSON than caddy.json (- want, + got; rerun with -update to accept):\n%s", lineDiff(want, got))
	}
}
