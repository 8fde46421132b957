package shape

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler/history"
)

func mustDecode(t *testing.T, s string) any {
	t.Helper()
	v, err := Decode([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

func run(t *testing.T, stage Stage, src string, lim Limits, input string, env Env) (string, error) {
	t.Helper()
	if lim.Timeout == 0 {
		// Tests not about the deadline must not meet it on a loaded
		// machine or under the race detector.
		lim.Timeout = 5 * time.Second
	}
	p, err := Compile(stage, src, lim)
	if err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	out, err := p.Run(context.Background(), mustDecode(t, input), env)
	return string(out), err
}

func wantCode(t *testing.T, err error, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
	return e
}

func TestRunRequestVariables(t *testing.T) {
	t0 := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	env := RequestEnv{
		Chat:    Chat{ID: "c1", ConversationID: "conv", New: false},
		Caller:  Caller{ID: "basic:alice", User: "alice"},
		Headers: http.Header{"X-Trace": {"a", "b"}, "Content-Type": {"application/json"}},
		Query:   url.Values{"lang": {"fr", "de"}},
		History: []history.Turn{history.Text(history.RoleUser, "hi", t0), {Role: history.RoleAssistant, Content: json.RawMessage(`{"n":1}`)}},
	}
	out, err := run(t, Request, `{p: .prompt, chat: $chat, caller: $caller, trace: $headers["x-trace"], lang: $query.lang, history: $history}`, Limits{}, `{"prompt":"<hello> & bye"}`, env)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"caller":{"id":"basic:alice","user":"alice"},"chat":{"conversation_id":"conv","id":"c1","new":false},` +
		`"history":[{"at":"2025-05-06T07:08:09Z","content":"hi","role":"user"},{"at":null,"content":{"n":1},"role":"assistant"}],` +
		`"lang":"fr","p":"<hello> & bye","trace":"a, b"}`
	if out != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}

func TestRunAnswerAndPayload(t *testing.T) {
	task := &Task{ID: "t1", Agent: "a", ChatID: "c", Status: "STARTED", Attempts: 2, Meta: map[string]string{"userId": "u"}}
	out, err := run(t, Answer, `{answer: .output, status: $status, ct: $headers["content-type"], task: $task.id, meta: $task.meta.userId}`, Limits{},
		`{"output":"ok"}`, AnswerEnv{Status: 200, Headers: http.Header{"Content-Type": {"application/json"}}, Task: task})
	if err != nil || out != `{"answer":"ok","ct":"application/json","meta":"u","status":200,"task":"t1"}` {
		t.Errorf("answer: %s %v", out, err)
	}
	// A sync request has no task: $task is null.
	if out, err := run(t, Answer, `$task`, Limits{}, `1`, AnswerEnv{Status: 200}); err != nil || out != "null" {
		t.Errorf("sync $task: %s %v", out, err)
	}
	out, err = run(t, Payload, `{text: .result.answer, user: $task.meta.userId, chat: $chat.id}`, Limits{},
		`{"type":"task.succeeded","result":{"answer":"hi"}}`, PayloadEnv{Task: task, Chat: Chat{ID: "c"}})
	if err != nil || out != `{"chat":"c","text":"hi","user":"u"}` {
		t.Errorf("payload: %s %v", out, err)
	}
}

func TestRunKeepsNumbers(t *testing.T) {
	out, err := run(t, Request, `{id: .id, f: .f, i: .i, sum: (.i + 1)}`, Limits{}, `{"id":123456789012345678901234567890,"f":1.5,"i":9007199254740993}`, RequestEnv{})
	if err != nil || out != `{"f":1.5,"i":9007199254740993,"id":123456789012345678901234567890,"sum":9007199254740994}` {
		t.Errorf("%s %v", out, err)
	}
}

func TestRunDoesNotModifyInput(t *testing.T) {
	p := MustCompile(Request, `.a.b = 2 | .list += [3] | del(.c)`, Limits{})
	in := mustDecode(t, `{"a":{"b":1},"list":[1],"c":true}`)
	if _, err := p.Run(context.Background(), in, RequestEnv{}); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(in)
	if string(b) != `{"a":{"b":1},"c":true,"list":[1]}` {
		t.Errorf("input changed: %s", b)
	}
}

func TestRunValueCount(t *testing.T) {
	_, err := run(t, Request, `.[] | select(. > 5)`, Limits{}, `[1,2]`, RequestEnv{})
	if e := wantCode(t, err, CodeFailed); e.Message != "request expression: gave no value (one is needed)" {
		t.Errorf("message %q", e.Message)
	}
	_, err = run(t, Request, `.[]`, Limits{}, `[1,2]`, RequestEnv{})
	if e := wantCode(t, err, CodeFailed); !strings.Contains(e.Message, "more than one value") {
		t.Errorf("message %q", e.Message)
	}
	_, err = run(t, Request, `1, error("second failed")`, Limits{}, `null`, RequestEnv{})
	if e := wantCode(t, err, CodeFailed); e.Message != "request expression: error: second failed" {
		t.Errorf("message %q", e.Message)
	}
	if out, err := run(t, Request, `first(.[])`, Limits{}, `[1,2]`, RequestEnv{}); err != nil || out != "1" {
		t.Errorf("first: %s %v", out, err)
	}
}

func TestRunStageMismatch(t *testing.T) {
	p := MustCompile(Request, `.`, Limits{})
	for _, env := range []Env{nil, AnswerEnv{}, PayloadEnv{}} {
		if _, err := p.Run(context.Background(), nil, env); err == nil {
			t.Errorf("%T accepted", env)
		}
	}
}

// A body's text never reaches an error message: gojq's own messages are
// masked, and error(v) shows only the expression's literals.
func TestRunErrorsDoNotQuoteInput(t *testing.T) {
	const secret = "SECRET-4711"
	body := `{"s":"` + secret + `","n":4711,"a":["` + secret + `"],"o":{"` + secret + `":1},"re":"(` + secret + `"}`
	tests := []struct{ src, want string }{
		{`.s[]`, `cannot iterate over: string ("…")`},
		{`.n | .[]`, `cannot iterate over: number (N)`},
		{`.a | .x`, `expected an object but got: array (["…`},
		{`.o | keys[0] | error`, `error(...) was called with a value that is not one of the expression's error("…") texts`},
		{`error(.s)`, `error(...) was called`},
		{`error({x: .s})`, `error(...) was called`},
		{`.s | tonumber`, `tonumber cannot be applied to "…": `},
		{`.s | fromjson`, ``},
		{`.s | ascii_downcase | .foo`, `expected an object but got: string ("…")`},
		{`.a[0] as $k | .o[$k] | .[]`, `cannot iterate over: number (N)`},
		{`.re as $r | .s | test($r)`, ``},
		{`.s | strptime("%Y")`, `strptime("…") cannot be applied to "…"`},
		{`.o + .a`, ``},
		{`.s - 1`, ``},
		{`[.s] | implode`, ``},
		{`.s | @base64d | tonumber`, ``},
	}
	for _, tt := range tests {
		_, err := run(t, Request, tt.src, Limits{}, body, RequestEnv{})
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeFailed {
			t.Errorf("%s: %v, want %s", tt.src, err, CodeFailed)
			continue
		}
		if strings.Contains(e.Message, secret) || strings.Contains(e.Message, "4711") || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: message quotes the input: %q", tt.src, e.Message)
		}
		if !strings.Contains(e.Message, tt.want) {
			t.Errorf("%s: message %q, want it to hold %q", tt.src, e.Message, tt.want)
		}
	}
}

func TestRunTimeout(t *testing.T) {
	lim := Limits{Timeout: 30 * time.Millisecond}
	start := time.Now()
	_, err := run(t, Request, `reduce range(1e15) as $i (0; . + 1)`, lim, `null`, RequestEnv{})
	e := wantCode(t, err, CodeTimeout)
	if !errors.Is(err, context.DeadlineExceeded) || e.Message != "request expression: ran out of its 30ms" {
		t.Errorf("%v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	// One long operation (a sort of a million values, which gojq does
	// without looking at the context) is not waited for: Run returns well
	// before the same sort does without a limit. Both run on the same
	// (possibly busy) machine, so the comparison holds where a fixed bound
	// would not.
	big := make([]any, 1_000_000)
	for i := range big {
		big[i] = len(big) - i
	}
	start = time.Now()
	if _, err := MustCompile(Request, `sort | length`, Limits{Timeout: time.Minute}).Run(context.Background(), big, RequestEnv{}); err != nil {
		t.Fatal(err)
	}
	whole := time.Since(start)
	start = time.Now()
	_, err = MustCompile(Request, `sort | length`, Limits{Timeout: 5 * time.Millisecond}).Run(context.Background(), big, RequestEnv{})
	wantCode(t, err, CodeTimeout)
	if d := time.Since(start); d > whole/2 {
		t.Errorf("took %v, the whole sort %v", d, whole)
	}
	// The caller's context counts too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = MustCompile(Request, `reduce range(1e15) as $i (0; . + 1)`, Limits{}).Run(ctx, nil, RequestEnv{})
	if e := wantCode(t, err, CodeTimeout); !errors.Is(err, context.Canceled) || !strings.Contains(e.Message, "canceled") {
		t.Errorf("%v", err)
	}
}

func TestRunOutputBounds(t *testing.T) {
	lim := Limits{MaxOutput: 100}
	if out, err := run(t, Request, `"x" * 98`, lim, `null`, RequestEnv{}); err != nil || len(out) != 100 {
		t.Errorf("exactly at the bound: %d %v", len(out), err)
	}
	for _, src := range []string{`"x" * 99`, `[range(50)]`, `{a: ("\n" * 49)}`, `[range(100)] | map(tostring) | join("")`} {
		_, err := run(t, Request, src, lim, `null`, RequestEnv{})
		wantCode(t, err, CodeTooLarge)
	}
	_, err := run(t, Request, `"x" * 2000000`, Limits{}, `null`, RequestEnv{})
	if e := wantCode(t, err, CodeTooLarge); e.Message != "request expression: the output is over 1048576 bytes" {
		t.Errorf("message %q", e.Message)
	}
	if _, err := run(t, Request, `reduce range(1000) as $i (null; [.])`, Limits{}, `null`, RequestEnv{}); err != nil {
		t.Errorf("1000 levels: %v", err)
	}
	_, err = run(t, Request, `reduce range(1001) as $i (null; {a: .})`, Limits{}, `null`, RequestEnv{})
	wantCode(t, err, CodeTooLarge)
}

func TestRunNotJSON(t *testing.T) {
	for _, src := range []string{`nan`, `infinite`, `-infinite`, `[1, {a: nan}]`, `1e1000`, `.big * 10`} {
		_, err := run(t, Request, src, Limits{}, `{"big":1e308}`, RequestEnv{})
		wantCode(t, err, CodeNotJSON)
	}
	// An input number beyond float64 is refused on the way out, not lost.
	_, err := run(t, Request, `.`, Limits{}, `1e400`, RequestEnv{})
	wantCode(t, err, CodeNotJSON)
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{`cannot iterate over: string ("abc")`, `cannot iterate over: string ("…")`},
		{`cannot iterate over: string ("a\"b")`, `cannot iterate over: string ("…")`},
		{`expected an object but got: array (["abcdefghijklmnopqrstuvwx ...])`, `expected an object but got: array (["…"`},
		{`log10 cannot be applied to: number (-12.5e+3)`, `log10 cannot be applied to: number (-N)`},
		{"test(`(x`) failed", "test(`…`) failed"},
		{`invalid character 'x' looking for value`, `invalid character '…' looking for value`},
		{`don't 5`, `don't N`},
		{strings.Repeat("é", 300), strings.Repeat("é", 98) + "…"},
	}
	for _, tt := range tests {
		if got := mask(tt.in); got != tt.want {
			t.Errorf("mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestBodyAndDecode(t *testing.T) {
	tests := []struct {
		body, ct string
		want     any
	}{
		{`{"a":1}`, "application/json", map[string]any{"a": 1}},
		{`{"a":1}`, "", map[string]any{"a": 1}},
		{`"s"`, "application/problem+json; charset=utf-8", "s"},
		{`{"a":1}`, "text/plain", `{"a":1}`},
		{`hello`, "application/json", "hello"},
		{``, "application/json", nil},
		{"data: x\n\n", "text/event-stream", "data: x\n\n"},
	}
	for _, tt := range tests {
		got, _ := json.Marshal(Body([]byte(tt.body), tt.ct))
		want, _ := json.Marshal(tt.want)
		if string(got) != string(want) {
			t.Errorf("Body(%q, %q) = %s, want %s", tt.body, tt.ct, got, want)
		}
	}
	for _, bad := range []string{``, `{`, `1 2`, `{"a":1}x`} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) took it", bad)
		}
	}
}

func TestEncode(t *testing.T) {
	v := map[string]any{"b": "<&>\u2028\x01\"\\\t\n\r", "a": []any{nil, true, 1.5e-9, 3.0, "\xff"}}
	out, err := encode(v, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":[null,true,1.5e-9,3,"` + "\ufffd" + `"],"b":"<&>\u2028\u0001\"\\\t\n\r"}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if !json.Valid(out) {
		t.Error("not valid JSON")
	}
	if _, err := encode(struct{}{}, 1000); err == nil || err.code != CodeNotJSON {
		t.Errorf("a Go struct: %v", err)
	}
}
