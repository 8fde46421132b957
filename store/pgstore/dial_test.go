//go:build linux

package pgstore

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

func TestDialerSetsUserTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conn, err := dialer(time.Second).DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		got, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, sysTCPUserTimeout)
	}); err != nil || gerr != nil {
		t.Fatalf("getsockopt: %v %v", err, gerr)
	}
	if got != int(tcpUserTimeout.Milliseconds()) {
		t.Fatalf("TCP_USER_TIMEOUT = %d ms, want %d", got, tcpUserTimeout.Milliseconds())
	}
}
