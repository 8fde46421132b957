package shape

import (
	"context"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	task := &Task{ID: "t1", Agent: "a", Meta: map[string]string{"userId": "u"}}
	ev := mustDecode(t, `{"type":"task.succeeded","result":{"priority":"high","n":3}}`)
	tests := []struct {
		src  string
		env  FilterEnv
		want bool
		code string
	}{
		{`.result.priority == "high"`, FilterEnv{Task: task}, true, ""},
		{`.type == "task.failed"`, FilterEnv{Task: task}, false, ""},
		{`.result.n > 2 and $task.meta.userId == "u"`, FilterEnv{Task: task}, true, ""},
		// Operational events have no task.
		{`$task == null`, FilterEnv{}, true, ""},
		{`.result.priority`, FilterEnv{}, false, CodeNotBoolean},
		{`.missing`, FilterEnv{}, false, CodeNotBoolean},
		{`true, false`, FilterEnv{}, false, CodeFailed},
		{`empty`, FilterEnv{}, false, CodeFailed},
		{`error("no")`, FilterEnv{}, false, CodeFailed},
	}
	for _, tt := range tests {
		p, err := Compile(Filter, tt.src, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		got, err := p.Match(context.Background(), ev, tt.env)
		if tt.code != "" {
			if e := wantCode(t, err, tt.code); !strings.HasPrefix(e.Message, "filter expression: ") {
				t.Errorf("%s: message %q", tt.src, e.Message)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.src, got, err, tt.want)
		}
	}
}

func TestFilterCompileErrors(t *testing.T) {
	for src, want := range map[string]string{
		`.a ==`:     "jq: unexpected EOF",
		`$chat.id`:  "variable not defined: $chat (filter expressions have $task)",
		`env.HOME`:  "env is not available",
		`.x | nope`: "function not defined: nope/0",
	} {
		if _, err := Compile(Filter, src, Limits{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}
