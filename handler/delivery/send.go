package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/tracing"
	"github.com/agenthook/agenthook/store"
)

// send makes the HTTP request of one attempt.
func (d *Dispatcher) send(ctx context.Context, client *http.Client, cb *Callback, dl *store.Delivery, origin string) (store.Attempt, *http.Response) {
	now := d.Now()
	att := store.Attempt{At: now}
	req, err := http.NewRequestWithContext(ctx, cb.Method, cb.URL, bytes.NewReader(dl.Payload))
	if err != nil {
		att.Error = "building the request: " + attemptError(err)
		return att, nil
	}
	h := req.Header
	for k, vs := range cb.Header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "agenthook")
	h.Set("X-Agenthook-Event", dl.EventType)
	h.Set("X-Agenthook-Attempt", strconv.Itoa(dl.AttemptCount+1))
	// Loop protection: a receiver that is an agenthook endpoint refuses
	// our own deliveries and chains that grew too long.
	h.Set(handler.HeaderHops, strconv.Itoa(max(dl.Hops, 1)))
	h.Set(handler.HeaderOrigin, origin)
	// webhook-id lets receivers drop duplicates: it is the same on every
	// attempt. The timestamp is the attempt's own.
	h.Set("Webhook-Id", dl.ID)
	h.Set("Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10))
	for _, s := range cb.Signers {
		for k, vs := range s.Sign(dl.ID, now, dl.Payload) {
			h[k] = vs
		}
	}
	if cb.BasicUser != "" {
		req.SetBasicAuth(cb.BasicUser, cb.BasicPassword)
	}
	tracing.Inject(ctx, h)
	start := time.Now()
	resp, err := client.Do(req)
	att.Latency = time.Since(start)
	if err != nil {
		att.Error = attemptError(err)
		return att, nil
	}
	defer resp.Body.Close()
	att.StatusCode = resp.StatusCode
	snippet := make([]byte, snippetSize)
	n, _ := io.ReadFull(resp.Body, snippet)
	att.Response = strings.ToValidUTF8(string(snippet[:n]), "?")
	// Drain a little so the connection can be reused; a receiver that
	// answers at length is cut off.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	att.Latency = time.Since(start)
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		att.Error = fmt.Sprintf("the receiver answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			att.Error += " (redirects are not followed)"
		}
	}
	return att, resp
}

// ErrRefused is what a client's dialer wraps when it refuses to connect
// to an address (see caddymodule's egress). An attempt refused so records
// this sentence and nothing else: not the address, which would tell the
// API's callers what a name resolves to, and no answer, since nothing was
// sent.
var ErrRefused = errors.New("the callback URL is refused: it is not a public http(s) address this server may call")

// attemptError describes a failed request without its URL, which may
// hold a receiver's token, and without the addresses it dialled.
func attemptError(err error) string {
	if errors.Is(err, ErrRefused) {
		return ErrRefused.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the receiver did not answer in time"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		// "dial tcp 10.0.0.7:80: connect: connection refused" names the
		// address a host name resolved to; the cause alone does not.
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}
