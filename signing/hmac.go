package signing

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// Defaults of HMACConfig: UPTIQ's agent webhook, which sends
// x-signature: hex(HMAC-SHA256(key, raw body)).
const (
	DefaultHMACHeader    = "x-signature"
	DefaultHMACAlgorithm = "sha256"
	DefaultHMACEncoding  = "hex"
)

const (
	encodingHex    = "hex"
	encodingBase64 = "base64"
)

// hmacAlgorithms are the hash functions an HMAC scheme may use. SHA-1 is
// here only because some older senders still use it; HMAC-SHA1 is not
// broken the way plain SHA-1 is.
var hmacAlgorithms = map[string]func() hash.Hash{
	"sha1":   sha1.New,
	"sha256": sha256.New,
	"sha512": sha512.New,
}

// HMACConfig describes a "signature of the raw body in a header" scheme,
// for HMAC and HMACSigner. The zero value of every field but Secrets means
// the default.
type HMACConfig struct {
	// Secrets are the keys. A verifier accepts a signature made with any
	// of them, which is how a key is rotated; a signer uses the first.
	//
	// Each secret's key is the UTF-8 bytes of the string exactly as
	// written, with no decoding: that is what senders do when they pass
	// their "private key" string to createHmac or hmac.new. In particular,
	// the "secret" field of a KeyFile is used as its 64 hex characters,
	// not as the 32 bytes they spell. A "whsec_..." string is not decoded
	// either; use it with StandardWebhooks instead.
	Secrets []string

	// Header carries the signature. Default "x-signature". Matched
	// case-insensitively, as all HTTP header names are.
	Header string

	// Algorithm is the hash: "sha256" (default), "sha1" or "sha512".
	Algorithm string

	// Encoding of the signature: "hex" (default) or "base64". Verifiers
	// accept hex in either case and base64 in the standard or URL-safe
	// alphabet, padded or not; signers write lowercase hex and padded
	// standard base64.
	Encoding string

	// Prefix is text in front of the encoded signature, such as "sha256="
	// (GitHub style). Default none. It is matched case-sensitively, exactly
	// as configured: it is a fixed label the sender always writes the same
	// way, and being strict keeps one spelling per configuration.
	Prefix string
}

// hmacScheme is an HMACConfig with its defaults applied and its names
// resolved; HMAC, GitHub and HMACSigner share it.
type hmacScheme struct {
	header   string // canonical MIME form, for Header.Get
	rawName  string // as configured (lowercase by default), for signers
	newHash  func() hash.Hash
	size     int
	encoding string
	prefix   string
	keys     [][]byte
	keyIDs   []string // keyIDs[i] names keys[i]
	// macs[i] pools HMACs keyed with keys[i], for verify: hmac.New costs
	// a handful of allocations, on every signed request. Pointers, so
	// that the scheme can be copied.
	macs []*sync.Pool
}

// pooledMAC is a keyed HMAC and room for its sum (64 bytes: SHA-512's).
type pooledMAC struct {
	h   hash.Hash
	buf [64]byte
}

func newHMACScheme(scheme string, cfg HMACConfig) (hmacScheme, error) {
	var s hmacScheme

	s.rawName = cfg.Header
	if s.rawName == "" {
		s.rawName = DefaultHMACHeader
	}
	if !validHeaderName(s.rawName) {
		return s, fmt.Errorf("%s: header %q is not a valid HTTP header name", scheme, s.rawName)
	}
	s.header = textproto.CanonicalMIMEHeaderKey(s.rawName)

	algorithm := strings.ToLower(cfg.Algorithm)
	if algorithm == "" {
		algorithm = DefaultHMACAlgorithm
	}
	newHash, ok := hmacAlgorithms[algorithm]
	if !ok {
		return s, fmt.Errorf("%s: unknown algorithm %q (allowed: sha256, sha1, sha512)", scheme, cfg.Algorithm)
	}
	s.newHash = newHash
	s.size = newHash().Size()

	s.encoding = strings.ToLower(cfg.Encoding)
	if s.encoding == "" {
		s.encoding = DefaultHMACEncoding
	}
	if s.encoding != encodingHex && s.encoding != encodingBase64 {
		return s, fmt.Errorf("%s: unknown encoding %q (allowed: hex, base64)", scheme, cfg.Encoding)
	}

	if strings.ContainsAny(cfg.Prefix, "\r\n") {
		return s, fmt.Errorf("%s: prefix must not contain line breaks", scheme)
	}
	s.prefix = cfg.Prefix

	if len(cfg.Secrets) == 0 {
		return s, fmt.Errorf("%s: at least one secret is required", scheme)
	}
	for i, secret := range cfg.Secrets {
		if secret == "" {
			return s, fmt.Errorf("%s: secret %d is empty", scheme, i)
		}
		s.keys = append(s.keys, []byte(secret))
	}
	s.keyIDs = keyIDsOf(scheme, s.keys)
	for _, key := range s.keys {
		s.macs = append(s.macs, &sync.Pool{New: func() any { return &pooledMAC{h: hmac.New(newHash, key)} }})
	}
	return s, nil
}

