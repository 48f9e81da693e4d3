package link

import "sync"

// Readers runs connections' read loops on goroutines that outlive their
// connection: when one loop returns, its goroutine runs the next loop
// handed to Go. A connected camera's cost is mostly its reader's stack,
// and a goroutine keeps the stack it was born with: the Go runtime starts
// goroutines on the average stack it last scanned (plus a guard), and
// while a fleet connects or reconnects its dialers are deep in their
// handshakes, so a reader born then starts, and stays, on 4 KB where 2 KB
// does. Reused, a fleet's readers are those born when it first connected.
// What runs in a loop must stay shallow (a transport's handlers end its
// connections), or the goroutine grows for every later connection too.
type Readers struct {
	spare chan Loop // to a reader whose loop has returned; closed by Close
	wg    sync.WaitGroup
}

// NewReaders makes an empty set of readers.
func NewReaders() *Readers { return &Readers{spare: make(chan Loop)} }

// Go runs l's loop on a reader whose last loop has returned, or on a new
// one.
func (r *Readers) Go(l Loop) {
	select {
	case r.spare <- l:
	default:
		r.wg.Add(1)
		go r.run(l)
	}
}

// Loop is a connection's read loop.
type Loop interface{ Loop() }

// run is a reader: the only frame under each loop's, so it is small. It
// waits for its next loop with a plain receive, not a select (whose cases
// would sit in this frame), and calls the loop through an interface (a
// method value would add a frame).
func (r *Readers) run(l Loop) {
	for ok := true; ok; l, ok = <-r.spare {
		l.Loop()
	}
	r.wg.Done()
}

// Close ends the readers as their loops return, and waits for them. Call
// it once, when no more loops are to come (Go then panics).
func (r *Readers) Close() {
	close(r.spare)
	r.wg.Wait()
}
