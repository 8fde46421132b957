package signing

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argon2idVectors were made by Caddy v2.11.9 itself (`caddy hash-password
// --algorithm argon2id`, built from this module), with its default
// parameters unless the comment says otherwise.
var argon2idVectors = []struct {
	password, hash string
}{
	{"correct horse battery staple", "$argon2id$v=19$m=47104,t=1,p=1$h3WfYJsGWTifS4+DqdaeTQ$0EdE9cqcledw0iTgPj+dDqCRA1BEi0W4xj2V8o7mR1s"},
	{"pass:with:colons", "$argon2id$v=19$m=47104,t=1,p=1$SfanYr9OWzUCICD9QZPg2A$Y4yvfWeRmdTQ2C3mdL+hrUeKm9dzPjGJD2H892W9kzU"},
	// Caddy's own fake hash (caddyauth.Argon2idHash.FakeHash).
	{"antitiming", "$argon2id$v=19$m=47104,t=1,p=1$P2nzckEdTZ3bxCiBCkRTyA$xQL3Z32eo5jKl7u5tcIsnEKObYiyNZQQf5/4sAau6Pg"},
	// --argon2id-time 2 --argon2id-memory 8192 --argon2id-threads 2 --argon2id-keylen 16
	{"tuned", "$argon2id$v=19$m=8192,t=2,p=2$eESKEU0Uwof0Fga8wP3KdA$1ARbsZQQLfE6NDYnzfVoSg"},
}

