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
func appendTaskJSON(b []byte, t *store.Task) (_ []byte, ok bool) {
	b = append(b, `{"id":`...)
	b = appendJSONStr(b, t.ID)
	b = append(b, `,"agent":`...)
	b = appendJSONStr(b, t.Agent)
	b = append(b, `,"chat_id":`...)
	b = appendJSONStr(b, t.ChatID)
	b = append(b, `,"principal":`...)
	b = appendJSONStr(b, t.Principal)
	if t.Endpoint != "" {
		b = append(b, `,"endpoint":`...)
		b = appendJSONStr(b, t.Endpoint)
	}
	if t.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, t.Seq, 10)
	}
	b = append(b, `,"status":`...)
	b = appendJSONStr(b, string(t.Status))

	r := &t.Request
	b = append(b, `,"request":{"method":`...)
	b = appendJSONStr(b, r.Method)
	if r.Host != "" {
		b = append(b, `,"host":`...)
		b = appendJSONStr(b, r.Host)
	}
	b = append(b, `,"path":`...)
	b = appendJSONStr(b, r.Path)
	if r.RawQuery != "" {
		b = append(b, `,"raw_query":`...)
		b = appendJSONStr(b, r.RawQuery)
	}
	if len(r.Header) > 0 {
		b = append(b, `,"header":`...)
		b = appendHeaderJSON(b, r.Header)
	}
	if r.RemoteAddr != "" {
		b = append(b, `,"remote_addr":`...)
		b = appendJSONStr(b, r.RemoteAddr)
	}
	b = append(b, '}')

	if t.Result != nil {
		b = append(b, `,"result":{"status_code":`...)
		b = strconv.AppendInt(b, int64(t.Result.StatusCode), 10)
		if t.Result.ContentType != "" {
			b = append(b, `,"content_type":`...)
			b = appendJSONStr(b, t.Result.ContentType)
		}
		b = append(b, '}')
	}
	if t.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONStr(b, t.Error)
	}
	if t.Attempts != 0 {
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(t.Attempts), 10)
	}
	for _, f := range [...]struct {
		name string
		at   time.Time
		str  string
	}{
		{name: `,"run_after":`, at: t.RunAfter},
		{name: `,"lease_owner":`, str: t.LeaseOwner},
		{name: `,"lease_until":`, at: t.LeaseUntil},
		{name: `,"created_at":`, at: t.CreatedAt},
		{name: `,"updated_at":`, at: t.UpdatedAt},
		{name: `,"finished_at":`, at: t.FinishedAt},
		{name: `,"expires_at":`, at: t.ExpiresAt},
	} {
		if f.str != "" {
			b = append(b, f.name...)
			b = appendJSONStr(b, f.str)
			continue
		}
		if f.at.IsZero() {
			continue
		}
		if !plainTime(f.at) {
			return b, false
		}
		b = append(b, f.name...)
		b = append(b, '"')
		b = f.at.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
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
