package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store"
)

const hooks = "/api/agents/support/webhooks"

// create registers a webhook and decodes the answer.
func (f *apiFixture) create(body string) (WebhookView, string) {
	f.t.Helper()
	rec := f.do(http.MethodPost, hooks, body)
	var v WebhookView
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
		f.t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	return v, rec.Body.String()
}

// TestAPIRegistrationOptions: everything a Caddyfile callback can carry
// is accepted, stored, shown without its secrets, and changed by PATCH.
func TestAPIRegistrationOptions(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.a.MaxTimeout = 15 * time.Second
	v, body := f.create(`{"url":"http://127.0.0.1:9/cognigy","format":"cognigy","ordered":true,"concurrency":2,
		"events":["task.succeeded","task.failed","delivery.exhausted"],"filter":".status == \"SUCCESS\"","endpoint":"cognigy",
		"basic_auth":{"username":"cognigy-user","password":"cognigy-pw"},"headers":{"x-tenant":"acme","X-Api-Key":"k-123"},
		"hmac":{"header":"x-signature","prefix":"sha256="},"signature":"v1a","retry_schedule":["1s","1m"],"timeout":"10s","rate_limit":2.5}`)
	if v.Signature != "v1a" || !strings.HasPrefix(v.Secret, "whsk_") || !strings.HasPrefix(v.PublicKey, "whpk_") ||
		v.HMAC == nil || len(v.HMAC.Secret) != 64 || v.HMAC.Encoding != "hex" || v.BasicAuth.Username != "cognigy-user" ||
		v.Headers["X-Tenant"] != "acme" || v.Headers["X-Api-Key"] != redacted || v.Timeout != "10s" || v.RateLimit != 2.5 ||
		strings.Join(v.RetrySchedule, ",") != "1s,1m0s" || v.Endpoint != "cognigy" || len(v.Events) != 3 || v.Concurrency != 2 {
		t.Fatalf("creation answer %s", body)
	}
	for _, secret := range []string{"cognigy-pw", "k-123"} {
		if strings.Contains(body, secret) {
			t.Fatalf("the creation answer shows %q: %s", secret, body)
		}
	}
	one := hooks + "/" + v.ID
	rec := f.do(http.MethodGet, one, "")
	for _, secret := range []string{v.Secret, v.HMAC.Secret, "cognigy-pw", "k-123"} {
		if strings.Contains(rec.Body.String(), secret) {
			t.Fatalf("a read shows a secret: %s", rec.Body)
		}
	}
	reg, err := f.st.GetRegistration(context.Background(), v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Options.BasicAuth.Password != "cognigy-pw" || reg.Options.HMAC.Secret != v.HMAC.Secret || reg.Options.Headers.Get("X-Api-Key") != "k-123" ||
		reg.Options.Timeout != 10*time.Second || reg.Options.RetrySchedule[1] != time.Minute || reg.Secret != v.Secret {
		t.Fatalf("stored %+v", reg.Options)
	}

	// PATCH: hmac settings without a secret keep it; null goes back to
	// the default; other fields stay.
	rec = f.do(http.MethodPatch, one, `{"hmac":{"header":"x-sig","encoding":"base64"},"events":null,"basic_auth":null,"timeout":null,"filter":""}`)
	var p WebhookView
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.HMAC.Header != "x-sig" || p.HMAC.Secret != "" ||
		p.BasicAuth != nil || p.Timeout != "" || p.Filter != "" || strings.Join(p.Events, ",") != "task.succeeded,task.failed" || p.RateLimit != 2.5 {
		t.Fatalf("patch: %d %s", rec.Code, rec.Body)
	}
	reg, _ = f.st.GetRegistration(context.Background(), v.ID)
	if reg.Options.HMAC.Secret != v.HMAC.Secret || reg.Options.HMAC.Encoding != "base64" {
		t.Fatalf("the hmac secret changed: %+v", reg.Options.HMAC)
	}
}

// TestAPIRegistrationRefusals: what no delivery could use is a 400 that
// says why, and never quotes a secret.
func TestAPIRegistrationRefusals(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	f.a.EndpointExists = func(name string) bool { return name == "cognigy" }
	const u = `"url":"http://127.0.0.1:9/x"`
	for body, want := range map[string]string{
		`{` + u + `,"filter":".a =="}`:                               "filter: jq: unexpected EOF",
		`{` + u + `,"filter":"$chat"}`:                               "variable not defined: $chat",
		`{` + u + `,"events":["task.done"]}`:                         `unknown event type \"task.done\"`,
		`{` + u + `,"events":[]}`:                                    "at least one event type",
		`{` + u + `,"events":"task.failed"}`:                         "field events must be an array",
		`{` + u + `,"headers":{"Content-Type":"x"}}`:                 "Content-Type is set by agenthook",
		`{` + u + `,"headers":{"X-Agenthook-Hops":"0"}}`:             "X-Agenthook-Hops is set by agenthook",
		`{` + u + `,"headers":{"Authorization":"Bearer s3cret"}}`:    "use basic_auth",
		`{` + u + `,"headers":{"bad name":"x"}}`:                     "is not a header name",
		`{` + u + `,"headers":{"X-A":"s3cret\n"}}`:                   "not a valid header value",
		`{` + u + `,"basic_auth":{"username":"a:b","password":"p"}}`: "username without ':'",
		`{` + u + `,"basic_auth":{"username":"a"}}`:                  "needs a password",
		`{` + u + `,"basic_auth":{"user":"a"}}`:                      "basic_auth: unknown field",
		`{` + u + `,"hmac":{"algorithm":"md5","secret":"s3cret"}}`:   "md5",
		`{` + u + `,"signature":"v2"}`:                               "signature must be v1",
		`{` + u + `,"signature":"v1a","secret":"whsec_s3cret"}`:      "secret must be a whsk_",
		`{` + u + `,"secret":"whsec_!!s3cret"}`:                      "not a usable Standard Webhooks secret",
		`{` + u + `,"timeout":"1h"}`:                                 "timeout must be a positive duration up to the configured delivery timeout (15s)",
		`{` + u + `,"timeout":"0s"}`:                                 "timeout must be",
		`{` + u + `,"retry_schedule":["5s","soon"]}`:                 "retry_schedule step 2",
		`{` + u + `,"rate_limit":-1}`:                                "rate_limit must be",
		`{` + u + `,"concurrency":-1}`:                               "concurrency must be",
	} {
		rec := f.do(http.MethodPost, hooks, body)
		wantError(t, rec, http.StatusBadRequest, handler.CodeBadRequest)
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("%s: %s, want %q", body, rec.Body, want)
		}
		if strings.Contains(rec.Body.String(), "s3cret") {
			t.Errorf("%s: the error quotes a secret: %s", body, rec.Body)
		}
	}
	v, _ := f.create(`{` + u + `}`)
	wantError(t, f.do(http.MethodPatch, hooks+"/"+v.ID, `{"secret":"whsec_x"}`), http.StatusBadRequest, handler.CodeBadRequest)
	wantError(t, f.do(http.MethodPatch, hooks+"/cfg-support-1", `{"events":["task.failed"]}`), http.StatusBadRequest, handler.CodeBadRequest)
	// Given secrets are not echoed.
	secret, _ := signing.GenerateSecret()
	_, body := f.create(`{` + u + `,"secret":"` + secret + `"}`)
	if strings.Contains(body, secret) {
		t.Fatalf("a given secret is echoed: %s", body)
	}
}

