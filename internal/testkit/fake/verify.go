package fake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
)

// parseSecret decodes a whsec_ secret into its HMAC key.
func parseSecret(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return nil, fmt.Errorf("standard webhooks secret: %w", err)
	}
	return k, nil
}

// verify checks a Standard Webhooks v1 signature: the HMAC-SHA256 of
// "id.timestamp.body", base64, any one of the space-separated "v1,..."
// signatures. It is written here rather than taken from agenthook's
// signing package, so that the sink checks the product against the
// specification instead of against itself.
func verify(key []byte, id, ts, sigs string, body []byte) bool {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, sig := range strings.Fields(sigs) {
		v, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}
