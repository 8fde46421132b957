package endpoint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/agenthook/agenthook/handler"
)

func binaryBody(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestReadBodyExact(t *testing.T) {
	t.Parallel()
	const limit = 256 << 10
	readers := map[string]func([]byte) io.Reader{
		"plain":      func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte":   func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"half":       func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		"data + EOF": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
	}
	for _, n := range []int{0, 1, 2, 1000, 64<<10 - 1, 64 << 10, 64<<10 + 1, 100_000, limit} {
		body := binaryBody(n)
		for name, mk := range readers {
			if name == "one byte" && n > 70_000 {
				continue // slow and says nothing new
			}
			for _, known := range []bool{true, false} {
				t.Run(fmt.Sprintf("%d/%s/known=%v", n, name, known), func(t *testing.T) {
					req := httptest.NewRequest(http.MethodPost, "/", nil)
					req.Body = io.NopCloser(mk(body))
					req.ContentLength = -1
					if known {
						req.ContentLength = int64(n)
					}
					got, err := readBody(req, limit)
					if err != nil {
						t.Fatalf("readBody: %v", err)
					}
					if !bytes.Equal(got, body) {
						t.Fatalf("readBody returned %d bytes, not the %d sent", len(got), n)
					}
				})
			}
		}
	}
	// One byte over the limit, either way.
	for _, known := range []bool{true, false} {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Body = io.NopCloser(bytes.NewReader(binaryBody(limit + 1)))
		req.ContentLength = -1
		if known {
			req.ContentLength = limit + 1
		}
		var he *handler.Error
		if _, err := readBody(req, limit); !errors.As(err, &he) || he.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("limit+1 bytes (known=%v): %v", known, err)
		}
	}
	// No body at all.
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Body = nil
	if got, err := readBody(req, limit); err != nil || len(got) != 0 {
		t.Fatalf("nil body: %q, %v", got, err)
	}
	// A failing read is a 400 that does not leak the cause.
	req = httptest.NewRequest(http.MethodPost, "/", nil)
	req.Body = io.NopCloser(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(errors.New("conn reset by 10.0.0.7"))))
	var he *handler.Error
	if _, err := readBody(req, limit); !errors.As(err, &he) || he.Status != http.StatusBadRequest || strings.Contains(he.Message, "10.0.0.7") {
		t.Fatalf("read error: %v", err)
	}
}
