package adapter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/agenthook/agenthook/handler/shape"
)

// Preset is an adapter as data: where the backend listens and the jq
// expressions that shape the exchange.
type Preset struct {
	// Name is the Caddyfile's word: openai or langserve.
	Name string
	// Path is the backend path requests are POSTed to.
	Path string
	// Request (request stage) turns the caller's body into the backend's.
	Request string
	// Answer (answer stage) turns a 2xx backend answer into what callers
	// get: {"answer", ...}. Non-2xx answers are not shaped; Errors says
	// how to read them.
	Answer string
	// Message (request stage) is the caller's message, kept as the user
	// turn of the chat history.
	Message string
	// Reply (answer stage, run on Answer's output) is the assistant turn
	// kept in the history. A streamed answer has no shaped output: its
	// assembled text is the reply.
	Reply string
	// History is how many past turns are kept per chat and sent with each
	// request; 0 keeps none.
	History int
	// Stream asks the backend for server-sent events (OpenAI's
	// "stream": true), which pass through to sync callers as they come.
	Stream bool
	// Errors names the error body format of non-2xx answers: "openai"
	// (read with ParseError) or "" (none known).
	Errors string
	// Usage names where token usage is in answers: "openai" (UsageOf) or
	// "" (none).
	Usage string
	// natives are Go renderings of the expressions above (native.go),
	// keyed by the expression's exact text.
	natives map[string]shape.Native
}

// Adapter is a preset compiled. A program is nil when the preset has no
// such expression.
type Adapter struct {
	Preset                          Preset
	Request, Answer, Message, Reply *shape.Program
}

// Compile compiles the preset's expressions. The built-in presets always
// compile; an error means an option made invalid jq, which the
// constructors prevent by quoting.
func (p Preset) Compile(lim shape.Limits) (*Adapter, error) {
	a := &Adapter{Preset: p}
	for _, e := range []struct {
		dst   **shape.Program
		stage shape.Stage
		src   string
		what  string
	}{
		{&a.Request, shape.Request, p.Request, "request"},
		{&a.Answer, shape.Answer, p.Answer, "answer"},
		{&a.Message, shape.Request, p.Message, "message"},
		{&a.Reply, shape.Answer, p.Reply, "reply"},
	} {
		if e.src == "" {
			continue
		}
		prog, err := shape.Compile(e.stage, e.src, lim)
		if err != nil {
			return nil, fmt.Errorf("adapter %s: %s expression: %w", p.Name, e.what, err)
		}
		if n := p.natives[e.src]; n != nil {
			prog = prog.WithNative(n)
		}
		*e.dst = prog
	}
	return a, nil
}

// messageDef defines message: the first non-empty string among the
// caller's usual fields (Treasure Data's prompt, DocsGPT's question,
// Cognigy's text, ...); otherwise a body that is a string is the message
// itself, and any other body (a UPTIQ event) is sent as its JSON text. An
// empty body has no message: the request fails rather than ask a model
// about "null".
const messageDef = `def message:
  (if type == "object"
   then first(.prompt, .question, .text, .message, .input, .query | strings | select(. != ""))
   elif type == "string" then .
   else empty end)
  // if . == null then error("the body has no message") else tojson end;
`

// MessageFields are the caller fields read for the message, in order.
var MessageFields = []string{"prompt", "question", "text", "message", "input", "query"}

// jqString quotes s as a jq string literal. JSON's escapes are jq's, and
// JSON never writes \( (jq's interpolation).
func jqString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// cleanPath checks a backend path: absolute, without query or fragment.
func cleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# \t\r\n") {
		return "", fmt.Errorf("path %q must start with / and have no query, fragment or spaces", p)
	}
	return p, nil
}
