package signing

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A vector computed with Stripe's documented recipe (HMAC-SHA256 of
// "<t>.<payload>" keyed with the endpoint secret, lowercase hex) by an
// independent implementation (Python's hmac module):
//
//	hmac.new(b"whsec_test_secret", b"1700000000." + body, hashlib.sha256).hexdigest()
const (
	stripeSecret    = "whsec_test_secret"
	stripeTimestamp = 1700000000
	stripeBody      = `{"id":"evt_test_webhook","object":"event"}`
	stripeV1        = "d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990"
)

func stripeHeaderFor(secret string, ts int64, body string) string {
	t := strconv.FormatInt(ts, 10)
	return "t=" + t + ",v1=" + hmacSHA256Hex(secret, t+"."+body)
}

func TestStripePublishedAlgorithm(t *testing.T) {
	if got := hex.EncodeToString(stripeSignature([]byte(stripeSecret), "1700000000", []byte(stripeBody))); got != stripeV1 {
		t.Fatalf("stripeSignature = %s, want %s", got, stripeV1)
	}
}

func TestStripeVerify(t *testing.T) {
	const rotated = "whsec_rotated_secret"
	s, err := NewStripe([]string{stripeSecret, rotated}, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(stripeTimestamp, 0)
	body := []byte(stripeBody)
	v0 := "6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
	other := hmacSHA256Hex("whsec_someone_else", "1700000000."+stripeBody)

	tests := []struct {
		name   string
		header string // "" means absent
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", "t=1700000000,v1=" + stripeV1, body, now, nil},
		{"hand-written: several v1 and a v0", "t=1700000000,v1=" + other + ",v1=" + stripeV1 + ",v0=" + v0, body, now, nil},
		{"signatures before timestamp", "v1=" + stripeV1 + ",t=1700000000", body, now, nil},
		{"stray commas", ",t=1700000000,,v1=" + stripeV1 + ",", body, now, nil},
		{"spaces after commas", "t=1700000000, v1=" + stripeV1, body, now, nil},
		{"unknown keys ignored", "t=1700000000,v2=abc,scheme=x,v1=" + stripeV1, body, now, nil},
		{"bad v1 ignored when a good one remains", "t=1700000000,v1=zz,v1=" + stripeV1, body, now, nil},
		{"uppercase hex", "t=1700000000,v1=" + strings.ToUpper(stripeV1), body, now, nil},
		{"rotation: second secret", stripeHeaderFor(rotated, stripeTimestamp, stripeBody), body, now, nil},

		{"wrong secret", "t=1700000000,v1=" + other, body, now, ErrInvalid},
		{"other body", "t=1700000000,v1=" + stripeV1, flipLastByte(body), now, ErrInvalid},
		{"other timestamp", "t=1700000001,v1=" + stripeV1, body, now, ErrInvalid},
		{"only v0", "t=1700000000,v0=" + v0, body, now, ErrInvalid},
		{"v0 carrying the v1 value", "t=1700000000,v0=" + stripeV1, body, now, ErrInvalid},
		{"truncated", "t=1700000000,v1=" + stripeV1[:60], body, now, ErrInvalid},
		{"truncated to timestamp", "t=1700000000", body, now, ErrInvalid},
		{"garbled", "t=1700000000;v1=" + stripeV1, body, now, ErrInvalid},
		{"no timestamp", "v1=" + stripeV1, body, now, ErrInvalid},
		{"two timestamps", "t=1700000000,t=1700000000,v1=" + stripeV1, body, now, ErrInvalid},
		{"signed timestamp", "t=+1700000000,v1=" + stripeV1, body, now, ErrInvalid},
		{"element without =", "t=1700000000,v1=" + stripeV1 + ",junk", body, now, ErrInvalid},
		{"wrong prefix", "t=1700000000,sha256=" + stripeV1, body, now, ErrInvalid},
		{"uppercase keys", "T=1700000000,V1=" + stripeV1, body, now, ErrInvalid},
		{"oversized", "t=1700000000,v1=" + stripeV1 + ",x=" + strings.Repeat("a", maxHeaderBytes), body, now, ErrInvalid},
		{"too many elements", "t=1700000000" + strings.Repeat(",v1=00", 2*maxSignatures) + ",v1=" + stripeV1, body, now, ErrInvalid},
		{"missing", "", body, now, ErrMissing},

		{"just inside, past", "t=1700000000,v1=" + stripeV1, body, now.Add(300 * time.Second), nil},
		{"just outside, past", "t=1700000000,v1=" + stripeV1, body, now.Add(301 * time.Second), ErrExpired},
		{"just inside, future", "t=1700000000,v1=" + stripeV1, body, now.Add(-300 * time.Second), nil},
		{"just outside, future", "t=1700000000,v1=" + stripeV1, body, now.Add(-301 * time.Second), ErrExpired},
		{"expired and wrong is just wrong", "t=1700000000,v1=" + other, body, now.Add(time.Hour), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request()
			if tt.header != "" {
				r.Header.Set("Stripe-Signature", tt.header)
			}
			res, err := s.Verify(r, tt.body, tt.now)
			checkErr(t, err, tt.want, stripeSecret, rotated, stripeV1, other)
			if err != nil {
				return
			}
			if res.Principal != "stripe" || !strings.HasPrefix(res.ReplayKey, "stripe:") || res.ReplayTTL != 600*time.Second {
				t.Fatalf("unexpected result %+v", res)
			}
			if strings.Contains(res.ReplayKey, stripeV1) {
				t.Fatal("ReplayKey contains the signature")
			}
		})
	}
}

