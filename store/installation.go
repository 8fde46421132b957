package store

import (
	"crypto/rand"
	"encoding/hex"
)

// NewInstallationID returns a fresh random installation id, for an engine
// to store the first time InstallationID is asked for.
func NewInstallationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "ah_" + hex.EncodeToString(b[:])
}
