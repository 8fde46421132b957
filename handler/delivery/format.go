package delivery

import (
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// Event types of callback payloads.
const (
	EventTaskSucceeded = "task.succeeded"
	EventTaskFailed    = "task.failed"
)

// Event is what a callback payload tells: a task reached a final status.
type Event struct {
	Type   string
	Task   *store.Task
	Status store.TaskStatus
	// Result is the backend's answer, or nil when none came.
	Result *store.Result
	// Error is the failure's sentence, empty on success.
	Error string
	Time  time.Time
}

// taskEvent builds the event of a task that reached status.
func taskEvent(t *store.Task, status store.TaskStatus, r *store.Result, errMsg string, now time.Time) Event {
	typ := EventTaskSucceeded
	if status == store.TaskFailure {
		typ = EventTaskFailed
	}
	return Event{Type: typ, Task: t, Status: status, Result: r, Error: errMsg, Time: now}
}

// PayloadFormat renders an event as a callback's body.
type PayloadFormat interface {
	Render(ev Event) ([]byte, error)
}

// FormatRaw is the default payload format's name.
const FormatRaw = "raw"

// formats are the payload formats by name: the config, the management
// API and the fan-out all look names up here.
var formats = handler.NewRegistry(FormatRaw, map[string]PayloadFormat{
	FormatRaw: rawFormat{},
	"cognigy": cognigyFormat{},
})

// Format returns the payload format of a name; "" is raw.
func Format(name string) (PayloadFormat, bool) { return formats.Get(name) }

// FormatNames lists the payload formats, the default first, for messages
// such as "use raw or cognigy".
func FormatNames() []string { return formats.Names() }
