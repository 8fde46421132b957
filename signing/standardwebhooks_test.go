package signing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The vector of the specification's official libraries (their test suites
// all use it).
const (
	swSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	swMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	swTimestamp = 1614265330
	swPayload   = `{"test": 2432232314}`
	swSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// swRequest returns a request with the three headers under the given
// prefix ("webhook" or "svix"); an empty value leaves that header out.
func swRequest(prefix, id, ts, sig string) *http.Request {
	r := request()
	for name, v := range map[string]string{"-id": id, "-timestamp": ts, "-signature": sig} {
		if v != "" {
			r.Header.Set(prefix+name, v)
		}
	}
	return r
}

// testEd25519 is a fixed key pair so that tests are reproducible.
var testEd25519 = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func whpk(k ed25519.PrivateKey) string {
	return "whpk_" + base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

func v1aSig(k ed25519.PrivateKey, id string, ts int64, body string) string {
	msg := id + "." + strconv.FormatInt(ts, 10) + "." + body
	return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(k, []byte(msg)))
}

func v1Sig(secret, id string, ts int64, body string) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		panic(err)
	}
	msg := id + "." + strconv.FormatInt(ts, 10) + "." + body
	return "v1," + base64.StdEncoding.EncodeToString(hmacSHA256(key, []byte(msg)))
}

func TestStandardWebhooksPublishedVector(t *testing.T) {
	if got := v1Sig(swSecret, swMsgID, swTimestamp, swPayload); got != swSignature {
		t.Fatalf("independent signature %s, want %s", got, swSignature)
	}
	v, err := NewStandardWebhooks([]string{swSecret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"webhook", "svix"} {
		r := swRequest(prefix, swMsgID, "1614265330", swSignature)
		res, err := v.Verify(r, []byte(swPayload), time.Unix(swTimestamp, 0))
		if err != nil {
			t.Fatalf("%s headers: %v", prefix, err)
		}
		want := Result{Principal: "standard_webhooks", KeyID: v.KeyIDs()[0], ReplayKey: "standard_webhooks:" + swMsgID, ReplayTTL: 10 * time.Minute}
		if res != want {
			t.Fatalf("%s headers: result %+v, want %+v", prefix, res, want)
		}
	}
}

func TestStandardWebhooksVerify(t *testing.T) {
	rotated, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := GenerateSecret()
	v, err := NewStandardWebhooks([]string{swSecret, rotated, whpk(testEd25519)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))

	const ts = swTimestamp
	tsS := "1614265330"
	now := time.Unix(ts, 0)
	good := swSignature
	goodA := v1aSig(testEd25519, swMsgID, ts, swPayload)
	body := swPayload

	tests := []struct {
		name, prefix, id, ts, sig, body string
		now                             time.Time
		want                            error
	}{
		{"valid v1", "webhook", swMsgID, tsS, good, body, now, nil},
		{"valid v1a", "webhook", swMsgID, tsS, goodA, body, now, nil},
		{"svix headers", "svix", swMsgID, tsS, good, body, now, nil},
		{"rotation: second secret", "webhook", swMsgID, tsS, v1Sig(rotated, swMsgID, ts, body), body, now, nil},
		{"several signatures, last valid", "webhook", swMsgID, tsS, v1Sig(other, swMsgID, ts, body) + " " + good, body, now, nil},
		{"unknown versions ignored", "webhook", swMsgID, tsS, "v2,abcd v1b,xyz " + good, body, now, nil},
		{"doubled spaces", "webhook", swMsgID, tsS, "  " + v1Sig(other, swMsgID, ts, body) + "   " + good + " ", body, now, nil},
		{"unpadded base64", "webhook", swMsgID, tsS, strings.TrimRight(good, "="), body, now, nil},

		{"wrong secret", "webhook", swMsgID, tsS, v1Sig(other, swMsgID, ts, body), body, now, ErrInvalid},
		{"wrong ed25519 key", "webhook", swMsgID, tsS, v1aSig(otherKey, swMsgID, ts, body), body, now, ErrInvalid},
		{"other body", "webhook", swMsgID, tsS, good, string(flipLastByte([]byte(body))), now, ErrInvalid},
		{"other body, v1a", "webhook", swMsgID, tsS, goodA, body + " ", now, ErrInvalid},
		{"other id", "webhook", swMsgID + "x", tsS, good, body, now, ErrInvalid},
		{"other timestamp", "webhook", swMsgID, "1614265331", good, body, now.Add(time.Second), ErrInvalid},
		{"v1 signature labelled v1a", "webhook", swMsgID, tsS, "v1a," + strings.TrimPrefix(good, "v1,"), body, now, ErrInvalid},
		{"v1a signature labelled v1", "webhook", swMsgID, tsS, "v1," + strings.TrimPrefix(goodA, "v1a,"), body, now, ErrInvalid},
		{"truncated signature", "webhook", swMsgID, tsS, good[:len(good)-6], body, now, ErrInvalid},
		{"no version", "webhook", swMsgID, tsS, strings.TrimPrefix(good, "v1,"), body, now, ErrInvalid},
		{"wrong prefix", "webhook", swMsgID, tsS, "v1=" + strings.TrimPrefix(good, "v1,"), body, now, ErrInvalid},
		{"garbled signature", "webhook", swMsgID, tsS, "v1,!!!!" + good[7:], body, now, ErrInvalid},
		{"only unknown versions", "webhook", swMsgID, tsS, "v2," + strings.TrimPrefix(good, "v1,"), body, now, ErrInvalid},
		{"garbled timestamp", "webhook", swMsgID, "16142653x0", good, body, now, ErrInvalid},
		{"signed timestamp", "webhook", swMsgID, "+1614265330", good, body, now, ErrInvalid},
		{"fractional timestamp", "webhook", swMsgID, "1614265330.0", good, body, now, ErrInvalid},
		{"id with a dot", "webhook", "msg.1", tsS, good, body, now, ErrInvalid},
		{"id too long", "webhook", strings.Repeat("m", maxMessageIDBytes+1), tsS, good, body, now, ErrInvalid},
		{"signature header too long", "webhook", swMsgID, tsS, good + " " + strings.Repeat("v", maxHeaderBytes), body, now, ErrInvalid},
		{"too many signatures", "webhook", swMsgID, tsS, strings.Repeat("v2,x ", maxSignatures) + good, body, now, ErrInvalid},
		{"id missing", "webhook", "", tsS, good, body, now, ErrInvalid},
		{"timestamp missing", "webhook", swMsgID, "", good, body, now, ErrInvalid},
		{"signature missing", "webhook", swMsgID, tsS, "", body, now, ErrInvalid},
		{"all missing", "webhook", "", "", "", body, now, ErrMissing},

		{"just inside, past", "webhook", swMsgID, tsS, good, body, now.Add(5 * time.Minute), nil},
		{"just outside, past", "webhook", swMsgID, tsS, good, body, now.Add(5*time.Minute + time.Second), ErrExpired},
		{"just inside, future", "webhook", swMsgID, tsS, good, body, now.Add(-5 * time.Minute), nil},
		{"just outside, future", "webhook", swMsgID, tsS, good, body, now.Add(-5*time.Minute - time.Second), ErrExpired},
		{"v1a just outside", "webhook", swMsgID, tsS, goodA, body, now.Add(-5*time.Minute - time.Second), ErrExpired},
		{"expired and wrong is just wrong", "webhook", swMsgID, tsS, v1Sig(other, swMsgID, ts, body), body, now.Add(time.Hour), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := swRequest(tt.prefix, tt.id, tt.ts, tt.sig)
			res, err := v.Verify(r, []byte(tt.body), tt.now)
			checkErr(t, err, tt.want, swSecret, rotated, strings.TrimPrefix(swSecret, "whsec_"),
				strings.TrimPrefix(good, "v1,"), strings.TrimPrefix(goodA, "v1a,"))
			if err == nil && res.ReplayKey != "standard_webhooks:"+tt.id {
				t.Fatalf("ReplayKey = %q", res.ReplayKey)
			}
		})
	}
}

