package procs

import (
	"fmt"

	"github.com/herd-drill/herd/internal/procstat"
)

// A process here may hold a limited number of open files (20,000 on the
// machines herd is developed on, and the hard limit cannot be raised), and
// every camera holds a socket on each side: herd spreads a large fleet
// over worker processes and the built-in target over cell processes, by
// one rule.

// Slack is what a process keeps for app connections, listeners, pipes and
// its own files.
const Slack = 1500

// Budget is one process's share of the open-file limit.
type Budget struct {
	Limit int // open files a process may hold
}

// FileBudget returns this machine's budget, raising the soft limit to the
// hard one first; it fails when the limit is too small for any drill.
func FileBudget() (Budget, error) {
	limit := int(procstat.RaiseFileLimit())
	if limit == 0 || limit > 1<<20 {
		limit = 1 << 20
	}
	if limit <= 2*Slack {
		return Budget{}, fmt.Errorf("the open-file limit is %d, too small for a drill (herd needs more than %d): raise it with 'ulimit -n'", limit, 2*Slack)
	}
	return Budget{Limit: limit}, nil
}

// PerProcess is how many things, each holding files open files, fit one
// process, at most most.
func (b Budget) PerProcess(files, most int) int {
	return max(1, min(most, (b.Limit-Slack)/max(files, 1)))
}

// Fits reports whether n things of files files each fit one process.
func (b Budget) Fits(n, files int) bool { return n*files+Slack <= b.Limit }

// Processes is how many processes n things, each holding files open
// files, need at most most to a process.
func (b Budget) Processes(n, files, most int) int {
	per := b.PerProcess(files, most)
	return (n + per - 1) / per
}
