package handler

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// cognigyMessage is Cognigy's Webhook Endpoint request:
// {"userId", "sessionId", "text"?, "data"?}.
type cognigyMessage struct {
	UserID                  json.RawMessage `json:"userId"`
	SessionID               json.RawMessage `json:"sessionId"`
	Text                    json.RawMessage `json:"text"`
	Data                    json.RawMessage `json:"data"`
	DisableSensitiveLogging bool            `json:"disableSensitiveLogging"`
}

// readCognigy checks a Cognigy-shaped body and keeps the session ids.
// userId and sessionId are required strings; text (a string) or data (an
// object) is required. The 400 names exactly what is missing or wrong.
func (e *Endpoint) readCognigy(c *call) error {
	var m cognigyMessage
	if err := json.Unmarshal(c.body, &m); err != nil {
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "the body is not a JSON object with userId, sessionId and text or data")
	}
	userID, uOK := jsonString(m.UserID)
	sessionID, sOK := jsonString(m.SessionID)
	var missing []string
	if !uOK || userID == "" {
		missing = append(missing, "userId")
	}
	if !sOK || sessionID == "" {
		missing = append(missing, "sessionId")
	}
	text, tOK := jsonString(m.Text)
	hasText := tOK && text != ""
	hasData := isJSONObject(m.Data)
	if !hasText && !hasData {
		missing = append(missing, "text or data")
	}
	if len(missing) > 0 {
		return Errorf(http.StatusBadRequest, CodeMissingFields, "missing or invalid: %s (userId and sessionId must be non-empty strings, and text a string or data an object)", strings.Join(missing, ", "))
	}
	c.meta = map[string]string{"format": string(FormatCognigy), "userId": userID, "sessionId": sessionID}
	if m.DisableSensitiveLogging {
		c.sensitive = true
		c.meta["disableSensitiveLogging"] = "true"
	}
	return nil
}

// jsonString reads a JSON string; null and other types are not strings.
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func isJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && json.Valid(raw)
}
