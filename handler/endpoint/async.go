package endpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/tracing"
	"github.com/agenthook/agenthook/store"
)

// hopHeaders are never stored with a task: they describe the caller's
// connection, not the request.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Cookie", "Authorization",
	"Idempotency-Key",
}

// defaultChatTTL is DefaultChatTTL as Duration.String writes it, which
// every task of an endpoint with the default stores.
var defaultChatTTL = DefaultChatTTL.String()

// durationString is d.String(), without its allocation for the default
// chat TTL.
func durationString(d time.Duration) string {
	if d == DefaultChatTTL {
		return defaultChatTTL
	}
	return d.String()
}

// accepted is the 202 answer of an async endpoint.
type accepted struct {
	TaskID string `json:"task_id"`
	ChatID string `json:"chat_id"`
}

// serveAsync stores the task durably and answers 202.
func (e *Endpoint) serveAsync(w http.ResponseWriter, r *http.Request, c *call) (string, error) {
	ctx, cancel := handler.WithStoreTimeout(r.Context())
	defer cancel()
	// With Caddy's tracing handler on, the trace goes on past the 202:
	// the task's backend and delivery attempts are children of this span.
	ctx, span := tracing.StartIntake(ctx, tracing.AttrAgent.String(c.agent.Name), tracing.AttrChatID.String(c.chat.ID))
	defer span.End()
	if e.MaxQueue > 0 {
		pending, _, err := e.Store.TaskCounts(ctx)
		if err != nil {
			return "", handler.StoreError(err)
		}
		if pending >= e.MaxQueue {
			return "", &handler.Error{
				Status:     http.StatusServiceUnavailable,
				Code:       handler.CodeOverloaded,
				Message:    "too many tasks are waiting, try again later",
				RetryAfter: 5,
			}
		}
	}
	header, err := e.queuedHeader(r, c)
	if err != nil {
		return "", err
	}
	task := &store.Task{
		ID:        handler.NewID(),
		Agent:     c.agent.Name,
		ChatID:    c.chat.ID,
		Principal: c.principal,
		Endpoint:  e.Name,
		Request: store.Request{
			Method:     r.Method,
			Host:       r.Host,
			Path:       r.URL.Path,
			RawQuery:   r.URL.RawQuery,
			Header:     header,
			RemoteAddr: r.RemoteAddr,
			Body:       c.body,
		},
		Sensitive: c.sensitive,
		Meta:      make(map[string]string, len(c.msg.Meta)+1),
	}
	maps.Copy(task.Meta, c.msg.Meta)
	tracing.Store(ctx, task.Meta)
	// The runner pushes the chat's expiry out when the task finishes, as a
	// sync turn does: a chat used only through async stays alive.
	task.Meta[handler.MetaChatTTL] = durationString(e.ChatTTL)
	if c.hops > 0 {
		// Its deliveries carry one more (see handler.HeaderHops).
		task.Meta[handler.MetaHops] = strconv.Itoa(c.hops)
	}
	n := store.NewTask{Task: task}
	if c.newChat {
		n.Chat = c.chat
	}
	chatID := c.chat.ID
	if c.newChat && c.msg.Session == nil {
		// A new chat id is random, so it cannot be part of what makes
		// two requests the same.
		chatID = ""
	}
	// The fingerprint hashes the whole body: only a request that names
	// a key needs it.
	fingerprint := func() string { return hashParts(r.URL.Path, r.URL.RawQuery, chatID, string(c.body)) }
	if key := c.identity.ReplayKey; key != "" {
		// A signed message id is the sender's own idempotency key: a
		// retry of an accepted message gets the first 202, in the same
		// transaction as the task, so nothing is ever run twice. (It takes
		// the place of an Idempotency-Key header, which senders of signed
		// messages do not send.)
		n.Idempotency = &store.Idempotency{Key: key, Fingerprint: fingerprint(), ExpiresAt: e.Now().Add(e.replayTTL(c))}
	} else if key := r.Header.Get("Idempotency-Key"); key != "" {
		if len(key) > maxIdempotencyKey {
			return "", handler.Errorf(http.StatusBadRequest, handler.CodeBadRequest, "the Idempotency-Key header is longer than %d characters", maxIdempotencyKey)
		}
		n.Idempotency = &store.Idempotency{
			// The principal holds the endpoint's name: keys of one caller
			// never meet another's.
			Key:         hashParts("idem", c.principal, c.agent.Name, key),
			Fingerprint: fingerprint(),
			ExpiresAt:   e.Now().Add(e.IdempotencyTTL),
		}
	}
	created, err := e.Store.CreateTask(ctx, n)
	if errors.Is(err, store.ErrIdempotencyMismatch) {
		if c.identity.ReplayKey != "" {
			return "", handler.Errorf(http.StatusConflict, handler.CodeReplayed, "this message id was already used for a different message")
		}
		return "", handler.Errorf(http.StatusConflict, handler.CodeIdempotency, "this Idempotency-Key was already used with a different request")
	}
	if err != nil {
		return "", handler.StoreError(err)
	}
	t := created.Task
	span.SetAttributes(tracing.AttrTaskID.String(t.ID))
	e.value(r, ValueChatID, t.ChatID)
	e.value(r, ValueTaskID, t.ID)
	w.Header().Set(e.ChatHeader, t.ChatID)
	if created.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	handler.WriteRawJSON(w, http.StatusAccepted, acceptedJSON(t.ID, t.ChatID))
	return "accepted", nil
}

// acceptedJSON is the JSON of accepted{taskID, chatID} and a newline, as
// handler.WriteJSON writes it, without its reflection and buffers: every
// 202 of an async endpoint writes one.
func acceptedJSON(taskID, chatID string) []byte {
	b := make([]byte, 0, len(`{"task_id":"","chat_id":""}`)+len(taskID)+len(chatID)+1)
	b = append(b, `{"task_id":`...)
	b = handler.AppendJSONString(b, taskID)
	b = append(b, `,"chat_id":`...)
	b = handler.AppendJSONString(b, chatID)
	return append(b, "}\n"...)
}

// queuedHeader keeps the request headers the backend should see later,
// without credentials, connection details or X-Agenthook-* headers (the
// worker sets its own; the Idempotency-Key it sends is the task id).
func (e *Endpoint) queuedHeader(r *http.Request, c *call) (http.Header, error) {
	h := r.Header.Clone()
	for _, name := range hopHeaders {
		h.Del(name)
	}
	for _, name := range e.StripHeaders {
		h.Del(name)
	}
	handler.StripReserved(h)
	h.Del(e.ContinueHeader)
	if ch := c.agent.ConversationHeader; ch != "" {
		h.Del(ch)
	}
	size := 0
	for k, vs := range h {
		for _, v := range vs {
			size += len(k) + len(v) + 4
		}
	}
	if size > maxQueuedHeaderBytes {
		return nil, handler.Errorf(http.StatusRequestHeaderFieldsTooLarge, handler.CodeBadRequest, "the request headers are too large to queue (over %d bytes)", maxQueuedHeaderBytes)
	}
	return h, nil
}

// hashParts hashes a tuple without ambiguity between its parts. The
// parts go into one buffer hashed at once: a hash.Hash would take each
// part as a []byte converted (and copied) on the heap.
func hashParts(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	var small [512]byte
	b := small[:0]
	if n > len(small) {
		b = make([]byte, 0, n)
	}
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
