package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/agenthook/agenthook/store"
)

const leakMarker = "RECORD-BYTES-9d2b"

// leakyDispatchStore fails the writes of an attempt's outcome with an
// error that quotes a record, as an engine's own error may.
type leakyDispatchStore struct{ dispatcherStore }

var errLeaky = errors.New("value " + leakMarker + " exceeded the limit")

func (leakyDispatchStore) RecordAttempt(context.Context, store.DeliveryOutcome) error {
	return errLeaky
}
func (leakyDispatchStore) SaveCallbackState(context.Context, *store.CallbackState) error {
	return errLeaky
}

// TestDispatchStoreErrorsNotLogged: the dispatcher logs a failing store
// by its category, never its text.
func TestDispatchStoreErrorsNotLogged(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{})
	core, logs := observer.New(zapcore.DebugLevel)
	f.d.Logger = zap.New(core)
	f.d.Store = leakyDispatchStore{f.st}
	cb := f.static(nil)
	f.enqueue(cb.ID, 1)
	f.answerStatus(http.StatusGone) // disables the callback: SaveCallbackState fails too
	f.step()
	if logs.FilterMessage("recording delivery attempt").Len() != 1 || logs.FilterMessage("disabling callback").Len() != 1 {
		t.Fatalf("log lines: %v", logs.All())
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		if strings.Contains(line, leakMarker) {
			t.Fatalf("a log line quotes the store's error: %s", line)
		}
	}
}
