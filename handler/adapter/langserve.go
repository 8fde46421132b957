package adapter

import (
	"errors"
	"strings"

	"github.com/agenthook/agenthook/handler/shape"
)

// LangServeOptions are the settings of `adapter langserve { ... }`.
type LangServeOptions struct {
	// Path is where the runnable is mounted (add_routes(app, chain,
	// path="/chain") → "/chain"); requests go to <Path>/invoke.
	Path string
}

// LangServe builds the preset of a LangServe runnable: POST
// <path>/invoke with {"input": message}; the answer is {"answer",
// "run_id"}, where answer is the output, or its content when the output
// is a chat model's message ({"content": "...", "type": "ai", ...}).
//
// It keeps no history: what a runnable takes as history differs from one
// chain to the next, so an operator who wants it writes the request
// expression (with $history) for theirs.
func LangServe(o LangServeOptions) (Preset, error) {
	path := strings.TrimSuffix(o.Path, "/")
	if path == "" {
		path = "/"
	} else if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	path, err := cleanPath(path)
	if err != nil {
		return Preset{}, errors.New("adapter langserve: " + err.Error())
	}
	return Preset{
		Name:    "langserve",
		Path:    strings.TrimSuffix(path, "/") + "/invoke",
		Request: messageDef + `{input: message}`,
		Answer:  langServeAnswer,
		Message: messageDef + "message",
		Reply:   ".answer",
		natives: map[string]shape.Native{
			messageDef + `{input: message}`: langServeRequestNative,
			langServeAnswer:                 langServeAnswerNative,
			messageDef + "message":          messageNative,
			".answer":                       replyNative,
		},
	}, nil
}

const langServeAnswer = `{
  answer: (.output | if type == "object" and (.content | type) == "string" then .content else . end),
  run_id: .metadata.run_id
}`
