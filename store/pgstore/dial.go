package pgstore

import (
	"net"
	"time"
)

// Connections that die without a word (a partition, a host that
// vanished, a failover that moved the address) must not hold calls for
// minutes: keepalives probe idle connections, and on Linux
// TCP_USER_TIMEOUT (dial_linux.go) ends a connection whose sent data goes
// unacknowledged. Neither limits a slow query: a server that is alive
// acknowledges what it receives.
const (
	keepAliveIdle  = 15 * time.Second
	tcpUserTimeout = 10 * time.Second
)

// dialer returns the dialer for the pool and the listener.
func dialer(connectTimeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: connectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: keepAliveIdle, Interval: 5 * time.Second, Count: 3,
		},
		Control: dialControl,
	}
}
