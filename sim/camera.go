package sim

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim/backoff"
	"github.com/herd-drill/herd/sim/oracle"
	"github.com/herd-drill/herd/sim/wire"
)

// Timing of a camera's socket.
const (
	dialTimeout    = 10 * time.Second // TCP connect + upgrade
	welcomeTimeout = 10 * time.Second // upgrade to welcome
	writeTimeout   = 10 * time.Second // one frame
)

// pend is an event sent and not yet acknowledged.
type pend struct {
	seq      uint32
	at       int64 // captured, Unix ms
	intended int64 // intended send time, Unix ns: ack latency counts from here
}

// capture is an event waiting to be sent.
type capture struct {
	seq       uint32
	at        int64 // captured, Unix ms
	notBefore int64 // Unix ns; set when a nack asked to wait
	resend    bool
}

// camera is one simulated camera. Its goroutine (run) owns the socket's
// writes; a reader goroutine per connection owns its reads and hands live
// requests over. mu guards what both touch: pending, backlog, firstAck.
type camera struct {
	f       *Fleet
	idx     int
	account int

	mu        sync.Mutex
	pending   []pend
	backlog   []capture
	firstAck  bool  // waiting for the first ack since connecting
	connected int64 // Unix ns of the current connection's welcome

	seq       uint32
	frames    uint32
	bo        backoff.State
	conn      *websocket.Conn
	abandoned *websocket.Conn // a silent outage's socket, left open on purpose
	done      chan struct{}   // closed when the reader of conn ends
	quit      chan struct{}   // closed to release a reader blocked on inbox
	inbox     chan string     // live-view requests from the reader
	readErr   error           // why the reader ended (under mu)
	recoverAt int64           // Unix ns the current outage ended; 0 when not recovering
	upSince   time.Time       // when the current socket was welcomed
}

// run is the camera's life: connect, send events, go down and come back by
// the plan, until the plan ends and its events are acknowledged, or ctx ends.
func (c *camera) run(ctx context.Context, firstAttempt time.Time) {
	f := c.f
	c.inbox = make(chan string)
	timer := time.NewTimer(time.Until(firstAttempt))
	defer timer.Stop()
	defer c.hangUp(websocket.CloseNormalClosure)

	nextEvent := f.plan.start.Add(c.interval(0))
	attemptAt := firstAttempt
	var win window
	haveWin := false
	nextOutage := 0
	quietSignalled := false

	for {
		now := time.Now()
		// The next outage window that concerns this camera.
		for !haveWin && nextOutage < len(f.plan.outages) {
			o := &f.plan.outages[nextOutage]
			nextOutage++
			win, haveWin = f.plan.windowFor(o, c.idx, c.account, f.layout)
		}
		offline := haveWin && !now.Before(win.down) && now.Before(win.up)
		if offline && c.conn != nil {
			c.drop(win.mode)
		}
		if haveWin && !now.Before(win.up) {
			// Back from the window: the recovery clock runs from its end.
			c.recoverAt = win.up.UnixNano()
			f.affectedSeen.Add(1)
			attemptAt = c.retryAfterOutage(win)
			haveWin = false
			continue
		}
		// Capture the events that are due, online or not.
		for now.Before(f.plan.end) && !nextEvent.After(now) {
			c.captureEvent(nextEvent)
			nextEvent = nextEvent.Add(c.interval(c.seq))
		}
		if !offline && c.conn == nil && !now.Before(attemptAt) {
			if ctx.Err() != nil {
				return
			}
			delay := c.connect(ctx, attemptAt)
			if c.conn == nil {
				attemptAt = time.Now().Add(delay)
				continue
			}
		}
		if c.conn != nil {
			c.flush(now)
		}
		if !now.Before(f.plan.end) && !quietSignalled && c.isQuiet() {
			quietSignalled = true
			f.quiet.Done()
		}

		// Sleep until the next thing this camera has to do.
		wake := f.plan.end.Add(time.Hour)
		if now.Before(f.plan.end) {
			wake = earliest(nextEvent, f.plan.end)
		}
		if haveWin {
			if now.Before(win.down) {
				wake = earliest(wake, win.down)
			} else {
				wake = earliest(wake, win.up)
			}
		}
		if c.conn == nil && !offline {
			wake = earliest(wake, attemptAt)
		}
		if t, ok := c.nextResend(); ok && c.conn != nil {
			wake = earliest(wake, t)
		}
		timer.Reset(max(time.Until(wake), 0))
		select {
		case <-ctx.Done():
			if !quietSignalled {
				f.quiet.Done()
			}
			return
		case <-timer.C:
		case req := <-c.inbox:
			if req != "" {
				c.sendFrame(req)
			}
		case <-c.done:
			attemptAt = time.Now().Add(c.lost())
		}
	}
}

