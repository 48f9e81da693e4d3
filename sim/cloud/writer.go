package cloud

import (
	"sync"
	"time"
)

// writeItem is one event on its way to the store. done, when set, gets the
// outcome once the event is stored and visible.
type writeItem struct {
	ev    *event
	dedup bool
	done  chan<- putResult
}

// writer is the write-behind queue in front of the store: a bounded queue
// and one goroutine draining it at the store's cost per write. Under a herd
// flushing backlogs the queue fills; what happens then (nack, or ack and
// drop) is the caller's choice.
type writer struct {
	q     chan writeItem // the queue itself: its capacity is the modelled queue size
	cost  time.Duration
	store *store
	blobs *blobStore // nil unless the drop-thumb fault is on
	stats *counters
	quit  chan struct{}
	wg    sync.WaitGroup
}

func newWriter(st *store, blobs *blobStore, size int, cost time.Duration, stats *counters) *writer {
	w := &writer{
		q:     make(chan writeItem, size),
		cost:  cost,
		store: st,
		blobs: blobs,
		stats: stats,
		quit:  make(chan struct{}),
	}
	w.wg.Add(1)
	go w.run()
	return w
}

// offer queues it, or reports false at once when the queue is full.
func (w *writer) offer(it writeItem) bool {
	select {
	case w.q <- it:
		return true
	default:
		return false
	}
}

func (w *writer) run() {
	defer w.wg.Done()
	var busy time.Time // when the writes taken so far are done, on a virtual clock
	for {
		select {
		case it := <-w.q:
			now := time.Now()
			// Behind by more than the slack means the writer was idle: start
			// afresh. Behind by less is a sleep that overshot: keep the debt,
			// so the capacity stays 1/cost.
			if busy.Before(now.Add(-time.Millisecond)) {
				busy = now
			}
			busy = busy.Add(w.cost)
			// Sleep only once the virtual clock is a millisecond ahead, so
			// that a cost of a few microseconds is honoured on average.
			if ahead := busy.Sub(now); ahead > time.Millisecond {
				time.Sleep(ahead)
			}
			w.write(it)
		case <-w.quit:
			// Sockets are closed by now: store what is left, then stop.
			for {
				select {
				case it := <-w.q:
					w.write(it)
				default:
					return
				}
			}
		}
	}
}

func (w *writer) write(it writeItem) {
	res := w.store.put(it.ev, it.dedup)
	switch res {
	case stored:
		w.stats.eventsStored.Add(1)
		if w.blobs != nil {
			w.blobs.offer(it.ev.id, it.ev.thumb)
		}
	case duplicate:
		w.stats.eventsDuplicate.Add(1)
	}
	if it.done != nil {
		it.done <- res
	}
}

// close stops the writer after it stored what was queued.
func (w *writer) close() {
	close(w.quit)
	w.wg.Wait()
}

// blobStore is the drop-thumb fault's blob store: thumbnails kept apart
// from their events' rows, written through a small queue of their own by
// one goroutine at the store's cost per write. The row is acked without
// waiting for its blob, and a blob the full queue cannot take is dropped.
type blobStore struct {
	q     chan blob
	cost  time.Duration
	stats *counters
	mu    sync.RWMutex
	m     map[string][]byte
	wg    sync.WaitGroup
}

type blob struct {
	id   string
	data []byte
}

func newBlobStore(size int, cost time.Duration, stats *counters) *blobStore {
	b := &blobStore{q: make(chan blob, size), cost: cost, stats: stats, m: map[string][]byte{}}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for it := range b.q {
			time.Sleep(b.cost)
			b.mu.Lock()
			b.m[it.id] = it.data
			b.mu.Unlock()
		}
	}()
	return b
}

// offer queues a blob, or drops it when the queue is full.
func (b *blobStore) offer(id string, data []byte) {
	select {
	case b.q <- blob{id, data}:
	default:
		b.stats.thumbsDropped.Add(1)
	}
}

func (b *blobStore) get(id string) ([]byte, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	d, ok := b.m[id]
	return d, ok
}

// close writes what is queued and stops; the writer has stopped offering.
func (b *blobStore) close() {
	close(b.q)
	b.wg.Wait()
}
