package handler

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// WriteJSON writes v as the whole answer.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// The answers are JSON for programs, not HTML: keep < > & readable.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal error","code":"internal_error"}` + "\n")
	}
	WriteRawJSON(w, status, buf.Bytes())
}

// WriteRawJSON writes b, one JSON value and a newline as WriteJSON makes
// them, as the whole answer.
func WriteRawJSON(w http.ResponseWriter, status int, b []byte) {
	// The three header values share one backing array (capped, so that
	// appending to one cannot reach another): one allocation where
	// Header.Set makes one per value, on every answer.
	v := make([]string, 3)
	v[0], v[1], v[2] = "application/json", strconv.Itoa(len(b)), "nosniff"
	h := w.Header()
	h["Content-Type"] = v[0:1:1]
	h["Content-Length"] = v[1:2:2]
	h["X-Content-Type-Options"] = v[2:3:3]
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// AppendJSONString appends s as a JSON string, as WriteJSON writes it
// (HTML characters kept). Plain printable ASCII is appended as it is;
// anything else goes through encoding/json.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(s) // a string always encodes
			return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// JSONString reads a JSON string; null and other types are not strings.
func JSONString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// IsJSONObject reports whether raw is one valid JSON object.
func IsJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && json.Valid(raw)
}
