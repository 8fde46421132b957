package adapter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/handler/shape"
)

// nativePair is one preset expression compiled twice: as the preset
// compiles it (its native first) and on jq alone.
type nativePair struct {
	name       string
	fast, slow *shape.Program
	native     shape.Native
}

// nativePairs are every expression of the built-in presets, in the
// options that change their text.
func nativePairs(t testing.TB) []nativePair {
	lim := shape.Limits{Timeout: 5 * time.Second, MaxOutput: 1 << 16}
	var out []nativePair
	for _, p := range []Preset{
		must(OpenAI(OpenAIOptions{Model: "m"})),
		must(OpenAI(OpenAIOptions{Model: "gpt \"4\"", System: "Be brief.\n\\(x)"})),
		must(OpenAI(OpenAIOptions{Model: "m", System: "s", History: 4})),
		must(OpenAI(OpenAIOptions{Model: "m", History: 2, Stream: true})),
		must(LangServe(LangServeOptions{Path: "/chain"})),
	} {
		a, err := p.Compile(lim)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range []struct {
			what  string
			prog  *shape.Program
			stage shape.Stage
		}{
			{"request", a.Request, shape.Request}, {"answer", a.Answer, shape.Answer},
			{"message", a.Message, shape.Request}, {"reply", a.Reply, shape.Answer},
		} {
			if !e.prog.HasNative() {
				t.Fatalf("%s %s: compiled without its native", p.Name, e.what)
			}
			slow, err := shape.Compile(e.stage, e.prog.String(), lim)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, nativePair{
				name: fmt.Sprintf("%s(%s) %s", p.Name, p.Request[len(p.Request)-20:], e.what),
				fast: e.prog, slow: slow, native: p.natives[e.prog.String()],
			})
		}
	}
	return out
}

// envFor is the stage's env with the given history.
func envFor(stage shape.Stage, past []history.Turn) shape.Env {
	if stage.Name() == shape.Request.Name() {
		return shape.RequestEnv{History: past}
	}
	return shape.AnswerEnv{Status: 200}
}

// sameAsJQ runs both programs of each pair on input and fails where they
// differ in output or error.
func sameAsJQ(t *testing.T, pairs []nativePair, input any, past []history.Turn) {
	t.Helper()
	ctx := context.Background()
	for _, p := range pairs {
		env := envFor(p.fast.Stage(), past)
		fast, ferr := p.fast.Run(ctx, input, env)
		slow, serr := p.slow.Run(ctx, input, env)
		if fmt.Sprint(ferr) != fmt.Sprint(serr) || string(fast) != string(slow) {
			t.Fatalf("%s on %#v: native %s (%v), jq %s (%v)", p.name, input, fast, ferr, slow, serr)
		}
	}
}

var nativeHistories = [][]history.Turn{
	nil,
	{history.Text(history.RoleUser, "q", time.Time{}), history.Text(history.RoleAssistant, "a \u00e9 \"<&>\"", time.Time{})},
	{{Role: history.RoleAssistant, Content: []byte(`{"a":[1,2.5,"x"]}`)}},
	{{Role: history.RoleUser, Content: []byte(`not json`)}, {Role: history.RoleUser, Content: []byte(`12345678901234567890123`)}},
	{{Role: history.RoleUser, Content: []byte("\"\xff\"")}, {Role: "", Content: []byte(`null`)}},
}

