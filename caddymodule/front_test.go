package caddymodule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agenthook/agenthook/handler/adapter"
	"github.com/agenthook/agenthook/handler/delivery"
)

// TestFrontExamplesAdapt: each Caddyfile of examples/front, shown in the
// README's "Front your backend" as it is, adapts to its JSON twin beside
// it. Rewrite the twins with: go test ./caddymodule/ -run
// TestFrontExamplesAdapt -update
func TestFrontExamplesAdapt(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../examples/front/*.Caddyfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples/front/*.Caddyfile: %v", err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		cf, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(readme), "```caddyfile\n"+string(cf)+"```") {
			t.Errorf("README.md does not show %s as it is", path)
		}
		out, err := adaptCaddyfile(t, string(cf))
		if err != nil {
			t.Fatalf("adapting %s: %v", path, err)
		}
		got, err := normalizeJSON(out)
		if err != nil {
			t.Fatal(err)
		}
		twin := strings.TrimSuffix(path, ".Caddyfile") + ".json"
		if *updateGolden {
			if err := os.WriteFile(twin, []byte(got+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		golden, err := os.ReadFile(twin)
		if err != nil {
			t.Fatalf("%v; write it with -update", err)
		}
		want, err := normalizeJSON(golden)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s adapts to other JSON than %s (- want, + got):\n%s", path, twin, lineDiff(want, got))
		}
	}
}

// TestReadmeShowsPresets: the README shows the expressions the presets
// run, for the options of examples/front, and the cognigy payload.
func TestReadmeShowsPresets(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	o, err := adapter.OpenAI(adapter.OpenAIOptions{Model: "llama3", System: "You are a helpful support agent. Answer briefly.", History: 10})
	if err != nil {
		t.Fatal(err)
	}
	l, err := adapter.LangServe(adapter.LangServeOptions{Path: "/chain"})
	if err != nil {
		t.Fatal(err)
	}
	for name, expr := range map[string]string{
		"openai request": o.Request, "openai answer": o.Answer,
		"langserve request": l.Request, "langserve answer": l.Answer,
		"cognigy payload": delivery.CognigyPayload,
	} {
		if !strings.Contains(string(readme), "```jq\n"+expr+"\n```") {
			t.Errorf("README.md does not show the %s expression as it runs:\n%s", name, expr)
		}
	}
}
