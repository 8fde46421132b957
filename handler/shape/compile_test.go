package shape

import (
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		stage Stage
		src   string
		want  string
	}{
		{Request, `{a: }`, `jq: unexpected token "}" at character 5`},
		{Request, `"é" | foo bar`, `jq: unexpected token "bar" at character 11`},
		{Request, `{a: 1 `, `jq: unexpected EOF at the end of the expression`},
		{Request, `.a | foo`, `function not defined: foo/0`},
		{Request, `$status`, `variable not defined: $status (request expressions have $chat, $caller, $headers, $query, $history)`},
		{Answer, `$history`, `variable not defined: $history (answer expressions have $status, $headers, $chat, $task)`},
		{Payload, `$caller`, `(payload expressions have $task, $chat)`},
		{Request, `input`, `input is not available`},
		{Request, `[inputs]`, `inputs is not available`},
		{Request, `input_filename`, `input_filename is not available`},
		{Request, `$ENV.HOME`, `$ENV is not available`},
		{Request, `{$ENV}`, `$ENV is not available`},
		{Request, `env.HOME`, `env is not available`},
		{Request, `debug`, `debug is not available`},
		{Request, `debug("x")`, `debug is not available`},
		{Request, `. as $x | [$x | stderr]`, `stderr is not available`},
		{Request, `halt_error`, `halt_error is not available in agenthook expressions: it exits the process; use error(…)`},
		{Request, `if . then halt else . end`, `halt is not available`},
		{Request, `[.[] | select(. == 1) | {a: (env)}]`, `env is not available`},
		// A user function of the same name is refused too: the rule is
		// simple to state and the names are jq's, not the operator's.
		{Request, `def env: 1; env`, `env is not available`},
		{Request, `import "a" as a; .`, `import and include are not available`},
		{Request, `include "a"; .`, `import and include are not available`},
	}
	for _, tt := range tests {
		_, err := Compile(tt.stage, tt.src, Limits{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %q: %v, want %q", tt.stage.Name(), tt.src, err, tt.want)
		}
	}
}

func TestCompileAccepts(t *testing.T) {
	for _, tt := range []struct {
		stage Stage
		src   string
	}{
		{Request, `{model: "m", messages: ([$history[] | {role, content}] + [{role: "user", content: .prompt}])}`},
		{Request, `{q: $query.q, h: $headers["x-a"], c: $chat.id, who: $caller.id}`},
		{Answer, `if $status >= 400 then error("backend failed") else {answer: .output, task: $task.id} end`},
		{Payload, `{text: .result.answer, user: $task.meta.userId, chat: $chat.id}`},
		{Request, `"\(.a) and \(.b)" | ascii_downcase | test("x"; "i")`},
		{Request, `reduce .[] as $x (0; . + $x)`},
	} {
		p, err := Compile(tt.stage, tt.src, Limits{})
		if err != nil {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		if p.String() != tt.src || p.Stage().Name() != tt.stage.Name() {
			t.Errorf("%q: kept %q for %s", tt.src, p.String(), p.Stage().Name())
		}
	}
}

func TestCompileLimits(t *testing.T) {
	p := MustCompile(Request, ".", Limits{})
	if l := p.Limits(); l.Timeout != DefaultTimeout || l.MaxOutput != DefaultMaxOutput {
		t.Errorf("defaults: %+v", l)
	}
	if _, err := Compile(Request, ".", Limits{Timeout: -1}); err == nil {
		t.Error("a negative timeout was taken")
	}
	if _, err := Compile(Stage{}, ".", Limits{}); err == nil {
		t.Error("the zero stage was taken")
	}
	defer func() {
		if recover() == nil {
			t.Error("MustCompile of a bad expression did not panic")
		}
	}()
	MustCompile(Request, "{", Limits{})
}

func TestErrorTextsCollected(t *testing.T) {
	p := MustCompile(Answer, `if . == null then error("no answer \"here\"") else error("x" + "y") end | error(.a)`, Limits{})
	if !p.errorTexts[`no answer "here"`] || len(p.errorTexts) != 1 {
		t.Errorf("error texts %v: only plain literal arguments of error/1 count", p.errorTexts)
	}
}

// TestInline: which programs run on the caller's goroutine. The
// built-in presets and the usual shapes do; anything that can spend far
// longer in one operation than its input took to arrive does not.
func TestInline(t *testing.T) {
	for src, want := range map[string]bool{
		`{model: "m", messages: [{role: "user", content: .prompt}]}`:                                           true,
		`def message: first(.prompt, .text | strings) // tojson; {input: message}`:                             true,
		`def f(g): [g]; f(.a[] | select(. > 1)) | length`:                                                      true,
		`def f($x): $x + 1; f(.n)`:                                                                             true,
		`{answer: .choices[0].message.content, usage} | if .answer == null then error("no answer") else . end`: true,
		`.a | tostring | ascii_downcase | split(",") | join(" ")`:                                              true,
		`sort`:                      false,
		`.items | sort_by(.n)`:      false,
		`def f: sort; f`:            false, // a definition's body counts
		`.text | test("a+")`:        false,
		`.text | split(", *"; "g")`: false, // split/2 is a regular expression
		`.text | indices("ab")`:     false,
		`.a | contains(["x"])`:      false,
		`.[1000000] = 1`:            false,
		`.a |= . + 1`:               false,
		`del(.a)`:                   false,
		`keys`:                      false,
	} {
		p := MustCompile(Request, src, Limits{})
		if p.inline != want {
			t.Errorf("%s: inline = %v, want %v", src, p.inline, want)
		}
	}
}
