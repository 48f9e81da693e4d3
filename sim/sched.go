package sim

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// DefaultTickWorkers is how many goroutines run cameras' ticks. A camera
// owns no goroutine of its own apart from its socket's reader: its timed
// work (capture an event, go down, come back, retry) runs on these when it
// falls due. A tick is short; a write that stalls on a slow target holds
// one worker at most for the write time-out, and shows as generator lag.
const DefaultTickWorkers = 32

// sched wakes cameras at their times: a heap of wake times, one clock
// goroutine and a pool of tick workers.
type sched struct {
	mu   sync.Mutex
	h    []*camera     // heap by wakeAt; camera.hidx is its position, -1 off the heap
	kick chan struct{} // size 1: the earliest wake may have moved
}

func newSched() *sched { return &sched{kick: make(chan struct{}, 1)} }

// at asks for c to tick at t, or earlier if it already asked for earlier:
// a tick recomputes everything, so an extra one costs little and a missed
// one stalls the camera.
func (s *sched) at(c *camera, t time.Time) {
	s.mu.Lock()
	if c.hidx >= 0 {
		if t.Before(c.wakeAt) {
			c.wakeAt = t
			heap.Fix(s, c.hidx)
		}
	} else {
		c.wakeAt = t
		heap.Push(s, c)
	}
	top := s.h[0] == c
	s.mu.Unlock()
	if top {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// run ticks cameras as they fall due until ctx ends, then returns once its
// workers have.
func (s *sched) run(ctx context.Context, workers int) {
	work := make(chan *camera)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case c := <-work:
					c.tick()
				}
			}
		})
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for ctx.Err() == nil {
		s.mu.Lock()
		if len(s.h) > 0 && !s.h[0].wakeAt.After(time.Now()) {
			c := heap.Pop(s).(*camera)
			s.mu.Unlock()
			select {
			case work <- c:
			case <-ctx.Done():
			}
			continue
		}
		d := time.Hour
		if len(s.h) > 0 {
			d = time.Until(s.h[0].wakeAt)
		}
		s.mu.Unlock()
		t.Reset(d)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-s.kick:
		}
	}
	wg.Wait()
}

// heap.Interface, under s.mu.
func (s *sched) Len() int           { return len(s.h) }
func (s *sched) Less(i, j int) bool { return s.h[i].wakeAt.Before(s.h[j].wakeAt) }
func (s *sched) Swap(i, j int) {
	s.h[i], s.h[j] = s.h[j], s.h[i]
	s.h[i].hidx, s.h[j].hidx = i, j
}
func (s *sched) Push(x any) {
	c := x.(*camera)
	c.hidx = len(s.h)
	s.h = append(s.h, c)
}
func (s *sched) Pop() any {
	n := len(s.h) - 1
	c := s.h[n]
	s.h[n] = nil
	s.h = s.h[:n]
	c.hidx = -1
	return c
}
