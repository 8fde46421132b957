// Package delivery sends finished tasks' results to callbacks: the
// callbacks of the config and of the management API (the registry), the
// payload formats, the fan-out of a result into deliveries (the outbox),
// and the dispatcher that sends them, signed, retried on a schedule and
// paused by a circuit breaker while a receiver keeps failing.
package delivery
