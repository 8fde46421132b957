package shape

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strconv"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// Decode reads one JSON value into the values gojq takes. Numbers keep
// their precision: integers beyond 2^53 (ids) come out as they went in.
func Decode(b []byte) (any, error) {
	if v, ok := parse(b); ok {
		return v, nil
	}
	// Not JSON, or JSON that parse leaves to encoding/json (invalid UTF-8,
	// which it replaces; extreme nesting): its error, or its value.
	return decodeSlow(b)
}

// decodeSlow is Decode through encoding/json.
func decodeSlow(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value")
	}
	return normalize(v), nil
}

// Body is the input value of a body, read as callers see a result (see
// handler.AnswerOf): JSON, if it is JSON and not declared as something
// else; text as one string; null when empty; anything else (bytes that
// are not UTF-8 text) as {"result_base64", "content_type"}.
func Body(body []byte, contentType string) any {
	if len(body) == 0 {
		return nil
	}
	// The common case first, in one pass: a JSON body is parsed straight
	// away instead of being checked by AnswerOf and then decoded.
	if contentType == "" || handler.IsJSONType(contentType) {
		if v, ok := parse(bytes.TrimSpace(body)); ok {
			return v
		}
	}
	a := handler.AnswerOf(&store.Result{Body: body, ContentType: contentType})
	switch a.Kind {
	case handler.AnswerNone:
		return nil
	case handler.AnswerText:
		return string(a.Body)
	case handler.AnswerBinary:
		return map[string]any{"result_base64": a.Base64(), "content_type": a.ContentType}
	}
	v, err := decodeSlow(a.JSON())
	if err != nil {
		return string(body) // unreachable: AnswerOf checked the JSON
	}
	return v
}

// normalize turns json.Number, which gojq only partly understands, into
// int, *big.Int or float64, as gojq's own decoder does.
func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 0); err == nil {
			return int(i)
		}
		if b, ok := new(big.Int).SetString(string(v), 10); ok {
			return b
		}
		f, _ := strconv.ParseFloat(string(v), 64) // out of range: ±Inf, refused on output
		return f
	case []any:
		for i, x := range v {
			v[i] = normalize(x)
		}
	case map[string]any:
		for k, x := range v {
			v[k] = normalize(x)
		}
	}
	return v
}
