package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestBuild(t *testing.T) {
	osv := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(osv, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("GO-2026-0002.json", `{"id":"GO-2026-0002","modified":"2026-02-01T00:00:00Z","aliases":["CVE-2"],
		"affected":[{"package":{"name":"example.com/a"}},{"package":{"name":"example.com/a"}},{"package":{"name":"stdlib"}}]}`)
	write("GO-2026-0001.json", `{"id":"GO-2026-0001","modified":"2026-03-01T00:00:00Z","affected":[{"package":{"name":"example.com/a"}}]}`)

	out := filepath.Join(t.TempDir(), "db")
	n, err := build(osv, out)
	if err != nil || n != 2 {
		t.Fatalf("build: %d entries, %v", n, err)
	}

	var db struct{ Modified string }
	var mods []struct {
		Path  string
		Vulns []struct{ ID, Fixed string }
	}
	var vulns []struct {
		ID      string
		Aliases []string
	}
	for name, v := range map[string]any{"db.json": &db, "modules.json": &mods, "vulns.json": &vulns} {
		b, err := os.ReadFile(filepath.Join(out, "index", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if db.Modified != "2026-03-01T00:00:00Z" {
		t.Errorf("db.json modified = %s, want the newest entry's", db.Modified)
	}
	if len(mods) != 2 || mods[0].Path != "example.com/a" || mods[1].Path != "stdlib" ||
		len(mods[0].Vulns) != 2 || mods[0].Vulns[0].ID != "GO-2026-0001" || mods[0].Vulns[1].ID != "GO-2026-0002" ||
		len(mods[1].Vulns) != 1 {
		t.Errorf("modules.json = %+v", mods)
	}
	if len(vulns) != 2 || vulns[0].ID != "GO-2026-0001" || vulns[1].Aliases[0] != "CVE-2" {
		t.Errorf("vulns.json = %+v", vulns)
	}
	entry, err := os.ReadFile(filepath.Join(out, "ID", "GO-2026-0001.json"))
	if err != nil || len(entry) == 0 {
		t.Errorf("ID/GO-2026-0001.json: %v", err)
	}

	// A file whose name is not its id is refused.
	write("GO-2026-0003.json", `{"id":"GO-2026-9999","modified":"2026-03-01T00:00:00Z"}`)
	if _, err := build(osv, filepath.Join(t.TempDir(), "db")); err == nil {
		t.Error("a misnamed entry was accepted")
	}
}
