// Command herd drills device backends with a fleet of simulated cameras that
// all come back at once after an outage, and proves whether anyone was shown
// someone else's data.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/internal/procstat"
)

func main() {
	stopProfile := procstat.CPUProfile(os.Getenv("HERD_CPUPROFILE_DIR"), strings.Join(os.Args[1:min(2, len(os.Args))], ""))
	ctx, stop := signalContext()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	stopProfile()
	os.Exit(code)
}

// signalContext is cancelled by SIGINT or SIGTERM, and remembers which.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			stoppedBy.Store(s.(syscall.Signal))
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// stoppedBy is the signal that stopped herd, if one did.
var stoppedBy atomic.Value

// run executes one herd command line and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitcode.OK
	}
	code := exitcode.Of(err)
	var e *exitcode.Error
	// An *exitcode.Error without a message (a failed drill) prints nothing more.
	if !(errors.As(err, &e) && e.Err == nil) {
		fmt.Fprintln(stderr, "herd:", err)
	}
	if code == exitcode.OK {
		code = exitcode.Runtime
	}
	if sig, _ := stoppedBy.Load().(syscall.Signal); code == exitcode.Interrupted && sig == syscall.SIGTERM {
		code = exitcode.Terminated
	}
	return code
}
