// Package link is the seam between a simulated camera and its connection to
// the target's device channel, as database/sql/driver is between database/sql
// and a driver. The camera's state machine (package sim) talks only to these
// small interfaces; each transport implements them: herd/1 over WebSocket
// (sim/ws) first. What travels is herd/1's messages as bytes (sim/wire);
// how a transport dials, refuses, sheds and goes down is its own, and it
// reports failures in herd's error classes (Failure).
package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/herd-drill/herd/sim/wire"
)

// Camera is what a transport needs to know of the camera it connects.
type Camera struct {
	Index  int    // in the layout
	Nth    int    // among this process's cameras: picks its loopback source address
	Cell   int    // the target cell of its account
	Device string // its device id
	Token  string // its device token
}

// Dialer connects cameras to the device channel. One Dialer serves every
// camera of a process.
type Dialer interface {
	// Dial connects cam and reads the target's welcome, and returns the
	// connection and the welcome, unchecked (the oracle judges it). What
	// the connection brings after the welcome goes to h. An error is a
	// *Failure unless ctx ended.
	Dial(ctx context.Context, cam Camera, h Handler) (Conn, wire.Message, error)
	// Close waits until every connection's reader and handler have ended;
	// call it once every Conn is closed or dropped.
	Close()
}

// Conn is one camera's open connection. Its caller serialises Send, Drop
// and Close (one writer at a time: the camera's lock).
type Conn interface {
	// Send writes one herd/1 message (an event or a frame). A failed
	// write ends the connection; its reader then reports it Lost.
	Send(msg []byte) error
	// Drop takes the connection down the way an outage of mode does (see
	// scenarios.ModeReset, ModeClose, ModeSilent): a silent drop leaves it
	// open and unanswered, for the target to notice.
	Drop(mode string)
	// Close hangs up normally, at the end of a run.
	Close()
}

// Handler gets what a connection brings after its welcome, one message at
// a time and in order for each connection. It runs on the transport's
// goroutines, which serve every camera: it must not wait long.
type Handler interface {
	// Message is one message from the target, valid only during the call.
	Message(c Conn, msg []byte)
	// Lost says that c ended without Drop or Close: the target or the
	// network ended it. err is a *Failure.
	Lost(c Conn, err error)
}

// Error classes: what went wrong, in words shared by every transport and
// by the app channel; counted, never hidden.
const (
	ErrRefused      = "refused"       // TCP connection refused
	ErrTimeout      = "timeout"       // dial, handshake, welcome or request timed out
	ErrHTTP401      = "http_401"      // token refused
	ErrHTTP429      = "http_429"      // target shed load
	ErrHTTP503      = "http_503"      // target shed load
	ErrHTTPOther    = "http_other"    // any other unexpected status
	ErrClose1013    = "close_1013"    // target shed an open connection
	ErrClose1001    = "close_1001"    // target going away
	ErrCloseOther   = "close_other"   // another close code or a dropped connection
	ErrProtocol     = "protocol"      // a message or body that breaks herd/1
	ErrNetwork      = "network"       // reset, broken pipe and the like
	ErrFileLimit    = "emfile"        // out of file descriptors in herd
	ErrAddrNotAvail = "eaddrnotavail" // out of local ports/addresses in herd
)

// Failure is a transport's failure in herd's terms: its class, and the
// target's hint of when to come back, if it gave one.
type Failure struct {
	Class      string
	RetryAfter time.Duration
	Status     int // the HTTP status that refused the dial, if one did
	Err        error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Class
	}
	return f.Class + ": " + f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

// Fail wraps err as a Failure of class.
func Fail(class string, err error) *Failure { return &Failure{Class: class, Err: err} }

// ClassOf returns the class of err: a Failure's own, else what Net says.
func ClassOf(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Class
	}
	return Net(err)
}

// Net classifies a network error. Running out of file descriptors or local
// ports is herd's problem, not the target's, and has classes of its own so
// that the summary can say so.
func Net(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return ErrFileLimit
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return ErrAddrNotAvail
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	}
	return ErrNetwork
}

// Status is the class of an unexpected HTTP status.
func Status(code int) string {
	switch code {
	case 401:
		return ErrHTTP401
	case 429:
		return ErrHTTP429
	case 503:
		return ErrHTTP503
	}
	return ErrHTTPOther
}

// RetryAfter parses a Retry-After header of whole seconds; 0 when absent
// or not a number.
func RetryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	n, err := strconv.Atoi(h)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// HTTPFailure is a refused HTTP upgrade (a device WebSocket, MQTT over
// WebSocket) in herd's classes, with the answer's Retry-After.
func HTTPFailure(resp *http.Response, err error) *Failure {
	return &Failure{Class: Status(resp.StatusCode), Status: resp.StatusCode, RetryAfter: RetryAfter(resp.Header.Get("Retry-After")), Err: err}
}

// ResetOnClose makes closing nc reset the TCP connection under it (RST,
// an outage's 'reset' mode), through TLS and WebSocket layers.
func ResetOnClose(nc net.Conn) {
	for {
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
			return
		}
		u, ok := nc.(interface{ NetConn() net.Conn }) // *tls.Conn, a WebSocket stream
		if !ok {
			return
		}
		nc = u.NetConn()
	}
}

// Protocolf is a Failure of class ErrProtocol.
func Protocolf(format string, args ...any) *Failure {
	return Fail(ErrProtocol, fmt.Errorf(format, args...))
}
