package demo

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/caddyserver/caddy/v2"
)

// secretsFileName is where the demo receiver keeps the secrets it learned,
// in Caddy's data directory beside agenthook's own store (`agenthook`), so
// that a registration and the secret to check its deliveries live and are
// reset together.
const secretsFileName = "agenthook-demo-receiver-secrets.json"

func defaultSecretsFile() string { return filepath.Join(caddy.AppDataDir(), secretsFileName) }

// secretBook is the set of learned secrets of one file, shared by every
// Sink using it (reloads make new Sinks).
type secretBook struct {
	path string
	mu   sync.Mutex
	list []string
}

var books sync.Map // path -> *secretBook

func bookAt(path string) (*secretBook, error) {
	if b, ok := books.Load(path); ok {
		return b.(*secretBook), nil
	}
	b := &secretBook{path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(data, &b.list); err != nil {
			return nil, errors.New("demo receiver: " + path + " is not a JSON list of secrets; delete it")
		}
	}
	actual, _ := books.LoadOrStore(path, b)
	return actual.(*secretBook), nil
}

func (b *secretBook) secrets() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.list)
}

// add remembers a secret and returns how many the book holds.
func (b *secretBook) add(secret string) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.Contains(b.list, secret) {
		return len(b.list), nil
	}
	list := append(slices.Clone(b.list), secret)
	data, err := json.Marshal(list)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return 0, err
	}
	// Written aside and renamed, so a crash never leaves half a file.
	tmp := b.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, b.path); err != nil {
		return 0, err
	}
	b.list = list
	return len(list), nil
}
