package history

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// exchange makes n question/answer pairs: q0 a0 q1 a1 …
func exchange(n int) []Turn {
	var h []Turn
	for i := range n {
		h = append(h, Text(RoleUser, fmt.Sprintf("q%d", i), t0), Text(RoleAssistant, fmt.Sprintf("a%d", i), t0))
	}
	return h
}

func texts(h []Turn) string {
	var s []string
	for _, t := range h {
		var v string
		_ = json.Unmarshal(t.Content, &v)
		s = append(s, v)
	}
	return strings.Join(s, " ")
}

func TestTrimByCount(t *testing.T) {
	h := exchange(3)
	big := Limits{MaxTurns: 100, MaxBytes: 1 << 20}
	tests := []struct {
		lim  Limits
		want string
	}{
		{big, "q0 a0 q1 a1 q2 a2"},
		{Limits{MaxTurns: 4, MaxBytes: 1 << 20}, "q1 a1 q2 a2"},
		// An odd bound would start at an answer: that answer goes too.
		{Limits{MaxTurns: 3, MaxBytes: 1 << 20}, "q2 a2"},
		{Limits{MaxTurns: 1, MaxBytes: 1 << 20}, ""},
		{Limits{MaxTurns: 0, MaxBytes: 1 << 20}, ""},
		{Limits{MaxTurns: 10, MaxBytes: 0}, ""},
	}
	for _, tt := range tests {
		if got := texts(Trim(h, tt.lim)); got != tt.want {
			t.Errorf("Trim(%+v) = %q, want %q", tt.lim, got, tt.want)
		}
	}
}

func TestTrimByBytes(t *testing.T) {
	h := exchange(3)
	// Room for exactly the last three turns: a1 is at the front and goes.
	if got := texts(Trim(h, Limits{MaxTurns: 100, MaxBytes: Size(h[3:])})); got != "q2 a2" {
		t.Errorf("three turns of bytes: %q", got)
	}
	if got := texts(Trim(h, Limits{MaxTurns: 100, MaxBytes: Size(h[2:]) + 1})); got != "q1 a1 q2 a2" {
		t.Errorf("four turns of bytes: %q", got)
	}
	// A turn bigger than the whole bound goes, with all before it.
	huge := Text(RoleUser, strings.Repeat("x", 1000), t0)
	got := Trim(append(exchange(1), huge), Limits{MaxTurns: 100, MaxBytes: 500})
	if len(got) != 0 {
		t.Errorf("an oversize last turn kept %q", texts(got))
	}
}

func TestAppendDoesNotTouchInput(t *testing.T) {
	h := exchange(2)[:3:4] // q0 a0 q1, with room for one more in place
	before := texts(h[:4])
	lim := Limits{MaxTurns: 10, MaxBytes: 1 << 20}
	got := Append(h, lim, Text(RoleAssistant, "new", t0))
	if texts(got) != "q0 a0 q1 new" {
		t.Errorf("Append = %q", texts(got))
	}
	if after := texts(h[:4]); after != before {
		t.Errorf("Append wrote into the caller's array: %q, was %q", after, before)
	}
	if got := Append(nil, Limits{MaxTurns: 2, MaxBytes: 1 << 20}, exchange(2)...); texts(got) != "q1 a1" {
		t.Errorf("Append to nil = %q", texts(got))
	}
}

func TestLast(t *testing.T) {
	h := exchange(3)
	for n, want := range map[int]string{0: "", 1: "", 2: "q2 a2", 5: "q1 a1 q2 a2", 6: "q0 a0 q1 a1 q2 a2", 9: "q0 a0 q1 a1 q2 a2"} {
		if got := texts(Last(h, n)); got != want {
			t.Errorf("Last(%d) = %q, want %q", n, got, want)
		}
	}
	if Last(nil, 3) != nil {
		t.Error("Last of nothing is not empty")
	}
}

func TestValid(t *testing.T) {
	for _, tt := range []struct {
		turn Turn
		ok   bool
	}{
		{Text(RoleUser, "hi", t0), true},
		{Turn{Role: RoleAssistant, Content: json.RawMessage(`{"a":1}`)}, true},
		{Turn{Role: "system", Content: json.RawMessage(`"x"`)}, false},
		{Turn{Role: RoleUser}, false},
		{Turn{Role: RoleUser, Content: json.RawMessage(`{`)}, false},
	} {
		if got := tt.turn.Valid(); got != tt.ok {
			t.Errorf("%+v: Valid = %v", tt.turn, got)
		}
	}
}

func TestTurnJSON(t *testing.T) {
	b, err := json.Marshal(Text(RoleUser, "hé", t0))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"role":"user","content":"hé","at":"2025-01-02T03:04:05Z"}` {
		t.Errorf("%s", b)
	}
	b, _ = json.Marshal(Turn{Role: RoleUser, Content: json.RawMessage(`"x"`)})
	if string(b) != `{"role":"user","content":"x"}` {
		t.Errorf("a zero time is kept: %s", b)
	}
}
