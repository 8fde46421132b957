// Package handler holds what agenthook's HTTP logic shares: agents and
// their backends, JSON error answers, ids, the task view, metrics, and the
// defaults of this level. The jobs live in packages of their own:
// endpoint (the agent and status endpoints), runner (the task runner),
// delivery (callbacks) and api (the management API).
//
// None of them imports Caddy; package caddymodule wires them into Caddy.
package handler
