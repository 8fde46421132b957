package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
)

// StorageEngine is implemented by modules in the agenthook.storage
// namespace: where agenthook keeps its chats, tasks and deliveries.
//
// A module is named by the "engine" key of the app's "storage" object
// ({"engine": "badger", "dir": …}) and by the word after `storage` in the
// Caddyfile (`storage badger [<dir>]`), which the module's own
// UnmarshalCaddyfile reads. The engines of this repository are
// agenthook.storage.badger (the default) and agenthook.storage.postgres;
// another one (SQLite, Redis…) is a module registered from its own Go
// module, implementing store.Store and passing store/storetest. Nothing
// else changes.
type StorageEngine interface {
	// StorageKey names the location, such as "badger:/var/lib/agenthook".
	// Configs with the same key share one open store across reloads (the
	// store and its workers outlive a config). No secrets in it: it is
	// logged, and a DSN with a password must be hashed.
	StorageKey() (string, error)

	// OpenStore opens the engine. It is called once per key, when the
	// first config using that location starts (not when a config is only
	// validated), and the store is closed when the last config using it
	// is unloaded. ctx bounds the opening only.
	OpenStore(ctx context.Context, logger *zap.Logger) (store.Store, error)
}

// storageNamespace is the module namespace of storage engines.
const storageNamespace = "agenthook.storage"

// defaultEngine is the engine used when the config names none.
const defaultEngine = "badger"

// engineName matches what can be a module name, so that an error may
// quote it: a token that is not one (a DSN given without its engine,
// password and all) is not repeated.
var engineName = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// unknownEngine is the error for an engine no module provides.
func unknownEngine(name string) error {
	if engineName.MatchString(name) {
		return fmt.Errorf("unknown storage engine %q: no module %s.%s in this build (built in: badger, postgres)", name, storageNamespace, name)
	}
	return fmt.Errorf("unknown storage engine: the word after storage names one (built in: badger, postgres)")
}

// loadStorage provisions the app's storage engine: the module named in
// its config, or the default.
func (a *App) loadStorage(ctx caddy.Context) (StorageEngine, error) {
	if len(a.StorageRaw) == 0 {
		a.StorageRaw = caddyconfig.JSONModuleObject(struct{}{}, "engine", defaultEngine, nil)
	}
	var named struct {
		Engine string `json:"engine"`
	}
	if err := json.Unmarshal(a.StorageRaw, &named); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if _, err := caddy.GetModule(storageNamespace + "." + named.Engine); err != nil {
		return nil, unknownEngine(named.Engine)
	}
	mod, err := ctx.LoadModule(a, "StorageRaw")
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	engine, ok := mod.(StorageEngine)
	if !ok {
		return nil, fmt.Errorf("storage: module %s.%s is not a StorageEngine", storageNamespace, named.Engine)
	}
	return engine, nil
}

// unmarshalStorage reads `storage <engine> …` into the app: the engine's
// module reads the rest of the line and its block.
func (a *App) unmarshalStorage(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	if !engineName.MatchString(name) {
		return d.Err(unknownEngine(name).Error())
	}
	if _, err := caddy.GetModule(storageNamespace + "." + name); err != nil {
		return d.Err(unknownEngine(name).Error())
	}
	unm, err := caddyfile.UnmarshalModule(d, storageNamespace+"."+name)
	if err != nil {
		return err
	}
	a.StorageRaw = caddyconfig.JSONModuleObject(unm, "engine", name, nil)
	return nil
}
