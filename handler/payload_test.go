package handler

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/store"
)

func TestResultJSON(t *testing.T) {
	tests := []struct {
		name string
		r    *store.Result
		want string
	}{
		{"nil", nil, `null`},
		{"empty body", &store.Result{StatusCode: 204, ContentType: "application/json"}, `null`},
		{"JSON object", &store.Result{ContentType: "application/json", Body: []byte(`{"a":1}`)}, `{"a":1}`},
		{"JSON with charset", &store.Result{ContentType: "application/json; charset=utf-8", Body: []byte(`[1,2]`)}, `[1,2]`},
		{"problem+json", &store.Result{ContentType: "application/problem+json", Body: []byte(`{"title":"x"}`)}, `{"title":"x"}`},
		{"JSON trimmed", &store.Result{ContentType: "application/json", Body: []byte(" \n{\"a\":1}\n ")}, `{"a":1}`},
		{"JSON without a content type", &store.Result{Body: []byte(`{"a":true}`)}, `{"a":true}`},
		{"JSON string value", &store.Result{ContentType: "application/json", Body: []byte(`"hi"`)}, `"hi"`},
		{"JSON typed, invalid", &store.Result{ContentType: "application/json", Body: []byte(`{"a":`)}, `"{\"a\":"`},
		{"plain text", &store.Result{ContentType: "text/plain", Body: []byte("hello <b>")}, `"hello <b>"`},
		{"JSON as text/plain", &store.Result{ContentType: "text/plain", Body: []byte(`{"a":1}`)}, `"{\"a\":1}"`},
		{"JSON as text/html", &store.Result{ContentType: "text/html", Body: []byte(`[1]`)}, `"[1]"`},
		{"untyped text", &store.Result{Body: []byte("plain words")}, `"plain words"`},
		{"bad content type", &store.Result{ContentType: ";;;", Body: []byte(`{"a":1}`)}, `"{\"a\":1}"`},
		{"invalid UTF-8", &store.Result{ContentType: "application/octet-stream", Body: []byte{0xff, 'a'}}, `"\ufffda"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resultJSON(tt.r)
			if !json.Valid(got) {
				t.Fatalf("resultJSON = %s, not JSON", got)
			}
			var g, w any
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal([]byte(tt.want), &w)
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			if string(gb) != string(wb) {
				t.Fatalf("resultJSON = %s, want %s", got, tt.want)
			}
		})
	}
	// Plain text keeps leading and trailing space; only JSON is trimmed.
	if got := resultJSON(&store.Result{ContentType: "text/plain", Body: []byte(" x \n")}); string(got) != `" x \n"` {
		t.Fatalf("text result = %s", got)
	}
}

func payloadTask() *store.Task {
	return &store.Task{
		ID: "task_1", Agent: "agent-a", ChatID: "chat_1", Status: store.TaskSuccess,
		Meta: map[string]string{"format": "cognigy", "userId": "u-1", "sessionId": "s-1"},
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payload %s is not a JSON object: %v", b, err)
	}
	return m
}

func TestRenderRawSucceeded(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600))
	r := &store.Result{StatusCode: 201, ContentType: "application/json", Body: []byte(`{"answer":"42"}`)}
	b, err := renderPayload(FormatRaw, payloadTask(), store.TaskSuccess, r, "", now)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, b)
	want := map[string]any{
		"type": "task.succeeded", "task_id": "task_1", "agent": "agent-a", "chat_id": "chat_1",
		"status": "SUCCESS", "backend_status": float64(201), "timestamp": "2030-01-02T02:04:05.0000006Z",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if res, ok := m["result"].(map[string]any); !ok || res["answer"] != "42" {
		t.Errorf("result = %#v, want the backend's JSON", m["result"])
	}
	if _, ok := m["error"]; ok {
		t.Errorf("a success has an error field: %s", b)
	}
	if len(m) != len(want)+1 {
		t.Errorf("unexpected fields in %s", b)
	}
}

func TestRenderRawFailed(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := renderPayload(FormatRaw, payloadTask(), store.TaskFailure, nil, "the agent backend could not be reached (after 3 attempts)", now)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, b)
	if m["type"] != "task.failed" || m["status"] != "FAILURE" || m["error"] != "the agent backend could not be reached (after 3 attempts)" {
		t.Fatalf("payload %s", b)
	}
	if v, ok := m["result"]; !ok || v != nil {
		t.Fatalf("result = %#v, want null", v)
	}
	if _, ok := m["backend_status"]; ok {
		t.Fatalf("a failure without an answer has backend_status: %s", b)
	}
	// A failure with an answer (a 4xx) keeps it.
	r := &store.Result{StatusCode: 422, ContentType: "text/plain", Body: []byte("nope")}
	b, _ = renderPayload(FormatRaw, payloadTask(), store.TaskFailure, r, "the agent backend answered 422 Unprocessable Entity", now)
	m = decode(t, b)
	if m["result"] != "nope" || m["backend_status"] != float64(422) || m["type"] != "task.failed" {
		t.Fatalf("payload %s", b)
	}
}

func TestCognigyOutput(t *testing.T) {
	tests := []struct {
		name     string
		ct, body string
		text     string
		data     string
	}{
		{"text field", "application/json", `{"text":"hello","data":{"k":1}}`, "hello", `{"k":1}`},
		{"answer field", "application/json", `{"answer":"a"}`, "a", `{}`},
		{"output field", "application/json", `{"output":"o"}`, "o", `{}`},
		{"response field", "application/json", `{"response":"r"}`, "r", `{}`},
		{"message field", "application/json", `{"message":"m"}`, "m", `{}`},
		{"content field", "application/json", `{"content":"c"}`, "c", `{}`},
		{"order: text first", "application/json", `{"content":"c","message":"m","response":"r","output":"o","answer":"a","text":"t"}`, "t", `{}`},
		{"order: answer before output", "application/json", `{"output":"o","answer":"a"}`, "a", `{}`},
		{"order: message before content", "application/json", `{"content":"c","message":"m"}`, "m", `{}`},
		{"non-string fields skipped", "application/json", `{"text":5,"answer":[],"output":{"x":1},"response":"r"}`, "r", `{}`},
		{"empty string counts", "application/json", `{"text":"","answer":"a"}`, "", `{}`},
		{"no known field", "application/json", `{"foo":"bar"}`, "", `{}`},
		{"data not an object", "application/json", `{"text":"t","data":[1,2]}`, "t", `{}`},
		{"data a string", "application/json", `{"text":"t","data":"x"}`, "t", `{}`},
		{"data null", "application/json", `{"text":"t","data":null}`, "t", `{}`},
		{"nested data kept", "application/json", `{"data":{"a":{"b":[1]}}}`, "", `{"a":{"b":[1]}}`},
		{"JSON string", "application/json", `"just words"`, "just words", `{}`},
		{"JSON string, untyped", "", ` "spaced" `, "spaced", `{}`},
		{"JSON array", "application/json", `[1,2]`, "[1,2]", `{}`},
		{"JSON number", "application/json", `42`, "42", `{}`},
		{"plain text", "text/plain", "Hi there", "Hi there", `{}`},
		{"plain text kept as is", "text/plain", " Hi\n", " Hi\n", `{}`},
		{"empty", "application/json", "", "", `{}`},
		{"blank", "text/plain", "  \n", "", `{}`},
		{"JSON object as text/plain", "text/plain", `{"text":"still read"}`, "still read", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &store.Result{StatusCode: 200, ContentType: tt.ct, Body: []byte(tt.body)}
			text, data := cognigyOutput(payloadTask(), store.TaskSuccess, r, "")
			if text != tt.text || !jsonEqual(t, data, tt.data) {
				t.Fatalf("cognigyOutput = %q, %s; want %q, %s", text, data, tt.text, tt.data)
			}
		})
	}
	if text, data := cognigyOutput(payloadTask(), store.TaskSuccess, nil, ""); text != "" || string(data) != "{}" {
		t.Fatalf("no result: %q, %s", text, data)
	}
}

// TestCognigyOutputNullField: a null field is not a string field, so
// the next one in the list gives the text. jsonString (cognigy.go)
// unmarshals JSON null into "" and reports ok.
func TestCognigyOutputNullField(t *testing.T) {
	r := &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"text":null,"answer":"from answer"}`)}
	if text, _ := cognigyOutput(payloadTask(), store.TaskSuccess, r, ""); text != "from answer" {
		t.Fatalf("text = %q, want \"from answer\"", text)
	}
}

