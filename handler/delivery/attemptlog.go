package delivery

import (
	"go.uber.org/zap/zapcore"

	"github.com/agenthook/agenthook/store"
)

// attemptLog renders attempts for a log line: time, status, latency and
// error. Not the first bytes of the answer, which the delivery log keeps:
// a receiver's answer is a body, and bodies stay out of the logs.
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
	return nil
}

// Interface guards
var (
	_ zapcore.ArrayMarshaler  = attemptLog(nil)
	_ zapcore.ObjectMarshaler = attemptObject{}
)
