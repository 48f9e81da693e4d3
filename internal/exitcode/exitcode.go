// Package exitcode holds herd's process exit codes and the error type that
// carries one from a command to main, which reads it in one place.
package exitcode

import (
	"context"
	"errors"
)

// Exit codes of the herd binary.
const (
	OK          = 0   // the drill passed, or the command did what was asked
	Runtime     = 1   // something broke while running
	Usage       = 2   // bad flags, bad arguments or an invalid scenario
	Failed      = 3   // thresholds or invariants failed
	Interrupted = 130 // stopped by SIGINT (128 + 2)
	Terminated  = 143 // stopped by SIGTERM (128 + 15)
)

// Error is an error that carries the exit code it should end the process with.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "exit status " + itoa(e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// With wraps err so that it ends the process with code. With of a nil err
// still carries the code (a failed drill is not an error message).
func With(code int, err error) error { return &Error{Code: code, Err: err} }

// Of returns the exit code err asks for: the code of an *Error in its chain,
// Interrupted for a cancelled context, Runtime otherwise, OK for nil.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.Canceled) {
		return Interrupted
	}
	return Runtime
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