// TestAPIRotateSecret: the new secret is answered once; both sign until
// the grace period ends.
func TestAPIRotateSecret(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	v, _ := f.create(`{"url":"http://127.0.0.1:9/x"}`)
	rotate := hooks + "/" + v.ID + "/rotate-secret"
	rec := f.do(http.MethodPost, rotate, `{"grace_period":"2h"}`)
	var r WebhookView
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &r) != nil || !strings.HasPrefix(r.Secret, "whsec_") || r.Secret == v.Secret ||
		r.PreviousSecretsExpireAt == nil || !r.PreviousSecretsExpireAt.Equal(f.a.Now().Add(2*time.Hour)) {
		t.Fatalf("rotate: %d %s", rec.Code, rec.Body)
	}
	if get := f.do(http.MethodGet, hooks+"/"+v.ID, ""); strings.Contains(get.Body.String(), r.Secret) || strings.Contains(get.Body.String(), v.Secret) {
		t.Fatalf("a read shows a secret: %s", get.Body)
	}
	reg, _ := f.st.GetRegistration(context.Background(), v.ID)
	cb, err := delivery.CallbackOf(reg, nil, f.a.Now())
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{}`)
	h := http.Header{}
	for k, vs := range cb.Signers[0].Sign("msg_1", f.a.Now(), body) {
		h[k] = vs
	}
	for _, s := range []string{v.Secret, r.Secret} {
		wh, _ := standardwebhooks.NewWebhook(s)
		if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
			t.Fatalf("during the grace period, a receiver with one secret refuses: %v", err)
		}
	}
	// To v1a, with no grace: only the new key signs.
	rec = f.do(http.MethodPost, rotate, `{"grace_period":"0s","signature":"v1a"}`)
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &r) != nil || r.Signature != "v1a" || r.PublicKey == "" {
		t.Fatalf("rotate to v1a: %d %s", rec.Code, rec.Body)
	}
	reg, _ = f.st.GetRegistration(context.Background(), v.ID)
	if len(reg.Options.PreviousSecrets) != 1 {
		t.Fatalf("previous secrets %d, want the first rotation's only", len(reg.Options.PreviousSecrets))
	}
	// An empty body is fine; refusals.
	if rec := f.do(http.MethodPost, rotate, ""); rec.Code != 200 {
		t.Fatalf("rotate without a body: %d %s", rec.Code, rec.Body)
	}
	wantError(t, f.do(http.MethodPost, rotate, `{"grace_period":"forever"}`), http.StatusBadRequest, handler.CodeBadRequest)
	wantError(t, f.do(http.MethodPost, hooks+"/cfg-support-1/rotate-secret", ``), http.StatusBadRequest, handler.CodeBadRequest)
	wantError(t, f.do(http.MethodPost, hooks+"/wh_nope/rotate-secret", ``), http.StatusNotFound, handler.CodeNotFound)
	wantError(t, f.do(http.MethodGet, rotate, ``), http.StatusMethodNotAllowed, handler.CodeMethodNotAllowed)
}

// fakeTester answers test sends with a fixed attempt.
type fakeTester struct{ got []string }

func (f *fakeTester) SendTest(_ context.Context, cb *delivery.Callback, typ string) (delivery.TestResult, error) {
	f.got = append(f.got, cb.ID+" "+typ)
	return delivery.TestResult{EventType: typ, MessageID: "msg_t", Attempt: store.Attempt{StatusCode: 204, Latency: 1500 * time.Microsecond, Response: "ok"}}, nil
}

func TestAPITestAndEventTypes(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	tt := &fakeTester{}
	f.a.Tester = tt
	v, _ := f.create(`{"url":"http://127.0.0.1:9/x","events":["delivery.exhausted"]}`)
	rec := f.do(http.MethodPost, hooks+"/"+v.ID+"/test", "")
	if rec.Code != 200 || rec.Body.String() != `{"event_type":"delivery.exhausted","message_id":"msg_t","delivered":true,"status_code":204,"latency_ms":1.5,"response":"ok"}`+"\n" {
		t.Fatalf("test: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(http.MethodPost, hooks+"/cfg-support-1/test", `{"event_type":"task.started"}`); rec.Code != 200 {
		t.Fatalf("static test: %d %s", rec.Code, rec.Body)
	}
	if strings.Join(tt.got, ",") != v.ID+" delivery.exhausted,cfg-support-1 task.started" {
		t.Fatalf("sent %v", tt.got)
	}
	wantError(t, f.do(http.MethodPost, hooks+"/"+v.ID+"/test", `{"event_type":"nope"}`), http.StatusBadRequest, handler.CodeBadRequest)
	wantError(t, f.do(http.MethodPost, hooks+"/wh_nope/test", ``), http.StatusNotFound, handler.CodeNotFound)

	rec = f.do(http.MethodGet, "/api/event-types", "")
	var list struct{ Data []delivery.EventType }
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list.Data) != 6 || list.Data[0].Name != "task.started" || !list.Data[3].Operational {
		t.Fatalf("event types: %d %s", rec.Code, rec.Body)
	}
	for _, et := range list.Data {
		var schema map[string]any
		if json.Unmarshal(et.Schema, &schema) != nil || schema["type"] != "object" {
			t.Fatalf("%s: schema %s", et.Name, et.Schema)
		}
	}
}
