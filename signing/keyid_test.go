package signing

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKeyIDGolden pins the derivation, so that a KeyID stored by one
// process (or one release) is recognised by the next. The expected values
// were computed by an independent implementation, Python's hmac module:
//
//	def uv(n): ...  # unsigned varint, as encoding/binary.PutUvarint
//	msg = uv(len(scheme)) + scheme + b"".join(uv(len(p)) + p for p in parts)
//	hmac.new(b"agenthook credential key id v1", msg, hashlib.sha256).hexdigest()[:16]
func TestKeyIDGolden(t *testing.T) {
	swKey, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	tokenHash := presentedTokenHash("tok")
	docsHash := presentedTokenHash("docs-demo-token")
	tests := []struct {
		scheme string
		parts  [][]byte
		want   string
	}{
		{"hmac", [][]byte{[]byte("s")}, "7dd2ea2a1e9eb52a"},
		{"github", [][]byte{[]byte("s")}, "89947023fbe9a09d"},
		{"stripe", [][]byte{[]byte("whsec_test_secret")}, "69f63417ee4047d9"},
		{"bearer", [][]byte{tokenHash[:]}, "4d0f1a2d66920617"},
		{"standard_webhooks", [][]byte{[]byte("v1"), swKey}, "a48465b01364e6a2"},
		{"basic", [][]byte{[]byte("ann"), []byte(goldenBcrypt)}, "de04115abf0b3d88"},
		{"url_token", [][]byte{docsHash[:]}, "04181c5f9711252a"},
	}
	for _, tt := range tests {
		if got := keyID(tt.scheme, tt.parts...); got != tt.want {
			t.Errorf("keyID(%s) = %s, want %s", tt.scheme, got, tt.want)
		}
	}
}

// goldenBcrypt is `caddy hash-password --bcrypt-cost 4 --plaintext pw`.
const goldenBcrypt = "$2a$04$vAVeVoDkWf.LFJ6hmYAHqeltIvW7gmrAh2iRVUBEwjukr/nMzQ.cS"

// keyIDCase is one verifier with two credentials and, for each, a request
// that only that credential verifies.
type keyIDCase struct {
	name     string
	v        func(t *testing.T) Verifier // a fresh verifier, as after a reload
	requests []*http.Request             // requests[i] is verified by credential i
	secrets  []string                    // must not appear in any KeyID
}

