package store

// The RecordBytes methods count what a record weighs against
// MaxRecordBytes: the bytes of its variable-size fields (ids, texts,
// headers, bodies). Fixed-size fields and an engine's own encoding are
// not counted; MaxRecordBytes leaves room for them. Every engine counts
// with these methods, so they all refuse exactly the same records.

// RecordBytes counts the task's ids, texts, request (body included),
// result and meta.
func (t *Task) RecordBytes() int {
	n := len(t.ID) + len(t.Agent) + len(t.ChatID) + len(t.Principal) + len(t.Endpoint) + len(t.Error)
	n += t.Request.RecordBytes()
	if t.Result != nil {
		n += len(t.Result.ContentType) + len(t.Result.Body)
	}
	for k, v := range t.Meta {
		n += len(k) + len(v)
	}
	return n
}

// RecordBytes counts the request's method, host, path, query, headers,
// remote address and body.
func (r *Request) RecordBytes() int {
	n := len(r.Method) + len(r.Host) + len(r.Path) + len(r.RawQuery) + len(r.RemoteAddr) + len(r.Body)
	for k, vs := range r.Header {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	return n
}

// RecordBytes counts what the task t, as its holder claimed it, weighs
// once f has finished it: its result and error replace what it had, and
// its request body is gone, since no engine keeps the body of a final
// task. FinishTask refuses f with ErrTooLarge when this is over
// MaxRecordBytes, or when one of f's deliveries is.
func (f *TaskFinish) RecordBytes(t *Task) int {
	final := *t
	final.Request.Body = nil
	final.Result, final.Error = f.Result, f.Error
	return final.RecordBytes()
}

// RecordBytes counts the delivery's ids, event type, payload, last error
// and attempt log.
func (d *Delivery) RecordBytes() int {
	n := len(d.ID) + len(d.MessageID) + len(d.TaskID) + len(d.Agent) + len(d.ChatID) + len(d.CallbackID) + len(d.OrderKey)
	n += len(d.EventType) + len(d.Payload) + len(d.LastError)
	for _, a := range d.Attempts {
		n += a.RecordBytes()
	}
	return n
}

// RecordBytes counts the attempt's error, response and response headers.
func (a *Attempt) RecordBytes() int {
	n := len(a.Error) + len(a.Response) + len(a.ResponseBase64)
	for k, vs := range a.ResponseHeader {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	return n
}

// RecordBytes counts the chat's ids, principal and conversation id.
func (c *Chat) RecordBytes() int {
	return len(c.ID) + len(c.Agent) + len(c.Principal) + len(c.ConversationID)
}

// RecordBytes counts the registration's ids and texts, its options'
// included.
func (r *Registration) RecordBytes() int {
	return len(r.ID) + len(r.Agent) + len(r.URL) + len(r.Method) + len(r.Status) + len(r.Secret) +
		len(r.Format) + len(r.DisabledReason) + r.Options.recordBytes()
}

func (o *RegistrationOptions) recordBytes() int {
	n := len(o.Filter) + len(o.Endpoint) + 8*len(o.RetrySchedule)
	for _, e := range o.Events {
		n += len(e)
	}
	for k, vs := range o.Headers {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	if b := o.BasicAuth; b != nil {
		n += len(b.Username) + len(b.Password)
	}
	if h := o.HMAC; h != nil {
		n += len(h.Secret) + len(h.Header) + len(h.Algorithm) + len(h.Encoding) + len(h.Prefix)
	}
	for _, s := range o.PreviousSecrets {
		n += len(s.Secret)
	}
	return n
}

// RecordBytes counts the callback state's ids and reason.
func (s *CallbackState) RecordBytes() int { return len(s.ID) + len(s.Agent) + len(s.Reason) }

// CheckSize returns an ErrTooLarge error if a record weighs more than
// MaxRecordBytes, naming the kind of record (fixed text, never data).
func CheckSize(what string, bytes int) error {
	if bytes > MaxRecordBytes {
		return TooLarge(what + " is over the record size limit")
	}
	return nil
}
