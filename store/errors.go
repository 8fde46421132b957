package store

import (
	"context"
	"errors"
)

// Error is a failure an engine reports without printing it. The text of an
// engine's own error may quote a key or the bytes of a record (Badger
// hex-dumps the start of a value that is too big, a database may echo a
// row), and errors end up in logs and, through careless callers, in
// answers. So Error prints fixed text only: what the store was doing, the
// category, and a fixed detail. The engine's error is kept for errors.Is
// and errors.As, and never printed.
type Error struct {
	// Op is what the store was doing, such as "finishing task". Fixed
	// text, never data.
	Op string
	// Kind is the category: ErrUnavailable, ErrTooLarge, ErrInvalid or
	// ErrInternal. errors.Is matches it.
	Kind error
	// Detail says more, in fixed text, never data: "a delivery needs an
	// id and a callback id". Optional.
	Detail string
	// Err is the cause. errors.Is and errors.As reach it; Error does not
	// print it.
	Err error
}

// Error implements error: "<op>: <kind>: <detail>", without the cause.
func (e *Error) Error() string {
	kind := e.Kind
	if kind == nil {
		kind = ErrInternal
	}
	s := kind.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	return s
}

// Unwrap gives errors.Is and errors.As the category and the cause.
func (e *Error) Unwrap() []error {
	kind := e.Kind
	if kind == nil {
		kind = ErrInternal
	}
	if e.Err == nil {
		return []error{kind}
	}
	return []error{kind, e.Err}
}

// Invalid returns an ErrInvalid error with a fixed detail.
func Invalid(detail string) error { return &Error{Kind: ErrInvalid, Detail: detail} }

// TooLarge returns an ErrTooLarge error with a fixed detail.
func TooLarge(detail string) error { return &Error{Kind: ErrTooLarge, Detail: detail} }

// Unavailable returns an ErrUnavailable error with a fixed detail, keeping
// cause unprinted.
func Unavailable(detail string, cause error) error {
	return &Error{Kind: ErrUnavailable, Detail: detail, Err: cause}
}

// Safe returns err in a form that is safe to print, for an engine to
// return from an operation described by op ("finishing task"):
//
//   - nil stays nil;
//   - ErrNotFound, ErrLeaseLost, ErrIdempotencyMismatch, ErrLimitReached
//     and context.Canceled, however wrapped, become the bare sentinel: they
//     say all there is;
//   - an *Error is kept, with op filled in if it had none;
//   - anything else becomes an *Error of its category (ErrUnavailable,
//     ErrTooLarge or ErrInvalid if it wraps one, ErrUnavailable for a
//     context deadline, else ErrInternal) that keeps it as the cause.
//
// So an engine need not decide, at every return, whether a third-party
// error might quote data: it passes everything through Safe.
func Safe(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e == err {
		if e.Op == "" {
			c := *e
			c.Op = op
			return &c
		}
		return e
	}
	for _, sentinel := range []error{ErrNotFound, ErrLeaseLost, ErrIdempotencyMismatch, ErrLimitReached, context.Canceled} {
		if errors.Is(err, sentinel) {
			return sentinel
		}
	}
	if errors.As(err, &e) {
		// An *Error wrapped by text that may quote data: keep its
		// fixed parts, and the whole as the cause.
		return &Error{Op: op, Kind: e.Kind, Detail: e.Detail, Err: err}
	}
	kind := ErrInternal
	switch {
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		kind = ErrUnavailable
	case errors.Is(err, ErrTooLarge):
		kind = ErrTooLarge
	case errors.Is(err, ErrInvalid):
		kind = ErrInvalid
	}
	return &Error{Op: op, Kind: kind, Err: err}
}
