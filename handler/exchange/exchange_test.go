package exchange

import (
	"testing"

	"github.com/agenthook/agenthook/handler/adapter"
	"github.com/agenthook/agenthook/handler/shape"
)

func TestSetFor(t *testing.T) {
	req := shape.MustCompile(shape.Request, `{a: .}`, Limits)
	ans := shape.MustCompile(shape.Answer, `{b: .}`, Limits)
	over := shape.MustCompile(shape.Request, `{c: .}`, Limits)
	s := NewSet()
	s.SetAgent("shaped", &Shaping{Request: req, Answer: ans})
	s.SetAgent("plain", &Shaping{})
	s.SetEndpoint("ep", Override{Request: over})
	s.SetEndpoint("none", Override{})
	if s.For("plain", "x") != nil || s.For("unknown", "x") != nil || (*Set)(nil).For("shaped", "x") != nil {
		t.Error("a shaping for an agent without one")
	}
	if sh := s.For("shaped", "x"); sh.Request != req || sh.Answer != ans {
		t.Error("the agent's shaping")
	}
	if sh := s.For("shaped", "ep"); sh.Request != over || sh.Answer != ans {
		t.Error("the endpoint's request does not replace the agent's, or its answer went")
	}
	if sh := s.For("plain", "ep"); sh == nil || sh.Request != over || sh.Answer != nil {
		t.Error("the endpoint's override on an agent without shaping")
	}
	if s.For("shaped", "ep") == s.agents["shaped"] {
		t.Error("the override changed the agent's shaping")
	}
}

// TestBuiltInsRunInline: every built-in expression (both presets, with
// and without history and streaming, and the default turns) runs on the
// caller's goroutine, which is most of what a shaped sync call saves
// (see shape.cheapFuncs).
func TestBuiltInsRunInline(t *testing.T) {
	var progs []*shape.Program
	openai, err := adapter.OpenAI(adapter.OpenAIOptions{Model: "m", System: "s", History: 10, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := adapter.OpenAI(adapter.OpenAIOptions{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	langserve, err := adapter.LangServe(adapter.LangServeOptions{Path: "/chain"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []adapter.Preset{openai, plain, langserve} {
		a, err := p.Compile(Limits)
		if err != nil {
			t.Fatal(err)
		}
		progs = append(progs, a.Request, a.Answer, a.Message, a.Reply)
	}
	progs = append(progs, defaultMessage, defaultReply)
	for _, p := range progs {
		if !p.Inline() {
			t.Errorf("runs on a goroutine of its own: %s", p)
		}
	}
}
