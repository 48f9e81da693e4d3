package kv

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrTimeout is returned by Get when no reply came within the client's
// look-up time-out.
var ErrTimeout = errors.New("kv: look-up timed out")

// ErrClosed is returned by Get once the client or its connection is closed.
var ErrClosed = errors.New("kv: connection closed")

// Client is a pipelined client over a small pool of connections: callers
// pick a connection in turn, write their request and wait for the reply
// that comes back in the same position. Many requests are in flight on one
// connection at once.
type Client struct {
	conns   []*clientConn
	wg      sync.WaitGroup
	next    atomic.Uint32
	timeout time.Duration
	// stale is the stale-reply fault: a caller that gives up leaves the line
	// of waiters, so the reply meant for it is read by whoever is next.
	stale bool
	// healthEvery is the pool's health check: a connection idle this long
	// is pinged before reuse, and one that answers with anything but PONG
	// (a reply nobody read) is replaced. A busy connection is never checked,
	// so during a herd the shift lasts; once traffic calms it heals.
	healthEvery time.Duration
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHealthCheck pings connections idle for at least d before reuse, as
// redis-py's health_check_interval does; 0 turns the check off.
func WithHealthCheck(d time.Duration) ClientOption { return func(c *Client) { c.healthEvery = d } }

type clientConn struct {
	nc net.Conn

	mu      sync.Mutex // orders writes and the waiter line together
	w       *bufio.Writer
	pending []*waiter // callers in the order their requests were written
	// unread holds replies that arrived with nobody in line (stale client
	// only): bytes left on the connection, read by the next caller.
	unread   []reply
	broken   bool
	lastUsed time.Time // when a request was last written
	resets   int64     // health checks that found a reply nobody read
}

type waiter struct {
	ch chan reply // buffered 1: the reader never blocks on a caller that gave up
}

type reply struct {
	val   string
	found bool
	err   error
}

// NewClient makes a client over conns, whose look-ups give up after
// timeout. With stale set, a timed-out caller's reply is left to the next
// caller on its connection (the stale-reply fault); otherwise it is read
// and thrown away when it arrives. Close closes conns.
func NewClient(conns []net.Conn, timeout time.Duration, stale bool, opts ...ClientOption) *Client {
	c := &Client{timeout: timeout, stale: stale}
	for _, o := range opts {
		o(c)
	}
	for _, nc := range conns {
		cc := &clientConn{nc: nc, w: bufio.NewWriter(nc)}
		c.conns = append(c.conns, cc)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			cc.read(stale)
		}()
	}
	return c
}

// Get asks for key. It returns ErrTimeout when the reply does not come in
// time, ErrClosed when the connection is gone, and ctx's error when ctx ends
// first.
func (c *Client) Get(ctx context.Context, key string) (val string, found bool, err error) {
	cc := c.conns[int(c.next.Add(1))%len(c.conns)]
	w := &waiter{ch: make(chan reply, 1)}

	cc.mu.Lock()
	if cc.broken {
		cc.mu.Unlock()
		return "", false, ErrClosed
	}
	now := time.Now()
	if c.healthEvery > 0 && len(cc.unread) > 0 && len(cc.pending) == 0 && now.Sub(cc.lastUsed) >= c.healthEvery {
		// The health check's PING reads a reply nobody asked for instead of
		// PONG: the connection is replaced, and with it the stale bytes.
		cc.unread = nil
		cc.resets++
	}
	cc.lastUsed = now
	if len(cc.unread) > 0 {
		// A reply nobody read is already waiting on the connection: whoever
		// reads next gets it. Only the stale client leaves replies unread.
		w.ch <- cc.unread[0]
		cc.unread = cc.unread[1:]
	} else {
		cc.pending = append(cc.pending, w)
	}
	writeGet(cc.w, key)
	if err := cc.w.Flush(); err != nil {
		cc.mu.Unlock()
		cc.nc.Close()
		return "", false, ErrClosed
	}
	cc.mu.Unlock()

	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case r := <-w.ch:
		return r.val, r.found, r.err
	case <-t.C:
		err = ErrTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	if c.stale {
		// The bug: the caller leaves the line and its connection goes on
		// with the reply still to come, so every later caller on this
		// connection reads the answer to the request before its own.
		cc.mu.Lock()
		for i, p := range cc.pending {
			if p == w {
				cc.pending = append(cc.pending[:i], cc.pending[i+1:]...)
				break
			}
		}
		cc.mu.Unlock()
	}
	// The correct client stays in line: its reply lands in w.ch, which
	// nobody reads, and the line stays aligned.
	return "", false, err
}

func (cc *clientConn) read(stale bool) {
	r := bufio.NewReader(cc.nc)
	for {
		val, found, err := readBulk(r)
		if err != nil {
			break
		}
		cc.mu.Lock()
		if len(cc.pending) > 0 {
			w := cc.pending[0]
			cc.pending[0] = nil
			cc.pending = cc.pending[1:]
			w.ch <- reply{val: val, found: found}
		} else if stale {
			cc.unread = append(cc.unread, reply{val: val, found: found})
		}
		cc.mu.Unlock()
	}
	cc.nc.Close()
	cc.mu.Lock()
	cc.broken = true
	for _, w := range cc.pending {
		w.ch <- reply{err: ErrClosed}
	}
	cc.pending = nil
	cc.unread = nil
	cc.mu.Unlock()
}

// Resets returns how many times the health check replaced a connection
// because a reply nobody read was waiting on it.
func (c *Client) Resets() int64 {
	var n int64
	for _, cc := range c.conns {
		cc.mu.Lock()
		n += cc.resets
		cc.mu.Unlock()
	}
	return n
}

// Close closes every connection of the pool and waits for their readers to
// end. Callers still waiting get ErrClosed.
func (c *Client) Close() {
	for _, cc := range c.conns {
		cc.nc.Close()
	}
	c.wg.Wait()
}
