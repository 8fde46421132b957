package delivery

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/agenthook/agenthook/store"
)

func TestDeadLetterIsOneLineWithoutBodies(t *testing.T) {
	t.Parallel()
	f := newDispFixture(t, Config{Schedule: []time.Duration{}})
	core, logs := observer.New(zapcore.InfoLevel)
	f.d.Logger = zap.New(core)
	cb := f.static(nil)
	f.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("receiver secret page"))
	})
	id := f.enqueue(cb.ID, 1)[0]
	f.step()
	d := f.wantDelivery(id, store.DeliveryFailed, 1)

	lines := logs.FilterMessage("delivery dead-lettered").All()
	if len(lines) != 1 || lines[0].Level != zapcore.WarnLevel {
		t.Fatalf("dead-letter lines: %v", lines)
	}
	m := lines[0].ContextMap()
	if m["delivery_id"] != id || m["task_id"] != d.TaskID || m["callback"] != cb.ID || m["agent"] != f.agent ||
		m["attempts"] != int64(1) || m["error"] != "the receiver answered 500 Internal Server Error" {
		t.Fatalf("dead-letter line %v", m)
	}
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if strings.Contains(fmt.Sprint(v), "secret page") {
				t.Fatalf("%q logs the receiver's answer in %s", e.Message, k)
			}
		}
	}
}
