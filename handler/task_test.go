package handler

import (
	"encoding/json"
	"testing"

	"github.com/agenthook/agenthook/store"
)

func TestResultJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    *store.Result
		want string
	}{
		{"nil", nil, `null`},
		{"empty body", &store.Result{StatusCode: 204, ContentType: "application/json"}, `null`},
		{"JSON object", &store.Result{ContentType: "application/json", Body: []byte(`{"a":1}`)}, `{"a":1}`},
		{"JSON with charset", &store.Result{ContentType: "application/json; charset=utf-8", Body: []byte(`[1,2]`)}, `[1,2]`},
		{"problem+json", &store.Result{ContentType: "application/problem+json", Body: []byte(`{"title":"x"}`)}, `{"title":"x"}`},
		{"JSON trimmed", &store.Result{ContentType: "application/json", Body: []byte(" \n{\"a\":1}\n ")}, `{"a":1}`},
		{"JSON without a content type", &store.Result{Body: []byte(`{"a":true}`)}, `{"a":true}`},
		{"JSON string value", &store.Result{ContentType: "application/json", Body: []byte(`"hi"`)}, `"hi"`},
		{"JSON typed, invalid", &store.Result{ContentType: "application/json", Body: []byte(`{"a":`)}, `"{\"a\":"`},
		{"plain text", &store.Result{ContentType: "text/plain", Body: []byte("hello <b>")}, `"hello <b>"`},
		{"JSON as text/plain", &store.Result{ContentType: "text/plain", Body: []byte(`{"a":1}`)}, `"{\"a\":1}"`},
		{"JSON as text/html", &store.Result{ContentType: "text/html", Body: []byte(`[1]`)}, `"[1]"`},
		{"untyped text", &store.Result{Body: []byte("plain words")}, `"plain words"`},
		{"bad content type", &store.Result{ContentType: ";;;", Body: []byte(`{"a":1}`)}, `"{\"a\":1}"`},
		{"invalid UTF-8", &store.Result{ContentType: "application/octet-stream", Body: []byte{0xff, 'a'}}, `"\ufffda"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ResultJSON(tt.r)
			if !json.Valid(got) {
				t.Fatalf("ResultJSON = %s, not JSON", got)
			}
			var g, w any
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal([]byte(tt.want), &w)
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			if string(gb) != string(wb) {
				t.Fatalf("ResultJSON = %s, want %s", got, tt.want)
			}
		})
	}
	// Plain text keeps leading and trailing space; only JSON is trimmed.
	if got := ResultJSON(&store.Result{ContentType: "text/plain", Body: []byte(" x \n")}); string(got) != `" x \n"` {
		t.Fatalf("text result = %s", got)
	}
}
