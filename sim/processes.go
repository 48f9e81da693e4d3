package sim

import (
	"fmt"

	"github.com/herd-drill/herd/internal/procs"
	"github.com/herd-drill/herd/scenarios"
)

// The process layout of a drill. A process may hold a limited number of
// open files (procs.Budget), and each camera holds a socket on each side:
// a fleet too large for one process runs as worker processes, and the
// built-in target as cell processes.
const (
	// MaxPerWorker bounds one worker's cameras even under a large limit:
	// more processes use the cores better than a few large heaps.
	MaxPerWorker = 15_000
	// MaxPerCell bounds one target cell's device sockets.
	MaxPerCell = 14_000
)

// ProcessPlan is how a drill is spread over processes.
type ProcessPlan struct {
	Workers int // fleet processes; 1 runs the fleet in this process
	Cells   int // target cell processes; 0 runs the built-in target in this process
}

// FilesPerCamera is what a camera of sc holds open on each side: two where
// a silent outage leaves its old socket open until the target notices.
func FilesPerCamera(sc *scenarios.Scenario) int {
	for _, p := range sc.Phases {
		if p.Kind == scenarios.KindOutage && p.Mode == scenarios.ModeSilent {
			return 2
		}
	}
	return 1
}

// PlanProcesses sizes workers and cells for sc within b; builtin says the
// built-in target runs too. workers and cells, when not 0, are forced.
func PlanProcesses(b procs.Budget, sc *scenarios.Scenario, builtin bool, workers, cells int) (ProcessPlan, error) {
	n, files := sc.Fleet.Cameras, FilesPerCamera(sc)
	p := ProcessPlan{Workers: workers, Cells: cells}
	switch {
	case !builtin && cells > 0:
		return p, fmt.Errorf("--cells applies to the built-in target only; for your own target pass every cell in --target")
	case workers < 0 || cells < 0:
		return p, fmt.Errorf("--workers and --cells must not be negative")
	}
	if p.Workers == 0 {
		// Fleet and built-in target in one process if both fit.
		if builtin && p.Cells == 0 && b.Fits(2*n, files) {
			return ProcessPlan{Workers: 1}, nil
		}
		p.Workers = b.Processes(n, files, MaxPerWorker)
	}
	if builtin && p.Cells == 0 && (p.Workers > 1 || !b.Fits(2*n, files)) {
		p.Cells = b.Processes(n, files, MaxPerCell)
	}
	if p.Workers > n {
		return p, fmt.Errorf("--workers %d is more than the %d cameras", p.Workers, n)
	}
	return p, nil
}

// CheckShard says whether d's segment fits one process of b, and if not,
// how many shards the fleet needs.
func CheckShard(b procs.Budget, d Drill) error {
	files := FilesPerCamera(d.Scenario)
	n := d.segment().Cameras(d.Layout)
	if b.Fits(n, files) {
		return nil
	}
	least := d.segment().Count
	for Largest(d.Layout, least) > b.PerProcess(files, MaxPerWorker) {
		least++
	}
	return fmt.Errorf("shard %s holds %d cameras, more than one process's open-file limit takes: use --shards %d or more", d.segment(), n, least)
}
