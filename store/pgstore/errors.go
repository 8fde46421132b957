package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"go.uber.org/zap"

	"github.com/agenthook/agenthook/store"
)

// wrapErr turns err into what the store returns for the operation what:
// store.ErrUnavailable when err means the database could not be reached,
// so that handlers answer 503 and callers retry, and in any case an error
// that prints no data (store.Safe): PostgreSQL's messages may quote values.
// The store's own sentinel errors come back bare, for errors.Is.
func wrapErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, store.ErrUnavailable) && unavailable(err):
		lastOutage.Store(time.Now().UnixNano())
		return &store.Error{Op: what, Kind: store.ErrUnavailable, Err: err}
	}
	return store.Safe(what, err)
}

// openErr describes a failure of Open. Unlike the errors of operations on
// records, it keeps the driver's text: it is about reaching the server (an
// address, a user name, "connection refused", a password that failed) and
// about the schema, which is what an operator needs to fix the config, and
// pgx leaves the password out of it. It wraps store.ErrUnavailable when
// the database could not be reached.
func openErr(what string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("%s: %w: %w", what, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// errField logs err: with the driver's text when it is about reaching
// the server (it names addresses, never data), and as the store returns
// it otherwise, since a database's message may quote values.
func errField(err error) zap.Field {
	if unavailable(err) {
		return zap.Error(err)
	}
	return zap.Error(wrapErr("", err))
}

// lastOutage is when an error last showed the database out of reach; for
// outagePingWindow after it, pooled connections are checked before use.
var lastOutage atomic.Int64

const outagePingWindow = 30 * time.Second

// unavailable reports whether err comes from the database being out of
// reach (down, restarting, overloaded, or the network between) rather
// than from the request itself.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code := pgErr.Code
		switch {
		case strings.HasPrefix(code, "08"): // connection exception
			return true
		case strings.HasPrefix(code, "53"): // insufficient resources: too many connections, disk full
			return true
		case strings.HasPrefix(code, "58"): // system error: I/O
			return true
		case code == "57P01", code == "57P02", code == "57P03": // shutting down, crashed, starting up
			return true
		case code == "57014": // query canceled: a statement timeout
			return true
		case code == "25006": // read-only transaction: we reached a standby after a failover
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) {
		// The caller gave up; that says nothing about the database.
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.Timeout(err) ||
		// A connection found closed or busy before anything was sent.
		pgconn.SafeToRetry(err)
}

// isUniqueViolation reports a duplicate primary key.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// notFound turns "no rows" into store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// validID reports whether s can be a key in a text column: PostgreSQL text
// holds neither NUL nor invalid UTF-8. Ids that fail cannot have been
// stored, so lookups answer ErrNotFound without asking the database.
func validID(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// validText is validID allowing the empty string.
func validText(s string) bool { return s == "" || validID(s) }

// cleanText makes free text (error messages, reasons) storable. Unlike ids,
// these are only read by people, so a lossy repair beats refusing them.
func cleanText(s string) string {
	if validText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// ts encodes a time for a nullable timestamptz: Go's zero time is NULL.
func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// fromTS decodes a nullable timestamptz, in UTC.
func fromTS(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
}
