package signing

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// hashKind is the algorithm of a configured password hash.
type hashKind uint8

const (
	hashBcrypt hashKind = iota + 1
	hashArgon2id
)

// Bounds on argon2id parameters. Hashes made by `caddy hash-password`
// (m=47104, t=1, p=1, 16-byte salt, 32-byte key) and by the usual
// libraries sit well inside them. They exist so that a typo in a
// configuration cannot make every login allocate terabytes or run for
// minutes, and so that a hash too weak to mean anything (a 4-byte key
// matches one random password in four billion) is refused.
const (
	argon2MaxMemoryKiB = 2 << 20 // 2 GiB, RFC 9106's first recommendation
	argon2MaxTime      = 64
	argon2MinSaltBytes = 8
	argon2MaxSaltBytes = 64
	argon2MinKeyBytes  = 16
	argon2MaxKeyBytes  = 128

	// maxPasswordHashBytes bounds the configured string before any
	// parsing; real hashes are 60 (bcrypt) or about 100 (argon2id) bytes.
	maxPasswordHashBytes = 512
)

// passwordHash is a configured password hash, parsed and checked once,
// when the configuration loads.
type passwordHash struct {
	raw  []byte // exactly as configured: bcrypt's input, and part of cache keys
	kind hashKind

	// bcrypt
	cost int

	// argon2id
	salt, key []byte
	time      uint32
	memory    uint32 // KiB
	threads   uint8
}

// parsePasswordHash accepts the two formats Caddy's basic_auth accepts:
// bcrypt ($2a$, $2b$, $2y$) and argon2id in the PHC string format Caddy
// writes, $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key> with
// unpadded standard base64. Errors say what is wrong without repeating
// the hash: a configuration error ends up in logs.
func parsePasswordHash(s string) (*passwordHash, error) {
	if len(s) > maxPasswordHashBytes {
		return nil, errors.New("password hash is too long to be a bcrypt or argon2id hash")
	}
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		cost, err := bcrypt.Cost([]byte(s))
		if err != nil || len(s) != 60 {
			return nil, errors.New("password hash looks like bcrypt but is malformed")
		}
		return &passwordHash{raw: []byte(s), kind: hashBcrypt, cost: cost}, nil
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	case strings.HasPrefix(s, "$argon2"):
		return nil, errors.New("password hash is argon2 but not argon2id; only the argon2id variant is accepted")
	}
	return nil, errors.New("password hash must be a bcrypt hash ($2a$, $2b$, $2y$) or an argon2id hash ($argon2id$), as `caddy hash-password` makes (plaintext passwords are not accepted)")
}

func parseArgon2id(s string) (*passwordHash, error) {
	malformed := func(what string) error {
		return fmt.Errorf("password hash looks like argon2id but %s", what)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return nil, malformed("does not have the form $argon2id$v=19$m=…,t=…,p=…$<salt>$<key>")
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return nil, malformed(fmt.Sprintf("is not version %d (v=%d)", argon2.Version, argon2.Version))
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return nil, malformed("its parameters are not exactly m=…,t=…,p=…")
	}
	h := &passwordHash{raw: []byte(s), kind: hashArgon2id}
	m, okM := decimalParam(params[0], "m=", argon2MaxMemoryKiB)
	t, okT := decimalParam(params[1], "t=", argon2MaxTime)
	p, okP := decimalParam(params[2], "p=", 255)
	switch {
	case !okM:
		return nil, malformed(fmt.Sprintf("its memory m= is not a number of KiB up to %d", argon2MaxMemoryKiB))
	case !okT || t < 1:
		return nil, malformed(fmt.Sprintf("its passes t= are not a number from 1 to %d", argon2MaxTime))
	case !okP || p < 1:
		return nil, malformed("its lanes p= are not a number from 1 to 255")
	case m < 8*p:
		// The specification's minimum; no conforming hasher makes less.
		return nil, malformed("its memory m= is less than 8 KiB per lane")
	}
	h.memory, h.time, h.threads = uint32(m), uint32(t), uint8(p)

	// The decoder skips line breaks even in strict mode; a hash has none,
	// and allowing them would give one hash several spellings.
	var err error
	if h.salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || strings.ContainsAny(parts[4], "\r\n") {
		return nil, malformed("its salt is not unpadded base64")
	}
	if h.key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || strings.ContainsAny(parts[5], "\r\n") {
		return nil, malformed("its key is not unpadded base64")
	}
	if len(h.salt) < argon2MinSaltBytes || len(h.salt) > argon2MaxSaltBytes {
		return nil, malformed(fmt.Sprintf("its salt is not %d to %d bytes", argon2MinSaltBytes, argon2MaxSaltBytes))
	}
	if len(h.key) < argon2MinKeyBytes || len(h.key) > argon2MaxKeyBytes {
		return nil, malformed(fmt.Sprintf("its key is not %d to %d bytes", argon2MinKeyBytes, argon2MaxKeyBytes))
	}
	return h, nil
}

