package endpoint

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/agenthook/agenthook/handler"
)

// formatCognigy is the name of Cognigy's request format.
const formatCognigy = "cognigy"

// cognigyRequest reads Cognigy's Webhook Endpoint request:
// {"userId", "sessionId", "text"?, "data"?}. The session ids pick the
// chat, and are kept for the callback's Cognigy-shaped answer.
type cognigyRequest struct{}

type cognigyMessage struct {
	UserID                  json.RawMessage `json:"userId"`
	SessionID               json.RawMessage `json:"sessionId"`
	Text                    json.RawMessage `json:"text"`
	Data                    json.RawMessage `json:"data"`
	DisableSensitiveLogging bool            `json:"disableSensitiveLogging"`
}

// Read implements RequestFormat. userId and sessionId are required
// strings; text (a string) or data (an object) is required. The 400 names
// exactly what is missing or wrong.
func (cognigyRequest) Read(body []byte) (Message, error) {
	var m cognigyMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return Message{}, handler.Errorf(http.StatusBadRequest, handler.CodeInvalidJSON, "the body is not a JSON object with userId, sessionId and text or data")
	}
	userID, uOK := handler.JSONString(m.UserID)
	sessionID, sOK := handler.JSONString(m.SessionID)
	var missing []string
	if !uOK || userID == "" {
		missing = append(missing, "userId")
	}
	if !sOK || sessionID == "" {
		missing = append(missing, "sessionId")
	}
	text, tOK := handler.JSONString(m.Text)
	hasText := tOK && text != ""
	hasData := handler.IsJSONObject(m.Data)
	if !hasText && !hasData {
		missing = append(missing, "text or data")
	}
	if len(missing) > 0 {
		return Message{}, handler.Errorf(http.StatusBadRequest, handler.CodeMissingFields, "missing or invalid: %s (userId and sessionId must be non-empty strings, and text a string or data an object)", strings.Join(missing, ", "))
	}
	msg := Message{
		Meta:    map[string]string{"format": formatCognigy, "userId": userID, "sessionId": sessionID},
		Session: &Session{Kind: formatCognigy, IDs: []string{userID, sessionID}},
	}
	if m.DisableSensitiveLogging {
		msg.Sensitive = true
		msg.Meta["disableSensitiveLogging"] = "true"
	}
	return msg, nil
}

// Interface guard
var _ RequestFormat = cognigyRequest{}
