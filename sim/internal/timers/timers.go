// Package timers is one timer heap for many things that fall due — a
// fleet's cameras, its app users' actions — with one clock goroutine and a
// pool of workers that run each thing when its time comes.
package timers

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Slot is a thing's place in a Heap: embed it in the thing.
type Slot struct {
	due time.Time
	pos int // position in the heap + 1; 0 when off it
}

// Due is when the thing was last asked to run: during its run, the time it
// was due.
func (s *Slot) Due() time.Time { return s.due }

func (s *Slot) slot() *Slot { return s }

// Item is a pointer to a thing that embeds a Slot.
type Item interface {
	comparable
	slot() *Slot
}

// Heap holds things by due time. Its zero value is not ready: use New.
type Heap[T Item] struct {
	mu   sync.Mutex
	h    []T
	kick chan struct{} // size 1: the earliest due time may have moved
}

// New returns an empty Heap.
func New[T Item]() *Heap[T] { return &Heap[T]{kick: make(chan struct{}, 1)} }

// At asks for x to run at t, or earlier if it already asked for earlier: a
// thing that runs early can look again, while one that runs late stalls.
// x may be on the heap, off it, or running.
func (q *Heap[T]) At(x T, t time.Time) {
	s := x.slot()
	q.mu.Lock()
	if s.pos > 0 {
		if t.Before(s.due) {
			s.due = t
			heap.Fix((*byDue[T])(q), s.pos-1)
		}
	} else {
		s.due = t
		heap.Push((*byDue[T])(q), x)
	}
	top := q.h[0] == x
	q.mu.Unlock()
	if top {
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
}

// Len is how many things wait.
func (q *Heap[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.h)
}

// Run hands each thing to one of workers goroutines, which calls run(x),
// when it falls due, until ctx ends; then it returns once they have. A
// thing is off the heap while it runs, and back on it only if At puts it
// there.
func (q *Heap[T]) Run(ctx context.Context, workers int, run func(T)) {
	work := make(chan T)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case x := <-work:
					run(x)
				}
			}
		})
	}
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for ctx.Err() == nil {
		q.mu.Lock()
		if len(q.h) > 0 && !q.h[0].slot().due.After(time.Now()) {
			x := heap.Pop((*byDue[T])(q)).(T)
			q.mu.Unlock()
			select {
			case work <- x:
			case <-ctx.Done():
			}
			continue
		}
		d := time.Hour
		if len(q.h) > 0 {
			d = time.Until(q.h[0].slot().due)
		}
		q.mu.Unlock()
		t.Reset(d)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-q.kick:
		}
	}
	wg.Wait()
}

// byDue is heap.Interface over a Heap, under its mutex.
type byDue[T Item] Heap[T]

func (b *byDue[T]) Len() int           { return len(b.h) }
func (b *byDue[T]) Less(i, j int) bool { return b.h[i].slot().due.Before(b.h[j].slot().due) }
func (b *byDue[T]) Swap(i, j int) {
	b.h[i], b.h[j] = b.h[j], b.h[i]
	b.h[i].slot().pos, b.h[j].slot().pos = i+1, j+1
}
func (b *byDue[T]) Push(x any) {
	t := x.(T)
	b.h = append(b.h, t)
	t.slot().pos = len(b.h)
}
func (b *byDue[T]) Pop() any {
	n := len(b.h) - 1
	t := b.h[n]
	var zero T
	b.h[n] = zero
	b.h = b.h[:n]
	t.slot().pos = 0
	return t
}
