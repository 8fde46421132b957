package endpoint

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/signing"
	"github.com/agenthook/agenthook/store/badgerstore"
)

// BenchmarkAsyncIntakeBadger drives the real async intake in-process, as
// bench P2 does over the network: an HMAC-signed JSON body, a new chat
// per request, into a Badger store with its journal, answered 202 once
// durable. Its allocs/op and B/op count the writer's and the syncer's
// goroutines too, so they are the intake's whole allocation cost.
func BenchmarkAsyncIntakeBadger(b *testing.B) {
	st, err := badgerstore.Open(badgerstore.Options{Dir: b.TempDir(), GCInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	const secret = "bench-hmac-secret"
	v, err := signing.NewHMAC(signing.HMACConfig{Secrets: []string{secret}})
	if err != nil {
		b.Fatal(err)
	}
	e := &Endpoint{
		Name:           "bench",
		Agent:          &handler.Agent{Name: "agent-a", ConversationHeader: testConvHeader},
		Auth:           Auth{Lines: lines(v)},
		Replay:         st,
		Mode:           ModeAsync,
		ChatHeader:     DefaultChatHeader,
		ContinueHeader: DefaultContinueHeader,
		MaxBody:        1 << 20,
		ChatTTL:        DefaultChatTTL,
		IdempotencyTTL: DefaultIdempotencyTTL,
		Store:          st,
		Logger:         zap.NewNop(),
		Now:            time.Now,
		Metrics:        handler.NopMetrics{},
	}
	target, _ := url.Parse("http://127.0.0.1/async")
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8) // concurrent requests share a group commit, as under P2's 64 connections
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mac := hmac.New(sha256.New, []byte(secret))
		for pb.Next() {
			n := strconv.FormatInt(seq.Add(1), 10)
			body := `{"prompt":"Where is my order ` + n + `? It was due yesterday and the tracking page has not changed since Monday.","customer":{"id":"c-` + n + `","tier":"gold"},"channel":"web","locale":"en-GB"}`
			mac.Reset()
			mac.Write([]byte(body))
			r := httptest.NewRequest(http.MethodPost, target.String(), strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-Signature", hex.EncodeToString(mac.Sum(nil)))
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			if w.Code != http.StatusAccepted {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}
