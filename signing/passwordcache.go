package signing

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"sync"
)

// DefaultPasswordCacheSize is how many successful checks the shared cache
// remembers: far more than the accounts of any one Caddy, and at 32 bytes
// of key each plus bookkeeping, under 200 KiB when full.
const DefaultPasswordCacheSize = 1024

// checkKey names one (username, password, stored hash) triple without
// holding any of them: HMAC-SHA256 under the cache's own random key. A
// plain hash of the password could be brute-forced from a heap dump
// offline; without the key, which never leaves the process, this cannot.
type checkKey [sha256.Size]byte

// PasswordCache remembers which credentials passed a password check
// recently, so that a caller sending the same correct password again (as
// every Basic-auth client does, on every request) does not pay for the
// hash comparison again. Only successes are remembered.
//
// It never holds a password, in clear or as a plain hash: entries are
// checkKeys. The stored hash is part of the key, so when a password is
// changed in the configuration the old entry simply stops matching. It
// holds at most its size of entries and evicts the least recently used,
// so a flood of distinct credentials cannot grow it.
//
// It also makes concurrent checks of the same triple share one comparison
// (the "single flight" Caddy's basic_auth cache does as well): a hundred
// clients starting at once with the same password cost one hash, not a
// hundred.
//
// A PasswordCache is safe for concurrent use and may be shared by several
// Basic verifiers: a triple that passed passes anywhere.
type PasswordCache struct {
	size int
	mac  sync.Pool // of hash.Hash, HMAC-SHA256 under the random key

	mu       sync.Mutex
	lru      *list.List // of checkKey, most recent first
	entries  map[checkKey]*list.Element
	inflight map[checkKey]*flight
}

// flight is one comparison in progress, which later arrivals wait for.
type flight struct {
	done    chan struct{}
	ok      bool // the password matched
	busy    bool // no slot came free: nothing was compared
	waiters int  // checks waiting for this one (guarded by mu; for tests)
}

// NewPasswordCache returns an empty cache of at most size entries
// (size ≥ 1), with a fresh random key.
func NewPasswordCache(size int) (*PasswordCache, error) {
	if size < 1 {
		return nil, errors.New("password cache: size must be at least 1")
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	c := &PasswordCache{
		size:     size,
		lru:      list.New(),
		entries:  make(map[checkKey]*list.Element, size),
		inflight: map[checkKey]*flight{},
	}
	c.mac.New = func() any { return hmac.New(sha256.New, key) }
	return c, nil
}

// SharedPasswordCache returns the process-wide cache every Basic verifier
// uses unless it is given its own. It outlives config reloads, so a reload
// does not make every client pay for one comparison again.
func SharedPasswordCache() *PasswordCache { return sharedPasswordCache() }

var sharedPasswordCache = sync.OnceValue(func() *PasswordCache {
	c, err := NewPasswordCache(DefaultPasswordCacheSize)
	if err != nil {
		// Only crypto/rand failing gets here, and then nothing in this
		// package can work.
		panic("signing: " + err.Error())
	}
	return c
})

// key computes the checkKey of a triple. Each part is prefixed by its
// length, so no two different triples share an input.
func (c *PasswordCache) key(username, password string, storedHash []byte) checkKey {
	m := c.mac.Get().(hash.Hash)
	defer c.mac.Put(m)
	m.Reset()
	var n [binary.MaxVarintLen64]byte
	for _, p := range [][]byte{[]byte(username), []byte(password), storedHash} {
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		m.Write(p)
	}
	var k checkKey
	m.Sum(k[:0])
	return k
}

// has reports whether k passed recently, and marks it as just used.
func (c *PasswordCache) has(k checkKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if ok {
		c.lru.MoveToFront(e)
	}
	return ok
}

// add remembers that k passed, evicting the least recently used entry
// when full.
func (c *PasswordCache) add(k checkKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		c.lru.MoveToFront(e)
		return
	}
	for c.lru.Len() >= c.size {
		oldest := c.lru.Back()
		delete(c.entries, oldest.Value.(checkKey))
		c.lru.Remove(oldest)
	}
	c.entries[k] = c.lru.PushFront(k)
}

// Len returns the number of entries.
func (c *PasswordCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// check runs compare for k, unless a check of k is already running, in
// which case it waits for that one's answer instead. compare returns
// whether the password matched, and busy when it could not run at all.
func (c *PasswordCache) check(k checkKey, compare func() (ok, busy bool)) (ok, busy bool) {
	c.mu.Lock()
	if f, running := c.inflight[k]; running {
		f.waiters++
		c.mu.Unlock()
		<-f.done
		return f.ok, f.busy
	}
	f := &flight{done: make(chan struct{})}
	c.inflight[k] = f
	c.mu.Unlock()

	defer func() {
		c.mu.Lock()
		delete(c.inflight, k)
		c.mu.Unlock()
		close(f.done)
	}()
	f.ok, f.busy = compare()
	return f.ok, f.busy
}