// validHeaderName reports whether name is an RFC 9110 token, so that a
// typo in the configuration fails at load time rather than never matching.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// sum returns HMAC(key, body).
func (s *hmacScheme) sum(key, body []byte) []byte {
	m := hmac.New(s.newHash, key)
	m.Write(body)
	return m.Sum(nil)
}

// matches is 1 if presented is HMAC(keys[i], body), else 0, compared in
// constant time.
func (s *hmacScheme) matches(i int, key, presented, body []byte) int {
	if i >= len(s.macs) {
		return subtle.ConstantTimeCompare(presented, s.sum(key, body))
	}
	m := s.macs[i].Get().(*pooledMAC)
	m.h.Reset() // back to the keyed state, whatever it was used for
	m.h.Write(body)
	eq := subtle.ConstantTimeCompare(presented, m.h.Sum(m.buf[:0]))
	s.macs[i].Put(m)
	return eq
}

// verify checks the signature header against body with every key, to the
// end of the list, so that timing does not tell which key matched, and
// returns the KeyID of the key that did.
func (s *hmacScheme) verify(scheme string, r *http.Request, body []byte) (string, error) {
	value := headerValue(r, s.header)
	if value == "" {
		return "", missing(scheme, "no signature header")
	}
	if len(value) > maxHeaderBytes {
		return "", invalid(scheme, "signature header too long")
	}
	encoded, ok := strings.CutPrefix(value, s.prefix)
	if !ok {
		return "", invalid(scheme, "signature header lacks the expected prefix")
	}
	presented, ok := decodeSized(s.encoding, encoded, s.size)
	if !ok {
		return "", invalid(scheme, "signature is malformed or of the wrong length")
	}
	match, index := 0, 0
	for i, key := range s.keys {
		eq := s.matches(i, key, presented, body)
		index = subtle.ConstantTimeSelect(eq, i, index)
		match |= eq
	}
	if match != 1 {
		return "", invalid(scheme, "signature does not match")
	}
	return s.keyIDs[index], nil
}

// HMAC checks a signature of the raw body carried in one header: UPTIQ's
// x-signature, and the many senders that copied it with another header
// name, hash, encoding or prefix. There is no timestamp, so a captured
// request can be replayed; prefer StandardWebhooks where the sender
// supports it.
type HMAC struct {
	s hmacScheme
}

// NewHMAC returns an HMAC verifier for cfg, after checking it. Errors name
// the allowed values and never repeat a secret.
func NewHMAC(cfg HMACConfig) (*HMAC, error) {
	s, err := newHMACScheme(schemeHMAC, cfg)
	if err != nil {
		return nil, err
	}
	return &HMAC{s: s}, nil
}

// Scheme returns "hmac".
func (*HMAC) Scheme() string { return schemeHMAC }

// Verify checks the configured header against HMAC(secret, body).
func (h *HMAC) Verify(r *http.Request, body []byte, _ time.Time) (Result, error) {
	id, err := h.s.verify(schemeHMAC, r, body)
	if err != nil {
		return Result{}, err
	}
	return Result{Principal: schemeHMAC, KeyID: id}, nil
}

// KeyIDs returns the KeyID of every configured secret.
func (h *HMAC) KeyIDs() []string { return distinct(h.s.keyIDs) }

// Interface guards
var (
	_ Verifier  = (*HMAC)(nil)
	_ KeyLister = (*HMAC)(nil)
)
