package caddymodule

import (
	"cmp"
	"net/http"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/agenthook/agenthook/handler"
	"github.com/agenthook/agenthook/handler/delivery"
	"github.com/agenthook/agenthook/handler/endpoint"
	"github.com/agenthook/agenthook/handler/runner"
)

// What a config that leaves a setting out gets, one block per level. Most
// values belong to the packages that apply them (handler, handler/runner,
// handler/delivery, handler/endpoint, each with its defaults.go): they are
// named here, not repeated, so that this file lists every default of the
// Caddy configuration and each value is still written down once. The
// settings' doc comments and the README say the same in words.

// The app's defaults: the `agenthook` global option (App).
const (
	DefaultWorkers     = runner.DefaultWorkers    // workers
	DefaultRetention   = handler.DefaultRetention // retention
	DefaultGracePeriod = 10 * time.Second         // grace_period

	// DefaultMaxQueue is the queue depth at which intake sheds load with
	// 503 (queue max_depth).
	DefaultMaxQueue  = 100_000
	DefaultAttempts  = runner.DefaultAttempts  // queue attempts
	DefaultBackoff   = runner.DefaultBackoff   // queue backoff
	DefaultTimeout   = runner.DefaultTimeout   // queue timeout; lease is this plus a margin
	DefaultMaxResult = runner.DefaultMaxResult // queue max_result

	// delivery retry_schedule is delivery.DefaultSchedule, a slice.
	DefaultDeliveryTimeout     = delivery.DefaultTimeout          // delivery timeout
	DefaultDeliveryWorkers     = delivery.DefaultWorkers          // delivery workers
	DefaultDeliveryConcurrency = delivery.DefaultConcurrency      // delivery concurrency
	DefaultDisableAfter        = delivery.DefaultDisableAfter     // delivery disable_after
	DefaultBreakerThreshold    = delivery.DefaultBreakerThreshold // delivery breaker
	DefaultBreakerCooldown     = delivery.DefaultBreakerCooldown  // delivery breaker
	// DefaultMaxRegistrations caps the callbacks registered through the
	// API per agent (delivery max_registrations).
	DefaultMaxRegistrations = 100
	DefaultMaxHops          = handler.DefaultMaxHops // delivery max_hops
)

// defaultAgentWorkers is delivery agent_workers when it is left out and
// the config has more than one agent: half the delivery workers, so that
// one agent's slow receivers leave the other half to the rest. (One agent
// has nobody to share with and gets all of them.)
func defaultAgentWorkers(workers int) int {
	return max(cmp.Or(workers, DefaultDeliveryWorkers)/2, 1)
}

// defaultBadgerDir is where `storage badger` without a directory, and a
// config without storage, keeps its data: under Caddy's data directory.
func defaultBadgerDir() string {
	return filepath.Join(caddy.AppDataDir(), "agenthook")
}

// The handlers' defaults: the `agenthook` directive (Endpoint),
// `agenthook_status` (StatusHandler) and an agent's static callbacks
// (CallbackConfig).
const (
	DefaultMode               = endpoint.ModeSync                  // mode
	DefaultRequestFormat      = endpoint.FormatRaw                 // format
	DefaultChatHeader         = endpoint.DefaultChatHeader         // chat_header
	DefaultContinueHeader     = endpoint.DefaultContinueHeader     // continue_header
	DefaultMaxBody            = endpoint.DefaultMaxBody            // max_body
	DefaultChatTTL            = endpoint.DefaultChatTTL            // chat_ttl
	DefaultReplayTTL          = endpoint.DefaultReplayTTL          // replay_ttl
	DefaultIdempotencyTTL     = endpoint.DefaultIdempotencyTTL     // not configurable
	DefaultStatusReaders      = endpoint.DefaultStatusReaders      // agenthook_status max_readers
	DefaultStatusWriteTimeout = endpoint.DefaultStatusWriteTimeout // agenthook_status write_timeout

	DefaultCallbackMethod = http.MethodPost    // callback method
	DefaultCallbackFormat = delivery.FormatRaw // callback format
)
