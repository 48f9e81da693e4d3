package procs

import "syscall"

// childAttr makes a child process get SIGTERM when herd dies, so no cell
// or worker outlives a crashed coordinator.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
