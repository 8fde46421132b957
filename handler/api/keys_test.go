package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store/storetest"
)

type mintedJSON struct {
	ID        string     `json:"id"`
	Key       string     `json:"key"`
	Source    string     `json:"source"`
	Name      string     `json:"name"`
	Agents    []string   `json:"agents"`
	ReadOnly  bool       `json:"read_only"`
	CreatedBy string     `json:"created_by"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func (f *apiFixture) mint(body string) mintedJSON {
	f.t.Helper()
	rec := f.doAs(key, http.MethodPost, "/api/keys", body)
	var m mintedJSON
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
		f.t.Fatalf("mint %s: %d %s", body, rec.Code, rec.Body)
	}
	if loc := rec.Header().Get("Location"); loc != "/api/keys/"+m.ID {
		f.t.Fatalf("Location %q", loc)
	}
	return m
}

func TestAPIMintedKeys(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.withScopedKeys()
	m := f.mint(`{"agents":["support","support"],"read_only":true,"name":"Ana's dashboard"}`)
	if !strings.HasPrefix(m.Key, mintedPrefix) || len(m.Key) < 40 || !strings.HasPrefix(m.ID, "key_") || m.Source != "api" ||
		len(m.Agents) != 1 || m.Agents[0] != "support" || !m.ReadOnly || m.Name != "Ana's dashboard" || m.CreatedBy == "" || m.ExpiresAt != nil {
		t.Fatalf("minted %+v", m)
	}
	// It works at once, within its scope.
	if rec := f.doAs(m.Key, http.MethodGet, "/api/agents/support/webhooks", ""); rec.Code != 200 {
		t.Fatalf("minted key: %d %s", rec.Code, rec.Body)
	}
	wantError(t, f.doAs(m.Key, http.MethodGet, "/api/agents/billing/webhooks", ""), http.StatusNotFound, handler.CodeNotFound)
	wantError(t, f.doAs(m.Key, http.MethodPost, "/api/agents/support/webhooks", `{"url":"http://127.0.0.1:9/x"}`), http.StatusForbidden, handler.CodeForbidden)
	wantError(t, f.doAs(m.Key, http.MethodGet, "/api/keys", ""), http.StatusForbidden, handler.CodeForbidden)
	w := f.mint(`{"agents":["billing"]}`)
	if rec := f.doAs(w.Key, http.MethodPost, "/api/agents/billing/webhooks", `{"url":"http://127.0.0.1:9/x"}`); rec.Code != http.StatusCreated {
		t.Fatalf("a minted key that may write: %d %s", rec.Code, rec.Body)
	}

	// Listed and read without the key; the config's keys too.
	rec := f.doAs(key, http.MethodGet, "/api/keys", "")
	body := rec.Body.String()
	if rec.Code != 200 || strings.Contains(body, m.Key) || strings.Contains(body, w.Key) || strings.Contains(body, key) ||
		strings.Contains(body, "hash") || !strings.Contains(body, m.ID) || strings.Count(body, `"source":"config"`) != 4 {
		t.Fatalf("list: %d %s", rec.Code, body)
	}
	rec = f.doAs(key, http.MethodGet, "/api/keys/"+m.ID, "")
	if rec.Code != 200 || strings.Contains(rec.Body.String(), m.Key) || !strings.Contains(rec.Body.String(), `"read_only":true`) {
		t.Fatalf("get: %d %s", rec.Code, rec.Body)
	}
	var list struct{ Data []KeyView }
	_ = json.Unmarshal([]byte(body), &list)
	cfg := list.Data[0].ID
	e := f.doAs(key, http.MethodDelete, "/api/keys/"+cfg, "")
	wantError(t, e, http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed)
	if e.Header().Get("Allow") != "GET" {
		t.Fatalf("Allow %q", e.Header().Get("Allow"))
	}

	// Revoked: refused at once.
	if rec := f.doAs(key, http.MethodDelete, "/api/keys/"+m.ID, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	wantError(t, f.doAs(m.Key, http.MethodGet, "/api/agents/support/webhooks", ""), http.StatusUnauthorized, handler.CodeUnauthorized)
	wantError(t, f.doAs(key, http.MethodDelete, "/api/keys/"+m.ID, ""), http.StatusNotFound, handler.CodeNotFound)
	wantError(t, f.doAs(key, http.MethodGet, "/api/keys/key_nope", ""), http.StatusNotFound, handler.CodeNotFound)

	// Bad requests.
	for _, b := range []struct{ body, code string }{
		{`{}`, handler.CodeMissingFields},
		{`{"agents":[]}`, handler.CodeMissingFields},
		{`{"agents":["nope"]}`, handler.CodeBadRequest},
		{`{"agents":["support"],"expires_at":"2000-01-01T00:00:00Z"}`, handler.CodeBadRequest},
		{`{"agents":["support"],"expires_at":"tomorrow"}`, handler.CodeBadRequest},
		{`{"agents":["support"],"name":"` + strings.Repeat("n", 201) + `"}`, handler.CodeBadRequest},
		{`{"agents":["support"],"scope":"all"}`, handler.CodeInvalidJSON},
		{`{"agents":"support"}`, handler.CodeInvalidJSON},
	} {
		wantError(t, f.doAs(key, http.MethodPost, "/api/keys", b.body), http.StatusBadRequest, b.code)
	}
}

func TestAPIMintedKeyExpires(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(storetest.Start)
	f := newAPIFixture(t)
	f.withScopedKeys()
	f.a.Now = clock.Now
	exp := clock.Now().Add(time.Hour)
	m := f.mint(`{"agents":["support"],"expires_at":"` + exp.Format(time.RFC3339) + `"}`)
	if m.ExpiresAt == nil || !m.ExpiresAt.Equal(exp) {
		t.Fatalf("expires_at %v", m.ExpiresAt)
	}
	if rec := f.doAs(m.Key, http.MethodGet, "/api/agents/support/webhooks", ""); rec.Code != 200 {
		t.Fatalf("before expiry: %d", rec.Code)
	}
	clock.Advance(time.Hour)
	wantError(t, f.doAs(m.Key, http.MethodGet, "/api/agents/support/webhooks", ""), http.StatusUnauthorized, handler.CodeUnauthorized)
}

// TestAPIKeysAcrossInstances: two APIs on one store, as two instances on
// one database. A key minted or revoked on one takes effect on the other
// within KeyRefresh.
func TestAPIKeysAcrossInstances(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(storetest.Start)
	f := newAPIFixture(t)
	f.withScopedKeys()
	f.a.Now = clock.Now
	g := newAPIFixture(t)
	g.withScopedKeys()
	g.a.Store, g.a.Now = f.st, clock.Now

	// B has read the keys before A mints one.
	wantError(t, g.doAs("ahk_unknown", http.MethodGet, "/api/agents", ""), http.StatusUnauthorized, handler.CodeUnauthorized)
	m := f.mint(`{"agents":["support"]}`)
	wantError(t, g.doAs(m.Key, http.MethodGet, "/api/agents", ""), http.StatusUnauthorized, handler.CodeUnauthorized)
	clock.Advance(KeyRefresh)
	if rec := g.doAs(m.Key, http.MethodGet, "/api/agents", ""); rec.Code != 200 {
		t.Fatalf("after %v, the other instance answers %d", KeyRefresh, rec.Code)
	}
	if rec := f.doAs(key, http.MethodDelete, "/api/keys/"+m.ID, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("revoke: %d", rec.Code)
	}
	// Until the other instance reads the keys again, it still accepts it.
	if rec := g.doAs(m.Key, http.MethodGet, "/api/agents", ""); rec.Code != 200 {
		t.Fatalf("within %v of the revocation: %d", KeyRefresh, rec.Code)
	}
	clock.Advance(KeyRefresh)
	wantError(t, g.doAs(m.Key, http.MethodGet, "/api/agents", ""), http.StatusUnauthorized, handler.CodeUnauthorized)
}
