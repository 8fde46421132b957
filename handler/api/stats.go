package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/stats"
)

// Defaults of the stats stream.
const (
	DefaultMaxStreams     = 16
	DefaultStreamInterval = 5 * time.Second
	DefaultHeartbeat      = 15 * time.Second
	// DefaultMaxStreamAge ends a stream after a while, so that a key
	// deleted or expired since it was checked does not watch forever: the
	// client connects again, and is asked for its key again.
	DefaultMaxStreamAge = 10 * time.Minute
)

// snapshot is the last hour for the request's key: its agents only, and
// queue depth (the store's, of every agent) only for keys that see every
// agent.
func (a *API) snapshot(ctx context.Context, c *caller) stats.Snapshot {
	all := len(c.Agents) == 0
	if all {
		a.sampleQueue(ctx)
	}
	s := a.Stats.Snapshot(c.sees, all)
	if !all {
		s.Agents = stats.AgentsOf(c.Agents)
	}
	return s
}

// sampleQueue reads the queue depth into the current minute.
func (a *API) sampleQueue(ctx context.Context) {
	if a.QueueDepth != nil {
		a.Stats.ReadQueue(ctx, a.QueueDepth, a.Logger)
	}
}

func (a *API) getStats(w http.ResponseWriter, r *http.Request) error {
	if a.Stats == nil {
		return handler.Errorf(http.StatusServiceUnavailable, handler.CodeUnavailable, "stats are not kept here")
	}
	handler.WriteJSON(w, http.StatusOK, a.snapshot(r.Context(), callerOf(r)))
	return nil
}

// streamStats sends the stats as Server-Sent Events: an event "stats"
// at once and then every StreamInterval, a comment line as heartbeat
// every Heartbeat in between, until the client leaves, MaxStreamAge
// passes or the API closes (config reload or shutdown). At most
// MaxStreams streams are open at once; more get 503.
//
// The stream takes the key as every route does, in Authorization:
// browsers' EventSource cannot send it, so the dashboard reads the stream
// with fetch. A key in the query string would end up in access logs.
func (a *API) streamStats(w http.ResponseWriter, r *http.Request) error {
	if a.Stats == nil {
		return handler.Errorf(http.StatusServiceUnavailable, handler.CodeUnavailable, "stats are not kept here")
	}
	select {
	case a.streams <- struct{}{}:
		defer func() { <-a.streams }()
	default:
		e := handler.Errorf(http.StatusServiceUnavailable, handler.CodeUnavailable, "too many stats streams are open; try again later")
		e.Header = http.Header{"Retry-After": {"30"}}
		return e
	}
	select {
	case <-a.done:
		return handler.Errorf(http.StatusServiceUnavailable, handler.CodeUnavailable, "the server is reloading or stopping")
	default:
	}
	c := callerOf(r)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	// write sends one piece, bounded in time so that a reader that stops
	// reading lets go of the stream.
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(a.streamInterval() + 10*time.Second))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	event := func() bool {
		b, err := json.Marshal(a.snapshot(ctx, c))
		if err != nil {
			a.Logger.Error("stats: encoding", zap.Error(err))
			return false
		}
		return write(append(append([]byte("event: stats\ndata: "), b...), '\n', '\n'))
	}
	// retry tells EventSource-like clients when to come back.
	if !write([]byte("retry: 5000\n\n")) || !event() {
		return nil
	}
	tick := time.NewTicker(a.streamInterval())
	defer tick.Stop()
	beat := time.NewTicker(a.heartbeat())
	defer beat.Stop()
	age := time.NewTimer(a.maxStreamAge())
	defer age.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.done:
			write([]byte("event: close\ndata: {\"reason\":\"reload\"}\n\n"))
			return nil
		case <-age.C:
			write([]byte("event: close\ndata: {\"reason\":\"max_age\"}\n\n"))
			return nil
		case <-beat.C:
			if a.Stopping != nil && a.Stopping() {
				write([]byte("event: close\ndata: {\"reason\":\"shutdown\"}\n\n"))
				return nil
			}
			if !write([]byte(": heartbeat\n\n")) {
				return nil
			}
		case <-tick.C:
			if a.Stopping != nil && a.Stopping() {
				write([]byte("event: close\ndata: {\"reason\":\"shutdown\"}\n\n"))
				return nil
			}
			if !event() {
				return nil
			}
		}
	}
}

func (a *API) streamInterval() time.Duration {
	if a.StreamInterval > 0 {
		return a.StreamInterval
	}
	return DefaultStreamInterval
}

func (a *API) heartbeat() time.Duration {
	if a.Heartbeat > 0 {
		return a.Heartbeat
	}
	return DefaultHeartbeat
}

func (a *API) maxStreamAge() time.Duration {
	if a.MaxStreamAge > 0 {
		return a.MaxStreamAge
	}
	return DefaultMaxStreamAge
}

func (a *API) maxStreams() int {
	if a.MaxStreams > 0 {
		return a.MaxStreams
	}
	return DefaultMaxStreams
}

// Close ends the open stats streams and refuses new ones: the config is
// being replaced, or the server stops. Safe to call more than once.
func (a *API) Close() {
	a.init()
	a.closeOnce.Do(func() { close(a.done) })
}

// init makes what the zero API lacks; every entry point calls it.
func (a *API) init() {
	a.initOnce.Do(func() {
		a.done = make(chan struct{})
		a.streams = make(chan struct{}, a.maxStreams())
		a.mux = a.routes()
	})
}
