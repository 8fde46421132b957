package badgerstore

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/agenthook/agenthook/store"
)

// fillAll sets every field of v, recursively, to something not zero.
func fillAll(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString("x<\u2028\"é")
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte("body")) // json:"-": must stay out
			return
		}
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillAll(t, s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"b", "a"} {
			e := reflect.New(v.Type().Elem()).Elem()
			fillAll(t, e)
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillAll(t, p.Elem())
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("", 5*3600+30*60))))
			return
		}
		for i := range v.NumField() {
			fillAll(t, v.Field(i))
		}
	default:
		t.Fatalf("fillAll: no value for a %s; teach it, and appendTaskJSON the new field", v.Type())
	}
}

func checkTaskJSON(t *testing.T, task *store.Task) {
	t.Helper()
	want, werr := json.Marshal(task)
	got, ok := appendTaskJSON(nil, task, false)
	if !ok {
		if werr == nil {
			// A fallback is allowed, but only where json.Marshal is the
			// one that must decide.
			for _, at := range []time.Time{task.RunAfter, task.LeaseUntil, task.CreatedAt, task.UpdatedAt, task.FinishedAt, task.ExpiresAt} {
				if !at.IsZero() && !plainTime(at) {
					return
				}
			}
			t.Fatalf("appendTaskJSON gave up on a task json.Marshal encodes: %s", want)
		}
		return
	}
	if werr != nil {
		t.Fatalf("appendTaskJSON wrote %s where json.Marshal fails: %v", got, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("appendTaskJSON differs from json.Marshal:\n got %s\nwant %s", got, want)
	}
	checkTaskRecord(t, task)
}

// jsonReadBack returns json.Marshal of what json.Marshal(v) reads back
// as: what JSON itself changes (invalid UTF-8 becomes U+FFFD, so two
// header names may become one) is then the same in either form of a
// record. ok is false where json.Marshal refuses v.
func jsonReadBack[T any](t *testing.T, v *T) (_ []byte, ok bool) {
	t.Helper()
	full, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	var back T
	if err := json.Unmarshal(full, &back); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(&back)
	if err != nil {
		t.Fatal(err)
	}
	return out, true
}

// checkTaskRecord: the record encodeTask writes, compact or not, reads
// back as the task json.Marshal writes reads back, body included.
func checkTaskRecord(t *testing.T, task *store.Task) {
	t.Helper()
	want, ok := jsonReadBack(t, task)
	if !ok {
		return
	}
	v, err := encodeTask(task, []byte("body"))
	if err != nil {
		t.Fatalf("encodeTask: %v", err)
	}
	meta, _, compact, err := unrecord(v)
	if err != nil {
		t.Fatalf("unrecord: %v", err)
	}
	// Compact where appendTaskJSON writes the task itself; json.Marshal's
	// fallback writes the full form.
	_, fast := appendTaskJSON(nil, task, false)
	if compact != (compactable(task) && fast) {
		t.Fatalf("compact %v for a task compactable %v (fast path %v): %s", compact, compactable(task), fast, meta)
	}
	if compact && bytes.Contains(meta, []byte(`"id":`)) {
		t.Fatalf("a compact record names the id: %s", meta)
	}
	var back store.Task
	body, err := decodeTask(task.ID, v, &back)
	if err != nil {
		t.Fatalf("decodeTask %s: %v", meta, err)
	}
	got, err := json.Marshal(&back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || string(body) != "body" {
		t.Fatalf("the record reads back otherwise (compact %v):\n got %s %q\nwant %s \"body\"\nrecord %s", compact, got, body, want, meta)
	}
}

// TestTaskJSONCoversEveryField: with every field of store.Task set,
// appendTaskJSON writes what json.Marshal writes. A field added to
// store.Task and not to appendTaskJSON fails here.
func TestTaskJSONCoversEveryField(t *testing.T) {
	var task store.Task
	fillAll(t, reflect.ValueOf(&task).Elem())
	task.Request.Header["Nil"] = nil
	checkTaskJSON(t, &task)
	checkTaskJSON(t, &store.Task{})
	checkTaskJSON(t, &store.Task{ID: "a", Status: store.TaskPending, Request: store.Request{Header: http.Header{}}, Meta: map[string]string{}})
	// What json.Marshal refuses, appendTaskJSON leaves to it.
	checkTaskJSON(t, &store.Task{ID: "a", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	checkTaskJSON(t, &store.Task{ID: "a", CreatedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("", 30))})
	// Compact records: the times a compact record leaves out, and those
	// it must keep because they differ from the creation time (in the
	// instant or only in the zone) or are zero.
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, c := range []struct{ run, upd time.Time }{
		{at, at},
		{at.Add(time.Minute), at},
		{at, at.Add(time.Nanosecond)},
		{at.In(time.FixedZone("", 3600)), at.In(time.FixedZone("", 0))},
		{time.Time{}, at},
		{at, time.Time{}},
	} {
		checkTaskJSON(t, &store.Task{ID: "t1", Agent: "a", ChatID: "c", Status: store.TaskPending, CreatedAt: at, RunAfter: c.run, UpdatedAt: c.upd})
	}
}

// FuzzTaskJSON: appendTaskJSON writes json.Marshal's bytes for any
// strings, numbers and times.
func FuzzTaskJSON(f *testing.F) {
	f.Add("id", "agent", "p/q\u2028<&>\x00\xff", "POST", "k", "v", int64(3), 2, int64(1893456000123456789), 0, true)
	f.Add("", "", "", "", "", "", int64(0), 0, int64(0), 0, false)
	f.Fuzz(func(t *testing.T, id, agent, text, method, hk, hv string, seq int64, attempts int, at int64, zone int, sensitive bool) {
		var when time.Time
		if at != 0 {
			when = time.Unix(0, at).In(time.FixedZone("", zone%(26*3600)))
		}
		task := &store.Task{
			ID: id, Agent: agent, ChatID: text, Principal: text + id, Endpoint: text,
			Seq: seq, Status: store.TaskStatus(text), Error: text, Attempts: attempts,
			Request: store.Request{Method: method, Host: text, Path: text, RawQuery: text, RemoteAddr: text, Header: http.Header{hk: {hv, text}, text: nil}},
			// The run and update times are the creation time or not, so
			// that compact records leave them out or keep them.
			RunAfter:   when.Add(time.Duration(seq%2) * time.Minute),
			LeaseOwner: text, LeaseUntil: when.Add(time.Second), CreatedAt: when, UpdatedAt: when.Add(time.Duration(attempts % 3)), FinishedAt: when, ExpiresAt: when,
			Sensitive: sensitive,
			Meta:      map[string]string{hk: hv, text: id},
		}
		if attempts%2 == 0 {
			task.Result = &store.Result{StatusCode: attempts, ContentType: text}
		}
		checkTaskJSON(t, task)
	})
}

// TestEncodeTaskFallback: where appendTaskJSON gives up, encodeTask
// frames json.Marshal's answer (or its error) as it always did, in the
// full form even where a compact record could have been written.
func TestEncodeTaskFallback(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("", 30)),
		time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), // the fast path, for comparison
	} {
		task := &store.Task{ID: "a", Status: store.TaskPending, CreatedAt: at, UpdatedAt: at, RunAfter: at}
		if plainTime(at) {
			checkTaskRecord(t, task)
			continue
		}
		got, err := encodeTask(task, []byte("body"))
		meta, werr := json.Marshal(task)
		if (err != nil) != (werr != nil) {
			t.Fatalf("%v: encodeTask error %v, json.Marshal error %v", at, err, werr)
		}
		if werr == nil && !bytes.Equal(got, record(meta, []byte("body"))) {
			t.Fatalf("%v: encodeTask wrote %q, want %q", at, got, record(meta, []byte("body")))
		}
	}
}
