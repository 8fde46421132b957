package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
)

// TestAttemptError checks the error texts recorded for transport failures.
func TestAttemptError(t *testing.T) {
	t.Parallel()
	if got := attemptError(context.DeadlineExceeded); got != "the receiver did not answer in time" {
		t.Fatalf("attemptError(deadline) = %q", got)
	}
	ue := &url.Error{Op: "Post", URL: "http://example.com/x?token=SECRET", Err: errors.New("boom")}
	if got := attemptError(ue); got != "boom" {
		t.Fatalf("attemptError(url.Error) = %q, want the cause without the URL", got)
	}
	ue.Err = fmt.Errorf("reading: %w", context.DeadlineExceeded)
	if got := attemptError(ue); got != "the receiver did not answer in time" {
		t.Fatalf("attemptError(url.Error deadline) = %q", got)
	}
}
