package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// keyIDLabel keys the HMAC that turns a credential into its KeyID. It is
// fixed and public: a KeyID must be the same in every process and after
// every reload, so that an identity stored by one instance is recognised
// by another. Changing it changes every KeyID, hence the version.
const keyIDLabel = "agenthook credential key id v1"

// keyIDBytes is the length of a KeyID before hex encoding: 64 bits tell
// the credentials of one endpoint apart with room to spare, and are far
// too few to stand in for any of them.
const keyIDBytes = 8

// KeyLister is implemented by verifiers that can name, in advance, every
// Result.KeyID they may return: one per configured secret, key or user.
// It lets a caller check that a request was verified by a credential of a
// given auth line (say, the one that created a task) without keeping any
// secret itself.
type KeyLister interface {
	// KeyIDs returns the KeyIDs in configuration order, without
	// duplicates. The slice is the caller's to keep.
	KeyIDs() []string
}

// UserKeyLister is implemented by verifiers whose credentials belong to
// named users (Basic): it maps each configured user to the KeyID its
// Result carries, so that a caller can tell one user's credential from
// another's of the same auth line.
type UserKeyLister interface {
	// UserKeyIDs returns a new map from username to KeyID.
	UserKeyIDs() map[string]string
}

// KeyIDOf is the KeyID of a credential for verifiers written outside this
// package (an auth module of another Go module, say): the same derivation
// as the built-in schemes', under the verifier's own scheme name, so that
// its KeyIDs never collide with theirs. parts are the credential's
// identifying bytes, such as the secret itself.
func KeyIDOf(scheme string, parts ...[]byte) string { return keyID(scheme, parts...) }

// keyID is the KeyID of a credential of scheme whose identifying bytes
// are parts: the first 16 hex characters of HMAC-SHA256 under keyIDLabel
// of the scheme name and each part, every one prefixed by its length so
// that no two different lists of parts give the same input.
//
// The scheme is part of the input so that one secret used by two schemes
// (an HMAC key that is also a GitHub secret, say) gets two ids: it
// authenticates different things in each. Like any fingerprint of a
// secret, a KeyID lets someone who has it test guesses of a weak secret
// offline; generated secrets (caddy agenthook keygen) make that hopeless.
func keyID(scheme string, parts ...[]byte) string {
	m := hmac.New(sha256.New, []byte(keyIDLabel))
	var n [binary.MaxVarintLen64]byte
	write := func(b []byte) {
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
		m.Write(b)
	}
	write([]byte(scheme))
	for _, p := range parts {
		write(p)
	}
	return hex.EncodeToString(m.Sum(nil)[:keyIDBytes])
}

// keyIDsOf computes the KeyIDs of keys, one per key and in the same
// order, so that an index into keys is an index into the result.
func keyIDsOf(scheme string, keys [][]byte) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = keyID(scheme, k)
	}
	return ids
}

// distinct returns ids without repeats, in first-seen order, as a new
// slice: what KeyIDs returns.
func distinct(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
