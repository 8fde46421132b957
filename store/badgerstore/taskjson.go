package badgerstore

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/agenthook/agenthook/store"
)

// appendTaskJSON appends json.Marshal(t), byte for byte, without
// reflection: every intake, retry and finish encodes a task, and
// json.Marshal was about a twentieth of Caddy's CPU at full intake.
// FuzzTaskJSON holds it to json.Marshal. ok is false for what it does
// not write itself (a time outside years 0-9999, which json.Marshal
// refuses); the caller then uses json.Marshal.
//
// Keep it in step with store.Task: a field added there and not here
// fails TestTaskJSONCoversEveryField.
//
// compact leaves out "id", and "updated_at" and "run_after" where they
// are the same as "created_at" (see compactRecord).
func appendTaskJSON(b []byte, t *store.Task, compact bool) (_ []byte, ok bool) {
	if compact {
		b = appendStrField(b, `{"agent":`, t.Agent)
	} else {
		b = appendStrField(b, `{"id":`, t.ID)
		b = appendStrField(b, `,"agent":`, t.Agent)
	}
	b = appendStrField(b, `,"chat_id":`, t.ChatID)
	b = appendStrField(b, `,"principal":`, t.Principal)
	if t.Endpoint != "" {
		b = appendStrField(b, `,"endpoint":`, t.Endpoint)
	}
	if t.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, t.Seq, 10)
	}
	b = appendStrField(b, `,"status":`, string(t.Status))

	r := &t.Request
	b = appendStrField(b, `,"request":{"method":`, r.Method)
	if r.Host != "" {
		b = appendStrField(b, `,"host":`, r.Host)
	}
	b = appendStrField(b, `,"path":`, r.Path)
	if r.RawQuery != "" {
		b = appendStrField(b, `,"raw_query":`, r.RawQuery)
	}
	if len(r.Header) > 0 {
		b = append(b, `,"header":`...)
		b = appendHeaderJSON(b, r.Header)
	}
	if r.RemoteAddr != "" {
		b = appendStrField(b, `,"remote_addr":`, r.RemoteAddr)
	}
	b = append(b, '}')

	if t.Result != nil {
		b = append(b, `,"result":{"status_code":`...)
		b = strconv.AppendInt(b, int64(t.Result.StatusCode), 10)
		if t.Result.ContentType != "" {
			b = appendStrField(b, `,"content_type":`, t.Result.ContentType)
		}
		b = append(b, '}')
	}
	if t.Error != "" {
		b = appendStrField(b, `,"error":`, t.Error)
	}
	if t.Attempts != 0 {
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(t.Attempts), 10)
	}
	if !compact || !sameTime(t.RunAfter, t.CreatedAt) {
		if b, ok = appendTimeField(b, `,"run_after":`, t.RunAfter); !ok {
			return b, false
		}
	}
	if t.LeaseOwner != "" {
		b = appendStrField(b, `,"lease_owner":`, t.LeaseOwner)
	}
	for _, f := range [...]struct {
		name string
		at   time.Time
		omit bool
	}{
		{`,"lease_until":`, t.LeaseUntil, false},
		{`,"created_at":`, t.CreatedAt, false},
		{`,"updated_at":`, t.UpdatedAt, compact && sameTime(t.UpdatedAt, t.CreatedAt)},
		{`,"finished_at":`, t.FinishedAt, false},
		{`,"expires_at":`, t.ExpiresAt, false},
	} {
		if f.omit {
			continue
		}
		if b, ok = appendTimeField(b, f.name, f.at); !ok {
			return b, false
		}
	}
	if t.Sensitive {
		b = append(b, `,"sensitive":true`...)
	}
	if len(t.Meta) > 0 {
		b = append(b, `,"meta":{`...)
		keys := make([]string, 0, len(t.Meta))
		for k := range t.Meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONStr(b, k)
			b = append(b, ':')
			b = appendJSONStr(b, t.Meta[k])
		}
		b = append(b, '}')
	}
	return append(b, '}'), true
}

// appendStrField appends a member's name (with what goes before it) and
// its string value.
func appendStrField(b []byte, name, s string) []byte {
	return appendJSONStr(append(b, name...), s)
}

// appendTimeField appends a time member unless the time is zero
// (omitzero); ok is false for a time plainTime refuses.
func appendTimeField(b []byte, name string, at time.Time) (_ []byte, ok bool) {
	if at.IsZero() {
		return b, true
	}
	if !plainTime(at) {
		return b, false
	}
	b = append(append(b, name...), '"')
	b = at.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

// plainTime reports whether appendTaskJSON writes t as json.Marshal
// does: a four-digit year, and a zone offset in whole minutes under a
// day (json.Marshal refuses or rounds the others).
func plainTime(t time.Time) bool {
	_, off := t.Zone()
	y := t.Year()
	return y >= 0 && y <= 9999 && off%60 == 0 && off > -24*3600 && off < 24*3600
}

// appendHeaderJSON writes a header as json.Marshal does a
// map[string][]string: keys sorted, a nil list as null.
func appendHeaderJSON(b []byte, h http.Header) []byte {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONStr(b, k)
		b = append(b, ':')
		vs := h[k]
		if vs == nil {
			b = append(b, "null"...)
			continue
		}
		b = append(b, '[')
		for j, v := range vs {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONStr(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONStr is appendJSONString for a string json.Marshal always
// encodes (a Go string has no value it refuses).
func appendJSONStr(b []byte, s string) []byte {
	b, _ = appendJSONString(b, s)
	return b
}
