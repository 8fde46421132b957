package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DefaultStripeTolerance is how far the signed timestamp may be from now,
// in either direction, by default: Stripe's own libraries use 300 seconds.
const DefaultStripeTolerance = 300 * time.Second

const stripeSignatureHeader = "Stripe-Signature"

// Stripe checks Stripe's webhook signature:
//
//	Stripe-Signature: t=1492774577,v1=5257a869...,v1=...,v0=6ffbb59b...
//
// The signed payload is "<t>.<raw body>", the signature is the lowercase
// hex HMAC-SHA256 of it, keyed with the endpoint secret ("whsec_..." in the
// dashboard, used as its UTF-8 bytes: Stripe does not base64-decode it).
// Any v1 entry may match, because Stripe sends one per active secret while
// a secret is being rolled. v0 and unknown keys are ignored, as Stripe's
// documentation asks.
type Stripe struct {
	keys      [][]byte
	keyIDs    []string // keyIDs[i] names keys[i]
	tolerance time.Duration
}

// NewStripe returns a Stripe verifier that accepts any of secrets, and
// timestamps at most tolerance away from now (0 means 300 seconds).
func NewStripe(secrets []string, tolerance time.Duration) (*Stripe, error) {
	if len(secrets) == 0 {
		return nil, errors.New("stripe: at least one secret is required")
	}
	if tolerance < 0 {
		return nil, errors.New("stripe: tolerance must not be negative")
	}
	if tolerance == 0 {
		tolerance = DefaultStripeTolerance
	}
	s := &Stripe{tolerance: tolerance}
	for i, secret := range secrets {
		if secret == "" {
			return nil, fmt.Errorf("stripe: secret %d is empty", i)
		}
		s.keys = append(s.keys, []byte(secret))
	}
	s.keyIDs = keyIDsOf(schemeStripe, s.keys)
	return s, nil
}

// Scheme returns "stripe".
func (*Stripe) Scheme() string { return schemeStripe }

// Verify checks the Stripe-Signature header against body. The timestamp is
// checked only after a signature has matched, so ErrExpired always means
// "genuine but stale", never "garbage".
//
// Stripe signs every delivery attempt afresh, with a new timestamp, so a
// signed (timestamp, body) pair names exactly one attempt. Result.ReplayKey
// is derived from it (a hash, not the signature itself), which lets the
// caller refuse a captured request replayed within the tolerance.
func (s *Stripe) Verify(r *http.Request, body []byte, now time.Time) (Result, error) {
	value := headerValue(r, stripeSignatureHeader)
	if value == "" {
		return Result{}, missing(schemeStripe, "no Stripe-Signature header")
	}
	h, err := parseStripeHeader(value)
	if err != nil {
		return Result{}, err
	}

	match, index := 0, 0
	for i, key := range s.keys {
		expected := stripeSignature(key, h.timestamp, body)
		for _, presented := range h.v1 {
			eq := subtle.ConstantTimeCompare(presented, expected)
			index = subtle.ConstantTimeSelect(eq, i, index)
			match |= eq
		}
	}
	if match != 1 {
		return Result{}, invalid(schemeStripe, "no v1 signature matches")
	}
	if !withinTolerance(h.unix, now, s.tolerance) {
		return Result{}, expired(schemeStripe)
	}

	replay := sha256.New()
	replay.Write([]byte(h.timestamp))
	replay.Write([]byte{'.'})
	replay.Write(body)
	return Result{
		Principal: schemeStripe,
		KeyID:     s.keyIDs[index],
		ReplayKey: schemeStripe + ":" + hex.EncodeToString(replay.Sum(nil)[:16]),
		ReplayTTL: 2 * s.tolerance,
	}, nil
}

// stripeSignature computes HMAC-SHA256(key, "<timestamp>.<body>"), with
// the timestamp exactly as it appeared in the header.
func stripeSignature(key []byte, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// stripeHeader is a parsed Stripe-Signature header.
type stripeHeader struct {
	timestamp string   // as sent, digits only
	unix      int64    // the same, parsed
	v1        [][]byte // decoded v1 signatures of the right length
}

// parseStripeHeader follows Stripe's documented procedure: split the value
// on ",", split each element on the first "=" into a key and a value, take
// t and every v1, and ignore the rest. Beyond that it is strict where being
// lenient would only add ambiguity: a non-empty element without "=" or a
// second t makes the header invalid. A v1 value that is not 64 hex digits is
// skipped, like an unknown scheme, but at least one good v1 must remain.
func parseStripeHeader(value string) (stripeHeader, error) {
	var h stripeHeader
	if len(value) > maxHeaderBytes {
		return h, invalid(schemeStripe, "Stripe-Signature header too long")
	}
	haveTimestamp, elements := false, 0
	for element := range strings.SplitSeq(value, ",") {
		if elements++; elements > 2*maxSignatures {
			return h, invalid(schemeStripe, "Stripe-Signature header has too many elements")
		}
		element = strings.TrimSpace(element)
		if element == "" {
			continue // a stray or trailing comma
		}
		key, val, ok := strings.Cut(element, "=")
		if !ok {
			return h, invalid(schemeStripe, "Stripe-Signature element is not key=value")
		}
		switch key {
		case "t":
			if haveTimestamp {
				return h, invalid(schemeStripe, "Stripe-Signature has more than one timestamp")
			}
			unix, ok := parseUnixSeconds(val)
			if !ok {
				return h, invalid(schemeStripe, "Stripe-Signature timestamp is not a unix time")
			}
			h.timestamp, h.unix, haveTimestamp = val, unix, true
		case "v1":
			if sig, ok := decodeSized(encodingHex, val, sha256.Size); ok {
				h.v1 = append(h.v1, sig)
			}
		}
	}
	if !haveTimestamp {
		return h, invalid(schemeStripe, "Stripe-Signature has no timestamp")
	}
	if len(h.v1) == 0 {
		return h, invalid(schemeStripe, "Stripe-Signature has no well-formed v1 signature")
	}
	return h, nil
}

// KeyIDs returns the KeyID of every configured secret.
func (s *Stripe) KeyIDs() []string { return distinct(s.keyIDs) }

// Interface guards
var (
	_ Verifier  = (*Stripe)(nil)
	_ KeyLister = (*Stripe)(nil)
)