func keyIDCases(t *testing.T, body []byte, now time.Time) []keyIDCase {
	ts := strconv.FormatInt(now.Unix(), 10)
	hmacReq := func(secret string) *http.Request {
		return request("X-Signature", hmacSHA256Hex(secret, string(body)))
	}
	ghReq := func(secret string) *http.Request {
		return request("X-Hub-Signature-256", "sha256="+hmacSHA256Hex(secret, string(body)))
	}
	stripeReq := func(secret string) *http.Request {
		return request("Stripe-Signature", "t="+ts+",v1="+hmacSHA256Hex(secret, ts+"."+string(body)))
	}
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef01234567"))
	annHash, bobHash := mustHash(t, "ann-pw"), mustHash(t, "bob-pw")
	must := func(v Verifier, err error) Verifier {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	return []keyIDCase{
		{
			name: "basic",
			v: func(t *testing.T) Verifier {
				return newTestBasic(t, BasicUser{"ann", annHash}, BasicUser{"bob", bobHash})
			},
			requests: []*http.Request{request("Authorization", basicHeader("ann:ann-pw")), request("Authorization", basicHeader("bob:bob-pw"))},
			secrets:  []string{"ann-pw", "bob-pw", annHash, bobHash},
		},
		{
			name:     "bearer",
			v:        func(*testing.T) Verifier { return must(NewBearer([]string{"token-one", HashToken("token-two")})) },
			requests: []*http.Request{request("Authorization", "Bearer token-one"), request("Authorization", "Bearer token-two")},
			secrets:  []string{"token-one", "token-two"},
		},
		{
			name:     "hmac",
			v:        func(*testing.T) Verifier { return must(NewHMAC(HMACConfig{Secrets: []string{"key-one", "key-two"}})) },
			requests: []*http.Request{hmacReq("key-one"), hmacReq("key-two")},
			secrets:  []string{"key-one", "key-two"},
		},
		{
			name:     "github",
			v:        func(*testing.T) Verifier { return must(NewGitHub([]string{"gh-one", "gh-two"})) },
			requests: []*http.Request{ghReq("gh-one"), ghReq("gh-two")},
			secrets:  []string{"gh-one", "gh-two"},
		},
		{
			name:     "stripe",
			v:        func(*testing.T) Verifier { return must(NewStripe([]string{"whsec_one", "whsec_two"}, 0)) },
			requests: []*http.Request{stripeReq("whsec_one"), stripeReq("whsec_two")},
			secrets:  []string{"whsec_one", "whsec_two"},
		},
		{
			name: "standard_webhooks",
			v: func(*testing.T) Verifier {
				return must(NewStandardWebhooks([]string{whsec, whpk(testEd25519)}, 0))
			},
			requests: []*http.Request{
				swRequest("webhook", "msg_1", ts, v1Sig(whsec, "msg_1", now.Unix(), string(body))),
				swRequest("webhook", "msg_2", ts, v1aSig(testEd25519, "msg_2", now.Unix(), string(body))),
			},
			secrets: []string{whsec, strings.TrimPrefix(whsec, "whsec_")},
		},
	}
}

// TestKeyIDs checks, for every verifier, that the credential that verified
// is named by its own KeyID, that the two credentials have different ones,
// that KeyIDs lists exactly them in configuration order, and that a new
// verifier built from the same configuration (a reload) gives the same.
func TestKeyIDs(t *testing.T) {
	body := []byte(`{"text":"hello"}`)
	now := time.Now()
	for _, tc := range keyIDCases(t, body, now) {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.v(t)
			lister, ok := v.(KeyLister)
			if !ok {
				t.Fatalf("%T is not a KeyLister", v)
			}
			ids := lister.KeyIDs()
			if len(ids) != 2 || ids[0] == ids[1] {
				t.Fatalf("KeyIDs() = %q, want two different ids", ids)
			}
			for _, id := range ids {
				if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
					t.Fatalf("KeyID %q is not 16 lowercase hex characters", id)
				}
				for _, s := range tc.secrets {
					if strings.Contains(s, id) || strings.Contains(id, s) {
						t.Fatalf("KeyID %q and secret %q overlap", id, s)
					}
				}
			}
			for i, r := range tc.requests {
				res, err := v.Verify(r, body, now)
				if err != nil {
					t.Fatalf("credential %d: %v", i, err)
				}
				if res.KeyID != ids[i] {
					t.Fatalf("credential %d: KeyID = %q, want %q (KeyIDs %q)", i, res.KeyID, ids[i], ids)
				}
				if tc.name != "basic" && res.User != "" {
					t.Fatalf("User = %q for scheme %s", res.User, tc.name)
				}
			}
			ids[0] = "changed" // the caller's copy
			if again := tc.v(t).(KeyLister).KeyIDs(); !slices.Equal(again, lister.KeyIDs()) {
				t.Fatalf("after a rebuild KeyIDs() = %q, want %q", again, lister.KeyIDs())
			}
		})
	}
}