func jsonEqual(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s is not JSON: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

func TestRenderCognigy(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	task := payloadTask()
	r := &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"answer":"Hello","data":{"intent":"greet"}}`)}
	b, err := renderPayload(FormatCognigy, task, store.TaskSuccess, r, "", now)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		UserID    string         `json:"userId"`
		SessionID string         `json:"sessionId"`
		AIOutput  map[string]any `json:"AIOutput"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.UserID != "u-1" || p.SessionID != "s-1" {
		t.Fatalf("ids %q, %q", p.UserID, p.SessionID)
	}
	out := p.AIOutput
	if out["text"] != "Hello" || out["traceId"] != "agenthook-task_1" || out["source"] != "bot" || out["disableSensitiveLogging"] != false {
		t.Fatalf("AIOutput = %v", out)
	}
	if d, ok := out["data"].(map[string]any); !ok || d["intent"] != "greet" {
		t.Fatalf("AIOutput.data = %#v", out["data"])
	}
	if len(out) != 5 || len(decode(t, b)) != 3 {
		t.Fatalf("unexpected fields in %s", b)
	}

	// Failure shape, with the sensitive flag carried over.
	task.Sensitive = true
	b, _ = renderPayload(FormatCognigy, task, store.TaskFailure, &store.Result{StatusCode: 500, Body: []byte(`{"text":"ignored"}`)}, "the agent backend answered 500 Internal Server Error", now)
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	out = p.AIOutput
	if out["text"] != "" || out["disableSensitiveLogging"] != true || out["source"] != "bot" {
		t.Fatalf("failure AIOutput = %v", out)
	}
	d, _ := out["data"].(map[string]any)
	if d["error"] != "the agent backend answered 500 Internal Server Error" || d["status"] != "FAILURE" || len(d) != 2 {
		t.Fatalf("failure data = %#v", out["data"])
	}

	// No meta: empty ids rather than a crash.
	b, err = renderPayload(FormatCognigy, &store.Task{ID: "t"}, store.TaskSuccess, nil, "", now)
	if err != nil || !strings.Contains(string(b), `"userId":""`) {
		t.Fatalf("payload without meta: %s, %v", b, err)
	}
}

