package endpoint

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Anonymous is the line part of the principal of callers on an endpoint
// with `auth none`.
const Anonymous = "anonymous"

// Identity is who a request comes from: the endpoint, the auth line and
// the credential that verified it.
//
// Secrets listed together on one line are one principal whichever of them
// verified, so a rotation changes nobody's identity; a Basic user is a
// principal of its own. Chats, idempotency keys and replay keys are bound
// to the principal, and task visibility to the KeyID.
type Identity struct {
	// Principal is "<endpoint>/<line>" or "<endpoint>/<line>/<user>", as
	// Principal builds it: never secret material.
	Principal string
	// Line is the auth line's name (see LineName), "anonymous" for `auth
	// none`, or "token:<agent>" for a URL token.
	Line string
	// KeyID names the credential that verified (signing.Result.KeyID);
	// "" for anonymous callers.
	KeyID string
	// User is the Basic username, "" otherwise.
	User string

	// ReplayKey, when the verified request names a unique message
	// (Standard Webhooks' webhook-id, Stripe's signed timestamp and body),
	// is the message's key in the endpoint's namespace: a hash of the
	// endpoint, the line, the KeyID and the message.
	ReplayKey string
	// MessageID is the message's own id, for answers to duplicates.
	MessageID string
	// ReplayTTL is the least time the verifier needs ReplayKey remembered.
	ReplayTTL time.Duration

	// message is the verifier's key of the message, for bind.
	message string
}

// Principal composes a principal: "<endpoint>/<line>", plus "/<user>" when
// the line names users.
func Principal(endpoint, line, user string) string {
	p := endpoint + "/" + line
	if user != "" {
		p += "/" + user
	}
	return p
}

// LineName names an endpoint's n-th auth line of scheme (n from 1):
// "<scheme>#<n>". Counting per scheme means that adding a line of another
// scheme, or appending one of the same scheme, changes nobody's identity;
// reordering lines of one scheme does.
func LineName(scheme string, n int) string {
	return scheme + "#" + strconv.Itoa(n)
}

// bind places an identity on the endpoint called endpoint: its principal
// and, for a named message, its replay key.
func (id *Identity) bind(endpoint string) {
	id.Principal = Principal(endpoint, id.Line, id.User)
	if id.message != "" {
		id.ReplayKey = hashParts("replay", endpoint, id.Line, id.KeyID, id.message)
	}
}

// named sets what a verifier said about the message a request names.
func (id *Identity) named(replayKey string, ttl time.Duration) {
	if replayKey == "" {
		return
	}
	id.message, id.ReplayTTL = replayKey, ttl
	// The verifier's key is "<scheme>:<id>"; the id alone is the sender's
	// name for the message.
	_, id.MessageID, _ = strings.Cut(replayKey, ":")
}

// The values an endpoint reports through OnValue once it knows them.
const (
	ValueAgent  = "agent"
	ValueChatID = "chat_id"
	ValueTaskID = "task_id"
)

// Hooks let the server learn what an endpoint found out about a request,
// as it finds it out: Caddy's module turns them into placeholders such as
// {http.auth.user.id}, for access logs, headers and rate limiters. Either
// may be nil.
type Hooks struct {
	// OnIdentity is called once the caller is known.
	OnIdentity func(r *http.Request, id Identity)
	// OnValue is called with ValueAgent, ValueChatID or ValueTaskID and
	// its value.
	OnValue func(r *http.Request, name, value string)
}

func (h *Hooks) identity(r *http.Request, id Identity) {
	if h.OnIdentity != nil {
		h.OnIdentity(r, id)
	}
}

func (h *Hooks) value(r *http.Request, name, value string) {
	if h.OnValue != nil && value != "" {
		h.OnValue(r, name, value)
	}
}
