package caddymodule

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
)

func TestPostgresStorageCaddyfile(t *testing.T) {
	t.Parallel()
	var p PostgresStorage
	err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("postgres {env.AGENTHOOK_PG_DSN} {\n\tmax_conns 32\n}"))
	if err != nil || p.DSN != "{env.AGENTHOOK_PG_DSN}" || p.MaxConns != 32 {
		t.Fatalf("got %+v, %v", p, err)
	}
	for _, input := range []string{"postgres", `postgres ""`, "postgres a b", "postgres a {\n\tpool 3\n}", "postgres a {\n\tmax_conns 0\n}"} {
		var p PostgresStorage
		if err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
			t.Errorf("%q was accepted: %+v", input, p)
		}
	}
}

func TestPostgresStorageKeyHidesTheDSN(t *testing.T) {
	t.Parallel()
	const password = "pg-secret-5151"
	key := func(dsn string) string {
		t.Helper()
		p := &PostgresStorage{DSN: dsn}
		if err := p.Provision(caddy.Context{}); err != nil {
			t.Fatal(err)
		}
		k, err := p.StorageKey()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := key("postgres://agenthook:" + password + "@db-a/agenthook")
	if strings.Contains(a, password) || strings.Contains(a, "db-a") || !strings.HasPrefix(a, "postgres:") {
		t.Fatalf("key %q shows the DSN", a)
	}
	if a != key("postgres://agenthook:"+password+"@db-a/agenthook") || a == key("postgres://agenthook:"+password+"@db-b/agenthook") {
		t.Fatalf("keys are not one per DSN")
	}
}

func TestPostgresStorageProvisionErrors(t *testing.T) {
	unsetEnv(t, "AGENTHOOK_TEST_UNSET_DSN")
	for _, p := range []*PostgresStorage{{}, {DSN: "{env.AGENTHOOK_TEST_UNSET_DSN}"}, {DSN: "x", MaxConns: -1}} {
		if err := p.Provision(caddy.Context{}); err == nil {
			t.Errorf("%+v was accepted", p)
		}
	}
}

// TestPostgresStorageUnreachable: a server that cannot be reached fails
// the open with the reason, ErrUnavailable, and no password.
func TestPostgresStorageUnreachable(t *testing.T) {
	t.Parallel()
	const password = "pg-secret-6262"
	p := &PostgresStorage{DSN: "postgres://agenthook:" + password + "@127.0.0.1:1/agenthook?connect_timeout=2"}
	if err := p.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	_, err := p.OpenStore(context.Background(), zap.NewNop())
	if err == nil {
		t.Fatalf("opening an unreachable server succeeded")
	}
	msg := err.Error()
	if strings.Contains(msg, password) || !strings.HasPrefix(msg, "storage postgres: ") || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("error %q: want it to say storage postgres, wrap ErrUnavailable, and hide the password", msg)
	}
}