func TestArgon2idCaddyVectors(t *testing.T) {
	for _, v := range argon2idVectors {
		h, err := parsePasswordHash(v.hash)
		if err != nil {
			t.Fatalf("%s: %v", v.password, err)
		}
		if !h.matches([]byte(v.password)) {
			t.Errorf("%s: the right password does not match", v.password)
		}
		if h.matches([]byte(v.password + "x")) {
			t.Errorf("%s: a wrong password matches", v.password)
		}
	}
	// The same through Basic, with colons in the password and a cached
	// second check.
	b := newTestBasic(t, BasicUser{"ann", argon2idVectors[0].hash}, BasicUser{"bob", argon2idVectors[1].hash})
	for range 2 {
		for _, hdr := range []string{basicHeader("ann:correct horse battery staple"), basicHeader("bob:pass:with:colons")} {
			if _, err := b.Verify(request("Authorization", hdr), nil, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := b.Verify(request("Authorization", basicHeader("ann:pass:with:colons")), nil, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another user's password: %v", err)
	}
}

func TestParsePasswordHashRefuses(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("saltsaltsalt1234"))
	key := base64.RawStdEncoding.EncodeToString([]byte("keykeykeykeykeykeykeykeykeykey12"))
	a := func(v, params, s, k string) string { return "$argon2id$" + v + "$" + params + "$" + s + "$" + k }
	good := a("v=19", "m=64,t=1,p=1", salt, key)
	if _, err := parsePasswordHash(good); err != nil {
		t.Fatalf("the well-formed base case: %v", err)
	}
	tests := []struct{ name, hash string }{
		{"empty", ""},
		{"plaintext", "hunter2-plaintext"},
		{"md5-crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"argon2d", strings.Replace(good, "argon2id", "argon2d", 1)},
		{"old version", a("v=16", "m=64,t=1,p=1", salt, key)},
		{"no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"params reordered", a("v=19", "t=1,m=64,p=1", salt, key)},
		{"extra param", a("v=19", "m=64,t=1,p=1,data=abc", salt, key)},
		{"sign", a("v=19", "m=+64,t=1,p=1", salt, key)},
		{"leading zero", a("v=19", "m=064,t=1,p=1", salt, key)},
		{"zero passes", a("v=19", "m=64,t=0,p=1", salt, key)},
		{"zero lanes", a("v=19", "m=64,t=1,p=0", salt, key)},
		{"256 lanes", a("v=19", "m=4096,t=1,p=256", salt, key)},
		{"too little memory per lane", a("v=19", "m=15,t=1,p=2", salt, key)},
		{"4 TiB", a("v=19", "m=4294967295,t=1,p=1", salt, key)},
		{"overflowing memory", a("v=19", "m=99999999999,t=1,p=1", salt, key)},
		{"too many passes", a("v=19", "m=64,t=65,p=1", salt, key)},
		{"line break in the key", a("v=19", "m=64,t=1,p=1", salt, key[:10]+"\n"+key[10:])},
		{"padded salt", a("v=19", "m=64,t=1,p=1", salt+"==", key)},
		{"url-safe key", a("v=19", "m=64,t=1,p=1", salt, strings.NewReplacer("+", "-", "/", "_").Replace(base64.RawStdEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb})))},
		{"short salt", a("v=19", "m=64,t=1,p=1", "c2FsdA", key)},
		{"short key", a("v=19", "m=64,t=1,p=1", salt, "aGFzaA")},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"trailing part", good + "$x"},
		{"leading text", "x" + good},
		{"too long", good + strings.Repeat("A", maxPasswordHashBytes)},
		{"bcrypt truncated", goldenBcrypt[:40]},
		{"bcrypt cost 3", "$2a$03$" + goldenBcrypt[7:]},
		{"bcrypt cost 32", "$2a$32$" + goldenBcrypt[7:]},
		{"bcrypt garbled cost", "$2a$x4$" + goldenBcrypt[7:]},
		{"bcrypt $2x$", "$2x$04$" + goldenBcrypt[7:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePasswordHash(tt.hash)
			if err == nil {
				t.Fatal("accepted")
			}
			// No part of the hash may be echoed: not the salt, not the key.
			assertNoLeak(t, err, salt, key, goldenBcrypt[7:], tt.hash)
		})
	}
}

// TestFakeHashForArgon2id checks that an argon2id configuration gets an
// argon2id fake of the most expensive parameters, which no password
// matches, and that an unknown user is compared with it.
func TestFakeHashForArgon2id(t *testing.T) {
	cheap := "$argon2id$v=19$m=64,t=1,p=1$NmlKHM8P5kqJftz2eKw0Zw$RBBcoU97kr89OnWYD8OlCa2yK2hmqPBR5Uu/2SdMDCY"
	b := newTestBasic(t, BasicUser{"ann", cheap}, BasicUser{"bob", argon2idVectors[3].hash})
	f := b.fake
	if f.kind != hashArgon2id || f.memory != 8192 || f.time != 2 || f.threads != 2 || len(f.key) != 16 || len(f.salt) != 16 {
		t.Fatalf("fake = kind %d m=%d t=%d p=%d key %d salt %d; want argon2id m=8192 t=2 p=2 key 16 salt 16", f.kind, f.memory, f.time, f.threads, len(f.key), len(f.salt))
	}
	// The fake's string form parses back to itself.
	if again, err := parsePasswordHash(string(f.raw)); err != nil || again.memory != f.memory || string(again.key) != string(f.key) {
		t.Fatalf("fake hash does not parse back: %v", err)
	}
	var compared []*passwordHash
	b.compare = func(h *passwordHash, pw []byte) bool {
		compared = append(compared, h)
		return h.matches(pw)
	}
	if _, err := b.Verify(request("Authorization", basicHeader("eve:cheap")), nil, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown user: %v", err)
	}
	if len(compared) != 1 || compared[0] != b.fake {
		t.Fatalf("unknown user compared with %v, want the fake", compared)
	}

	// Mixed kinds: the fake follows the majority (bcrypt on a tie).
	mixed := newTestBasic(t, BasicUser{"a", cheap}, BasicUser{"b", goldenBcrypt})
	if mixed.fake.kind != hashBcrypt {
		t.Fatalf("tie: fake kind %d, want bcrypt", mixed.fake.kind)
	}
	mostly := newTestBasic(t, BasicUser{"a", cheap}, BasicUser{"b", argon2idVectors[3].hash}, BasicUser{"c", goldenBcrypt})
	if mostly.fake.kind != hashArgon2id {
		t.Fatalf("argon2id majority: fake kind %d", mostly.fake.kind)
	}
}

// FuzzParsePasswordHash: parsing never panics, takes only what it
// promises, and what it accepts it can compare without panicking.
func FuzzParsePasswordHash(f *testing.F) {
	for _, v := range argon2idVectors {
		f.Add(v.hash)
	}
	f.Add(goldenBcrypt)
	f.Add("$argon2id$v=19$m=64,t=1,p=1$NmlKHM8P5kqJftz2eKw0Zw$RBBcoU97kr89OnWYD8OlCa2yK2hmqPBR5Uu/2SdMDCY")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("$argon2id$$$$$")
	f.Add("$2y$04$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePasswordHash(s)
		if err != nil {
			if h != nil {
				t.Fatal("a hash and an error")
			}
			if len(s) >= minLeakCheck {
				assertNoLeak(t, err, s)
			}
			return
		}
		if string(h.raw) != s {
			t.Fatal("raw is not the input")
		}
		switch h.kind {
		case hashBcrypt:
			if cost, err := bcrypt.Cost([]byte(s)); err != nil || cost != h.cost || len(s) != 60 {
				t.Fatalf("accepted bcrypt %q: cost %d, %v", s, cost, err)
			}
			if h.cost <= 5 {
				h.matches([]byte("pw"))
			}
		case hashArgon2id:
			if h.memory > argon2MaxMemoryKiB || h.time < 1 || h.time > argon2MaxTime || h.threads < 1 ||
				uint64(h.memory) < 8*uint64(h.threads) || len(h.salt) < argon2MinSaltBytes || len(h.key) < argon2MinKeyBytes {
				t.Fatalf("accepted out-of-bounds argon2id %q", s)
			}
			// Accepted strings are canonical: they are what Caddy would
			// write for these parameters.
			canon := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.memory, h.time, h.threads,
				base64.RawStdEncoding.EncodeToString(h.salt), base64.RawStdEncoding.EncodeToString(h.key))
			if canon != s {
				t.Fatalf("accepted %q, which is not canonical (%q)", s, canon)
			}
			if uint64(h.memory)*uint64(h.time) <= 1024 {
				h.matches([]byte("pw"))
			}
		default:
			t.Fatalf("kind %d", h.kind)
		}
	})
}
