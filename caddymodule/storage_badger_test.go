package caddymodule

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
)

func TestBadgerStorageCaddyfile(t *testing.T) {
	t.Parallel()
	for input, want := range map[string]string{
		"badger":                     "",
		"badger /var/lib/agenthook":  "/var/lib/agenthook",
		"badger {env.AGENTHOOK_DIR}": "{env.AGENTHOOK_DIR}",
	} {
		var b BadgerStorage
		if err := b.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
			t.Fatalf("%q: %v", input, err)
		}
		if b.Dir != want {
			t.Errorf("%q: dir %q, want %q", input, b.Dir, want)
		}
	}
	for _, input := range []string{"badger /a /b", "badger /a {\n\tx 1\n}"} {
		var b BadgerStorage
		if err := b.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
			t.Errorf("%q was accepted", input)
		}
	}
}

func TestBadgerStorageKey(t *testing.T) {
	t.Setenv("AGENTHOOK_TEST_BADGER_DIR", "rel/dir")
	b := &BadgerStorage{Dir: "{env.AGENTHOOK_TEST_BADGER_DIR}"}
	if _, err := b.StorageKey(); err == nil {
		t.Fatalf("StorageKey before Provision succeeded")
	}
	if err := b.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("rel/dir")
	if key, err := b.StorageKey(); err != nil || key != "badger:"+abs {
		t.Fatalf("StorageKey = %q, %v; want badger:%s", key, err, abs)
	}
	def := &BadgerStorage{}
	if err := def.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if key, _ := def.StorageKey(); key != "badger:"+filepath.Join(caddy.AppDataDir(), "agenthook") {
		t.Fatalf("default key %q, want Caddy's data directory", key)
	}
}

func TestBadgerStorageOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := &BadgerStorage{Dir: dir}
	if err := b.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	s, err := b.OpenStore(context.Background(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A second open of the same directory names the problem.
	_, err = b.OpenStore(context.Background(), zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "in use by another process") || !strings.HasPrefix(err.Error(), "storage badger: ") {
		t.Fatalf("second open: %v; want the directory named as in use", err)
	}
}
