package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/internal/live"
	"github.com/herd-drill/herd/internal/procs"
	"github.com/herd-drill/herd/internal/procstat"
	"github.com/herd-drill/herd/reports"
)

func init() { subcommands = append(subcommands, newWorkerCmd) }

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "worker",
		Short:  "Run one segment of a drill for a coordinating 'herd run' (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runWorker(c.Context(), os.Stdin)
		},
	}
}

// runWorker reads its drill from its parent, says it is ready, waits for
// the start instant, runs, and writes its result (partial if interrupted).
// It stops when its parent is gone.
func runWorker(ctx context.Context, stdin io.Reader) error {
	p, ok := procs.FromParent(stdin)
	if !ok {
		return errors.New("herd worker runs a segment of a drill for 'herd run', which starts it")
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
	procstat.RaiseFileLimit()
	var in workerInput
	if err := p.Input(&in); err != nil {
		return p.Fail(err)
	}
	p.Ready(nil)
	start, err := p.WaitStart(ctx)
	if err != nil {
		return p.Fail(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-p.Gone()
		cancel()
	}()
	in.Drill.Start = start
	res, err := runOne(ctx, in.Drill, in.TargetInfo, drillOutputs{progress: func(s live.Status) { p.Status(s) }, latency: in.Latency})
	if err != nil {
		return p.Fail(err)
	}
	if err := atomicfile.Write(in.Out, func(w io.Writer) error { return reports.WriteJSON(w, res) }); err != nil {
		return p.Fail(fmt.Errorf("worker: writing %s: %w", in.Out, err))
	}
	p.Done(workerDone{Out: in.Out})
	return nil
}
