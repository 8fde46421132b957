package adapter

import (
	"github.com/agenthook/agenthook/handler/history"
	"github.com/agenthook/agenthook/handler/shape"
)

// The presets' expressions rendered in Go (shape.Native): each takes the
// inputs where it is sure to give what its jq expression gives (objects
// of the expected shape, history turns whose content is text) and leaves
// every other input to jq, errors included. Compile attaches a native to
// an expression only while the expression is the very text it renders
// (Preset.natives is keyed by it), so a preset changed after it was built
// runs on jq alone. native_test.go checks each against jq.

// nativeMessage is messageDef's `message` where it is plain: a string
// body is the message; an object's first non-empty string among
// MessageFields is. An object without one (sent as its JSON text), an
// empty body (an error) and everything else are jq's.
func nativeMessage(input any) (string, bool) {
	switch v := input.(type) {
	case string:
		return v, true
	case map[string]any:
		for _, f := range MessageFields {
			if s, ok := v[f].(string); ok && s != "" {
				return s, true
			}
		}
	}
	return "", false
}

// messageNative renders messageDef + "message".
func messageNative(input any, _ shape.Env) (any, bool) {
	m, ok := nativeMessage(input)
	return m, ok
}

// replyNative renders ".answer" on an object or null.
func replyNative(input any, _ shape.Env) (any, bool) {
	switch v := input.(type) {
	case nil:
		return nil, true
	case map[string]any:
		return v["answer"], true
	}
	return nil, false
}

// openAIRequestNative renders openAIRequest(o).
func openAIRequestNative(o OpenAIOptions) shape.Native {
	model, system, keeps, stream := o.Model, o.System, o.History > 0, o.Stream
	return func(input any, env shape.Env) (any, bool) {
		msg, ok := nativeMessage(input)
		if !ok {
			return nil, false
		}
		var past []history.Turn
		if keeps {
			re, ok := env.(shape.RequestEnv)
			if !ok {
				return nil, false
			}
			past = re.History
		}
		msgs := make([]any, 0, len(past)+2)
		if system != "" {
			msgs = append(msgs, map[string]any{"role": "system", "content": system})
		}
		for _, t := range past {
			c, ok := turnText(t)
			if !ok {
				return nil, false
			}
			msgs = append(msgs, map[string]any{"role": t.Role, "content": c})
		}
		msgs = append(msgs, map[string]any{"role": "user", "content": msg})
		out := map[string]any{"model": model, "messages": msgs}
		if stream {
			out["stream"] = true
			out["stream_options"] = map[string]any{"include_usage": true}
		}
		return out, true
	}
}

// turnText is a kept turn's content as $history has it, when that is a
// string: a JSON string, or content that is not JSON at all (passed on as
// its text). Other JSON is sent as its JSON text, which is jq's tojson.
func turnText(t history.Turn) (string, bool) {
	v, err := shape.Decode(t.Content)
	if err != nil {
		return string(t.Content), true
	}
	s, ok := v.(string)
	return s, ok
}

// openAIAnswerNative renders openAIAnswer on a completion whose choices,
// first choice and message are each an object (an array for choices) or
// absent.
func openAIAnswerNative(input any, _ shape.Env) (any, bool) {
	m, ok := input.(map[string]any)
	if !ok {
		return nil, false
	}
	var choice map[string]any
	switch cs := m["choices"].(type) {
	case nil:
	case []any:
		if len(cs) > 0 {
			if choice, ok = objectOrNull(cs[0]); !ok {
				return nil, false
			}
		}
	default:
		return nil, false
	}
	var content, finish any
	if choice != nil {
		msg, ok := objectOrNull(choice["message"])
		if !ok {
			return nil, false
		}
		if msg != nil {
			content = msg["content"]
		}
		finish = choice["finish_reason"]
	}
	return map[string]any{"answer": content, "model": m["model"], "usage": m["usage"], "finish_reason": finish}, true
}

// langServeRequestNative renders messageDef + `{input: message}`.
func langServeRequestNative(input any, _ shape.Env) (any, bool) {
	msg, ok := nativeMessage(input)
	if !ok {
		return nil, false
	}
	return map[string]any{"input": msg}, true
}

// langServeAnswerNative renders langServeAnswer on an object whose
// metadata is an object or absent.
func langServeAnswerNative(input any, _ shape.Env) (any, bool) {
	m, ok := input.(map[string]any)
	if !ok {
		return nil, false
	}
	md, ok := objectOrNull(m["metadata"])
	if !ok {
		return nil, false
	}
	answer := m["output"]
	if o, isObj := answer.(map[string]any); isObj {
		if s, isStr := o["content"].(string); isStr {
			answer = s
		}
	}
	var runID any
	if md != nil {
		runID = md["run_id"]
	}
	return map[string]any{"answer": answer, "run_id": runID}, true
}

// objectOrNull is v as an object, nil for null, and ok false for any
// other value (which jq could not index by name).
func objectOrNull(v any) (map[string]any, bool) {
	switch o := v.(type) {
	case nil:
		return nil, true
	case map[string]any:
		return o, true
	}
	return nil, false
}
