package live

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// Outputs are a running drill's live display and its Prometheus /metrics,
// fed one Status a second.
type Outputs struct {
	prog    *Progress
	metrics *Metrics
	Addr    string // where /metrics is served; "" when it is not
}

// Start starts the display on w (a refreshing block on a terminal, a plain
// line every every otherwise, nothing if quiet) and, when metricsAddr is
// set, the /metrics server there, which ends with ctx.
func Start(ctx context.Context, w io.Writer, every time.Duration, quiet bool, metricsAddr string) (*Outputs, error) {
	term := false
	if f, ok := w.(*os.File); ok {
		term = IsTerminal(f)
	}
	o := &Outputs{prog: NewProgress(w, term, every, quiet)}
	if metricsAddr != "" {
		o.metrics = NewMetrics()
		addr, err := o.metrics.Serve(ctx, metricsAddr)
		if err != nil {
			return nil, fmt.Errorf("--metrics-listen %s: %w", metricsAddr, err)
		}
		o.Addr = addr
	}
	return o, nil
}

// Update shows s on the display and in /metrics.
func (o *Outputs) Update(s Status) {
	o.prog.Update(s)
	if o.metrics != nil {
		o.metrics.Update(s)
	}
}

// Close ends the display.
func (o *Outputs) Close() { o.prog.Close() }
