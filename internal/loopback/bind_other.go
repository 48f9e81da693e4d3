//go:build !linux

package loopback

import "syscall"

// Control does nothing outside Linux, which has no IP_BIND_ADDRESS_NO_PORT.
func Control(_, _ string, _ syscall.RawConn) error { return nil }
