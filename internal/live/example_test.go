package live_test

import (
	"os"
	"time"

	"github.com/herd-drill/herd/internal/live"
)

// A drill of two worker processes, shown as plain lines (as in CI): the
// coordinator sums the workers' snapshots every second and hands the sum
// to a Progress, which prints it every ten seconds of drill time and once
// more when closed.
func ExampleProgress() {
	pr := live.NewProgress(os.Stdout, false, 10*time.Second, false)
	for sec := int64(0); sec <= 25; sec++ {
		worker := live.Status{Phase: "steady", Elapsed: time.Duration(sec) * time.Second,
			Cameras: 50, Connected: min(2*sec, 50), EventsAcked: 10 * sec}
		if sec >= 20 {
			worker.Errors, worker.ErrorsByClass = 1, map[string]int64{"timeout": 1}
		}
		sum, err := live.Sum(worker, worker)
		if err != nil {
			panic(err)
		}
		pr.Update(sum)
	}
	pr.Close()
	// Output:
	// herd: steady       0.0s  connected 0/100  connects/s 0  acked 0  errors 0  shed 0  violations 0
	// herd: steady      10.0s  connected 40/100  connects/s 0  acked 200  errors 0  shed 0  violations 0
	// herd: steady      20.0s  connected 80/100  connects/s 0  acked 400  errors 2 (timeout 2)  shed 0  violations 0
	// herd: steady      25.0s  connected 100/100  connects/s 0  acked 500  errors 2 (timeout 2)  shed 0  violations 0
}
