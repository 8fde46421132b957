//go:build linux

package pgstore

import (
	"errors"
	"strings"
	"syscall"
)

// sysTCPUserTimeout is TCP_USER_TIMEOUT from linux/tcp.h, which package
// syscall does not name.
const sysTCPUserTimeout = 0x12

// dialControl sets TCP_USER_TIMEOUT on TCP sockets.
func dialControl(network, _ string, c syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return nil
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, sysTCPUserTimeout, int(tcpUserTimeout.Milliseconds()))
	})
	return errors.Join(err, serr)
}
