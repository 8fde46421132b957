package caddymodule

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/badgerstore"
)

func init() {
	caddy.RegisterModule(BadgerStorage{})
}

// BadgerStorage keeps agenthook's state in an embedded Badger directory,
// for one Caddy instance. It is the default engine.
//
// Badger locks its directory: one process opens it at a time. Within one
// Caddy, configs share the open store across reloads.
type BadgerStorage struct {
	// Dir is the Badger directory; it takes placeholders. Default:
	// "agenthook" under Caddy's data directory.
	Dir string `json:"dir,omitempty"`

	// GOMAXPROCS is what the engine sets the process's GOMAXPROCS to when
	// it opens the store: 0 (the default, "auto") raises it to four per
	// CPU, up to 16, unless the GOMAXPROCS environment variable
	// is set or a CPU quota lowered it (see gomaxprocs.go for why); -1
	// ("off") leaves it alone; a positive number sets it.
	GOMAXPROCS int `json:"gomaxprocs,omitempty"`

	dir string // absolute, once provisioned
}

// CaddyModule returns the Caddy module information.
func (BadgerStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "agenthook.storage.badger",
		New: func() caddy.Module { return new(BadgerStorage) },
	}
}

// Provision resolves the directory. It does not open it: a config that is
// only validated must not take Badger's lock.
func (b *BadgerStorage) Provision(caddy.Context) error {
	dir, err := caddy.NewReplacer().ReplaceOrErr(b.Dir, true, true)
	if err != nil {
		return fmt.Errorf("storage badger: directory: %w", err)
	}
	if dir == "" {
		dir = defaultBadgerDir()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("storage badger: directory %s: %w", dir, err)
	}
	// What can be checked without opening it, is.
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return fmt.Errorf("storage badger: %s is not a directory", abs)
	}
	if b.GOMAXPROCS < gomaxprocsOff || b.GOMAXPROCS > gomaxprocsMax {
		return fmt.Errorf("storage badger: gomaxprocs %d: want -1 (off), 0 (auto) or 1 to %d", b.GOMAXPROCS, gomaxprocsMax)
	}
	b.dir = abs
	return nil
}

// StorageKey implements StorageEngine.
func (b *BadgerStorage) StorageKey() (string, error) {
	if b.dir == "" {
		return "", fmt.Errorf("storage badger: not provisioned")
	}
	return "badger:" + b.dir, nil
}

// OpenStore implements StorageEngine.
func (b *BadgerStorage) OpenStore(_ context.Context, logger *zap.Logger) (store.Store, error) {
	logger.Info("opening badger store", zap.String("dir", b.dir))
	applyBadgerProcs(b.GOMAXPROCS, logger)
	s, err := badgerstore.Open(badgerstore.Options{Dir: b.dir, Logger: logger.Named("badger")})
	if err != nil {
		return nil, fmt.Errorf("storage badger: %w", err)
	}
	return s, nil
}

// UnmarshalCaddyfile sets up the engine from the storage line of the
// agenthook global option. Syntax:
//
//	storage badger [<dir>] [{
//		gomaxprocs auto|off|<n>
//	}]
func (b *BadgerStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the engine's name
	if d.NextArg() {
		b.Dir = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(d.Nesting()) {
		switch d.Val() {
		case "gomaxprocs":
			n, err := parseGomaxprocs(d)
			if err != nil {
				return err
			}
			b.GOMAXPROCS = n
		default:
			return d.Errf("storage badger: unknown option %q (known: gomaxprocs)", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ StorageEngine         = (*BadgerStorage)(nil)
	_ caddy.Provisioner     = (*BadgerStorage)(nil)
	_ caddyfile.Unmarshaler = (*BadgerStorage)(nil)
)