// TestStripeReplayKey checks that the replay key names the signed
// (timestamp, body) pair: the same for the same pair whichever secret
// signed it, different for a new attempt.
func TestStripeReplayKey(t *testing.T) {
	s, _ := NewStripe([]string{"whsec_a", "whsec_b"}, 0)
	now := time.Unix(stripeTimestamp, 0)
	key := func(secret string, ts int64, body string) string {
		t.Helper()
		res, err := s.Verify(request("Stripe-Signature", stripeHeaderFor(secret, ts, body)), []byte(body), now)
		if err != nil {
			t.Fatal(err)
		}
		return res.ReplayKey
	}
	k := key("whsec_a", stripeTimestamp, "{}")
	if key("whsec_b", stripeTimestamp, "{}") != k {
		t.Error("replay key depends on the secret")
	}
	if key("whsec_a", stripeTimestamp+1, "{}") == k {
		t.Error("a retry (new timestamp) has the same replay key")
	}
	if key("whsec_a", stripeTimestamp, "{ }") == k {
		t.Error("another body has the same replay key")
	}
}

func TestNewStripeValidation(t *testing.T) {
	if _, err := NewStripe(nil, 0); err == nil {
		t.Error("no secrets accepted")
	}
	if _, err := NewStripe([]string{""}, 0); err == nil {
		t.Error("empty secret accepted")
	}
	if _, err := NewStripe([]string{"s"}, -time.Second); err == nil {
		t.Error("negative tolerance accepted")
	}
	s, err := NewStripe([]string{"s"}, 0)
	if err != nil || s.tolerance != DefaultStripeTolerance {
		t.Fatalf("default tolerance = %v, %v", s.tolerance, err)
	}
}

// FuzzStripeHeader feeds arbitrary Stripe-Signature values and bodies: no
// panic, and acceptance only when an independent parse finds a timestamp
// within tolerance and a v1 equal to the expected signature.
func FuzzStripeHeader(f *testing.F) {
	s, err := NewStripe([]string{stripeSecret}, 0)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(stripeTimestamp, 0)
	f.Add("t=1700000000,v1="+stripeV1, []byte(stripeBody))
	f.Add("t=1700000000,v1="+stripeV1+",v0=00", []byte(stripeBody))
	f.Add("t=1700000000,v1=", []byte(""))
	f.Add("t=,v1=,v1=,", []byte("x"))
	f.Add("t=99999999999999999999,v1="+stripeV1, []byte(stripeBody))
	f.Add(",,,===", []byte(nil))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		r := request()
		r.Header["Stripe-Signature"] = []string{header}
		_, err := s.Verify(r, body, now)
		if err != nil {
			if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) {
				t.Fatalf("unexpected error class: %v", err)
			}
			assertNoLeak(t, err, stripeSecret)
			if len(header) >= minLeakCheck {
				assertNoLeak(t, err, header)
			}
			return
		}
		var ts string
		var v1 [][]byte
		for _, item := range strings.Split(header, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(item), "=")
			switch k {
			case "t":
				ts = v
			case "v1":
				if b, err := hex.DecodeString(v); err == nil {
					v1 = append(v1, b)
				}
			}
		}
		unix, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || unix < stripeTimestamp-300 || unix > stripeTimestamp+300 {
			t.Fatalf("accepted timestamp %q", ts)
		}
		want := hmacSHA256([]byte(stripeSecret), append([]byte(ts+"."), body...))
		for _, sig := range v1 {
			if bytes.Equal(sig, want) {
				return
			}
		}
		t.Fatalf("accepted %q, which has no matching v1", header)
	})
}

func BenchmarkStripeVerify(b *testing.B) {
	s, err := NewStripe([]string{stripeSecret}, 0)
	if err != nil {
		b.Fatal(err)
	}
	r := request("Stripe-Signature", "t=1700000000,v1="+stripeV1)
	body := []byte(stripeBody)
	now := time.Unix(stripeTimestamp, 0)
	for b.Loop() {
		if _, err := s.Verify(r, body, now); err != nil {
			b.Fatal(err)
		}
	}
}
