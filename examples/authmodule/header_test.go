package authheader

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestHeader(t *testing.T) {
	var h Header
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("header X-Api-Key old-key new-key")); err != nil {
		t.Fatal(err)
	}
	if h.Name != "X-Api-Key" || len(h.Secrets) != 2 {
		t.Fatalf("%+v", h)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	v := h.Verifier()
	check := func(value string) error {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		if value != "" {
			r.Header.Set("X-Api-Key", value)
		}
		_, err := v.Verify(r, nil, time.Now())
		return err
	}
	for _, good := range []string{"old-key", "new-key"} {
		if err := check(good); err != nil {
			t.Fatalf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{"", "nope", "old-ke"} {
		if err := check(bad); err == nil {
			t.Fatalf("%q passed", bad)
		}
	}
	if h.SignsBody() || h.CredentialHeaders()[0] != "X-Api-Key" || len(h.v.KeyIDs()) != 2 {
		t.Fatal("module answers")
	}
	if err := new(Header).UnmarshalCaddyfile(caddyfile.NewTestDispenser("header X-Api-Key")); err == nil {
		t.Fatal("no secret accepted")
	}
}
