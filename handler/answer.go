package handler

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/agenthook/agenthook/store"
)

// How a backend's answer is shown to callers: in the status answer, the
// management API and raw callback payloads alike, so that a receiver
// decodes it one way wherever it reads it.
//
//   - No answer, or an empty body: "result": null.
//   - JSON (a JSON content type, or none) that is valid UTF-8: the JSON
//     itself.
//   - Other valid UTF-8 text with no control characters but tab, line
//     feed and carriage return: a JSON string.
//   - Anything else (bytes that are not UTF-8, NUL and other control
//     characters): "result": null, "result_base64": the bytes in standard
//     base64, and "content_type": the backend's content type
//     (application/octet-stream if it gave none).
//
// So no answer grows more than twice in its JSON form (a text made of
// nothing but quotes or line breaks), base64 by a third, JSON not at all.
// A byte that is not UTF-8 written into a JSON string would become
// "\ufffd", six bytes, and be lost besides: never again.

// AnswerKind says which of the forms above an answer takes.
type AnswerKind int

// The answer forms.
const (
	AnswerNone AnswerKind = iota
	AnswerJSON
	AnswerText
	AnswerBinary
)

// DefaultBinaryType is the content type given for binary answers that
// came without one, as HTTP lets a recipient assume.
const DefaultBinaryType = "application/octet-stream"

// Answer is a backend answer in the form callers see.
type Answer struct {
	Kind AnswerKind
	// Body is the JSON (without surrounding space), the text, or the
	// bytes to encode in base64. It shares memory with the result.
	Body []byte
	// ContentType is set for binary answers.
	ContentType string
}

// AnswerOf classifies a stored result.
func AnswerOf(r *store.Result) Answer {
	if r == nil || len(r.Body) == 0 {
		return Answer{}
	}
	if IsJSONType(r.ContentType) || r.ContentType == "" {
		if body := bytes.TrimSpace(r.Body); json.Valid(body) && utf8.Valid(body) {
			return Answer{Kind: AnswerJSON, Body: body}
		}
	}
	if IsText(r.Body) {
		return Answer{Kind: AnswerText, Body: r.Body}
	}
	ct := r.ContentType
	if ct == "" {
		ct = DefaultBinaryType
	}
	return Answer{Kind: AnswerBinary, Body: r.Body, ContentType: ct}
}

// TextAnswer is a sentence shown as the result, such as the error of a
// task that failed without an answer.
func TextAnswer(s string) Answer {
	return Answer{Kind: AnswerText, Body: []byte(strings.ToValidUTF8(s, "\uFFFD"))}
}

// IsText reports whether b is valid UTF-8 without control characters
// other than tab, line feed and carriage return.
func IsText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return utf8.Valid(b)
}

// JSON is the value of "result": the JSON, the text as a JSON string, or
// null (no answer, or a binary one).
func (a Answer) JSON() json.RawMessage {
	switch a.Kind {
	case AnswerJSON:
		return json.RawMessage(a.Body)
	case AnswerText:
		var buf bytes.Buffer
		buf.Grow(jsonStringLen(a.Body))
		_ = writeJSONString(&buf, a.Body)
		return buf.Bytes()
	}
	return json.RawMessage("null")
}

// Base64 is the value of "result_base64": empty unless the answer is
// binary.
func (a Answer) Base64() string {
	if a.Kind != AnswerBinary {
		return ""
	}
	return base64.StdEncoding.EncodeToString(a.Body)
}

// IsJSONType reports whether a Content-Type is JSON's: application/json
// or a +json type, with any parameters.
func IsJSONType(ct string) bool {
	if ct == "application/json" {
		return true // nearly every body: no parsing
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