// decimalParam parses "<name><digits>" with digits ≤ limit: ASCII digits
// only, no sign, no leading zero, nothing after.
func decimalParam(s, name string, limit uint64) (uint64, bool) {
	digits, ok := strings.CutPrefix(s, name)
	if !ok || digits == "" || len(digits) > 10 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n <= limit
}

// matches reports whether password is the one h was made from. This is
// the expensive part of Basic auth, by design; both algorithms compare
// in constant time.
func (h *passwordHash) matches(password []byte) bool {
	switch h.kind {
	case hashBcrypt:
		return bcrypt.CompareHashAndPassword(h.raw, password) == nil
	case hashArgon2id:
		k := argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
		return subtle.ConstantTimeCompare(k, h.key) == 1
	}
	return false
}

// work orders hashes of one kind by the effort a comparison takes.
func (h *passwordHash) work() uint64 {
	if h.kind == hashBcrypt {
		return uint64(h.cost)
	}
	return uint64(h.memory) * uint64(h.time)
}

// fakeHashFor returns a hash of a password nobody knows, which an unknown
// user's password is compared with so that the comparison costs what a
// known user's does and response time does not reveal which usernames
// exist. It has the kind most users' hashes have (bcrypt on a tie) and
// the largest effort among them. With users of both kinds, or of
// different costs, timing can still tell a cheaper account from an
// unknown one: give every account the same kind and cost to avoid that.
func fakeHashFor(hashes []*passwordHash) (*passwordHash, error) {
	count := map[hashKind]int{}
	for _, h := range hashes {
		count[h.kind]++
	}
	kind := hashBcrypt
	if count[hashArgon2id] > count[hashBcrypt] {
		kind = hashArgon2id
	}
	var template *passwordHash
	for _, h := range hashes {
		if h.kind == kind && (template == nil || h.work() > template.work()) {
			template = h
		}
	}
	if template == nil {
		return nil, errors.New("no password hashes")
	}
	if kind == hashBcrypt {
		raw, err := fakeBcryptHash(template.cost)
		if err != nil {
			return nil, err
		}
		return &passwordHash{raw: raw, kind: hashBcrypt, cost: template.cost}, nil
	}
	// argon2id needs no hashing to make a fake: a random salt and a random
	// key of the template's sizes, with its parameters, cost the same to
	// compare with and match no password (but with chance 2^-128 or less).
	fake := *template
	fake.salt = make([]byte, len(template.salt))
	fake.key = make([]byte, len(template.key))
	if _, err := rand.Read(fake.salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(fake.key); err != nil {
		return nil, err
	}
	fake.raw = fmt.Appendf(nil, "$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, fake.memory, fake.time, fake.threads,
		base64.RawStdEncoding.EncodeToString(fake.salt), base64.RawStdEncoding.EncodeToString(fake.key))
	return &fake, nil
}

// fakeHashes caches one fake bcrypt hash per cost, so that a config reload
// does not pay for generating it again (at cost 14 that is about a second).
var fakeHashes sync.Map // int → []byte

// fakeBcryptHash returns a bcrypt hash of a random password that nobody
// knows, at the given cost.
func fakeBcryptHash(cost int) ([]byte, error) {
	if h, ok := fakeHashes.Load(cost); ok {
		return h.([]byte), nil
	}
	password := make([]byte, 32)
	if _, err := rand.Read(password); err != nil {
		return nil, err
	}
	// bcrypt only uses the first 72 bytes; 32 random bytes are plenty.
	h, err := bcrypt.GenerateFromPassword(password, cost)
	if err != nil {
		return nil, err
	}
	actual, _ := fakeHashes.LoadOrStore(cost, h)
	return actual.([]byte), nil
}
