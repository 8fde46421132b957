package adapter

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// docStream is a stream as OpenAI's API reference shows it: the role in
// the first delta with empty content, content deltas, a last chunk with
// an empty delta and the finish_reason.
const docStream = `data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices":[{"index":0,"delta":{"content":"! How"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices":[{"index":0,"delta":{"content":" can I help — ünïcode?"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb", "choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}

data: [DONE]

`

// usageStream is the same with stream_options.include_usage: every chunk
// has "usage": null, and a last chunk with empty choices carries it.
const usageStream = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}],"usage":null}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}

data: [DONE]

`

func assemble(parts ...string) Streamed {
	a := NewAssembler(0)
	for _, p := range parts {
		_, _ = a.Write([]byte(p))
	}
	return a.Finish()
}

func TestAssembleDocumentedStream(t *testing.T) {
	s := assemble(docStream)
	if s.Text != "Hello! How can I help — ünïcode?" || s.FinishReason != "stop" || !s.Done || s.Truncated || s.Usage != nil ||
		s.ID != "chatcmpl-123" || s.Model != "gpt-4o-mini" || s.Chunks != 5 || s.Err != nil {
		t.Errorf("%+v", s)
	}
	s = assemble(usageStream)
	if s.Text != "Hi" || s.FinishReason != "length" || !s.Done || s.Usage == nil || *s.Usage != (Usage{9, 1, 10}) {
		t.Errorf("%+v", s)
	}
}

// However the bytes are split, and whatever the line ends, the answer is
// the same.
func TestAssembleSplitsAndLineEnds(t *testing.T) {
	want := assemble(usageStream)
	for _, stream := range []string{usageStream, strings.ReplaceAll(usageStream, "\n", "\r\n"), strings.ReplaceAll(usageStream, "\n", "\r")} {
		bytewise := make([]string, len(stream))
		for i := range stream {
			bytewise[i] = stream[i : i+1]
		}
		check := func(name string, got Streamed) {
			if got.Text != want.Text || got.FinishReason != want.FinishReason || got.Done != want.Done || got.Usage == nil || *got.Usage != *want.Usage || got.Chunks != want.Chunks {
				t.Errorf("%s: %+v, want %+v", name, got, want)
			}
		}
		check("whole", assemble(stream))
		check("byte by byte", assemble(bytewise...))
		r := rand.New(rand.NewPCG(1, 2))
		for range 20 {
			var parts []string
			for rest := stream; rest != ""; {
				n := min(1+r.IntN(40), len(rest))
				parts, rest = append(parts, rest[:n]), rest[n:]
			}
			check("random", assemble(parts...))
		}
	}
}

func TestAssembleSSEDetails(t *testing.T) {
	stream := ": keep-alive comment\n\n" +
		"event: message\nid: 7\nretry: 100\n" +
		"data: {\"choices\":[{\"index\":0,\n" + // one event's data over two lines
		"data: \"delta\":{\"content\":\"a\"}}]}\n\n" +
		"data:{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other choice\"}}]}\n\n" + // no space after the colon; n>1
		"data: not json\n\n" +
		"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}" // no blank line before the end
	s := assemble(stream)
	if s.Text != "ab" || s.Done || s.Chunks != 3 {
		t.Errorf("%+v", s)
	}
}

func TestAssembleBounds(t *testing.T) {
	a := NewAssembler(5)
	_, _ = a.Write([]byte(`data: {"choices":[{"index":0,"delta":{"content":"abcdé"}}]}` + "\n\n"))
	_, _ = a.Write([]byte(`data: {"choices":[{"index":0,"delta":{"content":"z"}}]}` + "\n\n"))
	if s := a.Finish(); s.Text != "abcd" || !s.Truncated {
		t.Errorf("text bound: %+v", s)
	}
	// A chunk over the event bound is skipped; the ones after it count.
	big := `data: {"choices":[{"index":0,"delta":{"content":"` + strings.Repeat("x", maxEventData) + `"}}]}` + "\n\n"
	s := assemble(big, `data: {"choices":[{"index":0,"delta":{"content":"after"}}]}`+"\n\ndata: [DONE]\n\n")
	if s.Text != "after" || !s.Truncated || !s.Done {
		t.Errorf("event bound: %q %+v", s.Text, s.Truncated)
	}
	// So is an event whose data lines add up past the bound.
	line := "data: " + strings.Repeat("y", maxEventData/2) + "\n"
	s = assemble(line, line, line, "\n", `data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}`+"\n\n")
	if s.Text != "ok" || !s.Truncated {
		t.Errorf("data bound: %q %+v", s.Text, s.Truncated)
	}
}

func TestAssembleErrorEvent(t *testing.T) {
	s := assemble(`data: {"choices":[{"index":0,"delta":{"content":"part"}}]}` + "\n\n" +
		`data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}` + "\n\n")
	if s.Err == nil || s.Err.Error() != "backend answered 200 server_error: The server had an error while processing your request." || s.Text != "part" || s.Done {
		t.Errorf("%+v %v", s, s.Err)
	}
}

// flushRecorder counts flushes, as a caller's connection would see them.
type flushRecorder struct {
	*httptest.ResponseRecorder
	flushes int
}

func (f *flushRecorder) Flush() { f.flushes++; f.ResponseRecorder.Flush() }

func TestStreamWriterPassesThrough(t *testing.T) {
	rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	a := NewAssembler(0)
	w := NewStreamWriter(rec, a)
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	events := strings.SplitAfter(usageStream, "\n\n")
	for _, e := range events {
		if _, err := w.Write([]byte(e)); err != nil {
			t.Fatal(err)
		}
		// Through ResponseController, as Caddy's reverse_proxy flushes.
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if rec.Body.String() != usageStream {
		t.Error("the stream changed on its way through")
	}
	if rec.flushes != len(events) || !w.EventStream() || w.Status() != 200 || w.Unwrap() != rec {
		t.Errorf("flushes %d, event stream %v, status %d", rec.flushes, w.EventStream(), w.Status())
	}
	if s := a.Finish(); s.Text != "Hi" || s.Usage == nil || !s.Done {
		t.Errorf("%+v", s)
	}
}

func TestStreamWriterLeavesOtherAnswers(t *testing.T) {
	rec := httptest.NewRecorder()
	a := NewAssembler(0)
	w := NewStreamWriter(rec, a)
	w.Header().Set("Content-Type", "application/json")
	// data: lines in a JSON answer are not an event stream.
	_, _ = w.Write([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n"))
	if w.EventStream() || w.Status() != 200 || rec.Code != 200 {
		t.Errorf("event stream %v, status %d", w.EventStream(), w.Status())
	}
	if s := a.Finish(); s.Chunks != 0 || s.Text != "" {
		t.Errorf("assembled a JSON answer: %+v", s)
	}
}

// The assembler takes any bytes, stays within its bound, and gives the
// same answer however the bytes are split.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte(docStream), uint8(7))
	f.Add([]byte(usageStream), uint8(1))
	f.Add([]byte("data: [DONE]\r\n\r\n"), uint8(3))
	f.Add([]byte("data: {\"error\":{\"message\":\"x\"}}\n\n"), uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		whole := NewAssembler(64)
		_, _ = whole.Write(stream)
		want := whole.Finish()
		parts := NewAssembler(64)
		n := int(step%32) + 1
		for i := 0; i < len(stream); i += n {
			_, _ = parts.Write(stream[i:min(i+n, len(stream))])
		}
		got := parts.Finish()
		if len(want.Text) > 64 || got.Text != want.Text || got.Done != want.Done || got.FinishReason != want.FinishReason ||
			got.Chunks != want.Chunks || got.Truncated != want.Truncated {
			t.Fatalf("split by %d: %+v, whole: %+v", n, got, want)
		}
	})
}

func TestStreamedAnswer(t *testing.T) {
	got := string(assemble(usageStream).Answer())
	want := `{"answer":"Hi","finish_reason":"length","model":"m","usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(assemble("").Answer()); got != `{"answer":"","finish_reason":null,"model":null,"usage":null}` {
		t.Errorf("empty: %s", got)
	}
	// Its usage is where UsageOf looks, as for a shaped whole answer.
	if u, ok := UsageOf(assemble(usageStream).Answer()); !ok || u != (Usage{9, 1, 10}) {
		t.Errorf("%+v %v", u, ok)
	}
}
