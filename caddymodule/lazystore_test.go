package caddymodule

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/agenthook/agenthook/store"
	"github.com/agenthook/agenthook/store/badgerstore"
	"github.com/agenthook/agenthook/store/memstore"
)

// TestLazyStoreOpensOnce: concurrent first uses share one open.
func TestLazyStoreOpensOnce(t *testing.T) {
	t.Parallel()
	var opens atomic.Int32
	release := make(chan struct{})
	l := newLazyStore(func(context.Context) (store.Store, error) {
		opens.Add(1)
		<-release
		return memstore.New(memstore.Options{}), nil
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := l.GetTask(context.Background(), "t1"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetTask through the lazy store: %v", err)
			}
		})
	}
	time.Sleep(10 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := opens.Load(); n != 1 {
		t.Fatalf("opened %d times", n)
	}
	if l.TaskWake() == nil || l.DeliveryWake() == nil {
		t.Fatalf("no wake channels from an open store")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.GetTask(context.Background(), "t1"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetTask after Close: %v", err)
	}
}

// TestLazyStoreKeepsTheError: a failed open fails every call with
// ErrUnavailable, and Start gets the engine's own words.
func TestLazyStoreKeepsTheError(t *testing.T) {
	t.Parallel()
	var opens atomic.Int32
	cause := errors.New("storage test: the disk is on fire")
	l := newLazyStore(func(context.Context) (store.Store, error) {
		opens.Add(1)
		return nil, cause
	})
	for range 3 {
		if _, err := l.CreateTask(context.Background(), store.NewTask{}); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, cause) {
			t.Fatalf("CreateTask: %v", err)
		}
	}
	if err := openStore(l); err != cause {
		t.Fatalf("openStore = %v, want the engine's error", err)
	}
	if l.TaskWake() != nil {
		t.Fatalf("a store that cannot open gave a wake channel")
	}
	if opens.Load() != 1 {
		t.Fatalf("opened %d times", opens.Load())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLazyStoreUnusedIsNeverOpened: a config that is only validated, then
// cleaned up, never opens its store.
func TestLazyStoreUnusedIsNeverOpened(t *testing.T) {
	t.Parallel()
	l := newLazyStore(func(context.Context) (store.Store, error) {
		t.Fatalf("opened")
		return nil, nil
	})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.GetChat(context.Background(), "c"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetChat after Close: %v", err)
	}
}

// TestLazyStoreWaitsWithTheContext: a caller that gives up does not wait
// for the open, and does not cancel it for the others.
func TestLazyStoreWaitsWithTheContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	l := newLazyStore(func(ctx context.Context) (store.Store, error) {
		<-release
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return memstore.New(memstore.Options{}), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.GetChat(ctx, "c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetChat with a deadline: %v", err)
	}
	close(release)
	if err := openStore(l); err != nil {
		t.Fatalf("the open failed after a caller gave up: %v", err)
	}
	l.Close()
}

// TestValidateWhileTheStoreIsOpen: validating a config does not open its
// store, so it works while another process (here, another open of the
// same directory) holds Badger's lock.
func TestValidateWhileTheStoreIsOpen(t *testing.T) {
	env := newProvisionEnv(t)
	held, err := badgerstore.Open(badgerstore.Options{Dir: env.badgerDir(), GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := env.validate("", provisionAgent, `	agenthook /hook support {
		auth none
	}`); err != nil {
		t.Fatalf("validate while the store is open elsewhere: %v", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestLoadFailsWhenTheStoreCannotOpen: a config whose store cannot be
// opened fails to load, saying why, without secrets.
func TestLoadFailsWhenTheStoreCannotOpen(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, storage string
		want          []string
		secret        string
		hold          bool // another open holds the Badger directory
	}{
		{name: "badger directory that cannot be made", storage: "storage badger " + filepath.Join(file, "sub"),
			want: []string{"storage badger: creating badger directory"}},
		{name: "badger directory in use", hold: true,
			want: []string{"storage badger: badger directory", "is in use by another process"}},
		{name: "postgres that cannot be reached", storage: "storage postgres postgres://agenthook:pg-password-2323@127.0.0.1:1/agenthook?connect_timeout=2",
			want: []string{"storage postgres:", "connect"}, secret: "pg-password-2323"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newProvisionEnv(t)
			if tc.hold {
				held, err := badgerstore.Open(badgerstore.Options{Dir: env.badgerDir(), GCInterval: -1})
				if err != nil {
					t.Fatal(err)
				}
				defer held.Close()
			}
			_, cfgJSON := env.config(env.caddyfile(tc.storage, provisionAgent, `	agenthook /hook support {
		auth none
	}`, freePort(t)))
			err := caddy.Load(cfgJSON, true)
			if err == nil {
				caddy.Stop()
				t.Fatalf("the config loaded")
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not contain %q", msg, w)
				}
			}
			if tc.secret != "" && strings.Contains(msg, tc.secret) {
				t.Errorf("error %q holds the password", msg)
			}
		})
	}
}
