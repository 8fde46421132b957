package delivery

import (
	"encoding/base64"
	"io"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// What an attempt keeps of the receiver's answer, for whoever reads the
// delivery log: its first bytes and some of its headers, bounded so that
// a delivery's record stays small (see also store.AttemptsWithResponse).

const (
	// DefaultResponseExcerpt is how many bytes of an answer an attempt
	// keeps unless the config says otherwise.
	DefaultResponseExcerpt = 4 << 10
	// MaxResponseExcerpt bounds the setting.
	MaxResponseExcerpt = 64 << 10
	// maxResponseHeaders and maxResponseHeaderBytes bound the header
	// lines kept (names and values counted).
	maxResponseHeaders     = 16
	maxResponseHeaderBytes = 2 << 10
)

// firstHeaders are kept before the others, which follow in name order:
// they say most about an answer.
var firstHeaders = []string{"Content-Type", "Content-Length", "Retry-After", "Location", "Date", "Server"}

// droppedHeaders are never kept: they carry the receiver's secrets, and
// the log is read by whoever holds an API key.
var droppedHeaders = map[string]bool{"Set-Cookie": true, "Set-Cookie2": true}

// keptHeaders returns the header lines an attempt keeps, or nil.
func keptHeaders(h http.Header) http.Header {
	names := make([]string, 0, len(h))
	for name := range h {
		if !droppedHeaders[http.CanonicalHeaderKey(name)] && !slices.Contains(firstHeaders, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names = append(slices.Clone(firstHeaders), names...)
	var out http.Header
	lines, size := 0, 0
	for _, name := range names {
		for _, v := range h[name] {
			if lines == maxResponseHeaders {
				return out
			}
			if size+len(name)+len(v) > maxResponseHeaderBytes {
				continue // a long value gives way to the shorter ones after it
			}
			if out == nil {
				out = make(http.Header)
			}
			out[name] = append(out[name], v)
			lines, size = lines+1, size+len(name)+len(v)
		}
	}
	return out
}

// readExcerpt reads up to n bytes of body into att, as the API shows a
// backend's answer (see handler.AnswerOf): UTF-8 text as it is, anything
// else in base64. A multi-byte character cut off at the end does not
// make text binary.
func readExcerpt(att *store.Attempt, body io.Reader, n int) {
	buf := make([]byte, n+1)
	got, _ := io.ReadFull(body, buf)
	b := buf[:min(got, n)]
	att.ResponseTruncated = got > n
	if len(b) == 0 {
		return
	}
	text := b
	if att.ResponseTruncated {
		text = trimPartialRune(b)
	}
	if handler.IsText(text) {
		att.Response = string(text)
		return
	}
	att.ResponseBase64 = base64.StdEncoding.EncodeToString(b)
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax-1 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < utf8.RuneSelf {
			return b // ASCII: nothing cut
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return b[:len(b)-i]
			}
			return b
		}
	}
	return b
}
