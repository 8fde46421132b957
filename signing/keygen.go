package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// secretBytes is the size of generated symmetric secrets: 256 bits, above
// the Standard Webhooks minimum of 192.
const secretBytes = 32

// GenerateSecret returns a new Standard Webhooks secret: "whsec_" and the
// standard base64 of 32 random bytes, which are the HMAC key.
func GenerateSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return prefixSymmetricSecret + base64.StdEncoding.EncodeToString(key), nil
}

// GenerateEd25519 returns a new ed25519 key pair in Standard Webhooks form:
// private is "whsk_" and the standard base64 of the 64-byte private key
// (seed followed by public key), for StandardWebhooksSigner; public is
// "whpk_" and the standard base64 of the 32-byte public key, for receivers
// (StandardWebhooks).
func GenerateEd25519() (private, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	return prefixEd25519Secret + base64.StdEncoding.EncodeToString(priv),
		prefixEd25519Public + base64.StdEncoding.EncodeToString(pub),
		nil
}

// Kinds of key file.
const (
	KeyKindHMAC    = "hmac"
	KeyKindEd25519 = "ed25519"
)

// KeyFile is the small JSON document `caddy agenthook keygen` prints, in
// the spirit of the JSON private-key file UPTIQ hands its users: everything
// a sender needs to sign, in one file to download and keep.
//
// For kind "hmac" one random 32-byte key is written twice, for two kinds of
// sender, and the two forms are NOT interchangeable as HMAC keys:
//
//   - Secret is the key's 64 lowercase hex characters. Senders in the UPTIQ
//     style use this string itself as the HMAC key, that is its 64 ASCII
//     bytes (crypto.createHmac("sha256", secret)); configure the same
//     string with HMACConfig.Secrets (auth hmac), which uses it the same
//     way.
//   - Whsec is "whsec_" and the base64 of the 32 raw bytes. Standard
//     Webhooks senders and libraries base64-decode it and use the 32 bytes
//     as the key; configure it with StandardWebhooks or
//     StandardWebhooksSigner.
//
// For kind "ed25519", PrivateKey is the whsk_ key for the signer and
// PublicKey the whpk_ key to give to receivers.
type KeyFile struct {
	KeyID     string `json:"key_id"`
	Algorithm string `json:"algorithm"`

	// kind "hmac"
	Secret   string `json:"secret,omitempty"`
	Whsec    string `json:"whsec,omitempty"`
	Header   string `json:"header,omitempty"`
	Encoding string `json:"encoding,omitempty"`

	// kind "ed25519"
	PrivateKey string `json:"private_key,omitempty"`
	PublicKey  string `json:"public_key,omitempty"`

	// CreatedAt is in UTC, whole seconds; it marshals as RFC 3339.
	CreatedAt time.Time `json:"created_at"`
}

// NewKeyFile generates a key of the given kind, "hmac" (also when kind is
// "") or "ed25519", and returns it as a KeyFile.
func NewKeyFile(kind string) (KeyFile, error) {
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return KeyFile{}, err
	}
	kf := KeyFile{
		KeyID:     "key_" + hex.EncodeToString(id),
		CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	switch kind {
	case "", KeyKindHMAC:
		key := make([]byte, secretBytes)
		if _, err := rand.Read(key); err != nil {
			return KeyFile{}, err
		}
		kf.Algorithm = "HMAC-SHA256"
		kf.Secret = hex.EncodeToString(key)
		kf.Whsec = prefixSymmetricSecret + base64.StdEncoding.EncodeToString(key)
		kf.Header = DefaultHMACHeader
		kf.Encoding = DefaultHMACEncoding
	case KeyKindEd25519:
		private, public, err := GenerateEd25519()
		if err != nil {
			return KeyFile{}, err
		}
		kf.Algorithm = "Ed25519"
		kf.PrivateKey = private
		kf.PublicKey = public
	default:
		return KeyFile{}, fmt.Errorf("key file: unknown kind %q (allowed: hmac, ed25519)", kind)
	}
	return kf, nil
}

// Ed25519PublicKey returns the whpk_ public key of a whsk_ private key
// (in either of the forms NewStandardWebhooksSigner takes): what a v1a
// receiver verifies with, safe to show. Errors never quote the key.
func Ed25519PublicKey(private string) (string, error) {
	if !strings.HasPrefix(private, prefixEd25519Secret) {
		return "", errors.New("not a whsk_ key")
	}
	key, err := decodeEd25519PrivateKey(private)
	if err != nil {
		return "", err
	}
	return prefixEd25519Public + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)), nil
}
