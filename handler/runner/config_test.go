package runner

import (
	"testing"
	"time"

	"github.com/agenthook/agenthook/handler"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{Timeout: 10 * time.Minute, Lease: time.Minute}.WithDefaults()
	if c.Lease <= c.Timeout {
		t.Fatalf("lease %v does not exceed timeout %v", c.Lease, c.Timeout)
	}
	c = Config{}.WithDefaults()
	if c.Workers != DefaultWorkers || c.Attempts != DefaultAttempts || c.Backoff != DefaultBackoff ||
		c.Timeout != DefaultTimeout || c.MaxResult != DefaultMaxResult || c.Retention != handler.DefaultRetention || c.Lease <= c.Timeout {
		t.Fatalf("defaults %+v", c)
	}
}
