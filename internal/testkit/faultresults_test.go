package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// recTB is the part of testing.TB that RecordFault uses, with outcomes
// chosen by the test: a real test cannot fail on purpose.
type recTB struct {
	testing.TB
	name            string
	failed, skipped bool
	cleanups        []func()
	errs            []string
}

func (r *recTB) Name() string              { return r.name }
func (r *recTB) Helper()                   {}
func (r *recTB) Cleanup(f func())          { r.cleanups = append(r.cleanups, f) }
func (r *recTB) Failed() bool              { return r.failed }
func (r *recTB) Skipped() bool             { return r.skipped }
func (r *recTB) Log(...any)                {}
func (r *recTB) Skip(...any)               { r.skipped = true }
func (r *recTB) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }
func (r *recTB) end()                      { r.cleanups[0]() }

func TestFaultResults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faults.jsonl")
	t.Setenv(FaultResultsEnv, path)

	pass := &recTB{name: "TestFaultA"}
	f := RecordFault(pass)
	f.Number("tasks", 17)
	f.Summary("%d tasks, all SUCCESS", 17)
	fail := &recTB{name: "TestFaultB"}
	RecordFault(fail)
	skip := &recTB{name: "TestFaultC"}
	RecordFault(skip).Skip("no %s", "PostgreSQL")
	hung := &recTB{name: "TestFaultD"}
	RecordFault(hung) // never ends
	pass.end()
	fail.failed = true
	fail.end()
	skip.end()

	got, err := ReadFaultResults(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ test, result, summary string }{
		{"TestFaultA", FaultPass, "17 tasks, all SUCCESS"},
		{"TestFaultB", FaultFail, ""},
		{"TestFaultC", FaultSkip, "no PostgreSQL"},
		{"TestFaultD", FaultRunning, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d results: %+v", len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Test != w.test || g.Result != w.result || g.Summary != w.summary || g.Seconds < 0 {
			t.Errorf("result %d: %+v, want %+v", i, g, w)
		}
	}
	if got[0].Numbers["tasks"] != 17 || got[1].Numbers != nil {
		t.Errorf("numbers %v, %v", got[0].Numbers, got[1].Numbers)
	}
	for _, r := range []*recTB{pass, fail, skip, hung} {
		if len(r.errs) > 0 {
			t.Errorf("%s: %v", r.name, r.errs)
		}
	}
}

// Without the variable, nothing is written anywhere.
func TestFaultResultsOff(t *testing.T) {
	t.Setenv(FaultResultsEnv, "")
	dir := t.TempDir()
	t.Chdir(dir)
	r := &recTB{name: "TestFaultA"}
	RecordFault(r).Summary("seen")
	r.end()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 || len(r.errs) != 0 {
		t.Fatalf("wrote %v, errors %v", entries, r.errs)
	}
}

func TestReadFaultResultsGarbage(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "faults.jsonl")
	if err := os.WriteFile(path, []byte("{\"test\":\"A\",\"result\":\"pass\"}\n\nnot json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFaultResults(path)
	if err == nil || len(got) != 1 {
		t.Fatalf("%+v, %v", got, err)
	}
}