// TestNativeMatchesJQ holds every native to its jq expression on the
// bodies callers and backends send, and on the odd ones that jq alone
// handles (where the native must step aside).
func TestNativeMatchesJQ(t *testing.T) {
	pairs := nativePairs(t)
	bodies := []struct{ body, ct string }{
		{`{"prompt":"Where is my order?"}`, "application/json"},
		{`{"question":"q","prompt":""}`, ""},
		{`{"prompt":5,"text":"t","message":"m"}`, "application/json"},
		{`{"query":"last","input":""}`, "application/json"},
		{`{"userId":"u","sessionId":"s","data":{}}`, "application/json"},
		{`{"event":"x","n":[1,2,1e400]}`, "application/json"},
		{`"just text"`, "application/json"},
		{`""`, "application/json"},
		{`plain words`, "text/plain"},
		{``, "application/json"},
		{`null`, "application/json"},
		{`[1,2]`, "application/json"},
		{"\x00\xff", "application/octet-stream"},
		{`{"choices":[{"message":{"role":"assistant","content":"ships today"},"finish_reason":"stop"}],"model":"m","usage":{"prompt_tokens":20,"completion_tokens":6,"total_tokens":26}}`, "application/json"},
		{`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c"}]},"finish_reason":"tool_calls"}]}`, "application/json"},
		{`{"choices":[],"model":12345678901234567890123}`, "application/json"},
		{`{"choices":null}`, "application/json"},
		{`{"choices":[null]}`, "application/json"},
		{`{"choices":[{"message":null}]}`, "application/json"},
		{`{"choices":[{"message":"x"}]}`, "application/json"},
		{`{"choices":"x"}`, "application/json"},
		{`{"choices":[1]}`, "application/json"},
		{`{"usage":{"total_tokens":1.5e3}}`, "application/json"},
		{`{"usage":1e400}`, "application/json"},
		{`{"answer":"a","text":"t"}`, "application/json"},
		{`{"answer":{"x":1}}`, "application/json"},
		{`{"output":{"content":"c","type":"ai"},"metadata":{"run_id":"r"}}`, "application/json"},
		{`{"output":{"content":7},"metadata":null}`, "application/json"},
		{`{"output":"o","metadata":"m"}`, "application/json"},
		{`{"output":["o"],"metadata":{}}`, "application/json"},
		{`{"output":{"content":"c"},"metadata":[1]}`, "application/json"},
	}
	for _, b := range bodies {
		for _, past := range nativeHistories {
			sameAsJQ(t, pairs, shape.Body([]byte(b.body), b.ct), past)
		}
	}
}

// TestNativeTakesTheCommonCase: the natives are not just never wrong but
// in use. Each takes the bodies it was written for, which is what makes
// a shaped exchange cost a third of jq's (BenchmarkOpenAIExchange).
func TestNativeTakesTheCommonCase(t *testing.T) {
	caller := shape.Body([]byte(`{"prompt":"Where is my order?"}`), "application/json")
	completion := shape.Body([]byte(`{"choices":[{"message":{"content":"c"},"finish_reason":"stop"}],"model":"m","usage":{"total_tokens":3}}`), "application/json")
	langserve := shape.Body([]byte(`{"output":{"content":"c"},"metadata":{"run_id":"r"}}`), "application/json")
	past := []history.Turn{history.Text(history.RoleUser, "q", time.Time{}), history.Text(history.RoleAssistant, "a", time.Time{})}
	for _, p := range nativePairs(t) {
		input := caller
		switch {
		case p.fast.Stage().Name() == shape.Request.Name():
		case p.name[:9] == "langserve" && p.fast.String() != ".answer":
			input = langserve
		default:
			input = completion
		}
		if _, ok := p.native(input, envFor(p.fast.Stage(), past)); !ok {
			t.Errorf("%s: the native stepped aside on its common case", p.name)
		}
	}
	// And a changed expression never keeps a native made for another.
	p := must(OpenAI(OpenAIOptions{Model: "m"}))
	p.Request += " | .model = \"other\""
	a, err := p.Compile(shape.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Request.HasNative() {
		t.Fatal("a changed request expression kept the preset's native")
	}
	out := runProg(t, a.Request, caller, shape.RequestEnv{})
	if out != `{"messages":[{"content":"Where is my order?","role":"user"}],"model":"other"}` {
		t.Fatalf("changed expression: %s", out)
	}
}

// FuzzNative: for any caller body, backend answer and kept turn, every
// preset expression gives the same with its native as on jq alone.
func FuzzNative(f *testing.F) {
	f.Add([]byte(`{"prompt":"hi"}`), "application/json", []byte(`{"choices":[{"message":{"content":"x"},"finish_reason":"stop"}],"usage":{"total_tokens":3},"model":"m"}`), []byte(`"q"`))
	f.Add([]byte(`{"text":"","query":"q"}`), "", []byte(`{"output":{"content":"c"},"metadata":{"run_id":"r"}}`), []byte(`{"a":1}`))
	f.Add([]byte(`"s"`), "text/plain", []byte(`{"choices":[null],"answer":2}`), []byte("\xff"))
	f.Add([]byte(``), "application/json", []byte(`{"choices":[{"message":[]}]}`), []byte(`1e400`))
	pairs := nativePairs(f)
	f.Fuzz(func(t *testing.T, body []byte, ct string, answer []byte, turn []byte) {
		if len(body) > 4096 || len(answer) > 4096 || len(turn) > 1024 || len(ct) > 100 {
			return
		}
		past := []history.Turn{history.Text(history.RoleUser, "q", time.Time{}), {Role: history.RoleAssistant, Content: turn}}
		for _, in := range [][]byte{body, answer} {
			sameAsJQ(t, pairs, shape.Body(in, ct), past)
		}
	})
}
