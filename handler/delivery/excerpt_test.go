package delivery

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/agenthook/agenthook/store"
)

func TestReadExcerpt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      []byte
		n         int
		text      string
		binary    []byte
		truncated bool
	}{
		{"empty", nil, 10, "", nil, false},
		{"short text", []byte(`{"ok":true}`), 100, `{"ok":true}`, nil, false},
		{"exactly n", []byte("abcd"), 4, "abcd", nil, false},
		{"cut text", []byte("abcdef"), 4, "abcd", nil, true},
		{"cut inside a character", []byte("abcé"), 4, "abc", nil, true},
		{"cut inside a 4-byte character", []byte("ab😀cd"), 5, "ab", nil, true},
		{"binary", []byte{0, 1, 2, 0xff}, 10, "", []byte{0, 1, 2, 0xff}, false},
		{"invalid UTF-8 within", []byte("ab\xffcd"), 10, "", []byte("ab\xffcd"), false},
		{"cut binary", bytes.Repeat([]byte{0}, 20), 8, "", bytes.Repeat([]byte{0}, 8), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var att store.Attempt
			readExcerpt(&att, bytes.NewReader(tc.body), tc.n)
			if att.Response != tc.text || att.ResponseTruncated != tc.truncated {
				t.Fatalf("response %q truncated %v; want %q, %v", att.Response, att.ResponseTruncated, tc.text, tc.truncated)
			}
			want := ""
			if tc.binary != nil {
				want = base64.StdEncoding.EncodeToString(tc.binary)
			}
			if att.ResponseBase64 != want {
				t.Fatalf("base64 %q, want %q", att.ResponseBase64, want)
			}
		})
	}
}

func TestKeptHeaders(t *testing.T) {
	h := http.Header{
		"Set-Cookie":   {"session=secret"},
		"Set-Cookie2":  {"old=secret"},
		"Content-Type": {"application/json"},
		"Retry-After":  {"30"},
		"X-Long":       {strings.Repeat("v", 3000)},
	}
	for i := range 30 {
		h.Add("X-Many", strings.Repeat("m", i))
	}
	got := keptHeaders(h)
	if got.Get("Set-Cookie") != "" || got.Get("Set-Cookie2") != "" {
		t.Fatal("a Set-Cookie header was kept")
	}
	if got.Get("Content-Type") != "application/json" || got.Get("Retry-After") != "30" {
		t.Fatalf("the first headers are missing: %v", got)
	}
	if got.Get("X-Long") != "" {
		t.Fatal("a header over the size bound was kept")
	}
	lines, size := 0, 0
	for k, vs := range got {
		for _, v := range vs {
			lines++
			size += len(k) + len(v)
		}
	}
	if lines != maxResponseHeaders || size > maxResponseHeaderBytes {
		t.Fatalf("%d lines, %d bytes kept; want %d lines within %d bytes", lines, size, maxResponseHeaders, maxResponseHeaderBytes)
	}
	if keptHeaders(http.Header{"Set-Cookie": {"a=b"}}) != nil {
		t.Fatal("nothing to keep must be nil")
	}
}

func TestDispatchKeepsAnswer(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{ResponseExcerpt: 8})
	cb := f.static(nil)
	f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "session=secret")
		w.Header().Set("X-Request-Id", "req-1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("overloaded, come back later"))
	})
	id := f.enqueue(cb.ID, 1)[0]
	f.step()
	d := f.wantDelivery(id, store.DeliveryPending, 1)
	a := d.Attempts[0]
	if a.StatusCode != 503 || a.Response != "overload" || !a.ResponseTruncated || a.ResponseBase64 != "" {
		t.Fatalf("attempt = %+v", a)
	}
	if a.ResponseHeader.Get("X-Request-Id") != "req-1" || a.ResponseHeader.Get("Set-Cookie") != "" {
		t.Fatalf("headers kept = %v", a.ResponseHeader)
	}
}
