package signing

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingBasic is a Basic whose comparisons are counted.
func countingBasic(t *testing.T, cache *PasswordCache, users ...BasicUser) (*Basic, *atomic.Int64) {
	t.Helper()
	slots, _ := NewHashSlots(4, 0)
	b, err := NewBasicWithOptions("", users, BasicOptions{Slots: slots, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	b.compare = func(h *passwordHash, pw []byte) bool {
		n.Add(1)
		return h.matches(pw)
	}
	return b, &n
}

func verifyBasic(b *Basic, userPass string) error {
	_, err := b.Verify(request("Authorization", basicHeader(userPass)), nil, time.Now())
	return err
}

func TestBasicCacheAvoidsComparison(t *testing.T) {
	cache, _ := NewPasswordCache(16)
	hash := mustHash(t, "right")
	b, compared := countingBasic(t, cache, BasicUser{"ann", hash})

	for i := range 5 {
		if err := verifyBasic(b, "ann:right"); err != nil {
			t.Fatal(err)
		}
		if compared.Load() != 1 {
			t.Fatalf("after %d correct checks, %d comparisons; want 1", i+1, compared.Load())
		}
	}
	// Failures are not cached: each wrong password costs a comparison.
	for i := range 3 {
		if err := verifyBasic(b, "ann:wrong"); !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
		if got := compared.Load(); got != int64(2+i) {
			t.Fatalf("wrong password %d: %d comparisons in all, want %d", i+1, got, 2+i)
		}
	}
	// A cached success is for that password only.
	if err := verifyBasic(b, "ann:right2"); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	// A reload with a new hash for ann (same shared cache) misses: the
	// old password no longer passes, the new one is compared once.
	newHash := mustHash(t, "new")
	reloaded, compared2 := countingBasic(t, cache, BasicUser{"ann", newHash})
	if err := verifyBasic(reloaded, "ann:right"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("old password after the hash changed: %v", err)
	}
	for range 3 {
		if err := verifyBasic(reloaded, "ann:new"); err != nil {
			t.Fatal(err)
		}
	}
	if compared2.Load() != 2 {
		t.Fatalf("after the reload: %d comparisons, want 2", compared2.Load())
	}
	// A reload with the same hash hits what the old config cached.
	same, compared3 := countingBasic(t, cache, BasicUser{"ann", hash})
	if err := verifyBasic(same, "ann:right"); err != nil || compared3.Load() != 0 {
		t.Fatalf("same hash after a reload: %v, %d comparisons; want a cache hit", err, compared3.Load())
	}
}

// TestPasswordCacheHoldsNoPassword inspects everything the cache holds
// after successful checks: no password, in clear, hex, base64 or as its
// plain SHA-256, and no key that anyone without the process's random key
// could recompute.
func TestPasswordCacheHoldsNoPassword(t *testing.T) {
	cache, _ := NewPasswordCache(16)
	const password = "a-long-password-to-look-for-0123456789"
	hash := mustHash(t, password)
	b, _ := countingBasic(t, cache, BasicUser{"ann", hash})
	if err := verifyBasic(b, "ann:"+password); err != nil {
		t.Fatal(err)
	}
	if cache.Len() != 1 || len(cache.inflight) != 0 {
		t.Fatalf("cache holds %d entries and %d flights", cache.Len(), len(cache.inflight))
	}
	sum := sha256.Sum256([]byte(password))
	sumUserPass := sha256.Sum256([]byte("ann:" + password))
	forbidden := [][]byte{
		[]byte(password),
		[]byte(hex.EncodeToString([]byte(password))),
		[]byte(base64.StdEncoding.EncodeToString([]byte(password))),
		sum[:], sumUserPass[:],
		[]byte(hex.EncodeToString(sum[:])),
	}
	var held [][]byte
	for k := range cache.entries {
		held = append(held, k[:], fmt.Appendf(nil, "%x %v", k, k))
	}
	for e := cache.lru.Front(); e != nil; e = e.Next() {
		k := e.Value.(checkKey)
		held = append(held, k[:])
	}
	for _, h := range held {
		for _, f := range forbidden {
			if bytes.Contains(h, f) {
				t.Fatalf("the cache holds %x, which contains the password in some form", h)
			}
		}
	}
	// Keys depend on the cache's random key: another cache keys the same
	// triple differently, so a key from a heap dump cannot be tested
	// against guesses without the key.
	other, _ := NewPasswordCache(16)
	if cache.key("ann", password, []byte(hash)) == other.key("ann", password, []byte(hash)) {
		t.Fatal("two caches derive the same key: it is not keyed by a random secret")
	}
	// Each part of the triple changes the key, and parts cannot be shifted
	// from one into the next.
	base := cache.key("ann", password, []byte(hash))
	for _, k := range []checkKey{
		cache.key("ann2", password, []byte(hash)),
		cache.key("ann", password+"x", []byte(hash)),
		cache.key("ann", password, []byte(hash+"x")),
		cache.key("ann"+password[:1], password[1:], []byte(hash)),
	} {
		if k == base {
			t.Fatal("a different triple has the same key")
		}
	}
}

func TestPasswordCacheEviction(t *testing.T) {
	cache, _ := NewPasswordCache(3)
	users := make([]BasicUser, 6)
	for i := range users {
		users[i] = BasicUser{fmt.Sprintf("u%d", i), mustHash(t, fmt.Sprintf("pw%d", i))}
	}
	b, compared := countingBasic(t, cache, users...)
	check := func(i int) {
		t.Helper()
		if err := verifyBasic(b, fmt.Sprintf("u%d:pw%d", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		check(i)
	}
	check(0) // u0 is now the most recently used; u1 the least
	if compared.Load() != 3 || cache.Len() != 3 {
		t.Fatalf("%d comparisons, %d entries; want 3, 3", compared.Load(), cache.Len())
	}
	check(3) // evicts u1
	if cache.Len() != 3 {
		t.Fatalf("cache grew to %d entries, bound 3", cache.Len())
	}
	check(0)
	check(2)
	if compared.Load() != 4 {
		t.Fatalf("recently used entries were evicted: %d comparisons, want 4", compared.Load())
	}
	check(1) // was evicted: compared again
	if compared.Load() != 5 {
		t.Fatalf("the least recently used entry was kept: %d comparisons, want 5", compared.Load())
	}
	// A flood of distinct successes keeps the bound.
	for range 5 {
		for i := range users {
			check(i)
		}
	}
	if cache.Len() != 3 || len(cache.entries) != 3 {
		t.Fatalf("after a flood: %d entries (map %d), bound 3", cache.Len(), len(cache.entries))
	}
	if _, err := NewPasswordCache(0); err == nil {
		t.Fatal("a cache of size 0 was accepted")
	}
}

// TestPasswordCacheSingleFlight checks that concurrent checks of the same
// credentials share one comparison: later arrivals wait for the first.
func TestPasswordCacheSingleFlight(t *testing.T) {
	cache, _ := NewPasswordCache(16)
	k := cache.key("ann", "pw", []byte("hash"))
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	compare := func() (bool, bool) {
		calls.Add(1)
		close(entered)
		<-release
		return true, false
	}
	var wg sync.WaitGroup
	results := make([]bool, 4)
	wg.Go(func() { results[0], _ = cache.check(k, compare) })
	<-entered
	for i := 1; i < len(results); i++ {
		wg.Go(func() { results[i], _ = cache.check(k, compare) })
	}
	// Wait (without a deadline: the test's own timeout bounds it) until
	// the three later checks are all waiting on the first.
	for cache.waiting(k) != len(results)-1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("%d comparisons for one set of credentials, want 1", calls.Load())
	}
	for i, ok := range results {
		if !ok {
			t.Fatalf("check %d did not get the shared result", i)
		}
	}
	if len(cache.inflight) != 0 {
		t.Fatal("the flight was not removed")
	}
}

// waiting returns how many checks wait for the running check of k.
func (c *PasswordCache) waiting(k checkKey) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.inflight[k]; ok {
		return f.waiters
	}
	return 0
}
