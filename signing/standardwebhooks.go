package signing

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DefaultStandardWebhooksTolerance is how far webhook-timestamp may be from
// now, in either direction, by default: the value the specification and
// its official libraries use.
const DefaultStandardWebhooksTolerance = 5 * time.Minute

// Key prefixes of the Standard Webhooks specification ("Signature scheme"):
// a symmetric secret, an ed25519 secret key and an ed25519 public key, each
// base64-encoded after the prefix.
const (
	prefixSymmetricSecret = "whsec_"
	prefixEd25519Secret   = "whsk_"
	prefixEd25519Public   = "whpk_"
)

// Signature version identifiers: v1 is HMAC-SHA256, v1a is ed25519.
const (
	versionHMAC    = "v1"
	versionEd25519 = "v1a"
)

// minSymmetricSecretBytes is the specification's minimum for a whsec_
// secret: "at least 24 bytes (192 bits)".
const minSymmetricSecretBytes = 24

// swHeaders are the three headers of a signed message. Svix, where the
// specification comes from, sends the same values under svix-* names.
type swHeaders struct{ id, timestamp, signature string }

var (
	swHeaderNames   = swHeaders{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"}
	svixHeaderNames = swHeaders{"Svix-Id", "Svix-Timestamp", "Svix-Signature"}
)

// StandardWebhooks checks Standard Webhooks signatures
// (https://www.standardwebhooks.com):
//
//	webhook-id: msg_2KWPBgLlAfxdpx2AI54pPJ85f4W
//	webhook-timestamp: 1674087231
//	webhook-signature: v1,K5oZfz...= v1a,hnO3f9...==
//
// The signed content is "<id>.<timestamp>.<raw body>". A v1 signature is
// the base64 HMAC-SHA256 of it under a whsec_ secret, a v1a signature the
// base64 ed25519 signature under the key whose public half is a whpk_ key.
// The header lists one or more signatures separated by spaces; one valid
// signature is enough and unknown versions are ignored, which is how
// senders rotate keys and add schemes without breaking receivers.
type StandardWebhooks struct {
	macKeys    [][]byte
	publicKeys []ed25519.PublicKey
	tolerance  time.Duration

	// KeyIDs: macIDs[i] names macKeys[i], publicIDs[i] publicKeys[i], and
	// keyIDs lists them all in configuration order.
	macIDs, publicIDs, keyIDs []string
}

// NewStandardWebhooks returns a verifier that accepts signatures made with
// any of secrets, each either "whsec_<base64>" (the key is the decoded
// bytes, at least 24 of them) or "whpk_<base64 of a 32-byte ed25519 public
// key>". The prefix is required, because it is what tells the two apart.
// tolerance bounds |now − webhook-timestamp|; 0 means five minutes.
func NewStandardWebhooks(secrets []string, tolerance time.Duration) (*StandardWebhooks, error) {
	if len(secrets) == 0 {
		return nil, errors.New("standard_webhooks: at least one secret is required")
	}
	if tolerance < 0 {
		return nil, errors.New("standard_webhooks: tolerance must not be negative")
	}
	if tolerance == 0 {
		tolerance = DefaultStandardWebhooksTolerance
	}
	v := &StandardWebhooks{tolerance: tolerance}
	for i, secret := range secrets {
		switch {
		case strings.HasPrefix(secret, prefixSymmetricSecret):
			key, err := decodeSymmetricSecret(secret)
			if err != nil {
				return nil, fmt.Errorf("standard_webhooks: secret %d: %v", i, err)
			}
			v.macKeys = append(v.macKeys, key)
			v.macIDs = append(v.macIDs, keyID(schemeStandardWebhooks, []byte(versionHMAC), key))
			v.keyIDs = append(v.keyIDs, v.macIDs[len(v.macIDs)-1])
		case strings.HasPrefix(secret, prefixEd25519Public):
			key, err := decodeBase64(strings.TrimPrefix(secret, prefixEd25519Public))
			if err != nil || len(key) != ed25519.PublicKeySize {
				return nil, fmt.Errorf("standard_webhooks: secret %d: whpk_ key is not the base64 of a %d-byte ed25519 public key", i, ed25519.PublicKeySize)
			}
			v.publicKeys = append(v.publicKeys, ed25519.PublicKey(key))
			v.publicIDs = append(v.publicIDs, keyID(schemeStandardWebhooks, []byte(versionEd25519), key))
			v.keyIDs = append(v.keyIDs, v.publicIDs[len(v.publicIDs)-1])
		case strings.HasPrefix(secret, prefixEd25519Secret):
			return nil, fmt.Errorf("standard_webhooks: secret %d is a whsk_ private key; configure its whpk_ public key instead, the private key belongs to the sender only", i)
		default:
			return nil, fmt.Errorf("standard_webhooks: secret %d must start with whsec_ (HMAC) or whpk_ (ed25519 public key)", i)
		}
	}
	return v, nil
}

// decodeSymmetricSecret decodes a whsec_ secret into the HMAC key.
func decodeSymmetricSecret(secret string) ([]byte, error) {
	key, err := decodeBase64(strings.TrimPrefix(secret, prefixSymmetricSecret))
	if err != nil {
		return nil, errors.New("whsec_ secret is not valid base64")
	}
	if len(key) < minSymmetricSecretBytes {
		return nil, fmt.Errorf("whsec_ secret decodes to %d bytes; the specification requires at least %d", len(key), minSymmetricSecretBytes)
	}
	return key, nil
}

// Scheme returns "standard_webhooks".
func (*StandardWebhooks) Scheme() string { return schemeStandardWebhooks }

// Verify checks the webhook-* headers (or, if none of them is present, the
// svix-* ones) against body. If all three headers are absent the error is
// ErrMissing; if only some are, ErrInvalid.
//
// The timestamp is checked only after a signature has matched, so that
// ErrExpired always means "genuine but stale". On success,
// Result.ReplayKey is "standard_webhooks:<webhook-id>", to be remembered
// for twice the tolerance. Note that a sender keeps webhook-id across
// retries: the id names the event, not the attempt.
func (v *StandardWebhooks) Verify(r *http.Request, body []byte, now time.Time) (Result, error) {
	h := readSWHeaders(r, swHeaderNames)
	if h == (swHeaders{}) {
		h = readSWHeaders(r, svixHeaderNames)
	}
	if h == (swHeaders{}) {
		return Result{}, missing(schemeStandardWebhooks, "no webhook-id, webhook-timestamp or webhook-signature header")
	}
	if h.id == "" || h.timestamp == "" || h.signature == "" {
		return Result{}, invalid(schemeStandardWebhooks, "webhook-id, webhook-timestamp and webhook-signature must all be present")
	}
	if len(h.id) > maxMessageIDBytes {
		return Result{}, invalid(schemeStandardWebhooks, "webhook-id too long")
	}
	if strings.Contains(h.id, ".") {
		// "<id>.<timestamp>.<body>" is only unambiguous if the id has no
		// full stop; the specification forbids one for that reason.
		return Result{}, invalid(schemeStandardWebhooks, "webhook-id must not contain '.'")
	}
	ts, ok := parseUnixSeconds(h.timestamp)
	if !ok {
		return Result{}, invalid(schemeStandardWebhooks, "webhook-timestamp is not a unix time")
	}
	if len(h.signature) > maxHeaderBytes {
		return Result{}, invalid(schemeStandardWebhooks, "webhook-signature header too long")
	}

	var v1, v1a [][]byte
	entries := 0
	for entry := range strings.SplitSeq(h.signature, " ") {
		if entry == "" {
			continue // tolerate doubled spaces
		}
		if entries++; entries > maxSignatures {
			return Result{}, invalid(schemeStandardWebhooks, "webhook-signature has too many entries")
		}
		version, encoded, ok := strings.Cut(entry, ",")
		if !ok {
			continue
		}
		switch version {
		case versionHMAC:
			if sig, ok := decodeSized(encodingBase64, encoded, sha256.Size); ok {
				v1 = append(v1, sig)
			}
		case versionEd25519:
			if sig, ok := decodeSized(encodingBase64, encoded, ed25519.SignatureSize); ok {
				v1a = append(v1a, sig)
			}
		}
	}
	if len(v1) == 0 && len(v1a) == 0 {
		return Result{}, invalid(schemeStandardWebhooks, "webhook-signature has no well-formed v1 or v1a signature")
	}

	id, ok := v.matchHMAC(v1, h.id, h.timestamp, body)
	if !ok {
		id, ok = v.matchEd25519(v1a, h.id, h.timestamp, body)
	}
	if !ok {
		return Result{}, invalid(schemeStandardWebhooks, "no signature matches")
	}
	if !withinTolerance(ts, now, v.tolerance) {
		return Result{}, expired(schemeStandardWebhooks)
	}
	return Result{
		Principal: schemeStandardWebhooks,
		KeyID:     id,
		ReplayKey: schemeStandardWebhooks + ":" + h.id,
		ReplayTTL: 2 * v.tolerance,
	}, nil
}

func readSWHeaders(r *http.Request, names swHeaders) swHeaders {
	return swHeaders{
		id:        strings.TrimSpace(headerValue(r, names.id)),
		timestamp: strings.TrimSpace(headerValue(r, names.timestamp)),
		signature: strings.TrimSpace(headerValue(r, names.signature)),
	}
}

// matchHMAC compares every v1 signature with the HMAC under every key,
// without stopping at a match, and returns the KeyID of the key that
// matched.
func (v *StandardWebhooks) matchHMAC(sigs [][]byte, id, timestamp string, body []byte) (string, bool) {
	if len(sigs) == 0 {
		return "", false
	}
	match, index := 0, 0
	for i, key := range v.macKeys {
		expected := swHMAC(key, id, timestamp, body)
		for _, sig := range sigs {
			eq := subtle.ConstantTimeCompare(sig, expected)
			index = subtle.ConstantTimeSelect(eq, i, index)
			match |= eq
		}
	}
	if match != 1 {
		return "", false
	}
	return v.macIDs[index], true
}

// matchEd25519 checks every v1a signature against every public key and
// stops at the first that verifies: nothing secret is involved, so there
// is no timing to protect, and each verification is costly.
func (v *StandardWebhooks) matchEd25519(sigs [][]byte, id, timestamp string, body []byte) (string, bool) {
	if len(sigs) == 0 || len(v.publicKeys) == 0 {
		return "", false
	}
	msg := swSignedContent(id, timestamp, body)
	for i, key := range v.publicKeys {
		for _, sig := range sigs {
			if ed25519.Verify(key, msg, sig) {
				return v.publicIDs[i], true
			}
		}
	}
	return "", false
}

// KeyIDs returns the KeyID of every configured whsec_ and whpk_ key.
func (v *StandardWebhooks) KeyIDs() []string { return distinct(v.keyIDs) }

// swHMAC is HMAC-SHA256(key, "<id>.<timestamp>.<body>"), written piecewise
// so the body is never copied.
func swHMAC(key []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// swSignedContent returns "<id>.<timestamp>.<body>" in one slice, which
// ed25519 needs (it hashes the message twice).
func swSignedContent(id, timestamp string, body []byte) []byte {
	msg := make([]byte, 0, len(id)+len(timestamp)+2+len(body))
	msg = append(msg, id...)
	msg = append(msg, '.')
	msg = append(msg, timestamp...)
	msg = append(msg, '.')
	return append(msg, body...)
}

// Interface guards
var (
	_ Verifier  = (*StandardWebhooks)(nil)
	_ KeyLister = (*StandardWebhooks)(nil)
)