// retryAfterOutage is the camera's first attempt after an outage window.
// While the cloud was unreachable the camera kept failing and backing off
// by its policy; that is replayed here without the network, so the herd
// arrives with the spread (or the lack of it) its policy really produces.
func (c *camera) retryAfterOutage(win window) time.Time {
	c.bo = backoff.State{}
	t := win.down
	for i := 0; i < 100_000; i++ {
		d := c.backoffDelay(0)
		if d <= 0 {
			return win.up
		}
		t = t.Add(d)
		if !t.Before(win.up) {
			return t
		}
	}
	return win.up
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// interval draws the Poisson gap before the next event.
func (c *camera) interval(seq uint32) time.Duration {
	rate := c.f.sc.Camera.EventsPerMinute / 60 // per second
	if rate <= 0 {
		return 1000 * time.Hour
	}
	u := backoff.Uniform(c.f.seed^0xe7e47, c.idx, seq)
	return time.Duration(-math.Log(1-u) / rate * float64(time.Second))
}

// captureEvent records one event the camera saw at instant at. It is sent
// at once when online; offline it waits in a bounded backlog, oldest
// dropped first.
func (c *camera) captureEvent(at time.Time) {
	f := c.f
	lag := time.Since(at)
	f.m.record(c.idx, hLag, lag)
	c.seq++
	f.m.add(cEventsCaptured, 1)
	c.mu.Lock()
	if c.conn == nil {
		fresh := 0
		for _, b := range c.backlog {
			if !b.resend {
				fresh++
			}
		}
		if fresh >= f.sc.Camera.Backlog {
			for i, b := range c.backlog {
				if !b.resend {
					c.backlog = append(c.backlog[:i], c.backlog[i+1:]...)
					f.m.add(cBacklogDropped, 1)
					break
				}
			}
		}
	}
	c.backlog = append(c.backlog, capture{seq: c.seq, at: at.UnixMilli()})
	c.mu.Unlock()
	f.oracle.Sent(c.idx, uint64(c.seq))
}

// flush sends every queued event whose time has come. A failed write
// closes the socket; the reader then ends and the camera reconnects.
func (c *camera) flush(now time.Time) {
	for {
		c.mu.Lock()
		i := -1
		for j := range c.backlog {
			if c.backlog[j].notBefore <= now.UnixNano() {
				i = j
				break
			}
		}
		if i < 0 {
			c.mu.Unlock()
			return
		}
		ev := c.backlog[i]
		c.backlog = append(c.backlog[:i], c.backlog[i+1:]...)
		// Intended send time: when it was captured if the camera was
		// online then, else when the camera got back online.
		intended := ev.at * int64(time.Millisecond)
		if intended < c.connected {
			intended = c.connected
		}
		if ev.notBefore > intended {
			intended = ev.notBefore
		}
		c.pending = append(c.pending, pend{seq: ev.seq, at: ev.at, intended: intended})
		c.mu.Unlock()
		if err := c.sendEvent(ev); err != nil {
			c.conn.Close()
			return
		}
	}
}

func (c *camera) sendEvent(ev capture) error {
	f := c.f
	kinds := f.sc.Camera.Kinds
	kind := "motion"
	if len(kinds) > 0 {
		kind = kinds[int(ev.seq)%len(kinds)]
	}
	device := DeviceName(c.idx)
	sc := f.scratch.Get().(*scratch)
	sc.blob = f.key.Seal(sc.blob[:0], oracle.Stamp{
		Kind: oracle.KindThumb, Account: AccountName(c.account), Device: device,
		Seq: uint64(ev.seq), At: ev.at,
	}, f.sc.Camera.ThumbBytes)
	sc.frame = wire.AppendEvent(sc.frame[:0], oracle.EventID(device, uint64(ev.seq)), uint64(ev.seq), ev.at, kind, sc.blob)
	err := c.write(sc.frame)
	f.scratch.Put(sc)
	if err == nil {
		f.m.add(cEventsSent, 1)
		if ev.resend {
			f.m.add(cEventsResent, 1)
		}
	}
	return err
}

func (c *camera) sendFrame(req string) {
	f := c.f
	if c.conn == nil {
		return
	}
	c.frames++
	sc := f.scratch.Get().(*scratch)
	sc.blob = f.key.Seal(sc.blob[:0], oracle.Stamp{
		Kind: oracle.KindFrame, Account: AccountName(c.account), Device: DeviceName(c.idx),
		Seq: uint64(c.frames), At: time.Now().UnixMilli(),
	}, f.sc.Camera.FrameBytes)
	sc.frame = wire.AppendFrame(sc.frame[:0], req, sc.blob)
	if c.write(sc.frame) == nil {
		f.m.add(cFramesSent, 1)
	}
	f.scratch.Put(sc)
}

// scratch is the buffers a camera borrows to build one frame: the sealed
// blob and the encoded frame. Cameras share them through a pool, since a
// camera writes rarely and briefly.
type scratch struct{ blob, frame []byte }

func (c *camera) write(frame []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	err := c.conn.WriteMessage(websocket.TextMessage, frame)
	if err != nil {
		c.f.m.fail(classifyNet(err))
	}
	return err
}

func (c *camera) nextResend() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best int64
	for _, b := range c.backlog {
		if best == 0 || b.notBefore < best {
			best = b.notBefore
		}
	}
	if len(c.backlog) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, best), true
}

