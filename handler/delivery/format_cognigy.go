package delivery

import (
	"context"
)

// cognigyFormat renders the body Cognigy's Webhook Endpoint posts to the
// operator's webhook URL: {"userId", "sessionId", "AIOutput": {...}}, with
// the ids the task kept from the Cognigy request.
type cognigyFormat struct{}

// Render implements PayloadFormat, with the built-in payload expression
// CognigyPayload, so that what the README shows is what runs.
func (cognigyFormat) Render(ev Event) ([]byte, error) {
	return RenderPayload(context.Background(), cognigyProgram, ev)
}

// Interface guard
var _ PayloadFormat = cognigyFormat{}
