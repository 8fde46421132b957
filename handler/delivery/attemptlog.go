package delivery

import (
	"strings"

	"go.uber.org/zap/zapcore"

	"github.com/agenthook/agenthook/store"
)

// attemptLog renders attempts for a log line: time, status, latency,
// error and the first bytes of the answer.
type attemptLog []store.Attempt

func (a attemptLog) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, at := range a {
		if err := enc.AppendObject(attemptObject(at)); err != nil {
			return err
		}
	}
	return nil
}

type attemptObject store.Attempt

func (a attemptObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddTime("at", a.At)
	enc.AddInt("status", a.StatusCode)
	enc.AddDuration("latency", a.Latency)
	if a.Error != "" {
		enc.AddString("error", a.Error)
	}
	// A log line keeps the start of the answer only; the delivery log
	// has the rest.
	if a.Response != "" {
		enc.AddString("response", truncateLog(a.Response))
	} else if a.ResponseBase64 != "" {
		enc.AddString("response_base64", truncateLog(a.ResponseBase64))
	}
	return nil
}

// Interface guards
var (
	_ zapcore.ArrayMarshaler  = attemptLog(nil)
	_ zapcore.ObjectMarshaler = attemptObject{}
)

// maxLoggedResponse bounds the answer a log line shows.
const maxLoggedResponse = 256

func truncateLog(s string) string {
	if len(s) <= maxLoggedResponse {
		return s
	}
	return strings.ToValidUTF8(s[:maxLoggedResponse], "") + "…"
}
