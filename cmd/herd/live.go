package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/live"
)

// liveOutputs are a running drill's live display on stderr and its
// Prometheus /metrics, fed one Status a second.
type liveOutputs struct {
	prog    *live.Progress
	metrics *live.Metrics
}

// startLive starts the display (a refreshing block on a terminal, a plain
// line every --progress-every otherwise, nothing with --quiet) and, with
// --metrics-listen, the /metrics server, which ends with the command.
func startLive(c *cobra.Command, fl *runFlags) (*liveOutputs, error) {
	stderr := c.ErrOrStderr()
	term := false
	if f, ok := stderr.(*os.File); ok {
		term = live.IsTerminal(f)
	}
	l := &liveOutputs{prog: live.NewProgress(stderr, term, fl.progressInt, fl.quiet)}
	if fl.metricsListen != "" {
		l.metrics = live.NewMetrics()
		addr, err := l.metrics.Serve(c.Context(), fl.metricsListen)
		if err != nil {
			return nil, usagef(c, fmt.Errorf("--metrics-listen %s: %w", fl.metricsListen, err))
		}
		logf(stderr, fl.quiet, "serving Prometheus metrics at http://%s/metrics", addr)
	}
	return l, nil
}

func (l *liveOutputs) update(s live.Status) {
	l.prog.Update(s)
	if l.metrics != nil {
		l.metrics.Update(s)
	}
}

func (l *liveOutputs) close() { l.prog.Close() }
