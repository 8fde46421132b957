package exchange

import (
	"testing"

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
