package signing

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"
)

// HMACSigner signs outbound requests with a plain HMAC of the body in one
// header, for receivers that expect UPTIQ-style x-signature (or GitHub
// style, with Header "X-Hub-Signature-256" and Prefix "sha256=").
type HMACSigner struct {
	s hmacScheme
}

// NewHMACSigner returns a signer for cfg, with the same defaults and
// checks as NewHMAC. It signs with the first secret only: a receiver of a
// single-signature header can check only one, so rotation is done by
// switching the first secret once the receiver accepts both.
func NewHMACSigner(cfg HMACConfig) (*HMACSigner, error) {
	s, err := newHMACScheme("hmac signer", cfg)
	if err != nil {
		return nil, err
	}
	return &HMACSigner{s: s}, nil
}

// Sign implements Signer: one header, as configured ("x-signature" by
// default), holding the signature of payload. The id and time are not
// signed: this scheme covers the body alone.
func (s *HMACSigner) Sign(_ string, _ time.Time, payload []byte) http.Header {
	name, value := s.Signature(payload)
	h := make(http.Header, 1)
	h.Set(name, value)
	return h
}

// Signature returns the header name (as configured, "x-signature" by
// default) and its value: the prefix followed by the encoded HMAC of body
// (lowercase hex, or padded standard base64).
func (s *HMACSigner) Signature(body []byte) (header, value string) {
	sum := s.s.sum(s.s.keys[0], body)
	var encoded string
	switch s.s.encoding {
	case encodingBase64:
		encoded = base64.StdEncoding.EncodeToString(sum)
	default:
		encoded = hex.EncodeToString(sum)
	}
	return s.s.rawName, s.s.prefix + encoded
}
