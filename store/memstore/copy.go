package memstore

import (
	"maps"
	"slices"

	"github.com/agenthook/agenthook/store"
)

// The store keeps its own copies of what it is given and hands out copies
// of what it keeps, as an engine that serializes records does without
// trying: a caller that changes a struct after a call, or one it got back,
// changes nothing stored. Byte slices, headers, maps and attempt logs are
// copied too.

func copyTask(t *store.Task, withBody bool) *store.Task {
	c := *t
	c.Request.Header = t.Request.Header.Clone()
	c.Request.Body = nil
	if withBody {
		c.Request.Body = cloneBytes(t.Request.Body)
	}
	if t.Result != nil {
		r := *t.Result
		r.Body = cloneBytes(t.Result.Body)
		c.Result = &r
	}
	c.Meta = maps.Clone(t.Meta)
	return &c
}

func copyDelivery(d *store.Delivery, withPayload bool) *store.Delivery {
	c := *d
	c.Payload = nil
	if withPayload {
		c.Payload = cloneBytes(d.Payload)
	}
	c.Attempts = slices.Clone(d.Attempts)
	for i := range c.Attempts {
		c.Attempts[i].ResponseHeader = c.Attempts[i].ResponseHeader.Clone()
	}
	return &c
}

func copyRegistration(r *store.Registration) *store.Registration {
	c := *r
	o := &c.Options
	o.Events = slices.Clone(r.Options.Events)
	o.Headers = r.Options.Headers.Clone()
	o.RetrySchedule = slices.Clone(r.Options.RetrySchedule)
	o.PreviousSecrets = slices.Clone(r.Options.PreviousSecrets)
	if b := r.Options.BasicAuth; b != nil {
		cp := *b
		o.BasicAuth = &cp
	}
	if h := r.Options.HMAC; h != nil {
		cp := *h
		o.HMAC = &cp
	}
	return &c
}

// cloneBytes copies b, keeping nil and empty apart as the caller gave them.
func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