// TestKeyIDsDistinguish covers what the identity work builds on: the same
// secret named the same way however it is configured, different schemes
// and different stored hashes told apart.
func TestKeyIDsDistinguish(t *testing.T) {
	plain, _ := NewBearer([]string{"tok"})
	hashed, _ := NewBearer([]string{HashToken("tok")})
	if plain.KeyIDs()[0] != hashed.KeyIDs()[0] {
		t.Error("a bearer token and its sha256: form have different KeyIDs")
	}
	dup, _ := NewHMAC(HMACConfig{Secrets: []string{"s", "s"}})
	if ids := dup.KeyIDs(); len(ids) != 1 {
		t.Errorf("KeyIDs() of a repeated secret = %q, want one", ids)
	}
	h, _ := NewHMAC(HMACConfig{Secrets: []string{"s"}})
	gh, _ := NewGitHub([]string{"s"})
	st, _ := NewStripe([]string{"s"}, 0)
	if a, b, c := h.KeyIDs()[0], gh.KeyIDs()[0], st.KeyIDs()[0]; a == b || b == c || a == c {
		t.Error("one secret in three schemes has a KeyID in common")
	}
	// A Basic account is its username and stored hash: a new password is
	// a new credential, and so is the same hash under another username.
	ann1 := newTestBasic(t, BasicUser{"ann", goldenBcrypt})
	ann2 := newTestBasic(t, BasicUser{"ann", "$2a$04$i07cUOtKzDOExMWgbjfpXO8P4RdERZcamVthctJJeX/k1kTYiAGBW"})
	bob := newTestBasic(t, BasicUser{"bob", goldenBcrypt})
	if ann1.KeyIDs()[0] != "de04115abf0b3d88" || ann1.KeyIDs()[0] == ann2.KeyIDs()[0] || ann1.KeyIDs()[0] == bob.KeyIDs()[0] {
		t.Errorf("Basic KeyIDs: ann %q, ann with another hash %q, bob %q", ann1.KeyIDs(), ann2.KeyIDs(), bob.KeyIDs())
	}
}

func TestTokenSetKeyIDs(t *testing.T) {
	s := NewTokenSet()
	if err := s.Add("support", "docs-demo-token"); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("support", HashToken("second-token")); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("billing", "billing-token"); err != nil {
		t.Fatal(err)
	}
	ids := s.KeyIDs("support")
	if len(ids) != 2 || ids[0] != "04181c5f9711252a" || ids[0] == ids[1] {
		t.Fatalf("KeyIDs(support) = %q", ids)
	}
	for i, tok := range []string{"docs-demo-token", "second-token"} {
		name, id, ok := s.LookupKeyID(tok)
		if !ok || name != "support" || id != ids[i] {
			t.Fatalf("LookupKeyID(token %d) = %q, %q, %v; want support, %q", i, name, id, ok, ids[i])
		}
	}
	if _, id, ok := s.LookupKeyID("billing-token"); !ok || slices.Contains(ids, id) {
		t.Fatalf("billing's token: KeyID %q, ok %v", id, ok)
	}
	if name, id, ok := s.LookupKeyID("nope"); ok || name != "" || id != "" {
		t.Fatalf("unknown token: %q, %q, %v", name, id, ok)
	}
	if got := s.KeyIDs("nobody"); len(got) != 0 {
		t.Fatalf("KeyIDs(nobody) = %q", got)
	}
}

// TestUserKeyIDs: each Basic user's KeyID is the one its Result carries,
// so a user can be told apart from the other users of its auth line.
func TestUserKeyIDs(t *testing.T) {
	b := newTestBasic(t, BasicUser{"ann", goldenBcrypt}, BasicUser{"bob", goldenBcrypt})
	m := b.UserKeyIDs()
	if len(m) != 2 || m["ann"] == m["bob"] || !slices.Contains(b.KeyIDs(), m["ann"]) || !slices.Contains(b.KeyIDs(), m["bob"]) {
		t.Fatalf("UserKeyIDs() = %v, KeyIDs() = %q", m, b.KeyIDs())
	}
	if m["ann"] != "de04115abf0b3d88" {
		t.Fatalf("ann's KeyID %q differs from the one of a one-user verifier", m["ann"])
	}
}

// TestKeyIDOf: the exported derivation is the built-in one, so a scheme
// of another module cannot collide with a built-in scheme's KeyIDs unless
// it takes the same scheme name.
func TestKeyIDOf(t *testing.T) {
	h, _ := NewHMAC(HMACConfig{Secrets: []string{"s"}})
	if KeyIDOf(schemeHMAC, []byte("s")) != h.KeyIDs()[0] {
		t.Fatal("KeyIDOf differs from the built-in derivation")
	}
	if KeyIDOf("shared_header", []byte("s")) == h.KeyIDs()[0] {
		t.Fatal("two schemes share a KeyID")
	}
}
