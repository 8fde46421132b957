package runner

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRunnerLogsEachFinishedTask(t *testing.T) {
	t.Parallel()
	for _, quiet := range []bool{false, true} {
		f := newRunFixture(t, Config{QuietSuccess: quiet, Attempts: 1})
		core, logs := observer.New(zapcore.DebugLevel)
		f.r.Logger = zap.New(core)
		ok := true
		f.backend(func(w http.ResponseWriter, r *http.Request) error {
			f.clock.Advance(3 * time.Second)
			if !ok {
				w.WriteHeader(http.StatusBadGateway)
			}
			_, _ = io.WriteString(w, `{"secret answer":1}`)
			return nil
		})
		good := f.submit()
		f.clock.Advance(2 * time.Second) // queued
		f.step()
		ok = false
		bad := f.submit()
		f.step()

		lines := logs.FilterMessage("task finished").All()
		if len(lines) != 2 {
			t.Fatalf("quiet=%v: %d task lines, want 2", quiet, len(lines))
		}
		for i, id := range []string{good.ID, bad.ID} {
			e := lines[i]
			m := e.ContextMap()
			wantLevel := zapcore.InfoLevel
			if quiet && i == 0 {
				wantLevel = zapcore.DebugLevel
			}
			if e.Level != wantLevel {
				t.Errorf("quiet=%v: line %d at %v, want %v", quiet, i, e.Level, wantLevel)
			}
			if m["task_id"] != id || m["agent"] != "agent-a" || m["chat_id"] == "" || m["attempt"] != int64(1) {
				t.Errorf("line %d ids: %v", i, m)
			}
			for _, k := range []string{"queued", "backend", "total"} {
				if _, ok := m[k].(time.Duration); !ok {
					t.Errorf("line %d has no duration %s: %v", i, k, m)
				}
			}
			if i == 0 && (m["status"] != "SUCCESS" || m["queued"] != 2*time.Second || m["total"] != 5*time.Second) {
				t.Errorf("success line: %v", m)
			}
			if i == 1 && (m["status"] != "FAILURE" || m["backend_status"] != int64(502) || !strings.Contains(m["error"].(string), "502")) {
				t.Errorf("failure line: %v", m)
			}
		}
		for _, e := range logs.All() {
			if e.Message == "task result" {
				continue // debug only, and the one place a body may go
			}
			for _, v := range e.ContextMap() {
				if s, ok := v.(string); ok && strings.Contains(s, "secret answer") {
					t.Fatalf("%q logs the body", e.Message)
				}
			}
		}
		if got := logs.FilterMessage("task result").FilterField(zap.String("task_id", good.ID)).Len(); got > 1 {
			t.Fatalf("%d result lines", got)
		}
	}
}
