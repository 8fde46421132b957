package endpoint

import "github.com/agenthook/agenthook/handler"

// RequestFormat reads the bodies callers send to an endpoint. It is the
// inbound side; how results are shaped for callbacks is a payload format
// of package delivery.
type RequestFormat interface {
	// Read checks a body and returns what the endpoint keeps of it, or
	// a *handler.Error (400) that names what is missing or wrong.
	Read(body []byte) (Message, error)
}

// Message is what an endpoint keeps of a request body besides the bytes.
type Message struct {
	// Meta is kept with the task, for payload formats to read.
	Meta map[string]string
	// Sensitive asks for the bodies to stay out of every log line.
	Sensitive bool
	// Session, when set, is the conversation as the caller names it; it
	// picks the chat instead of the continue header.
	Session *Session
}

// Session is a conversation the caller keeps ids for itself, such as
// Cognigy's userId and sessionId.
type Session struct {
	// Kind keeps the ids of two formats apart: the format's name.
	Kind string
	IDs  []string
}

// chatID is the session's chat for an agent and a caller: the same
// session of the same caller always gives the same id, created on first
// use. The caller is part of it so that another caller naming the same
// session ids gets a chat of its own, rather than taking the ids first
// and leaving the rightful caller with a chat that is not theirs.
func (s *Session) chatID(agent, principal string) string {
	return handler.DerivedID(append([]string{s.Kind, agent, principal}, s.IDs...)...)
}

// FormatRaw is the default request format's name.
const FormatRaw = "raw"

// formats are the request formats by name: the config looks names up
// here.
var formats = handler.NewRegistry(FormatRaw, map[string]RequestFormat{
	FormatRaw:     rawRequest{},
	formatCognigy: cognigyRequest{},
})

// Format returns the request format of a name; "" is raw.
func Format(name string) (RequestFormat, bool) { return formats.Get(name) }

// FormatNames lists the request formats, the default first, for messages
// such as "use raw or cognigy".
func FormatNames() []string { return formats.Names() }
