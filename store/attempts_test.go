package store

import (
	"net/http"
	"testing"
)

func TestAppendAttempt(t *testing.T) {
	var log []Attempt
	for i := range MaxAttemptsKept + 7 {
		prev := append([]Attempt(nil), log...)
		log = AppendAttempt(log, Attempt{StatusCode: 100 + i, Response: "body", ResponseHeader: http.Header{"A": {"b"}}, ResponseTruncated: true})
		if len(prev) > 0 && prev[len(prev)-1].Response != "body" {
			t.Fatal("AppendAttempt changed the log it was given")
		}
	}
	if len(log) != MaxAttemptsKept {
		t.Fatalf("%d attempts kept, want %d", len(log), MaxAttemptsKept)
	}
	if log[0].StatusCode != 100 || log[1].StatusCode != 100+8 || log[len(log)-1].StatusCode != 100+MaxAttemptsKept+6 {
		t.Fatalf("kept %d, %d … %d; want the first and the latest", log[0].StatusCode, log[1].StatusCode, log[len(log)-1].StatusCode)
	}
	for i, a := range log {
		kept := i >= len(log)-AttemptsWithResponse
		if (a.Response != "") != kept || (a.ResponseHeader != nil) != kept || a.ResponseTruncated != kept {
			t.Fatalf("attempt %d: response %q, header %v; kept should be %v", i, a.Response, a.ResponseHeader, kept)
		}
	}
}
