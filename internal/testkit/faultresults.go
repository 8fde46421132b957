package testkit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// FaultResultsEnv names a file (an absolute path: tests run in their
// package's directory) that the fault suite appends its results to, one
// JSON object (FaultResult) a line. bench/run.sh sets it and the bench's
// report reads the file, so that the report does not depend on the
// wording of test logs.
const FaultResultsEnv = "AGENTHOOK_FAULT_RESULTS"

// Results of a fault test.
const (
	FaultRunning = "running" // written at the start: a test that never ends keeps it
	FaultPass    = "pass"
	FaultFail    = "fail"
	FaultSkip    = "skip"
)

// FaultResult is one fault test's outcome.
type FaultResult struct {
	Test    string  `json:"test"`
	Result  string  `json:"result"`
	Seconds float64 `json:"seconds"`
	// Summary is one sentence: what was checked and what was seen, or,
	// for a skipped test, why.
	Summary string `json:"summary,omitempty"`
	// Numbers are the key figures of the summary, by name.
	Numbers map[string]float64 `json:"numbers,omitempty"`
}

// Fault records one fault test's result: create it first thing in the
// test, give it the summary (and numbers) once everything was checked.
// When the test ends, its result goes to the file named by
// FaultResultsEnv, if that is set; the summary is logged either way.
type Fault struct {
	t     testing.TB
	start time.Time

	mu      sync.Mutex
	summary string
	numbers map[string]float64
}

// RecordFault starts recording t's result. Its cleanup is registered
// before any other of the test's, so it runs last and times them too.
func RecordFault(t testing.TB) *Fault {
	t.Helper()
	f := &Fault{t: t, start: time.Now()}
	f.write(FaultRunning)
	t.Cleanup(func() {
		switch {
		case t.Skipped():
			f.write(FaultSkip)
		case t.Failed():
			f.write(FaultFail)
		default:
			f.write(FaultPass)
		}
	})
	return f
}

// Number notes one key figure.
func (f *Fault) Number(name string, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.numbers == nil {
		f.numbers = map[string]float64{}
	}
	f.numbers[name] = v
}

// Summary logs the sentence that says what the test checked and saw, and
// keeps it for the result.
func (f *Fault) Summary(format string, args ...any) {
	f.t.Helper()
	s := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.summary = s
	f.mu.Unlock()
	f.t.Log(s)
}

// Skip keeps the reason as the summary and skips the test.
func (f *Fault) Skip(format string, args ...any) {
	f.t.Helper()
	f.mu.Lock()
	f.summary = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	f.t.Skip(f.summary)
}

// faultFileMu keeps this process's lines whole; O_APPEND keeps them whole
// against other processes.
var faultFileMu sync.Mutex

func (f *Fault) write(result string) {
	path := os.Getenv(FaultResultsEnv)
	if path == "" {
		return
	}
	f.mu.Lock()
	r := FaultResult{Test: f.t.Name(), Result: result, Seconds: time.Since(f.start).Seconds(), Summary: f.summary, Numbers: f.numbers}
	line, err := json.Marshal(r)
	f.mu.Unlock()
	if err == nil {
		err = appendLine(path, append(line, '\n'))
	}
	if err != nil {
		f.t.Errorf("%s: %v", FaultResultsEnv, err)
	}
}

func appendLine(path string, line []byte) error {
	faultFileMu.Lock()
	defer faultFileMu.Unlock()
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = file.Write(line)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadFaultResults reads a FaultResultsEnv file: each test's last line,
// in the order the tests started. A test whose last line says
// FaultRunning did not finish (it timed out, or the process died).
func ReadFaultResults(path string) ([]FaultResult, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	byTest := map[string]int{}
	var out []FaultResult
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var r FaultResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
		if i, ok := byTest[r.Test]; ok {
			out[i] = r
			continue
		}
		byTest[r.Test] = len(out)
		out = append(out, r)
	}
	return out, sc.Err()
}
