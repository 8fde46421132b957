package caddymodule

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/memstore"
)

// memEngine is a storage engine as a third party would add one: a module
// in the agenthook.storage namespace, registered from its own package,
// and nothing else.
type memEngine struct {
	Name string `json:"name,omitempty"`
}

func (memEngine) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "agenthook.storage.memtest", New: func() caddy.Module { return new(memEngine) }}
}

func (m *memEngine) StorageKey() (string, error) { return "memtest:" + m.Name, nil }

func (m *memEngine) OpenStore(context.Context, *zap.Logger) (store.Store, error) {

	return memstore.New(memstore.Options{}), nil
}

func (m *memEngine) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		m.Name = d.Val()
	}
	return nil
}

func init() {
	caddy.RegisterModule(memEngine{})
}

// TestThirdPartyEngine: an engine registered from outside the package is
// configured in the Caddyfile and in JSON like the built-in ones.
func TestThirdPartyEngine(t *testing.T) {
	t.Parallel()
	out, err := adaptCaddyfile(t, `{
	agenthook {
		storage memtest shared
		agent support {
			reverse_proxy 127.0.0.1:9
		}
	}
}

:8080 {
	respond "hello"
}
`)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			Agenthook struct {
				Storage json.RawMessage `json:"storage"`
			} `json:"agenthook"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	got, _ := normalizeJSON(cfg.Apps.Agenthook.Storage)
	want, _ := normalizeJSON([]byte(`{"engine": "memtest", "name": "shared"}`))
	if got != want {
		t.Fatalf("storage JSON %s, want %s", got, want)
	}

	a := &App{StorageRaw: json.RawMessage(`{"engine": "memtest", "name": "shared"}`)}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	engine, err := a.loadStorage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if key, _ := engine.StorageKey(); key != "memtest:shared" {
		t.Fatalf("key %q", key)
	}
}

func TestUnknownEngineErrors(t *testing.T) {
	t.Parallel()
	a := &App{StorageRaw: json.RawMessage(`{"engine": "redis"}`)}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if _, err := a.loadStorage(ctx); err == nil || !strings.Contains(err.Error(), `unknown storage engine "redis"`) {
		t.Fatalf("loadStorage(redis) = %v", err)
	}
	if err := unknownEngine("postgres://u:pw-3131@h/db"); strings.Contains(err.Error(), "pw-3131") {
		t.Fatalf("the error quotes a DSN: %v", err)
	}
	// No storage at all is Badger.
	b := &App{}
	engine, err := b.loadStorage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := engine.(*BadgerStorage); !ok {
		t.Fatalf("the default engine is %T, want Badger", engine)
	}
}