// TestStandardWebhooksPrefersWebhookHeaders: once any webhook-* header is
// present, svix-* headers are not consulted, so that a request cannot mix
// the two sets.
func TestStandardWebhooksPrefersWebhookHeaders(t *testing.T) {
	v, _ := NewStandardWebhooks([]string{swSecret}, 0)
	r := swRequest("svix", swMsgID, "1614265330", swSignature)
	r.Header.Set("webhook-id", swMsgID)
	if _, err := v.Verify(r, []byte(swPayload), time.Unix(swTimestamp, 0)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

func TestStandardWebhooksCustomTolerance(t *testing.T) {
	v, err := NewStandardWebhooks([]string{swSecret}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	r := swRequest("webhook", swMsgID, "1614265330", swSignature)
	if _, err := v.Verify(r, []byte(swPayload), time.Unix(swTimestamp+61, 0)); !errors.Is(err, ErrExpired) {
		t.Fatalf("err = %v, want ErrExpired", err)
	}
	res, err := v.Verify(r, []byte(swPayload), time.Unix(swTimestamp+60, 0))
	if err != nil || res.ReplayTTL != 2*time.Minute {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
}

func TestNewStandardWebhooksValidation(t *testing.T) {
	whsk, _, _ := GenerateEd25519()
	short := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name    string
		secrets []string
		tol     time.Duration
		leak    string
	}{
		{"no secrets", nil, 0, ""},
		{"no prefix", []string{strings.TrimPrefix(swSecret, "whsec_")}, 0, strings.TrimPrefix(swSecret, "whsec_")},
		{"bad base64", []string{"whsec_!!!!not-base64!!!!"}, 0, "!!!!not-base64"},
		{"too short", []string{short}, 0, short},
		{"whsk given to verifier", []string{whsk}, 0, strings.TrimPrefix(whsk, "whsk_")},
		{"whpk of wrong size", []string{"whpk_" + base64.StdEncoding.EncodeToString(make([]byte, 31))}, 0, ""},
		{"negative tolerance", []string{swSecret}, -time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewStandardWebhooks(tt.secrets, tt.tol)
			if err == nil {
				t.Fatal("expected an error")
			}
			assertNoLeak(t, err, tt.leak)
		})
	}
}

// TestStandardWebhooksAcceptsOfficialLibrary verifies what the official
// Go library signs.
func TestStandardWebhooksAcceptsOfficialLibrary(t *testing.T) {
	wh, err := standardwebhooks.NewWebhook(swSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`{"type":"task.succeeded","task_id":"t_1"}`)
	sig, err := wh.Sign("msg_official", now, body)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewStandardWebhooks([]string{swSecret}, 0)
	r := swRequest("webhook", "msg_official", strconv.FormatInt(now.Unix(), 10), sig)
	if _, err := v.Verify(r, body, now); err != nil {
		t.Fatal(err)
	}
}

// FuzzStandardWebhooksHeaders feeds arbitrary header values and bodies: no
// panic, and acceptance only when an independent check finds a signature
// that verifies and a timestamp within tolerance.
func FuzzStandardWebhooksHeaders(f *testing.F) {
	v, err := NewStandardWebhooks([]string{swSecret, whpk(testEd25519)}, 0)
	if err != nil {
		f.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(swSecret, "whsec_"))
	pub := testEd25519.Public().(ed25519.PublicKey)
	now := time.Unix(swTimestamp, 0)

	f.Add(swMsgID, "1614265330", swSignature, []byte(swPayload))
	f.Add(swMsgID, "1614265330", v1aSig(testEd25519, swMsgID, swTimestamp, swPayload), []byte(swPayload))
	f.Add(swMsgID, "1614265330", "v2,x "+swSignature+" v1a,AAAA", []byte(swPayload))
	f.Add("", "", "", []byte(nil))
	f.Add("a.b", "1", "v1,", []byte("."))
	f.Add(swMsgID, "99999999999999999999", swSignature, []byte(swPayload))
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		r := request()
		r.Header["Webhook-Id"] = []string{id}
		r.Header["Webhook-Timestamp"] = []string{ts}
		r.Header["Webhook-Signature"] = []string{sig}
		res, err := v.Verify(r, body, now)
		if err != nil {
			if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) {
				t.Fatalf("unexpected error class: %v", err)
			}
			assertNoLeak(t, err, swSecret, strings.TrimPrefix(swSecret, "whsec_"))
			if len(sig) >= minLeakCheck {
				assertNoLeak(t, err, sig)
			}
			return
		}
		id, ts = strings.TrimSpace(id), strings.TrimSpace(ts)
		if res.ReplayKey != "standard_webhooks:"+id || strings.Contains(id, ".") {
			t.Fatalf("accepted id %q with replay key %q", id, res.ReplayKey)
		}
		unix, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || unix < swTimestamp-300 || unix > swTimestamp+300 {
			t.Fatalf("accepted timestamp %q", ts)
		}
		msg := []byte(id + "." + ts + "." + string(body))
		// The verifier trims the header as it trims the id and timestamp.
		for _, entry := range strings.Split(strings.TrimSpace(sig), " ") {
			version, enc, _ := strings.Cut(entry, ",")
			raw, err := decodeAnyBase64(enc)
			if err != nil {
				continue
			}
			switch version {
			case "v1":
				if bytes.Equal(raw, hmacSHA256(key, msg)) {
					return
				}
			case "v1a":
				if len(raw) == ed25519.SignatureSize && ed25519.Verify(pub, msg, raw) {
					return
				}
			}
		}
		t.Fatalf("accepted signature header %q, which has no valid signature", sig)
	})
}

