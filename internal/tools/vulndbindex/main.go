// Command vulndbindex turns the OSV files that the golang.org/x/vulndb
// module ships (its data/osv directory) into a vulnerability database in
// the v1 layout that `govulncheck -db file:///dir` reads
// (https://go.dev/security/vuln/database#api):
//
//	index/db.json       {"modified": <the newest entry's time>}
//	index/modules.json  [{"path", "vulns": [{"id", "modified"}]}]
//	index/vulns.json    [{"id", "modified", "aliases"}]
//	ID/<id>.json        each OSV entry, unchanged
//
// The optional "fixed" hint of modules.json is left out, so govulncheck
// checks every entry of a module against the version in use rather than
// skipping some by the hint: slower by a few file reads, never less
// complete.
//
// test.sh runs it (go run ./internal/tools/vulndbindex -osv DIR -out DIR).
// vulndb's own generator, cmd/indexdb, writes the same layout, but it builds
// with go-git and the Google Cloud libraries: minutes of downloading and
// compiling on a fresh machine, for what this does in a second.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// entry is the part of an OSV entry that the index needs.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

func main() {
	osvDir := flag.String("osv", "", "directory of OSV JSON files, one <id>.json per entry")
	out := flag.String("out", "", "directory to write the database to (created; must not exist)")
	flag.Parse()
	if *osvDir == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	n, err := build(*osvDir, *out)
	if err != nil {
		log.Fatalf("vulndbindex: %v", err)
	}
	fmt.Printf("vulndbindex: %d entries written to %s\n", n, *out)
}

// build writes the database for the entries in osvDir to out, and returns
// how many entries it holds.
func build(osvDir, out string) (int, error) {
	files, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no OSV entries (*.json) in %s", osvDir)
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		return 0, err
	}
	for _, dir := range []string{"index", "ID"} {
		if err := os.Mkdir(filepath.Join(out, dir), 0o755); err != nil {
			return 0, err
		}
	}

	var (
		newest  time.Time
		modules = map[string]*module{}
		vulns   []vuln
	)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		if e.ID == "" || filepath.Base(f) != e.ID+".json" {
			return 0, fmt.Errorf("%s: file name does not match the entry's id %q", f, e.ID)
		}
		if e.Modified.After(newest) {
			newest = e.Modified
		}
		vulns = append(vulns, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		seen := map[string]bool{}
		for _, a := range e.Affected {
			path := a.Package.Name
			if path == "" || seen[path] {
				continue
			}
			seen[path] = true
			m := modules[path]
			if m == nil {
				m = &module{Path: path}
				modules[path] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return 0, err
		}
	}

	mods := make([]*module, 0, len(modules))
	for _, m := range modules {
		sort.Slice(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })

	for name, v := range map[string]any{
		"db.json": struct {
			Modified time.Time `json:"modified"`
		}{newest},
		"modules.json": mods,
		"vulns.json":   vulns,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name), b, 0o644); err != nil {
			return 0, err
		}
	}
	return len(files), nil
}
