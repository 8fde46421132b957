package adapter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of what ParseError reads and keeps.
const (
	maxErrorBody    = 64 << 10
	maxErrorMessage = 300
	maxErrorField   = 64
)

// APIError is a backend's error answer, read from its body. Its text is
// the backend's message (cut short, control characters dropped) and a
// few short fields; the rest of the body is never repeated.
type APIError struct {
	Status  int
	Message string
	Type    string
	Code    string
	Param   string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("backend answered " + strconv.Itoa(e.Status))
	// Some servers put the status in code; the type says more then.
	if e.Code != "" && e.Code != strconv.Itoa(e.Status) {
		b.WriteString(" " + e.Code)
	} else if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	} else {
		b.WriteString(" (no error message)")
	}
	if e.Param != "" {
		b.WriteString(" (param " + e.Param + ")")
	}
	return b.String()
}

// ParseError reads an error answer. The body shapes understood are
// OpenAI's {"error": {"message", "type", "param", "code"}} (also LiteLLM
// and vLLM), {"error": "text"} (Ollama), {"object": "error", "message",
// "type", "code"} (older vLLM) and FastAPI's {"detail": ...} (LangServe).
// It returns nil for a status under 400 whose body holds no error; any
// status of 400 or more gives an *APIError, with an empty Message when the
// body says nothing readable.
func ParseError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	found := len(body) <= maxErrorBody && e.read(body)
	if !found && status < 400 {
		return nil
	}
	return e
}

// read fills e from an error body and reports whether it was one.
func (e *APIError) read(body []byte) bool {
	var doc struct {
		Error  json.RawMessage `json:"error"`
		Object string          `json:"object"`
		Detail json.RawMessage `json:"detail"`
		errorFields
	}
	if json.Unmarshal(bytes.TrimSpace(body), &doc) != nil {
		return false
	}
	var s string
	switch {
	case isObject(doc.Error):
		var f errorFields
		if json.Unmarshal(doc.Error, &f) != nil {
			return false
		}
		e.set(f)
	case json.Unmarshal(doc.Error, &s) == nil && s != "":
		e.Message = clean(s, maxErrorMessage)
	case doc.Object == "error":
		e.set(doc.errorFields)
	case len(doc.Detail) > 0:
		e.Message = detail(doc.Detail)
	default:
		return false
	}
	return true
}

// errorFields are OpenAI's; code is a string on OpenAI and a number on
// some servers that copy it.
type errorFields struct {
	Message json.RawMessage `json:"message"`
	Type    json.RawMessage `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

func (e *APIError) set(f errorFields) {
	e.Message = scalar(f.Message, maxErrorMessage)
	e.Type = scalar(f.Type, maxErrorField)
	e.Param = scalar(f.Param, maxErrorField)
	e.Code = scalar(f.Code, maxErrorField)
}

// detail reads FastAPI's detail: a string, or a list of validation errors
// of which the first is told ({"loc": ["body", "input"], "msg": ...}).
func detail(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clean(s, maxErrorMessage)
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return ""
	}
	var loc []string
	for _, l := range list[0].Loc {
		loc = append(loc, fmt.Sprint(l))
	}
	msg := list[0].Msg
	if len(loc) > 0 {
		msg = strings.Join(loc, ".") + ": " + msg
	}
	return clean(msg, maxErrorMessage)
}

// scalar is a JSON string or number as text; anything else is "".
func scalar(raw json.RawMessage, limit int) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clean(s, limit)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return clean(n.String(), limit)
	}
	return ""
}

// clean makes s safe for one log line: control characters become spaces,
// runs of spaces one, and it is cut to limit bytes.
func clean(s string, limit int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if len(s) <= limit {
		return s
	}
	cut := limit - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}