// decodeAnyBase64 decodes base64 in either alphabet, padded or not. It is
// deliberately written apart from decodeBase64, as the fuzz oracle.
func decodeAnyBase64(s string) ([]byte, error) {
	s = strings.NewReplacer("-", "+", "_", "/").Replace(strings.TrimRight(s, "="))
	return base64.RawStdEncoding.DecodeString(s)
}

func BenchmarkStandardWebhooksVerify(b *testing.B) {
	v, err := NewStandardWebhooks([]string{swSecret}, 0)
	if err != nil {
		b.Fatal(err)
	}
	r := swRequest("webhook", swMsgID, "1614265330", swSignature)
	body := []byte(swPayload)
	now := time.Unix(swTimestamp, 0)
	for b.Loop() {
		if _, err := v.Verify(r, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStandardWebhooksVerifyEd25519(b *testing.B) {
	v, err := NewStandardWebhooks([]string{whpk(testEd25519)}, 0)
	if err != nil {
		b.Fatal(err)
	}
	r := swRequest("webhook", swMsgID, "1614265330", v1aSig(testEd25519, swMsgID, swTimestamp, swPayload))
	body := []byte(swPayload)
	now := time.Unix(swTimestamp, 0)
	for b.Loop() {
		if _, err := v.Verify(r, body, now); err != nil {
			b.Fatal(err)
		}
	}
}
