package shape

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler/history"
)

// sentinel prefixes every string of a fuzzed input: an error message that
// holds it quotes the input.
const sentinel = "QZXJ"

// bomb reports expressions that allocate beyond any bound within a few
// operations: the deadline cannot stop a single operation (documented in
// doc.go), and the fuzzer would only rediscover that while exhausting the
// machine's memory. Everything else is fair game.
func bomb(expr string) bool {
	if strings.ContainsAny(expr, "*") || strings.Contains(expr, "setpath") || strings.Count(expr, "+") > 6 {
		return true
	}
	// Assignments build arrays up to an index (.[1e8] = 1).
	s := strings.NewReplacer("==", "", "!=", "", "<=", "", ">=", "").Replace(expr)
	if strings.Contains(s, "=") {
		return true
	}
	// Concatenation inside a loop doubles per step.
	if strings.Contains(expr, "+") || strings.Contains(expr, "add") || strings.Contains(expr, "join") || strings.Contains(expr, "\\(") {
		for _, loop := range []string{"reduce", "foreach", "recurse", "repeat", "while", "until", "def", "walk", "..", "label", "limit", "range", "getpath", "paths"} {
			if strings.Contains(expr, loop) {
				return true
			}
		}
	}
	return false
}

func mark(v any) any {
	switch v := v.(type) {
	case string:
		return sentinel + v
	case []any:
		for i, x := range v {
			v[i] = mark(x)
		}
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[sentinel+k] = mark(x)
		}
		return m
	}
	return v
}

func FuzzRun(f *testing.F) {
	for _, seed := range []struct{ expr, input string }{
		{`.`, `{"a":1}`},
		{`{model: "m", messages: ([$history[] | {role, content}] + [{role: "user", content: (first(.prompt, .text | strings) // tojson)}])}`, `{"prompt":"hi"}`},
		{`{answer: .choices[0].message.content, usage}`, `{"choices":[{"message":{"content":"x"}}],"usage":{"total_tokens":3}}`},
		{`.[] | .x`, `[1,"a",null,{"x":2}]`},
		{`error(.a)`, `{"a":"b"}`},
		{`to_entries | map(.key) | sort`, `{"b":1,"a":[2]}`},
		{`[paths] | length`, `{"a":{"b":[1,2,{"c":null}]}}`},
		{`tostring | test("a.+"; "x")`, `"aaa"`},
		{`.a as [$x, {b: $y}] | [$y, $x]`, `{"a":[1,{"b":2}]}`},
		{`try error("no") catch .`, `null`},
		{`$headers | keys`, `1`},
		{`@base64d`, `"aGk="`},
		{`tonumber`, `"1e999"`},
		{`[limit(3; repeat(.))]`, `0`},
		{`getpath(["a", 0, "b"])`, `{"a":[{"b":1}]}`},
		{`ltrimstr("x") | splits(", *")`, `"xa, b"`},
		{`fromjson`, `"[1,{\"a\":nan}]"`},
		{`nan < 1, infinite`, `null`},
		{`[.[] | numbers] | min`, `[3, 1.5, 9007199254740993]`},
	} {
		f.Add(seed.expr, []byte(seed.input))
	}
	lim := Limits{Timeout: 50 * time.Millisecond, MaxOutput: 64 << 10}
	env := RequestEnv{
		Chat:    Chat{ID: sentinel + "chat"},
		Caller:  Caller{ID: sentinel + "caller"},
		Headers: http.Header{"X-S": {sentinel + "header"}},
		History: []history.Turn{history.Text(history.RoleUser, sentinel+"turn", time.Time{})},
	}
	f.Fuzz(func(t *testing.T, expr string, input []byte) {
		if len(expr) > 100 || len(input) > 1024 || strings.Contains(expr, sentinel) || bomb(expr) {
			return
		}
		in, err := Decode(input)
		if err != nil {
			return
		}
		p, err := Compile(Request, expr, lim)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "jq: ") {
				t.Fatalf("compile error without its prefix: %v", err)
			}
			return
		}
		start := time.Now()
		out, err := p.Run(context.Background(), mark(in), env)
		// Run must give up at its deadline; the margin is for a busy
		// machine, where the fuzzer's own workers compete for the CPU.
		if d := time.Since(start); d > lim.Timeout+10*time.Second {
			t.Fatalf("%q ran %v", expr, d)
		}
		if err == nil {
			if len(out) > lim.MaxOutput || !json.Valid(out) {
				t.Fatalf("%q gave %d bytes of invalid or oversize JSON", expr, len(out))
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%q: error of type %T: %v", expr, err, err)
		}
		if e.panicked {
			t.Fatalf("%q: gojq panicked", expr)
		}
		switch e.Code {
		case CodeFailed, CodeTimeout, CodeTooLarge, CodeNotJSON:
		default:
			t.Fatalf("%q: unknown code %q", expr, e.Code)
		}
		if strings.Contains(e.Error(), sentinel) {
			t.Fatalf("%q: the message quotes the input: %q", expr, e.Message)
		}
	})
}
