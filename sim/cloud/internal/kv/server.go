package kv

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// LookupFunc answers one key: its value and whether it exists.
type LookupFunc func(key string) (val string, found bool)

// Server answers GET requests from any number of connections with one
// worker, like a single-threaded cache server: requests from all
// connections wait in one queue and each costs a fixed service time. The
// queue is what makes latency grow under a herd.
//
// The service time is kept on a virtual clock: the worker sleeps only when
// the work it has accepted runs more than a millisecond ahead of the wall
// clock, so short service times are honoured on average without paying
// the scheduler's sleep granularity on every request.
type Server struct {
	lookup  LookupFunc
	service time.Duration

	mu     sync.Mutex
	cond   sync.Cond
	queue  []request // unbounded on purpose: a cache server buffers what clients send; clients bound it with their time-outs
	conns  map[*serverConn]struct{}
	closed bool
	wg     sync.WaitGroup
}

type request struct {
	c   *serverConn
	key string
}

type serverConn struct {
	nc net.Conn
	w  *bufio.Writer // written by the worker only
}

// sleepSlack is how far the virtual clock may run ahead of the wall clock
// before the worker sleeps.
const sleepSlack = time.Millisecond

// NewServer starts a server answering with lookup, each request costing
// service. Close stops it.
func NewServer(lookup LookupFunc, service time.Duration) *Server {
	s := &Server{lookup: lookup, service: service, conns: make(map[*serverConn]struct{})}
	s.cond.L = &s.mu
	s.wg.Add(1)
	go s.work()
	return s
}

// ServeConn serves requests arriving on nc until nc or the server closes.
func (s *Server) ServeConn(nc net.Conn) {
	c := &serverConn{nc: nc, w: bufio.NewWriter(nc)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.read(c)
}

func (s *Server) read(c *serverConn) {
	defer s.wg.Done()
	r := bufio.NewReader(c.nc)
	for {
		key, err := readGet(r)
		if err != nil {
			break
		}
		s.mu.Lock()
		s.queue = append(s.queue, request{c: c, key: key})
		s.mu.Unlock()
		s.cond.Signal()
	}
	c.nc.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) work() {
	defer s.wg.Done()
	var busy time.Time // when the work accepted so far is done, on the virtual clock
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.cond.Wait()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		req := s.queue[0]
		s.queue[0] = request{}
		s.queue = s.queue[1:]
		if len(s.queue) == 0 {
			s.queue = s.queue[:0:0] // let the backing array go once a burst is served
		}
		s.mu.Unlock()

		now := time.Now()
		// Behind by more than the slack means the worker was idle: start
		// afresh. Behind by less is a sleep that overshot: keep the debt, so
		// the capacity stays 1/service.
		if busy.Before(now.Add(-sleepSlack)) {
			busy = now
		}
		busy = busy.Add(s.service)
		if ahead := busy.Sub(now); ahead > sleepSlack {
			time.Sleep(ahead)
		}
		val, found := s.lookup(req.key)
		writeReply(req.c.w, val, found)
		if req.c.w.Flush() != nil {
			req.c.nc.Close()
		}
	}
}

// Close closes every connection, stops the worker and waits for the
// server's goroutines to end.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.cond.Broadcast()
	s.wg.Wait()
}

// Pipe opens n in-memory connections to s and returns their client ends.
// The reference target keeps its cache in-process, so it needs no port nor
// file descriptor for it; the protocol on the pipe is the same as on TCP.
func (s *Server) Pipe(n int) []net.Conn {
	conns := make([]net.Conn, n)
	for i := range conns {
		client, server := net.Pipe()
		s.ServeConn(server)
		conns[i] = client
	}
	return conns
}