// fakeCallbacks is a Callbacks with a fixed list.
type fakeCallbacks struct {
	list []*Callback
	err  error
}

func (f *fakeCallbacks) Active(context.Context, *Agent) ([]*Callback, error) { return f.list, f.err }
func (f *fakeCallbacks) Lookup(_ context.Context, _ *Agent, id string) (*Callback, error) {
	for _, cb := range f.list {
		if cb.ID == id {
			return cb, nil
		}
	}
	return nil, ErrCallbackGone
}

func TestOutboxFor(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	agent := &Agent{Name: "agent-a"}
	task := payloadTask()
	r := &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"text":"hi"}`)}
	cbs := &fakeCallbacks{list: []*Callback{
		{ID: "cfg-agent-a-0", Format: FormatRaw},
		{ID: "cfg-agent-a-1", Format: FormatCognigy, Ordered: true},
		{ID: "wh_1", Format: FormatRaw, Ordered: true},
		{ID: "wh_2", Format: FormatCognigy},
		{ID: "wh_3", Format: ""},
	}}
	ds, err := outboxFor(ctx, cbs, agent, task, store.TaskSuccess, r, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(cbs.list) {
		t.Fatalf("%d deliveries for %d callbacks", len(ds), len(cbs.list))
	}
	seen := map[string]bool{}
	for i, d := range ds {
		cb := cbs.list[i]
		if d.CallbackID != cb.ID || d.TaskID != task.ID || d.Agent != task.Agent || d.ChatID != task.ChatID || d.EventType != EventTaskSucceeded {
			t.Errorf("delivery %d = %+v", i, d)
		}
		if !strings.HasPrefix(d.ID, "msg_") || seen[d.ID] || strings.Contains(d.ID, ".") {
			t.Errorf("delivery id %q: want a fresh msg_ id without '.'", d.ID)
		}
		seen[d.ID] = true
		wantKey := ""
		if cb.Ordered {
			wantKey = cb.ID + "/" + task.ChatID
		}
		if d.OrderKey != wantKey {
			t.Errorf("delivery to %s: OrderKey %q, want %q", cb.ID, d.OrderKey, wantKey)
		}
		if d.Status != "" || !d.NextAttemptAt.IsZero() {
			t.Errorf("delivery %d has a status or time set: the store assigns them", i)
		}
	}
	// One rendering per format: deliveries of one format share the bytes.
	same := func(a, b []byte) bool { return len(a) > 0 && len(b) > 0 && &a[0] == &b[0] }
	if !same(ds[0].Payload, ds[2].Payload) || !same(ds[0].Payload, ds[4].Payload) {
		t.Errorf("raw payloads were rendered more than once")
	}
	if !same(ds[1].Payload, ds[3].Payload) {
		t.Errorf("cognigy payloads were rendered more than once")
	}
	if same(ds[0].Payload, ds[1].Payload) {
		t.Errorf("raw and cognigy share a payload")
	}
	if m := decode(t, ds[0].Payload); m["type"] != "task.succeeded" {
		t.Errorf("raw payload %s", ds[0].Payload)
	}
	if m := decode(t, ds[1].Payload); m["AIOutput"] == nil {
		t.Errorf("cognigy payload %s", ds[1].Payload)
	}

	// Failure: task.failed events.
	ds, _ = outboxFor(ctx, cbs, agent, task, store.TaskFailure, nil, "boom", now)
	for _, d := range ds {
		if d.EventType != EventTaskFailed {
			t.Fatalf("failure delivery event %q", d.EventType)
		}
	}

	// No callbacks, no registry, or a registry error.
	if ds, err := outboxFor(ctx, nil, agent, task, store.TaskSuccess, r, "", now); ds != nil || err != nil {
		t.Fatalf("nil Callbacks: %v, %v", ds, err)
	}
	if ds, err := outboxFor(ctx, &fakeCallbacks{}, agent, task, store.TaskSuccess, r, "", now); len(ds) != 0 || err != nil {
		t.Fatalf("no callbacks: %v, %v", ds, err)
	}
	boom := errors.New("store down")
	if _, err := outboxFor(ctx, &fakeCallbacks{err: boom}, agent, task, store.TaskSuccess, r, "", now); !errors.Is(err, boom) {
		t.Fatalf("registry error: %v", err)
	}
}

// TestRegistryActive checks the fan-out list: static callbacks unless
// disabled, plus active registrations of the agent only.
func TestRegistryActive(t *testing.T) {
	f := newDispFixture(t, DispatcherConfig{})
	a := f.static(nil)
	b := f.static(nil)
	active := f.registered(StatusActive)
	f.registered(StatusInactive)
	disabled := f.registered(StatusActive)
	disabled.Status = StatusDisabled
	if err := f.st.UpdateRegistration(f.ctx, disabled); err != nil {
		t.Fatal(err)
	}
	other := f.registered(StatusActive)
	other.Agent = "agent-b"
	if err := f.st.UpdateRegistration(f.ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SaveCallbackState(f.ctx, &store.CallbackState{ID: b.ID, Agent: "agent-a", Disabled: true, Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	f.reg.Invalidate()
	list, err := f.reg.Active(f.ctx, f.agent)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cb := range list {
		got = append(got, cb.ID)
	}
	if strings.Join(got, ",") != a.ID+","+active.ID {
		t.Fatalf("Active = %v, want [%s %s]", got, a.ID, active.ID)
	}
	if list[1].Signer == nil || list[1].Format != FormatRaw || !list[1].Registered() {
		t.Fatalf("registered callback %+v: want a signer and the raw format", list[1])
	}
	// The cache: a registration created behind its back shows up after
	// Refresh, or at once through Lookup.
	late := &store.Registration{ID: "wh_late", Agent: "agent-a", URL: "http://x", Method: "POST", Status: StatusActive, Secret: active.Secret}
	if err := f.st.CreateRegistration(f.ctx, late); err != nil {
		t.Fatal(err)
	}
	if list, _ := f.reg.Active(f.ctx, f.agent); len(list) != 2 {
		t.Fatalf("Active saw a new registration before the refresh")
	}
	if cb, err := f.reg.Lookup(f.ctx, f.agent, "wh_late"); err != nil || cb.ID != "wh_late" {
		t.Fatalf("Lookup(wh_late) = %v, %v", cb, err)
	}
	f.clock.Advance(3 * time.Second)
	if list, _ := f.reg.Active(f.ctx, f.agent); len(list) != 3 {
		t.Fatalf("Active after the refresh has %d, want 3", len(list))
	}
}
