package signing

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// request builds a POST request carrying headers (name, value, name,
// value, ...). An empty value still sets the header, which is different
// from leaving it out.
func request(headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hook", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

// hmacSHA256 is an independent HMAC-SHA256, for computing expectations.
func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

func hmacSHA256Hex(key, msg string) string {
	return hex.EncodeToString(hmacSHA256([]byte(key), []byte(msg)))
}

// checkErr fails unless err wraps want (nil meaning success), and unless
// err's text is free of every string in secrets.
func checkErr(t *testing.T, err, want error, secrets ...string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want %v", err, want)
	}
	assertNoLeak(t, err, secrets...)
}

// minLeakCheck is the shortest presented value fuzz targets look for in
// error text: shorter ones may occur in the fixed messages by chance.
const minLeakCheck = 40

// assertNoLeak fails if err's text contains any of secrets.
func assertNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q leaks %q", err, s)
		}
	}
}

// flipLastByte returns a copy of b with its last byte changed.
func flipLastByte(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-1] ^= 0x01
	return c
}

func TestDecodeBase64AcceptsEveryFlavour(t *testing.T) {
	want := []byte{0xfb, 0xff, 0xfe, 0x01} // exercises + / - _ and padding
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		s := enc.EncodeToString(want)
		got, err := decodeBase64(s)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("decodeBase64(%q) = %x, %v; want %x", s, got, err, want)
		}
	}
	for _, bad := range []string{"a", "!!!!", "ab=c", "a b"} {
		if _, err := decodeBase64(bad); err == nil {
			t.Errorf("decodeBase64(%q) succeeded", bad)
		}
	}
}

func TestDecodeSized(t *testing.T) {
	sum := hmacSHA256([]byte("k"), []byte("m"))
	tests := []struct {
		name, encoding, in string
		ok                 bool
	}{
		{"hex lower", encodingHex, hex.EncodeToString(sum), true},
		{"hex upper", encodingHex, strings.ToUpper(hex.EncodeToString(sum)), true},
		{"hex short", encodingHex, hex.EncodeToString(sum)[2:], false},
		{"hex long", encodingHex, hex.EncodeToString(sum) + "00", false},
		{"hex garbled", encodingHex, "zz" + hex.EncodeToString(sum)[2:], false},
		{"base64 std", encodingBase64, base64.StdEncoding.EncodeToString(sum), true},
		{"base64 url raw", encodingBase64, base64.RawURLEncoding.EncodeToString(sum), true},
		{"base64 short", encodingBase64, base64.StdEncoding.EncodeToString(sum[1:]), false},
		{"base64 long", encodingBase64, base64.StdEncoding.EncodeToString(append(sum, 0)), false},
		{"unknown encoding", "base32", hex.EncodeToString(sum), false},
		{"empty", encodingHex, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeSized(tt.encoding, tt.in, len(sum))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && !bytes.Equal(got, sum) {
				t.Fatalf("decoded %x, want %x", got, sum)
			}
		})
	}
}

func TestParseUnixSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1614265330", 1614265330, true},
		{"0", 0, true},
		{"007", 7, true},
		{"", 0, false},
		{"+1614265330", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"1e9", 0, false},
		{" 1", 0, false},
		{"123456789012345678", 123456789012345678, true},
		{"1234567890123456789", 0, false}, // too many digits
	}
	for _, tt := range tests {
		got, ok := parseUnixSeconds(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseUnixSeconds(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestWithinTolerance(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tol := 5 * time.Minute
	tests := []struct {
		name string
		ts   int64
		want bool
	}{
		{"now", now.Unix(), true},
		{"just inside past", now.Unix() - 300, true},
		{"just outside past", now.Unix() - 301, false},
		{"just inside future", now.Unix() + 300, true},
		{"just outside future", now.Unix() + 301, false},
		{"epoch", 0, false},
		{"far future", 999_999_999_999_999_999, false},
	}
	for _, tt := range tests {
		if got := withinTolerance(tt.ts, now, tol); got != tt.want {
			t.Errorf("%s: withinTolerance = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestErrorsWrapExactlyOneSentinel(t *testing.T) {
	for _, err := range []error{missing("x", "r"), invalid("x", "r"), expired("x"), busyErr("x", "r")} {
		n := 0
		for _, s := range []error{ErrMissing, ErrInvalid, ErrExpired, ErrBusy} {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%v wraps %d sentinels", err, n)
		}
	}
}

// TestNilRequest makes sure no verifier dereferences a nil request.
func TestNilRequest(t *testing.T) {
	for _, v := range allVerifiers(t) {
		if _, err := v.Verify(nil, nil, time.Now()); !errors.Is(err, ErrMissing) {
			t.Errorf("%s: Verify(nil) = %v, want ErrMissing", v.Scheme(), err)
		}
	}
}

// TestSchemeNames pins the names the configuration refers to.
func TestSchemeNames(t *testing.T) {
	want := []string{"basic", "bearer", "hmac", "standard_webhooks", "github", "stripe"}
	for i, v := range allVerifiers(t) {
		if v.Scheme() != want[i] {
			t.Errorf("Scheme() = %q, want %q", v.Scheme(), want[i])
		}
	}
}

// TestVerifiersIgnoreOtherSchemes checks that a request carrying only
// another scheme's credentials is ErrMissing for every verifier, so that
// a handler with several auth lines can tell "not mine" from "wrong".
func TestVerifiersIgnoreOtherSchemes(t *testing.T) {
	r := request("X-Unrelated", "1")
	for _, v := range allVerifiers(t) {
		if _, err := v.Verify(r, []byte("{}"), time.Now()); !errors.Is(err, ErrMissing) {
			t.Errorf("%s: err = %v, want ErrMissing", v.Scheme(), err)
		}
	}
}

// TestRoundTripEveryScheme signs with our own code (or the scheme's
// documented recipe where we have no signer) and verifies with our own
// verifier.
func TestRoundTripEveryScheme(t *testing.T) {
	body := []byte(`{"text":"hello","n":1}`)
	now := time.Now()

	hashed, err := HashPassword("pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	basic, _ := NewBasic("", []BasicUser{{"ann", hashed}})
	bearer, _ := NewBearer([]string{"tok"})
	hmacV, _ := NewHMAC(HMACConfig{Secrets: []string{"s"}})
	hmacS, _ := NewHMACSigner(HMACConfig{Secrets: []string{"s"}})
	gh, _ := NewGitHub([]string{"s"})
	ghS, _ := NewHMACSigner(HMACConfig{Secrets: []string{"s"}, Header: "X-Hub-Signature-256", Prefix: "sha256="})
	st, _ := NewStripe([]string{"whsec_s"}, 0)
	whsec, _ := GenerateSecret()
	whsk, whpk, _ := GenerateEd25519()
	sw, _ := NewStandardWebhooks([]string{whsec, whpk}, 0)
	swS, _ := NewStandardWebhooksSigner([]string{whsec})
	swA, _ := NewStandardWebhooksSigner([]string{whsk})

	sign := func(s *HMACSigner) *http.Request {
		name, value := s.Signature(body)
		return request(name, value)
	}
	swRequest := func(s *StandardWebhooksSigner) *http.Request {
		r := request()
		for k, v := range s.Sign("msg_1", now, body) {
			r.Header[k] = v
		}
		return r
	}
	ts := strconv.FormatInt(now.Unix(), 10)

	tests := []struct {
		v    Verifier
		r    *http.Request
		want string
	}{
		{basic, request("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("ann:pw"))), "basic:ann"},
		{bearer, request("Authorization", "Bearer tok"), "bearer:" + HashToken("tok")[7:19]},
		{hmacV, sign(hmacS), "hmac"},
		{gh, sign(ghS), "github"},
		{st, request("Stripe-Signature", "t="+ts+",v1="+hmacSHA256Hex("whsec_s", ts+"."+string(body))), "stripe"},
		{sw, swRequest(swS), "standard_webhooks"},
		{sw, swRequest(swA), "standard_webhooks"},
	}
	for _, tt := range tests {
		res, err := tt.v.Verify(tt.r, body, now)
		if err != nil {
			t.Errorf("%s: %v", tt.v.Scheme(), err)
			continue
		}
		if res.Principal != tt.want {
			t.Errorf("%s: Principal = %q, want %q", tt.v.Scheme(), res.Principal, tt.want)
		}
	}
}

// allVerifiers returns one verifier of each scheme, in Scheme() order of
// TestSchemeNames.
func allVerifiers(t testing.TB) []Verifier {
	t.Helper()
	hashed, err := HashPassword("pw", 4)
	if err != nil {
		t.Fatal(err)
	}
	whsec, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	var vs []Verifier
	add := func(v Verifier, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	add(NewBasic("", []BasicUser{{"ann", hashed}}))
	add(NewBearer([]string{"tok"}))
	add(NewHMAC(HMACConfig{Secrets: []string{"s"}}))
	add(NewStandardWebhooks([]string{whsec}, 0))
	add(NewGitHub([]string{"s"}))
	add(NewStripe([]string{"s"}, 0))
	return vs
}
