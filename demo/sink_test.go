package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/signing"
)

const (
	configSecret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	registeredSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

// newSink provisions a Sink whose learned secrets live in file.
func newSink(t *testing.T, file string, secrets ...string) *Sink {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	s := &Sink{Secrets: secrets, secretsFile: file}
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	s.logger = zap.NewNop() // quiet tests
	return s
}

// deliver POSTs a delivery signed with secret to path and returns the
// status and what the sink recorded for it.
func deliver(t *testing.T, s *Sink, path, secret string) (int, received) {
	t.Helper()
	body := []byte(`{"type":"task.succeeded","result":{"answer":"hi"}}`)
	id := "msg_" + strings.ReplaceAll(t.Name(), "/", "_") + path
	id = strings.ReplaceAll(id, "/", "_")
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
	if secret != "" {
		signer, err := signing.NewStandardWebhooksSigner([]string{secret})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range signer.Sign(id, time.Now(), body) {
			r.Header[k] = v
		}
	}
	w := httptest.NewRecorder()
	if err := s.ServeHTTP(w, r, nil); err != nil {
		t.Fatal(err)
	}
	receivedMu.Lock()
	defer receivedMu.Unlock()
	for i := len(receivedAt) - 1; i >= 0; i-- {
		if receivedAt[i].Path == path {
			return w.Code, receivedAt[i]
		}
	}
	t.Fatalf("nothing recorded for %s", path)
	return 0, received{}
}

func valid(rec received) string {
	if rec.SignatureValid == nil {
		return "absent"
	}
	if *rec.SignatureValid {
		return "true"
	}
	return "false"
}

// TestSinkVerifiesRegisteredCallbacks: a delivery signed with the
// Caddyfile's secret is valid; one signed with a registration's secret is
// valid once the registration answer is POSTed to /secrets, also after a
// restart (a new Sink on the same file).
func TestSinkVerifiesRegisteredCallbacks(t *testing.T) {
	file := filepath.Join(t.TempDir(), secretsFileName)
	s := newSink(t, file, configSecret)

	if code, rec := deliver(t, s, "/hooks/raw", configSecret); code != 204 || valid(rec) != "true" {
		t.Fatalf("the Caddyfile's secret: %d, signature_valid %s", code, valid(rec))
	}
	if _, rec := deliver(t, s, "/hooks/registered", registeredSecret); valid(rec) != "false" {
		t.Fatalf("an unknown secret: signature_valid %s, want false", valid(rec))
	}

	// The answer to a registration, as the README pipes it in.
	reg := `{"id":"wh_1","agent_id":"support","url":"http://127.0.0.1:9002/hooks/registered","secret":"` + registeredSecret + `"}`
	w := httptest.NewRecorder()
	if err := s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/secrets", strings.NewReader(reg)), nil); err != nil {
		t.Fatal(err)
	}
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"learned_secrets":1`) {
		t.Fatalf("POST /secrets: %d %s", w.Code, w.Body)
	}
	if _, rec := deliver(t, s, "/hooks/registered", registeredSecret); valid(rec) != "true" {
		t.Fatalf("a learned secret: signature_valid %s, want true", valid(rec))
	}

	// A restart forgets the process's books, not the file.
	books.Delete(file)
	s = newSink(t, file, configSecret)
	if _, rec := deliver(t, s, "/hooks/registered", registeredSecret); valid(rec) != "true" {
		t.Fatalf("after a restart: signature_valid %s, want true", valid(rec))
	}
}

// TestSinkRefusesBadSecrets: /secrets takes only Standard Webhooks keys.
func TestSinkRefusesBadSecrets(t *testing.T) {
	s := newSink(t, filepath.Join(t.TempDir(), secretsFileName))
	for _, body := range []string{`{}`, `not json`, `{"secret":"hunter2"}`, `{"secret":"whsk_AAAA"}`} {
		w := httptest.NewRecorder()
		if err := s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/secrets", strings.NewReader(body)), nil); err != nil {
			t.Fatal(err)
		}
		if w.Code != 400 {
			t.Errorf("POST /secrets %s: %d, want 400", body, w.Code)
		}
	}
	if n := len(s.book.secrets()); n != 0 {
		t.Fatalf("%d secrets learned from bad input", n)
	}
}

// TestSinkDownAndUnsigned: /down answers 503 and is listed with it; an
// unsigned POST, or a sink without secrets, shows no signature_valid.
func TestSinkDownAndUnsigned(t *testing.T) {
	s := newSink(t, filepath.Join(t.TempDir(), secretsFileName))
	code, rec := deliver(t, s, "/down", configSecret)
	if code != 503 || rec.Answered != 503 {
		t.Fatalf("/down: %d, recorded %d", code, rec.Answered)
	}
	if valid(rec) != "absent" {
		t.Fatalf("a sink without secrets: signature_valid %s", valid(rec))
	}
	s = newSink(t, filepath.Join(t.TempDir(), secretsFileName), configSecret)
	if code, rec := deliver(t, s, "/down/deeper", ""); code != 503 || valid(rec) != "absent" {
		t.Fatalf("unsigned /down/deeper: %d, signature_valid %s", code, valid(rec))
	}

	w := httptest.NewRecorder()
	if err := s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil), nil); err != nil {
		t.Fatal(err)
	}
	var list struct{ Received []received }
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list.Received) == 0 {
		t.Fatalf("GET /: %v %s", err, w.Body)
	}
	if list.Received[0].Path != "/down/deeper" {
		t.Fatalf("GET / lists %s first, want the newest, /down/deeper", list.Received[0].Path)
	}
}

// TestSinkListsByPath: GET on a path lists what was POSTed there and
// below, newest first; GET / lists everything.
func TestSinkListsByPath(t *testing.T) {
	s := newSink(t, filepath.Join(t.TempDir(), secretsFileName))
	// What the sink received outlives one sink (it is kept across config
	// reloads), so the paths are this run's own: with -count=N the runs
	// before left theirs.
	top := fmt.Sprintf("/listed%d", time.Now().UnixNano())
	for _, p := range []string{"/a", "/a/b", "/ab", "/a"} {
		deliver(t, s, top+p, "")
	}
	get := func(path string) []string {
		w := httptest.NewRecorder()
		if err := s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil), nil); err != nil {
			t.Fatal(err)
		}
		var list struct{ Received []received }
		if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil {
			t.Fatalf("GET %s: %v %s", path, err, w.Body)
		}
		var paths []string
		for _, r := range list.Received {
			if p, ok := strings.CutPrefix(r.Path, top); ok {
				paths = append(paths, p)
			}
		}
		return paths
	}
	if got := strings.Join(get(top+"/a"), " "); got != "/a /a/b /a" {
		t.Errorf("GET %s/a: %s", top, got)
	}
	if got := len(get("/")); got != 4 {
		t.Errorf("GET / lists %d of the 4", got)
	}
}
