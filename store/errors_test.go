package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// secret stands for record bytes an engine's error might quote.
const secret = "s3cr3t-record-bytes"

func mustNotPrint(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{secret, hex.EncodeToString([]byte(secret))[:12], hex.Dump([]byte(secret))[10:30]} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error %q prints %q", err, s)
		}
		if strings.Contains(fmt.Sprintf("%+v", err), s) {
			t.Fatalf("error %+v prints %q", err, s)
		}
	}
}

type causeErr struct{}

func (causeErr) Error() string { return "engine says: " + secret }

func TestSafeHidesTheCause(t *testing.T) {
	cause := fmt.Errorf("value %x too big: %s", secret, hex.Dump([]byte(secret)))
	cases := []struct {
		err  error
		kind error
		text string
	}{
		{cause, ErrInternal, "finishing task: internal storage error"},
		{fmt.Errorf("dial: %w: %s", ErrUnavailable, secret), ErrUnavailable, "finishing task: store unavailable"},
		{fmt.Errorf("%s: %w", secret, ErrTooLarge), ErrTooLarge, "finishing task: record too large"},
		{fmt.Errorf("%s: %w", secret, context.DeadlineExceeded), ErrUnavailable, "finishing task: store unavailable"},
		{fmt.Errorf("%s: %w", secret, Invalid("a delivery needs an id")), ErrInvalid, "finishing task: invalid input: a delivery needs an id"},
		{causeErr{}, ErrInternal, "finishing task: internal storage error"},
	}
	for _, c := range cases {
		got := Safe("finishing task", c.err)
		mustNotPrint(t, got)
		if got.Error() != c.text {
			t.Errorf("Safe(%T) = %q, want %q", c.err, got, c.text)
		}
		if !errors.Is(got, c.kind) {
			t.Errorf("Safe(%q) is not %v", got, c.kind)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("Safe(%q) lost its cause", got)
		}
	}
	var ce causeErr
	if !errors.As(Safe("x", fmt.Errorf("wrapped: %w", causeErr{})), &ce) {
		t.Errorf("errors.As cannot reach the cause")
	}
}

func TestSafeKeepsSentinels(t *testing.T) {
	for _, s := range []error{ErrNotFound, ErrLeaseLost, ErrIdempotencyMismatch, ErrLimitReached, context.Canceled} {
		got := Safe("reading task", fmt.Errorf("task %s: %w", secret, s))
		if got != s {
			t.Errorf("Safe(wrapped %v) = %v, want the bare sentinel", s, got)
		}
	}
	if Safe("x", nil) != nil {
		t.Errorf("Safe(nil) is not nil")
	}
}

func TestSafeKeepsErrors(t *testing.T) {
	e := TooLarge("a delivery is over the record size limit")
	got := Safe("finishing task", e)
	if got.Error() != "finishing task: record too large: a delivery is over the record size limit" {
		t.Fatalf("Safe = %q", got)
	}
	if again := Safe("other", got); again != got {
		t.Fatalf("Safe changed an *Error that had its op: %v", again)
	}
	if e.Error() != "record too large: a delivery is over the record size limit" {
		t.Fatalf("Safe changed the error it was given: %q", e)
	}
}

func TestRecordBytes(t *testing.T) {
	task := &Task{ID: "t", Agent: "a", ChatID: "c", Principal: "p", Endpoint: "e", Error: "err",
		Request: Request{Method: "POST", Path: "/p", Header: map[string][]string{"K": {"v1", "v2"}}, Body: make([]byte, 100)},
		Meta:    map[string]string{"k": "vv"},
	}
	if got, want := task.RecordBytes(), 5+3+4+2+1+4+100+3; got != want {
		t.Fatalf("Task.RecordBytes = %d, want %d", got, want)
	}
	f := &TaskFinish{Result: &Result{ContentType: "ct", Body: make([]byte, 50)}}
	// The request body goes, the result comes, the error is replaced.
	if got, want := f.RecordBytes(task), 5+4+2+1+4+3+2+50; got != want {
		t.Fatalf("TaskFinish.RecordBytes = %d, want %d", got, want)
	}
	if len(task.Request.Body) != 100 || task.Result != nil {
		t.Fatalf("TaskFinish.RecordBytes changed the task")
	}
	d := &Delivery{ID: "d", CallbackID: "cb", Payload: make([]byte, 10), Attempts: []Attempt{{Error: "e", Response: "rr"}}}
	if got := d.RecordBytes(); got != 1+2+10+3 {
		t.Fatalf("Delivery.RecordBytes = %d", got)
	}
	if err := CheckSize("a task", MaxRecordBytes); err != nil {
		t.Fatalf("CheckSize at the limit: %v", err)
	}
	if err := CheckSize("a task", MaxRecordBytes+1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("CheckSize over the limit: %v", err)
	}
}