func (c *camera) isQuiet() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) == 0 && len(c.backlog) == 0
}

// connect dials, upgrades and checks the welcome. On failure it returns the
// delay before the next attempt, from the policy and the target's hints.
// Connect latency counts from intended, the instant the policy meant the
// attempt to start.
func (c *camera) connect(ctx context.Context, intended time.Time) time.Duration {
	f := c.f
	f.m.add(cConnectAttempts, 1)
	if f.dialing.Acquire(ctx, 1) != nil {
		return 0
	}
	// The handshake runs on a goroutine of its own: dialing and reading an
	// HTTP response take a deep stack, which would otherwise stay with the
	// camera's goroutine for as long as the camera lives.
	done := make(chan struct{})
	var conn *websocket.Conn
	var delay time.Duration
	go func() {
		conn, delay = c.handshake(ctx)
		close(done)
	}()
	<-done
	f.dialing.Release(1)
	if conn == nil {
		return delay
	}

	now := time.Now()
	f.m.record(c.idx, hConnect, now.Sub(intended))
	f.m.add(cConnects, 1)
	f.m.connected.Add(1)
	if c.recoverAt != 0 {
		f.m.record(c.idx, hRecovery, time.Duration(now.UnixNano()-c.recoverAt))
		f.recovered.Add(1)
		c.recoverAt = 0
	}
	readerDone, quit := make(chan struct{}), make(chan struct{})
	c.mu.Lock()
	c.conn, c.done, c.quit = conn, readerDone, quit
	c.connected = now.UnixNano()
	c.readErr = nil
	// Events sent on the old socket and never acknowledged go again first.
	if len(c.pending) > 0 {
		resend := make([]capture, 0, len(c.pending)+len(c.backlog))
		for _, p := range c.pending {
			resend = append(resend, capture{seq: p.seq, at: p.at, resend: true})
		}
		c.backlog = append(resend, c.backlog...)
		c.pending = c.pending[:0]
	}
	// Time to first ack counts only when the camera comes back with
	// something to deliver; otherwise it would measure the event rate.
	c.firstAck = len(c.backlog) > 0
	c.mu.Unlock()
	c.upSince = now
	go c.read(conn, readerDone, quit)
	return 0
}

