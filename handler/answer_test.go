package handler

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/agenthook/agenthook/store"
)

func TestAnswerOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    *store.Result
		kind AnswerKind
		want string // the "result" value
	}{
		{"nil", nil, AnswerNone, `null`},
		{"empty body", &store.Result{StatusCode: 204, ContentType: "application/json"}, AnswerNone, `null`},
		{"JSON object", &store.Result{ContentType: "application/json", Body: []byte(`{"a":1}`)}, AnswerJSON, `{"a":1}`},
		{"JSON with charset", &store.Result{ContentType: "application/json; charset=utf-8", Body: []byte(`[1,2]`)}, AnswerJSON, `[1,2]`},
		{"problem+json", &store.Result{ContentType: "application/problem+json", Body: []byte(`{"title":"x"}`)}, AnswerJSON, `{"title":"x"}`},
		{"JSON trimmed", &store.Result{ContentType: "application/json", Body: []byte(" \n{\"a\":1}\n ")}, AnswerJSON, `{"a":1}`},
		{"JSON kept as sent", &store.Result{ContentType: "application/json", Body: []byte("{\"a\": \"<b>\",\n \"c\": [ ]}")}, AnswerJSON, "{\"a\": \"<b>\",\n \"c\": [ ]}"},
		{"JSON without a content type", &store.Result{Body: []byte(`{"a":true}`)}, AnswerJSON, `{"a":true}`},
		{"JSON string value", &store.Result{ContentType: "application/json", Body: []byte(`"hi"`)}, AnswerJSON, `"hi"`},
		{"JSON typed, invalid", &store.Result{ContentType: "application/json", Body: []byte(`{"a":`)}, AnswerText, `"{\"a\":"`},
		{"plain text", &store.Result{ContentType: "text/plain", Body: []byte("hello <b> & \"you\"\n\tbye\r\n")}, AnswerText, `"hello <b> & \"you\"\n\tbye\r\n"`},
		{"JSON as text/plain", &store.Result{ContentType: "text/plain", Body: []byte(`{"a":1}`)}, AnswerText, `"{\"a\":1}"`},
		{"untyped text", &store.Result{Body: []byte("plain words")}, AnswerText, `"plain words"`},
		{"bad content type", &store.Result{ContentType: ";;;", Body: []byte(`{"a":1}`)}, AnswerText, `"{\"a\":1}"`},
		{"multibyte text", &store.Result{ContentType: "text/plain", Body: []byte("grüße 日本 \u2028")}, AnswerText, `"grüße 日本 \u2028"`},
		{"invalid UTF-8", &store.Result{ContentType: "application/octet-stream", Body: []byte{0xff, 'a'}}, AnswerBinary, `null`},
		{"invalid UTF-8 in JSON", &store.Result{ContentType: "application/json", Body: []byte("\"\xff\"")}, AnswerBinary, `null`},
		{"NUL in text", &store.Result{ContentType: "text/plain", Body: []byte("a\x00b")}, AnswerBinary, `null`},
		{"escape character", &store.Result{ContentType: "text/plain", Body: []byte("\x1b[31mred")}, AnswerBinary, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := AnswerOf(tt.r)
			if a.Kind != tt.kind {
				t.Fatalf("kind %d, want %d", a.Kind, tt.kind)
			}
			if got := a.JSON(); string(got) != tt.want {
				t.Fatalf("JSON() = %s, want %s", got, tt.want)
			}
			if a.Kind != AnswerBinary {
				if a.Base64() != "" || a.ContentType != "" {
					t.Fatalf("a %d answer has base64 %q, type %q", a.Kind, a.Base64(), a.ContentType)
				}
				return
			}
			raw, err := base64.StdEncoding.DecodeString(a.Base64())
			if err != nil || !bytes.Equal(raw, tt.r.Body) || a.ContentType != tt.r.ContentType {
				t.Fatalf("base64 %q (%v), type %q", a.Base64(), err, a.ContentType)
			}
		})
	}
	// Plain text keeps leading and trailing space; only JSON is trimmed.
	if got := AnswerOf(&store.Result{ContentType: "text/plain", Body: []byte(" x \n")}).JSON(); string(got) != `" x \n"` {
		t.Fatalf("text result = %s", got)
	}
	// Binary without a content type says application/octet-stream.
	if a := AnswerOf(&store.Result{Body: []byte{0, 1, 2}}); a.ContentType != DefaultBinaryType {
		t.Fatalf("content type %q", a.ContentType)
	}
}

func TestTaskAnswer(t *testing.T) {
	t.Parallel()
	res := &store.Result{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"a":1}`)}
	tests := []struct {
		name string
		t    *store.Task
		want string
	}{
		{"pending", &store.Task{Status: store.TaskPending, Result: res}, `null`},
		{"started", &store.Task{Status: store.TaskStarted, Error: "retrying"}, `null`},
		{"success", &store.Task{Status: store.TaskSuccess, Result: res}, `{"a":1}`},
		{"failure without answer", &store.Task{Status: store.TaskFailure, Error: "gone"}, `"gone"`},
		{"failure with an empty answer", &store.Task{Status: store.TaskFailure, Error: "too big", Result: &store.Result{StatusCode: 200}}, `"too big"`},
		{"failure with an answer", &store.Task{Status: store.TaskFailure, Error: "422", Result: res}, `{"a":1}`},
	}
	for _, tt := range tests {
		if got := TaskAnswer(tt.t).JSON(); string(got) != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestViewShapes: the buffered view (API) and the streamed one (status)
// are the same document.
func TestViewShapes(t *testing.T) {
	t.Parallel()
	for _, r := range []*store.Result{
		nil,
		{StatusCode: 200, ContentType: "application/json", Body: []byte(`{"x":"<&>"}`)},
		{StatusCode: 200, ContentType: "text/plain", Body: []byte("line\n\"q\"")},
		{StatusCode: 200, ContentType: "image/png", Body: []byte{0x89, 'P', 'N', 'G', 0, 0xff}},
	} {
		task := &store.Task{ID: "t1", Agent: "a", ChatID: "c", Status: store.TaskSuccess, Result: r, Attempts: 1}
		env, err := ViewEnvelope(task)
		if err != nil {
			t.Fatal(err)
		}
		streamed := env.Bytes()
		buffered, err := MarshalJSON(ViewOf(task))
		if err != nil {
			t.Fatal(err)
		}
		var a, b map[string]any
		if err := json.Unmarshal(streamed, &a); err != nil {
			t.Fatalf("streamed view %s: %v", streamed, err)
		}
		if err := json.Unmarshal(buffered, &b); err != nil {
			t.Fatal(err)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("streamed %s\nbuffered %s", streamed, buffered)
		}
		var v TaskView
		if err := json.Unmarshal(streamed, &v); err != nil || v.TaskID != "t1" || v.Attempts != 1 {
			t.Fatalf("TaskView from %s: %+v, %v", streamed, v, err)
		}
	}
}
