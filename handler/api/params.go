package api

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/store"
)

// Query parameters of the listings. A bad value is a 400 naming the
// parameter, never quoting the value.

func badParam(format string, args ...any) *handler.Error {
	return handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, format, args...)
}

// pageLimit reads limit: 1 to 1000, default store.DefaultListLimit.
func pageLimit(q url.Values) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return store.DefaultListLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, badParam("limit must be between 1 and 1000")
	}
	return n, nil
}

// idParam reads a parameter that holds an id (a task, a chat, a
// callback), or "".
func idParam(q url.Values, name string) (string, error) {
	s := q.Get(name)
	if s != "" && !handler.ValidID(s) {
		return "", badParam("%s must be an id: letters, digits, - and _, at most 64", name)
	}
	return s, nil
}

// eventParam reads event_type: a name such as task.succeeded.
func eventParam(q url.Values) (string, error) {
	s := q.Get("event_type")
	if len(s) > 64 {
		return "", badParam("event_type must be an event type such as task.succeeded")
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", badParam("event_type must be an event type such as task.succeeded")
		}
	}
	return s, nil
}

// timeRange reads since and until (RFC 3339); until must be after since.
func timeRange(q url.Values) (since, until time.Time, err error) {
	if since, err = timeParam(q.Get("since"), "since"); err != nil {
		return
	}
	if until, err = timeParam(q.Get("until"), "until"); err != nil {
		return
	}
	return since, until, checkRange(since, until)
}

func timeParam(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badParam("%s must be an RFC 3339 time, such as 2026-01-02T15:04:05Z", name)
	}
	return t, nil
}

func checkRange(since, until time.Time) error {
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return badParam("until must be after since")
	}
	return nil
}

// page is a listing's answer: the records and, when there are more, the
// cursor of the next page.
type page[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}