// handshake dials, upgrades and reads the welcome. On failure it returns a
// nil socket and the delay before the next attempt.
func (c *camera) handshake(ctx context.Context) (*websocket.Conn, time.Duration) {
	f := c.f
	hdr := http.Header{"Authorization": {"Bearer " + f.layout.DeviceToken(c.idx)}}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	conn, resp, err := f.dialer(c.idx).DialContext(dctx, f.wsURL(c.account), hdr)
	cancel()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0
		}
		if resp != nil {
			f.m.fail(statusErr(resp.StatusCode))
			return nil, c.backoffDelay(retryAfter(resp.Header.Get("Retry-After")))
		}
		f.m.fail(classifyNet(err))
		return nil, c.backoffDelay(0)
	}
	_ = conn.SetReadDeadline(time.Now().Add(welcomeTimeout))
	_, b, err := conn.ReadMessage()
	if err != nil {
		f.m.fail(classifyNet(err))
		conn.Close()
		return nil, c.backoffDelay(0)
	}
	m, err := wire.Decode(b)
	if err != nil || m.Type != wire.TypeWelcome {
		f.m.fail(eProtocol)
		conn.Close()
		return nil, c.backoffDelay(0)
	}
	// A welcome that names another device or account is a violation, and
	// the camera carries on the way firmware does: the oracle then follows
	// where its events end up.
	f.oracle.CheckWelcome(c.idx, m)
	_ = conn.SetReadDeadline(time.Time{})
	return conn, 0
}

// backoffDelay is the policy's next delay, folded with a target's hint.
func (c *camera) backoffDelay(hint time.Duration) time.Duration {
	p := c.f.policy
	d := p.Next(&c.bo, backoff.Uniform(c.f.seed^0xbac0ff, c.idx, c.bo.Attempt))
	if hint > 0 {
		d = p.Hint(d, hint)
	}
	return d
}

// lost handles the end of the reader: the target closed or the socket
// broke. It returns the delay before reconnecting.
func (c *camera) lost() time.Duration {
	f := c.f
	c.mu.Lock()
	err := c.readErr
	c.mu.Unlock()
	up := time.Since(c.upSince)
	close(c.quit)
	c.forget(false)
	f.policy.Connected(&c.bo, up)
	e := classifyNet(err)
	f.m.fail(e)
	d := c.backoffDelay(0)
	if e == e1013 {
		d = f.policy.Closed(d, wire.CloseTryAgainLater)
	}
	return d
}

// drop takes the camera offline the way the outage mode says.
func (c *camera) drop(mode string) {
	conn := c.conn
	switch mode {
	case scenarios.ModeSilent:
		// Stop reading (so no pongs) and writing; leave the socket open.
		if c.abandoned != nil {
			c.abandoned.Close()
		}
		c.abandoned = conn
		_ = conn.SetReadDeadline(time.Now())
	case scenarios.ModeClose:
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "camera offline"), time.Now().Add(time.Second))
		conn.Close()
	default:
		if tc, ok := conn.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close sends RST
		}
		conn.Close()
	}
	c.endReader()
	c.forget(mode == scenarios.ModeSilent)
}

// endReader releases the reader and waits for it, once herd itself has
// closed the socket or stopped its reads.
func (c *camera) endReader() {
	close(c.quit)
	<-c.done
}

// forget drops the current socket once its reader has ended.
func (c *camera) forget(keepOpen bool) {
	if !keepOpen {
		c.conn.Close()
	}
	c.f.m.connected.Add(-1)
	c.mu.Lock()
	c.conn, c.done, c.quit = nil, nil, nil
	c.mu.Unlock()
}

