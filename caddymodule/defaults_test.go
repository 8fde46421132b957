package caddymodule

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// An app that leaves everything out gets defaults.go's values.
func TestAppDefaults(t *testing.T) {
	t.Parallel()
	a := &App{Queue: new(QueueConfig), Delivery: new(DeliveryConfig)}
	rc := a.runnerConfig()
	if rc.Workers != DefaultWorkers || rc.Attempts != DefaultAttempts || rc.Backoff != DefaultBackoff ||
		rc.Timeout != DefaultTimeout || rc.Lease <= DefaultTimeout || rc.MaxResult != DefaultMaxResult || rc.Retention != DefaultRetention {
		t.Errorf("runner config %+v", rc)
	}
	if a.gracePeriod() != DefaultGracePeriod || a.maxQueue() != DefaultMaxQueue || a.Delivery.maxRegistrations() != DefaultMaxRegistrations {
		t.Errorf("grace %s, max queue %d, max registrations %d", a.gracePeriod(), a.maxQueue(), a.Delivery.maxRegistrations())
	}
	// -1 means no limit, handed on as 0.
	a.Queue.MaxDepth, a.Delivery.MaxRegistrations, a.GracePeriod = -1, -1, caddy.Duration(time.Second)
	if a.maxQueue() != 0 || a.Delivery.maxRegistrations() != 0 || a.gracePeriod() != time.Second {
		t.Errorf("unlimited: max queue %d, max registrations %d, grace %s", a.maxQueue(), a.Delivery.maxRegistrations(), a.gracePeriod())
	}
}

func TestDefaultAgentWorkers(t *testing.T) {
	t.Parallel()
	for workers, want := range map[int]int{0: DefaultDeliveryWorkers / 2, 8: 4, 3: 1, 1: 1} {
		if got := defaultAgentWorkers(workers); got != want {
			t.Errorf("defaultAgentWorkers(%d) = %d, want %d", workers, got, want)
		}
	}
}

func TestDefaultBadgerDir(t *testing.T) {
	t.Parallel()
	if got, want := defaultBadgerDir(), filepath.Join(caddy.AppDataDir(), "agenthook"); got != want {
		t.Errorf("%s, want %s", got, want)
	}
}
