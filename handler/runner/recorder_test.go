package runner

import (
	"net/http"
	"testing"
)

func TestRecorder(t *testing.T) {
	t.Parallel()
	r := newRecorder(10)
	r.Header().Set("Content-Type", "text/plain")
	r.WriteHeader(http.StatusEarlyHints) // informational, not the status
	if r.status != 0 {
		t.Fatalf("a 1xx became the status: %d", r.status)
	}
	r.WriteHeader(http.StatusAccepted)
	r.WriteHeader(http.StatusInternalServerError) // ignored
	if n, err := r.Write([]byte("123456")); n != 6 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if r.overflow {
		t.Fatal("overflow at 6 of 10")
	}
	// Past the limit: all of it is taken (so the sender can go on), up to
	// the limit is kept, and overflow is set.
	if n, err := r.Write([]byte("7890ABC")); n != 7 || err != nil {
		t.Fatalf("Write past the limit = %d, %v", n, err)
	}
	if n, err := r.Write([]byte("DEF")); n != 3 || err != nil {
		t.Fatalf("Write after the limit = %d, %v", n, err)
	}
	r.Flush()
	if !r.overflow || r.body.String() != "1234567890" {
		t.Fatalf("overflow %v, body %q", r.overflow, r.body.String())
	}
	res := r.result()
	if res.StatusCode != http.StatusAccepted || res.ContentType != "text/plain" || string(res.Body) != "1234567890" {
		t.Fatalf("result %+v", res)
	}
	res.Body[0] = 'X'
	if r.body.Bytes()[0] != '1' {
		t.Fatal("result shares its bytes with the recorder")
	}

	// A write without WriteHeader is a 200; exactly the limit is not an
	// overflow.
	r = newRecorder(4)
	_, _ = r.Write([]byte("abcd"))
	if r.status != 200 || r.overflow || r.body.String() != "abcd" {
		t.Fatalf("status %d, overflow %v, body %q", r.status, r.overflow, r.body.String())
	}
	_, _ = r.Write(nil)
	if r.overflow {
		t.Fatal("an empty write overflowed")
	}
	_, _ = r.Write([]byte("e"))
	if !r.overflow || r.body.String() != "abcd" {
		t.Fatalf("one byte over: overflow %v, body %q", r.overflow, r.body.String())
	}
}
