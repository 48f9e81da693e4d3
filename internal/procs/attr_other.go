//go:build !linux

package procs

import "syscall"

// childAttr: outside Linux, children notice a dead coordinator when their
// stdin closes.
func childAttr() *syscall.SysProcAttr { return nil }
