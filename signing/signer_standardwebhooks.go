package signing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StandardWebhooksSigner signs outbound callbacks the Standard Webhooks
// way, so that receivers can check them with any of the official
// libraries (or Svix's).
//
// It holds one or more keys and puts one signature per key in the
// webhook-signature header. That is how a key is rotated without a
// flag day: add the new key next to the old one, let receivers switch to
// the new key at their pace (each accepts the request as long as one
// signature verifies), then drop the old key.
type StandardWebhooksSigner struct {
	keys []swSigningKey
}

// swSigningKey is one key: either an HMAC key (v1) or an ed25519 private
// key (v1a).
type swSigningKey struct {
	macKey     []byte
	privateKey ed25519.PrivateKey
}

// NewStandardWebhooksSigner returns a signer for secrets, each either
// "whsec_<base64>" (v1, HMAC-SHA256; the key is the decoded bytes) or
// "whsk_<base64>" (v1a, ed25519). A whsk_ key may be the 64-byte private
// key (seed followed by public key, the form crypto/ed25519, libsodium and
// GenerateEd25519 use) or the bare 32-byte seed; the specification only
// says "standard ed25519 key pair", and both forms are common.
func NewStandardWebhooksSigner(secrets []string) (*StandardWebhooksSigner, error) {
	if len(secrets) == 0 {
		return nil, errors.New("standard_webhooks signer: at least one secret is required")
	}
	s := &StandardWebhooksSigner{}
	for i, secret := range secrets {
		switch {
		case strings.HasPrefix(secret, prefixSymmetricSecret):
			key, err := decodeSymmetricSecret(secret)
			if err != nil {
				return nil, fmt.Errorf("standard_webhooks signer: secret %d: %v", i, err)
			}
			s.keys = append(s.keys, swSigningKey{macKey: key})
		case strings.HasPrefix(secret, prefixEd25519Secret):
			key, err := decodeEd25519PrivateKey(secret)
			if err != nil {
				return nil, fmt.Errorf("standard_webhooks signer: secret %d: %v", i, err)
			}
			s.keys = append(s.keys, swSigningKey{privateKey: key})
		case strings.HasPrefix(secret, prefixEd25519Public):
			return nil, fmt.Errorf("standard_webhooks signer: secret %d is a whpk_ public key, which cannot sign; use the matching whsk_ private key", i)
		default:
			return nil, fmt.Errorf("standard_webhooks signer: secret %d must start with whsec_ (HMAC) or whsk_ (ed25519 private key)", i)
		}
	}
	return s, nil
}

// decodeEd25519PrivateKey decodes a whsk_ key, in its 64-byte or 32-byte
// seed form. A 64-byte key whose second half is not the public key of its
// first half is refused: crypto/ed25519 would sign with it without
// complaint, but every signature would fail to verify.
func decodeEd25519PrivateKey(secret string) (ed25519.PrivateKey, error) {
	raw, err := decodeBase64(strings.TrimPrefix(secret, prefixEd25519Secret))
	if err != nil {
		return nil, errors.New("whsk_ key is not valid base64")
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		key := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !bytes.Equal(key, raw) {
			return nil, errors.New("whsk_ key is inconsistent: its last 32 bytes are not the public key of its first 32")
		}
		return key, nil
	default:
		return nil, fmt.Errorf("whsk_ key must decode to a %d-byte seed or a %d-byte private key", ed25519.SeedSize, ed25519.PrivateKeySize)
	}
}

// Sign returns the three Standard Webhooks headers for body: webhook-id,
// webhook-timestamp (ts in unix seconds) and webhook-signature. The keys
// are in canonical form ("Webhook-Id", ...), as http.Header.Set writes
// them; header names are case-insensitive on the wire.
//
// msgID should name the event and stay the same across retries (receivers
// use it to drop duplicates), and must not contain '.', which would make
// the signed content ambiguous; StandardWebhooks refuses such ids.
func (s *StandardWebhooksSigner) Sign(msgID string, ts time.Time, body []byte) http.Header {
	h := make(http.Header, 3)
	h.Set("webhook-id", msgID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", s.SignatureHeader(msgID, ts, body))
	return h
}

// SignatureHeader returns only the webhook-signature value: one
// "v1,<base64>" or "v1a,<base64>" per key, in the order the keys were
// given, separated by single spaces.
func (s *StandardWebhooksSigner) SignatureHeader(msgID string, ts time.Time, body []byte) string {
	timestamp := strconv.FormatInt(ts.Unix(), 10)
	var b strings.Builder
	var msg []byte // built once, only if an ed25519 key needs it
	for i, k := range s.keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		if k.privateKey != nil {
			if msg == nil {
				msg = swSignedContent(msgID, timestamp, body)
			}
			b.WriteString(versionEd25519 + ",")
			b.WriteString(base64.StdEncoding.EncodeToString(ed25519.Sign(k.privateKey, msg)))
			continue
		}
		b.WriteString(versionHMAC + ",")
		b.WriteString(base64.StdEncoding.EncodeToString(swHMAC(k.macKey, msgID, timestamp, body)))
	}
	return b.String()
}
