package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fault table comes from the results file the fault suite writes:
// each test's last line, in the order they started.
func TestFaultTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faults.jsonl")
	lines := strings.Join([]string{
		`{"test":"TestFaultF1","result":"running","seconds":0}`,
		`{"test":"TestFaultF2","result":"running","seconds":0}`,
		`{"test":"TestFaultF1","result":"pass","seconds":25.2,"summary":"3 kill -9 | all SUCCESS","numbers":{"kills":3}}`,
		`{"test":"TestFaultF5","result":"running","seconds":0}`,
		`{"test":"TestFaultF5","result":"skip","seconds":0.1,"summary":"no PostgreSQL"}`,
		`{"test":"TestFaultF6","result":"running","seconds":0}`,
		`{"test":"TestFaultF6","result":"fail","seconds":13}`,
	}, "\n") + "\n"
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	md := renderMarkdown(&Results{}, "chart.png", readFaults(path), nil)
	for _, row := range []string{
		`| TestFaultF1 | pass | 25 s | 3 kill -9 \| all SUCCESS |`,
		`| TestFaultF2 | did not finish | 0 s | see the test's log in bench/out/faults.log |`,
		`| TestFaultF5 | skipped | 0 s | no PostgreSQL |`,
		`| TestFaultF6 | **FAIL** | 13 s | see the test's log in bench/out/faults.log |`,
	} {
		if !strings.Contains(md, row+"\n") {
			t.Errorf("no row %s in:\n%s", row, md[strings.Index(md, "## Fault suite"):strings.Index(md, "## Fuzzing")])
		}
	}
	if i, j := strings.Index(md, "TestFaultF1 |"), strings.Index(md, "TestFaultF2 |"); i > j {
		t.Error("the rows are not in the order the tests started")
	}
	if md := renderMarkdown(&Results{}, "chart.png", readFaults(filepath.Join(t.TempDir(), "none")), nil); !strings.Contains(md, "## Fault suite\n\n") || !strings.Contains(md, "Not run in this invocation.") {
		t.Error("no results file should say the suite did not run")
	}
}
