package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agenthook/agenthook/store"
)

func TestWrapErr(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"connection refused", refused, true},
		{"connect error", fmt.Errorf("pool: %w", &pgconn.ConnectError{Config: &pgconn.Config{}}), true},
		{"EOF", io.ErrUnexpectedEOF, true},
		{"deadline", context.DeadlineExceeded, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"standby", &pgconn.PgError{Code: "25006"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"caller canceled", context.Canceled, false},
		{"plain", errors.New("bad input"), false},
	}
	for _, c := range cases {
		err := wrapErr("doing it", c.err)
		if got := errors.Is(err, store.ErrUnavailable); got != c.unavailable {
			t.Errorf("%s: errors.Is(ErrUnavailable) = %v, want %v (%v)", c.name, got, c.unavailable, err)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%s: the cause is not wrapped: %v", c.name, err)
		}
	}
	for _, sentinel := range []error{store.ErrNotFound, store.ErrLeaseLost, store.ErrIdempotencyMismatch} {
		if err := wrapErr("x", sentinel); err != sentinel {
			t.Errorf("wrapErr(%v) = %v, want it unchanged", sentinel, err)
		}
	}
	if wrapErr("x", nil) != nil {
		t.Errorf("wrapErr(nil) is not nil")
	}
	if err := notFound(pgx.ErrNoRows); err != store.ErrNotFound {
		t.Errorf("notFound(ErrNoRows) = %v", err)
	}
}

// TestWrapErrPrintsNoData: PostgreSQL's messages may quote values; the
// store's errors print none of them.
func TestWrapErrPrintsNoData(t *testing.T) {
	const secret = "s3cr3t-row-value"
	for _, cause := range []error{
		&pgconn.PgError{Code: "22P02", Message: `invalid input syntax for type json: "` + secret + `"`, Detail: secret},
		&pgconn.PgError{Code: "08006", Message: "lost " + secret},
		fmt.Errorf("decoding a task's request: %w", errors.New("invalid character in "+secret)),
	} {
		err := wrapErr("finishing task", cause)
		if strings.Contains(err.Error(), secret) {
			t.Errorf("wrapErr(%v) prints the data: %q", cause, err)
		}
		if !strings.HasPrefix(err.Error(), "finishing task: ") || !errors.Is(err, cause) {
			t.Errorf("wrapErr(%v) = %q, want the operation and the cause kept", cause, err)
		}
	}
}

func TestStrings(t *testing.T) {
	for s, want := range map[string]bool{"": false, "chat-1": true, "ü": true, "a\x00": false, "\xff": false} {
		if validID(s) != want {
			t.Errorf("validID(%q) = %v, want %v", s, !want, want)
		}
	}
	if got := cleanText("ok"); got != "ok" {
		t.Errorf("cleanText(ok) = %q", got)
	}
	if got := cleanText("a\x00b\xffc"); got != "a\uFFFDb\uFFFDc" {
		t.Errorf("cleanText = %q", got)
	}
	if a, b := lockKey("chat-1"), lockKey("chat-1"); a != b || a == lockKey("chat-2") {
		t.Errorf("lockKey is not a stable hash")
	}
}
