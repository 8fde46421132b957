package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/pgstore"
)

func init() {
	caddy.RegisterModule(PostgresStorage{})
}

// PostgresStorage keeps agenthook's state in PostgreSQL, so that several
// Caddy instances share chats, the task queue and the callback outbox.
type PostgresStorage struct {
	// DSN is the connection string, URL or keyword/value form. It takes
	// placeholders such as {env.AGENTHOOK_PG_DSN} or {file./run/dsn}, so
	// that a password need not be written in the config.
	DSN string `json:"dsn,omitempty"`

	// MaxConns bounds the connection pool. Default 16.
	MaxConns int `json:"max_conns,omitempty"`

	dsn string // resolved, once provisioned
}

// openTimeout bounds connecting and migrating at start.
const openTimeout = 30 * time.Second

// CaddyModule returns the Caddy module information.
func (PostgresStorage) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "agenthook.storage.postgres",
		New: func() caddy.Module { return new(PostgresStorage) },
	}
}

// Provision resolves the DSN. It does not connect: a config that is only
// validated must not need the database.
func (p *PostgresStorage) Provision(caddy.Context) error {
	if p.MaxConns < 0 {
		return fmt.Errorf("storage postgres: max_conns must be positive")
	}
	dsn, err := resolveSecret(caddy.NewReplacer(), p.DSN)
	if err != nil {
		return fmt.Errorf("storage postgres: the connection string: %w", err)
	}
	p.dsn = dsn
	return nil
}

// StorageKey implements StorageEngine. The key holds a hash of the DSN,
// never the DSN, which may hold a password.
func (p *PostgresStorage) StorageKey() (string, error) {
	if p.dsn == "" {
		return "", fmt.Errorf("storage postgres: not provisioned")
	}
	sum := sha256.Sum256([]byte(p.dsn))
	return "postgres:" + hex.EncodeToString(sum[:8]), nil
}

// OpenStore implements StorageEngine: it connects, applies the schema
// migrations the database lacks, and starts listening for the other
// instances.
func (p *PostgresStorage) OpenStore(ctx context.Context, logger *zap.Logger) (store.Store, error) {
	logger.Info("opening postgres store")
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	s, err := pgstore.Open(ctx, pgstore.Options{
		DSN:      p.dsn,
		MaxConns: int32(p.MaxConns),
		Logger:   logger.Named("postgres"),
	})
	if err != nil {
		// pgstore's errors name the server and the user, never the
		// password.
		return nil, fmt.Errorf("storage postgres: %w", err)
	}
	return s, nil
}

// UnmarshalCaddyfile sets up the engine from the storage line of the
// agenthook global option. Syntax:
//
//	storage postgres <dsn> [{
//		max_conns <n>
//	}]
func (p *PostgresStorage) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the engine's name
	if !d.NextArg() || d.Val() == "" {
		return d.Err("storage postgres needs a connection string, e.g. {env.AGENTHOOK_PG_DSN}")
	}
	p.DSN = d.Val()
	if d.NextArg() {
		// Not ArgErr: it would quote the token, which may hold a password.
		return d.Err("storage postgres takes one connection string; quote it if it has spaces")
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "max_conns":
			if err := setOnce(d, opt, p.MaxConns != 0, func() (e error) { p.MaxConns, e = positiveInt(d); return }); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized storage postgres option '%s'", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ StorageEngine         = (*PostgresStorage)(nil)
	_ caddy.Provisioner     = (*PostgresStorage)(nil)
	_ caddyfile.Unmarshaler = (*PostgresStorage)(nil)
)
