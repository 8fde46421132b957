//go:build !linux

package pgstore

import "syscall"

// dialControl does nothing where TCP_USER_TIMEOUT is not available;
// keepalives still notice dead connections.
func dialControl(network, address string, c syscall.RawConn) error { return nil }
