package signing

import (
	"net/http"
	"time"
)

// Signer signs an outbound callback: it returns the headers to add to
// the request. id names the message and stays the same across retries;
// ts is the attempt's time. A callback may have several signers, each
// adding its own headers.
type Signer interface {
	Sign(id string, ts time.Time, payload []byte) http.Header
}

// Interface guards
var (
	_ Signer = (*StandardWebhooksSigner)(nil)
	_ Signer = (*HMACSigner)(nil)
)
