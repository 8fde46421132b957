package shape

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestNative: Run takes a native's output where it says yes, under the
// program's output bound and stage check, and jq's where it steps aside.
func TestNative(t *testing.T) {
	p, err := Compile(Answer, `{answer: .x}`, Limits{Timeout: 5 * time.Second, MaxOutput: 64})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	fast := p.WithNative(func(input any, _ Env) (any, bool) {
		calls++
		m, ok := input.(map[string]any)
		if !ok {
			return nil, false
		}
		return map[string]any{"answer": m["x"], "by": "native"}, true
	})
	if p.HasNative() || !fast.HasNative() || fast.String() != p.String() {
		t.Fatal("WithNative must copy the program, not change it")
	}
	ctx := context.Background()
	out, err := fast.Run(ctx, mustDecode(t, `{"x":1}`), AnswerEnv{})
	if err != nil || string(out) != `{"answer":1,"by":"native"}` || calls != 1 {
		t.Fatalf("native run: %s, %v, %d calls", out, err, calls)
	}
	// Stepping aside: jq runs, and gives jq's answer and jq's errors.
	if out, err = fast.Run(ctx, nil, AnswerEnv{}); err != nil || string(out) != `{"answer":null}` {
		t.Fatalf("jq after the native stepped aside: %s, %v", out, err)
	}
	_, err = fast.Run(ctx, "text", AnswerEnv{})
	wantCode(t, err, CodeFailed)
	// The output bound holds for a native's output too.
	_, err = fast.Run(ctx, map[string]any{"x": strings.Repeat("a", 100)}, AnswerEnv{})
	wantCode(t, err, CodeTooLarge)
	// So does the stage check, before the native is asked.
	before := calls
	_, err = fast.Run(ctx, mustDecode(t, `{"x":1}`), RequestEnv{})
	wantCode(t, err, CodeFailed)
	if calls != before {
		t.Fatal("the native ran with another stage's variables")
	}
}
