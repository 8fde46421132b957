package e2e

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/agenthook/agenthook/internal/testkit"
)

// otlpReceiver is a tiny OTLP/HTTP (protobuf) trace receiver on loopback,
// where Caddy's tracing module exports through the OTEL_EXPORTER_OTLP_*
// environment.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []otlpSpan
}

type otlpSpan struct {
	Name, TraceID, SpanID, ParentID string
	Attrs                           map[string]string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	o := &otlpReceiver{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
			http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
			return
		}
		o.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					sp := otlpSpan{Name: s.Name, TraceID: hex.EncodeToString(s.TraceId), SpanID: hex.EncodeToString(s.SpanId), ParentID: hex.EncodeToString(s.ParentSpanId), Attrs: map[string]string{}}
					for _, kv := range s.Attributes {
						v := kv.Value.GetStringValue()
						if v == "" {
							v = fmt.Sprint(kv.Value.GetIntValue())
						}
						sp.Attrs[kv.Key] = v
					}
					o.spans = append(o.spans, sp)
				}
			}
		}
		o.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *otlpReceiver) named(name string) []otlpSpan {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []otlpSpan
	for _, s := range o.spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// TestTracingAcrossTheAsyncPath: with Caddy's tracing handler on, the
// request's trace goes on past the 202. The intake span, each backend
// attempt's and each delivery attempt's share the caller's trace id, and
// the backend and the callback receive a traceparent of that trace.
func TestTracingAcrossTheAsyncPath(t *testing.T) {
	otlp := newOTLPReceiver(t)
	agent := testkit.NewAgent(t)
	var calls int
	var mu sync.Mutex
	agent.Handle = func(w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // one retried attempt
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"answer":"ok"}`)
	}
	sink := testkit.NewSink(t)
	c := testkit.New(t)
	c.Env = []string{
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + otlp.URL + "/v1/traces",
		"OTEL_BSP_SCHEDULE_DELAY=100",
	}
	globals := fmt.Sprintf(`		queue {
			backoff 50ms
		}
		delivery {
			allow_networks 127.0.0.1/32
		}
		agent support {
			reverse_proxy %s
			callback %s/hook
		}`, agent.Addr(), sink.URL)
	s := startSiteOn(t, c, globals, `
	tracing {
		span caddy-request
	}
	agenthook /tasks support {
		auth bearer alice-token
		mode async
	}`)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	task, _ := s.submit("/tasks", `{"q":"traced"}`, map[string]string{
		"Authorization": "Bearer alice-token",
		"Traceparent":   "00-" + traceID + "-00f067aa0ba902b7-01",
	})
	testkit.Eventually(t, 20*time.Second, func() bool {
		return len(sink.Received()) == 1 && len(otlp.named("agenthook.delivery")) == 1 && len(otlp.named("agenthook.backend")) == 2
	}, "spans or the delivery did not arrive: %d backend, %d delivery spans, %d deliveries",
		len(otlp.named("agenthook.backend")), len(otlp.named("agenthook.delivery")), len(sink.Received()))

	intake := otlp.named("agenthook.intake")
	server := otlp.named("caddy-request")
	if len(intake) != 1 || len(server) != 1 {
		t.Fatalf("%d intake and %d server spans, want 1 each", len(intake), len(server))
	}
	if intake[0].ParentID != server[0].SpanID || intake[0].Attrs["agenthook.task_id"] != task {
		t.Fatalf("intake span %+v under server span %+v", intake[0], server[0])
	}
	all := append(append(append([]otlpSpan{}, server...), intake...), append(otlp.named("agenthook.backend"), otlp.named("agenthook.delivery")...)...)
	for _, sp := range all {
		if sp.TraceID != traceID {
			t.Fatalf("span %s is in trace %s, not the caller's %s", sp.Name, sp.TraceID, traceID)
		}
	}
	backendSpans := map[string]bool{}
	for _, sp := range otlp.named("agenthook.backend") {
		if sp.ParentID != intake[0].SpanID || sp.Attrs["agenthook.task_id"] != task {
			t.Fatalf("backend span %+v", sp)
		}
		backendSpans[sp.SpanID] = true
	}
	for i, call := range agent.Calls() {
		tp := strings.Split(call.Header.Get("Traceparent"), "-")
		if len(tp) != 4 || tp[1] != traceID || !backendSpans[tp[2]] {
			t.Fatalf("backend call %d carried traceparent %q, not one of its attempt spans", i+1, call.Header.Get("Traceparent"))
		}
	}
	d := otlp.named("agenthook.delivery")[0]
	tp := strings.Split(sink.Received()[0].Header.Get("Traceparent"), "-")
	if d.ParentID != intake[0].SpanID || len(tp) != 4 || tp[1] != traceID || tp[2] != d.SpanID {
		t.Fatalf("delivery span %+v, callback traceparent %v", d, tp)
	}
	// And the admin view of the task shows where its trace is.
	if _, m := s.admin(http.MethodGet, "tasks/"+task, ""); !strings.Contains(fmt.Sprint(m["traceparent"]), traceID) {
		t.Fatalf("admin task view %v", m)
	}
}
