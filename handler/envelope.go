package handler

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"
)

// Envelope is a JSON object made of small fields and an answer. The answer
// is written from its bytes as it goes: a status answer streams a result
// of megabytes straight to the connection, and a callback payload is
// built in one allocation of its exact size.
type Envelope struct {
	head   []byte // the small fields as a JSON object
	answer Answer
}

// NewEnvelope builds the envelope of head, which must encode as a JSON
// object without the answer's fields ("result", "result_base64",
// "content_type"), and the answer.
func NewEnvelope(head any, a Answer) (Envelope, error) {
	b, err := MarshalJSON(head)
	if err != nil {
		return Envelope{}, err
	}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return Envelope{}, errors.New("an envelope's head must be a JSON object")
	}
	return Envelope{head: b, answer: a}, nil
}

// MarshalJSON encodes v without escaping <, > and &: the documents are
// for programs, and the escapes would make an HTML-heavy answer six times
// its size.
func MarshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Len is the exact length of what WriteTo writes.
func (e Envelope) Len() int {
	n := len(e.head) + len(`"result":`)
	if len(e.head) > 2 {
		n++ // the comma
	}
	switch e.answer.Kind {
	case AnswerJSON:
		n += len(e.answer.Body)
	case AnswerText:
		n += jsonStringLen(e.answer.Body)
	case AnswerBinary:
		n += len(`null,"result_base64":"","content_type":`) + base64.StdEncoding.EncodedLen(len(e.answer.Body)) +
			jsonStringLen([]byte(e.answer.ContentType))
	default:
		n += len("null")
	}
	return n
}

// Bytes returns the whole object.
func (e Envelope) Bytes() []byte {
	var buf bytes.Buffer
	buf.Grow(e.Len())
	_, _ = e.WriteTo(&buf)
	return buf.Bytes()
}

// WriteTo writes the object to w, the answer from its bytes, through a
// small buffer.
func (e Envelope) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 32<<10)
	bw.Write(e.head[:len(e.head)-1])
	if len(e.head) > 2 {
		bw.WriteByte(',')
	}
	bw.WriteString(`"result":`)
	switch a := e.answer; a.Kind {
	case AnswerJSON:
		bw.Write(a.Body)
	case AnswerText:
		_ = writeJSONString(bw, a.Body)
	case AnswerBinary:
		bw.WriteString(`null,"result_base64":"`)
		enc := base64.NewEncoder(base64.StdEncoding, bw)
		_, _ = enc.Write(a.Body)
		_ = enc.Close()
		bw.WriteString(`","content_type":`)
		_ = writeJSONString(bw, []byte(a.ContentType))
	default:
		bw.WriteString("null")
	}
	bw.WriteByte('}')
	err := bw.Flush()
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// jsonWriter is what writeJSONString writes to.
type jsonWriter interface {
	io.Writer
	io.ByteWriter
	io.StringWriter
}

// writeJSONString writes b as a JSON string, escaped as encoding/json
// does without HTML escaping. Runs of bytes that need no escape are
// written from b itself. Bytes that are not UTF-8 become U+FFFD; callers
// give text (see IsText), where there are none.
func writeJSONString(w jsonWriter, b []byte) error {
	w.WriteByte('"')
	start := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			w.Write(b[start:i])
			switch c {
			case '"', '\\':
				w.WriteByte('\\')
				w.WriteByte(c)
			case '\n':
				w.WriteString(`\n`)
			case '\r':
				w.WriteString(`\r`)
			case '\t':
				w.WriteString(`\t`)
			default:
				w.WriteString(`\u00`)
				w.WriteByte(hexDigits[c>>4])
				w.WriteByte(hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			w.Write(b[start:i])
			w.WriteString(`\ufffd`)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 end lines in JavaScript; encoding/json
		// escapes them, and so do we.
		if r == '\u2028' || r == '\u2029' {
			w.Write(b[start:i])
			w.WriteString(`\u202`)
			w.WriteByte(hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	w.Write(b[start:])
	return w.WriteByte('"')
}

// jsonStringLen is the length of writeJSONString's output.
func jsonStringLen(b []byte) int {
	n := 2
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20:
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

const hexDigits = "0123456789abcdef"
