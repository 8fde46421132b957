package adapter

import (
	"errors"
	"strings"

	"github.com/agenthook/agenthook/handler/shape"
)

// DefaultOpenAIPath is where OpenAI-compatible servers (OpenAI, vLLM,
// LiteLLM, Ollama, llama.cpp) take chat completions.
const DefaultOpenAIPath = "/v1/chat/completions"

// OpenAIOptions are the settings of `adapter openai { ... }`.
type OpenAIOptions struct {
	// Model is required: OpenAI-compatible servers refuse a request
	// without one.
	Model string
	// System, when set, is sent first as the system message.
	System string
	// History is how many past turns (user and assistant messages) are
	// kept per chat and sent before the new message.
	History int
	// Path defaults to DefaultOpenAIPath.
	Path string
	// Stream asks for server-sent events with usage in the last chunk.
	Stream bool
}

// OpenAI builds the chat-completions preset. Its request, for a model
// "m", a system text "s" and a history, is:
//
//	def message: ...;
//	{
//	  model: "m",
//	  messages: (
//	    [{role: "system", content: "s"}]
//	    + [$history[] | {role, content: (.content | if type == "string" then . else tojson end)}]
//	    + [{role: "user", content: message}]
//	  )
//	}
//
// and its answer {"answer", "model", "usage", "finish_reason"}.
func OpenAI(o OpenAIOptions) (Preset, error) {
	if strings.TrimSpace(o.Model) == "" {
		return Preset{}, errors.New("adapter openai: model is required")
	}
	if o.History < 0 {
		return Preset{}, errors.New("adapter openai: history must not be negative")
	}
	path := o.Path
	if path == "" {
		path = DefaultOpenAIPath
	}
	path, err := cleanPath(path)
	if err != nil {
		return Preset{}, errors.New("adapter openai: " + err.Error())
	}
	request := openAIRequest(o)
	return Preset{
		Name:    "openai",
		Path:    path,
		Request: request,
		Answer:  openAIAnswer,
		Message: messageDef + "message",
		Reply:   ".answer",
		History: o.History,
		Stream:  o.Stream,
		Errors:  "openai",
		Usage:   "openai",
		natives: map[string]shape.Native{
			request:                openAIRequestNative(o),
			openAIAnswer:           openAIAnswerNative,
			messageDef + "message": messageNative,
			".answer":              replyNative,
		},
	}, nil
}

func openAIRequest(o OpenAIOptions) string {
	var b strings.Builder
	b.WriteString(messageDef)
	b.WriteString("{\n  model: " + jqString(o.Model) + ",\n  messages: (\n")
	var parts []string
	if o.System != "" {
		parts = append(parts, `[{role: "system", content: `+jqString(o.System)+`}]`)
	}
	if o.History > 0 {
		// A turn kept as JSON other than a string (a shaped answer that
		// is an object) is sent as its text: content must be a string.
		parts = append(parts, `[$history[] | {role, content: (.content | if type == "string" then . else tojson end)}]`)
	}
	parts = append(parts, `[{role: "user", content: message}]`)
	b.WriteString("    " + strings.Join(parts, "\n    + ") + "\n  )")
	if o.Stream {
		// include_usage adds a last chunk with the usage, for the token
		// metric and the history.
		b.WriteString(",\n  stream: true,\n  stream_options: {include_usage: true}")
	}
	b.WriteString("\n}")
	return b.String()
}

// openAIAnswer reads a chat completion: the first choice's text, and what
// the caller may want to see of the rest.
const openAIAnswer = `{
  answer: .choices[0].message.content,
  model: .model,
  usage: .usage,
  finish_reason: .choices[0].finish_reason
}`
