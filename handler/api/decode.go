package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/agenthook/agenthook/handler"
)

// maxBody bounds management request bodies.
const maxBody = 64 << 10

// readJSON decodes a bounded body holding one JSON object, refusing
// unknown fields so typos do not pass silently.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "the request body could not be read")
	}
	if len(body) > maxBody {
		return handler.Errorf(http.StatusRequestEntityTooLarge, handler.CodeTooLarge, "the request body is larger than %d bytes", maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return handler.Errorf(http.StatusBadRequest, handler.CodeInvalidJSON, "the body is not the expected JSON object: %s", jsonProblem(err))
	}
	if dec.More() {
		return handler.Errorf(http.StatusBadRequest, handler.CodeInvalidJSON, "the body is not the expected JSON object: trailing data after it")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing input values.
func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		if ute.Field == "" {
			return "the body must be a JSON object"
		}
		return "field " + ute.Field + " must be " + jsonKind(ute.Type)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return "malformed JSON"
}

// jsonKind names a Go type the way a JSON caller thinks of it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array"
	}
	return "an object"
}
