package delivery

import (
	"context"
	"time"

	"github.com/agenthook/agenthook/handler/shape"
	"github.com/agenthook/agenthook/store"
)

// CognigyPayload is the cognigy payload format as a payload expression:
// the body Cognigy's Webhook Endpoint posts to the operator's webhook URL,
// {"userId", "sessionId", "AIOutput": {...}}, from the ids the task kept
// of the Cognigy request. AIOutput.text is the answer's first string
// field among text, answer, output, response, message and content (the
// adapters' "answer" among them), or the answer itself when it is text;
// AIOutput.data is the answer's "data" object. A failed task has empty
// text and data {"error", "status"}; a binary answer empty text and data
// {"result_base64", "content_type"}. The README shows it to copy and
// change.
const CognigyPayload = `{
  userId: ($task.meta.userId // ""),
  sessionId: ($task.meta.sessionId // ""),
  AIOutput: ((
    if .status == "FAILURE" then {text: "", data: {error: (.error // ""), status}}
    elif .result_base64 != null then {text: "", data: {result_base64, content_type}}
    elif (.result | type) == "object" then {
      text: (first(.result | (.text, .answer, .output, .response, .message, .content) | strings) // ""),
      data: (if (.result.data | type) == "object" then .result.data else {} end)
    }
    elif (.result | type) == "string" then {text: (if (.result | trim) == "" then "" else .result end), data: {}}
    elif .result == null then {text: "", data: {}}
    else {text: (.result | tojson), data: {}}
    end
  ) + {traceId: ("agenthook-" + $task.id), disableSensitiveLogging: $task.sensitive, source: "bot"})
}`

// PayloadLimits bound a payload expression's run: a payload may be as
// large as any stored record (a binary answer in base64 among them).
var PayloadLimits = shape.Limits{MaxOutput: store.MaxRecordBytes, Timeout: time.Second}

// cognigyProgram is CognigyPayload compiled; it always compiles.
var cognigyProgram = shape.MustCompile(shape.Payload, CognigyPayload, PayloadLimits)

// exprTask is $task of a payload expression.
func exprTask(t *store.Task) *shape.Task {
	return &shape.Task{ID: t.ID, Agent: t.Agent, ChatID: t.ChatID, Status: string(t.Status), Attempts: t.Attempts,
		Meta: t.Meta, CreatedAt: t.CreatedAt, Sensitive: t.Sensitive}
}

// RenderPayload renders an event through a payload expression: the
// expression reads the event as the raw payload format renders it, with
// $task and $chat. Its errors are *shape.Error, which never quote a body.
func RenderPayload(ctx context.Context, p *shape.Program, ev Event) ([]byte, error) {
	raw, err := formats.Default().Render(ev)
	if err != nil {
		return nil, err
	}
	return runPayload(ctx, p, ev, raw)
}

func runPayload(ctx context.Context, p *shape.Program, ev Event, raw []byte) ([]byte, error) {
	in, err := shape.Decode(raw)
	if err != nil {
		return nil, err
	}
	t := ev.Task
	out, err := p.Run(ctx, in, shape.PayloadEnv{Task: exprTask(t), Chat: shape.Chat{ID: t.ChatID}})
	if err != nil {
		return nil, err
	}
	return out, nil
}
