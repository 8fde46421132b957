// Package plugin brings the demo agent and receiver into a Caddy built by
// xcaddy (see go.mod here for why it is a module of its own). Production
// builds leave it out.
package plugin

import _ "github.com/agenthook/agenthook/demo"
