package signing

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The ways a verification fails. Every error a Verifier returns wraps
// exactly one of them, so that callers can tell "no credentials at all"
// (try the next configured scheme, or answer 401 with a challenge) from
// "wrong credentials", from "right signature, stale message" (worth its
// own log line: it usually means a clock is off or a request was replayed
// late), and from "not checked: too busy" (503, try again shortly).
var (
	// ErrMissing means the scheme's header(s) are absent from the request.
	ErrMissing = errors.New("credentials missing")

	// ErrInvalid means credentials are present but wrong or garbled.
	ErrInvalid = errors.New("credentials invalid")

	// ErrExpired means a correctly signed timestamp is too old or too far
	// in the future. It is only returned once the signature has verified,
	// so it never tells an unauthenticated caller more than ErrInvalid.
	ErrExpired = errors.New("timestamp outside tolerance")

	// ErrBusy means the credentials could not be checked now because
	// every slot for expensive checks (password hashes) is taken. The
	// caller should answer "try again shortly" rather than 401.
	ErrBusy = errors.New("verifier busy")
)

// Result describes a successful verification.
type Result struct {
	// Principal is the verifier's own description of the caller, never
	// secret material: "basic:<username>", "bearer:<12 hex chars of
	// sha256(token)>", or the scheme name for the signature schemes. It
	// is not who the caller is to agenthook: a caller is the endpoint, the
	// auth line and the credential (KeyID, User) that verified, which the
	// endpoint composes (see handler/endpoint.Identity).
	Principal string

	// KeyID is a short, non-secret fingerprint of the credential that
	// verified the request: 16 hex characters, derived from the secret
	// or key (for Basic, from the username and its stored hash) with a
	// fixed label, so the same credential has the same KeyID in every
	// process and after every reload, and different credentials have
	// different ones. Two secrets of one rotation have two KeyIDs; a
	// verifier that is a KeyLister lists them all.
	KeyID string

	// User is the Basic username, and "" for every other scheme.
	User string

	// ReplayKey is non-empty when the signed request names a unique
	// message (Standard Webhooks' webhook-id, or Stripe's signed timestamp
	// and body). The caller stores it and refuses a second use within
	// ReplayTTL. It is namespaced by scheme, e.g. "standard_webhooks:msg_…".
	ReplayKey string

	// ReplayTTL is how long ReplayKey must be remembered: long enough to
	// outlive the timestamp tolerance in both directions.
	ReplayTTL time.Duration
}

// Verifier checks the credentials of one inbound request.
type Verifier interface {
	// Scheme names the scheme: "basic", "bearer", "hmac",
	// "standard_webhooks", "github" or "stripe".
	Scheme() string

	// Verify checks r's headers against body, the raw request body exactly
	// as received, at time now. It reads nothing from r but its headers,
	// so the caller reads (and limits) the body itself.
	Verify(r *http.Request, body []byte, now time.Time) (Result, error)
}

// Limits on what we are willing to parse. Real senders stay far below
// them; they exist so that a hostile header cannot make us decode or
// verify thousands of signatures.
const (
	// maxHeaderBytes bounds any single credential header we parse.
	maxHeaderBytes = 8 << 10

	// maxSignatures bounds how many signatures one header may carry
	// (Standard Webhooks' space-separated list, Stripe's v1= entries).
	maxSignatures = 32

	// maxMessageIDBytes bounds webhook-id, which becomes a replay key
	// and so is written to the store.
	maxMessageIDBytes = 256

	// maxTimestampDigits bounds a unix timestamp in seconds. Eighteen
	// digits always fit in an int64, and anything that long is far
	// outside any tolerance anyway.
	maxTimestampDigits = 18
)

// Scheme names, shared by Scheme() and the Principal of signature schemes.
const (
	schemeBasic            = "basic"
	schemeBearer           = "bearer"
	schemeHMAC             = "hmac"
	schemeStandardWebhooks = "standard_webhooks"
	schemeGitHub           = "github"
	schemeStripe           = "stripe"
)

// missing and invalid build the errors Verifiers return. reason must be a
// fixed string written in this package: never interpolate request data
// or configuration into it, so no secret or presented signature can leak
// through an error message.
func missing(scheme, reason string) error {
	return fmt.Errorf("%s: %w: %s", scheme, ErrMissing, reason)
}

func invalid(scheme, reason string) error {
	return fmt.Errorf("%s: %w: %s", scheme, ErrInvalid, reason)
}

// busyErr builds ErrBusy errors; reason is a fixed string, as for invalid.
func busyErr(scheme, reason string) error {
	return fmt.Errorf("%s: %w: %s", scheme, ErrBusy, reason)
}

func expired(scheme string) error {
	return fmt.Errorf("%s: %w", scheme, ErrExpired)
}

// headerValue returns the first value of header name, or "" if there is
// none (or r is nil, which callers should never pass but which must not
// panic either).
func headerValue(r *http.Request, name string) string {
	if r == nil {
		return ""
	}
	return r.Header.Get(name)
}

// decodeBase64 decodes s in any of the four common base64 flavours:
// standard or URL-safe alphabet, padded or not. Senders disagree about
// which one to use and nothing is gained by being picky: the decoded bytes
// still have to match a signature we computed ourselves.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case '-':
				return '+'
			case '_':
				return '/'
			}
			return r
		}, s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// decodeSized decodes a signature in the given encoding ("hex" or
// "base64") and insists on the exact size, which both rejects garbage
// early and keeps the later constant-time compare meaningful.
func decodeSized(encoding, s string, size int) ([]byte, bool) {
	var (
		b   []byte
		err error
	)
	switch encoding {
	case encodingHex:
		if len(s) != hex.EncodedLen(size) {
			return nil, false
		}
		b, err = hex.DecodeString(s) // accepts upper and lower case
	case encodingBase64:
		if len(s) > base64.StdEncoding.EncodedLen(size) {
			return nil, false
		}
		b, err = decodeBase64(s)
	default:
		return nil, false
	}
	if err != nil || len(b) != size {
		return nil, false
	}
	return b, true
}

// parseUnixSeconds parses a decimal unix timestamp as webhook senders
// write it: ASCII digits only, no sign, no spaces, no exponent.
// strconv.ParseInt would also accept "+5" and "-5"; we do not.
func parseUnixSeconds(s string) (int64, bool) {
	if s == "" || len(s) > maxTimestampDigits {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// withinTolerance reports whether the signed time ts (unix seconds) lies
// within tolerance of now, in either direction. A timestamp from the
// future is as suspicious as one from the past: accepting it would let a
// captured request stay replayable for longer than the tolerance.
func withinTolerance(ts int64, now time.Time, tolerance time.Duration) bool {
	d := now.Sub(time.Unix(ts, 0)) // saturates instead of overflowing
	return d <= tolerance && d >= -tolerance
}
