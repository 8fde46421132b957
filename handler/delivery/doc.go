// Package delivery sends events to callbacks: the callbacks of the config
// and of the management API (the registry), the event types and their
// subscriptions (types, endpoint routing, jq filters), the payload
// formats, the fan-out of an event into deliveries that share its message
// id (the outbox), and the dispatcher that sends them, signed, paced,
// retried on a schedule and paused by a circuit breaker while a receiver
// keeps failing. The dispatcher also makes the operational events
// (delivery.exhausted, callback.disabled, callback.recovered) and hands
// them to the callbacks subscribed, the alerts callback and an Observer.
package delivery