// hangUp ends the camera's sockets at the end of the run.
func (c *camera) hangUp(code int) {
	if c.abandoned != nil {
		c.abandoned.Close()
		c.abandoned = nil
	}
	if c.conn == nil {
		return
	}
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
	c.conn.Close()
	c.endReader()
	c.forget(false)
}

// read is the connection's reader: acks and nacks are settled here, live
// requests go to the camera goroutine, which owns writes.
func (c *camera) read(conn *websocket.Conn, done, quit chan struct{}) {
	defer close(done)
	f := c.f
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		m, err := wire.Decode(b)
		if err != nil {
			f.m.fail(eProtocol)
			continue
		}
		switch m.Type {
		case wire.TypeAck:
			c.onAck(m.ID)
			// After the plan the camera waits only for its last acks: wake
			// it to see whether it is quiet.
			if !time.Now().Before(f.plan.end) {
				select {
				case c.inbox <- "":
				case <-quit:
					return
				}
			}
		case wire.TypeNack:
			f.m.add(cEventsNacked, 1)
			f.m.fail(eNack)
			c.onNack(m.ID, time.Duration(m.RetryAfterMs)*time.Millisecond)
			select {
			case c.inbox <- "": // wake the camera to resend when due
			case <-quit:
				return
			}
		case wire.TypeLive:
			f.m.add(cLiveRequests, 1)
			select {
			case c.inbox <- m.Req:
			case <-quit:
				return
			}
		default:
			f.m.fail(eProtocol)
		}
	}
}

func (c *camera) onAck(id string) {
	f := c.f
	seq, ok := f.oracle.CheckAck(c.idx, id)
	if !ok {
		return
	}
	now := time.Now().UnixNano()
	c.mu.Lock()
	i := c.findPending(uint32(seq))
	if i < 0 {
		c.mu.Unlock()
		f.m.add(cAcksUnexpected, 1)
		return
	}
	p := c.pending[i]
	c.pending = append(c.pending[:i], c.pending[i+1:]...)
	first := c.firstAck
	c.firstAck = false
	connected := c.connected
	c.mu.Unlock()
	f.m.record(c.idx, hAck, time.Duration(now-p.intended))
	if first {
		f.m.record(c.idx, hFirstAck, time.Duration(now-connected))
	}
	f.m.add(cEventsAcked, 1)
	f.oracle.Acked(c.idx, seq)
}

func (c *camera) onNack(id string, wait time.Duration) {
	f := c.f
	_, seq, ok := oracle.ParseEventID(id)
	if !ok {
		f.m.fail(eProtocol)
		return
	}
	if !f.policy.HonourRetryAfter {
		wait = 0
	}
	c.mu.Lock()
	if i := c.findPending(uint32(seq)); i >= 0 {
		p := c.pending[i]
		c.pending = append(c.pending[:i], c.pending[i+1:]...)
		c.backlog = append(c.backlog, capture{seq: p.seq, at: p.at, notBefore: time.Now().Add(wait).UnixNano(), resend: true})
	}
	c.mu.Unlock()
}

func (c *camera) findPending(seq uint32) int {
	for i := range c.pending {
		if c.pending[i].seq == seq {
			return i
		}
	}
	return -1
}

// classifyNet maps a socket error to an error class. Running out of file
// descriptors or local ports is herd's problem, not the target's, and is
// counted apart so the summary can say so.
func classifyNet(err error) errID {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return eEMFILE
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return eAddrNotAvail
	case errors.Is(err, syscall.ECONNREFUSED):
		return eRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return eTimeout
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case wire.CloseTryAgainLater:
			return e1013
		case wire.CloseGoingAway:
			return e1001
		}
		return eCloseOther
	}
	return eNetwork
}

// retryAfter parses a Retry-After header of whole seconds.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	n, err := strconv.Atoi(h)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
