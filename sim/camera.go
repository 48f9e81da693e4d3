package sim

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim/backoff"
	"github.com/herd-drill/herd/sim/internal/timers"
	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/oracle"
	"github.com/herd-drill/herd/sim/wire"
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

// camera is one simulated camera: a state machine that talks to its
// connection through the device-channel seam (sim/link), whatever the
// transport. It owns no goroutine while it waits: the scheduler runs its
// tick when something falls due, a dial worker connects it, and while it
// is connected its transport hands it what the target sends (link.Handler).
// mu guards the camera's state and orders its connection's writes (one
// writer at a time); pmu guards what acks settle: pending, backlog,
// firstAck, connected. Lock order: mu, then pmu.
type camera struct {
	f       *Fleet
	idx     int // in the layout
	nth     int // in this fleet: picks the source address
	account int
	cell    int // its account's target cell, worked out once

	timers.Slot // when it next ticks (the fleet's timer heap)

	mu             sync.Mutex
	conn           link.Conn
	abandoned      link.Conn // a silent outage's connection, left open on purpose
	dialing        bool      // queued for or in a dial worker
	stopped        bool
	quietSignalled bool
	seq            uint32
	frames         uint32
	bo             backoff.State
	nextEvent      time.Time
	attemptAt      time.Time
	win            window
	haveWin        bool
	nextOutage     int
	recoverAt      int64     // Unix ns the current outage ended; 0 when not recovering
	upSince        time.Time // when the current socket was welcomed

	pmu       sync.Mutex
	pending   []pend
	backlog   []capture
	firstAck  bool  // waiting for the first ack since connecting
	connected int64 // Unix ns of the current connection's welcome
}

// tick does whatever has fallen due: outage windows, events, a connect
// request, sending the backlog; then it asks the scheduler for the next
// wake. It runs on a scheduler worker.
func (c *camera) tick() {
	f := c.f
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	now := time.Now()
	for {
		// The next outage window that concerns this camera.
		for !c.haveWin && c.nextOutage < len(f.plan.outages) {
			o := &f.plan.outages[c.nextOutage]
			c.nextOutage++
			c.win, c.haveWin = f.plan.windowFor(o, c.idx, c.account, f.layout)
		}
		if !c.haveWin || now.Before(c.win.up) {
			break
		}
		// Back from the window: the recovery clock runs from its end.
		c.recoverAt = c.win.up.UnixNano()
		f.affectedSeen.Add(1)
		c.attemptAt = c.retryAfterOutage(c.win)
		c.haveWin = false
	}
	offline := c.haveWin && !now.Before(c.win.down)
	if offline && c.conn != nil {
		c.drop(c.win.mode)
	}
	// Capture the events that are due, online or not.
	for now.Before(f.plan.end) && !c.nextEvent.After(now) {
		c.captureEvent(c.nextEvent)
		c.nextEvent = c.nextEvent.Add(c.interval(c.seq))
	}
	if !offline && c.conn == nil && !c.dialing && !now.Before(c.attemptAt) {
		c.dialing = true
		f.dialq <- c // never blocks: a camera is queued at most once, and the queue holds them all
	}
	if c.conn != nil {
		c.flush(now)
	}
	if !now.Before(f.plan.end) && !c.quietSignalled && c.isQuiet() {
		c.quietSignalled = true
		f.quiet.Done()
	}

	// The next thing this camera has to do.
	wake := f.plan.end.Add(time.Hour)
	if now.Before(f.plan.end) {
		wake = earliest(c.nextEvent, f.plan.end)
	}
	if c.haveWin {
		if now.Before(c.win.down) {
			wake = earliest(wake, c.win.down)
		} else {
			wake = earliest(wake, c.win.up)
		}
	}
	if c.conn == nil && !offline && !c.dialing {
		wake = earliest(wake, c.attemptAt)
	}
	if t, ok := c.nextResend(); ok && c.conn != nil {
		wake = earliest(wake, t)
	}
	f.sched.At(c, wake)
}

// dial connects the camera; it runs on a dial worker, without holding mu
// during the handshake so the camera's ticks go on.
func (c *camera) dial(ctx context.Context) {
	f := c.f
	c.mu.Lock()
	intended := c.attemptAt
	if c.stopped || c.conn != nil {
		c.dialing = false
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()

	f.m.add(cConnectAttempts, 1)
	conn, welcome, err := f.link.Dial(ctx, c.link(), c)
	var hint time.Duration
	if err != nil && ctx.Err() == nil {
		f.m.failErr(err)
		var lf *link.Failure
		if errors.As(err, &lf) {
			hint = lf.RetryAfter
		}
		f.reach.result(c.cell, err)
	}
	if err == nil {
		f.reach.answer(c.cell)
		// A welcome that names another device or account is a violation,
		// and the camera carries on the way firmware does: the oracle
		// then follows where its events end up.
		f.oracle.CheckWelcome(c.idx, welcome)
	}

	c.mu.Lock()
	c.dialing = false
	now := time.Now()
	switch {
	case err != nil:
		if ctx.Err() == nil {
			c.attemptAt = now.Add(c.backoffDelay(hint))
		}
	case c.stopped || (c.haveWin && !now.Before(c.win.down)):
		// The run ended, or an outage began, during the handshake.
		conn.Close()
	default:
		c.install(conn, intended, now)
	}
	c.mu.Unlock()
	f.sched.At(c, now)
}

// link is who the camera is, for its transport.
func (c *camera) link() link.Camera {
	f := c.f
	return link.Camera{Index: c.idx, Nth: c.nth, Cell: c.cell, Device: f.layout.Device(c.idx), Token: f.layout.DeviceToken(c.idx)}
}

// install makes conn the camera's connection: it measures the connect and
// puts unacknowledged events first in line. Under mu.
func (c *camera) install(conn link.Conn, intended, now time.Time) {
	f := c.f
	f.m.record(c.idx, hConnect, now.Sub(intended))
	f.m.add(cConnects, 1)
	f.m.connected.Add(1)
	if c.recoverAt != 0 {
		f.m.record(c.idx, hRecovery, time.Duration(now.UnixNano()-c.recoverAt))
		f.recovered.Add(1)
		c.recoverAt = 0
	}
	c.conn = conn
	c.upSince = now
	c.pmu.Lock()
	c.connected = now.UnixNano()
	// Events sent on the old connection and never acknowledged go again
	// first.
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
	c.pmu.Unlock()
}

// stop ends the camera at the end of the run: it hangs up its connections
// and lets the fleet stop waiting for it.
func (c *camera) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.stopped = true
	if c.abandoned != nil {
		c.abandoned.Close()
		c.abandoned = nil
	}
	if c.conn != nil {
		conn := c.conn
		c.forget()
		conn.Close()
	}
	if !c.quietSignalled {
		c.quietSignalled = true
		c.f.quiet.Done()
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
	u := c.f.draws.events.Unit2(uint64(c.idx), uint64(seq))
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
	c.pmu.Lock()
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
	c.pmu.Unlock()
	f.oracle.Captured(c.idx, uint64(c.seq))
}

// flush sends every queued event whose time has come. A failed write
// closes the socket; the reader then ends and the camera reconnects.
func (c *camera) flush(now time.Time) {
	for {
		c.pmu.Lock()
		i := -1
		for j := range c.backlog {
			if c.backlog[j].notBefore <= now.UnixNano() {
				i = j
				break
			}
		}
		if i < 0 {
			c.pmu.Unlock()
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
		c.pmu.Unlock()
		if err := c.sendEvent(ev); err != nil {
			return // the transport closed the connection: it reports it lost
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
	device := f.layout.Device(c.idx)
	sc := f.scratch.Get().(*scratch)
	sc.blob = f.key.Seal(sc.blob[:0], oracle.Stamp{
		Kind: oracle.KindThumb, Account: f.layout.AccountID(c.account), Device: device,
		Seq: uint64(ev.seq), At: ev.at, EventKind: kind,
	}, f.sc.Camera.ThumbBytes)
	sc.frame = wire.AppendEvent(sc.frame[:0], oracle.EventID(device, uint64(ev.seq)), uint64(ev.seq), ev.at, kind, sc.blob)
	// Recorded before the write: the target may list or ack the event as
	// soon as it has it.
	f.oracle.Sent(c.idx, uint64(ev.seq))
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
		Kind: oracle.KindFrame, Account: f.layout.AccountID(c.account), Device: f.layout.Device(c.idx),
		Seq: uint64(c.frames), At: time.Now().UnixMilli(),
	}, f.sc.Camera.FrameBytes)
	sc.frame = wire.AppendFrame(sc.frame[:0], req, sc.blob)
	if c.write(sc.frame) == nil {
		f.m.add(cFramesSent, 1)
	}
	f.scratch.Put(sc)
}

// scratch is the buffers a camera borrows to build one message: the sealed
// blob and the encoded message. Cameras share them through a pool, since a
// camera writes rarely and briefly.
type scratch struct {
	blob, frame []byte
}

func (c *camera) write(frame []byte) error {
	err := c.conn.Send(frame)
	if err != nil {
		c.f.m.failErr(err)
	}
	return err
}

func (c *camera) nextResend() (time.Time, bool) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
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

// isQuiet says the camera is done, after the plan: connected (one still
// coming back is recovering, and its recovery is measured until the
// cameras stop), with nothing left to upload or to be acknowledged. Under
// mu.
func (c *camera) isQuiet() bool {
	if c.conn == nil {
		return false
	}
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return len(c.pending) == 0 && len(c.backlog) == 0
}

// backoffDelay is the policy's next delay, folded with a target's hint.
func (c *camera) backoffDelay(hint time.Duration) time.Duration {
	p := c.f.policy
	d := p.Next(&c.bo, c.f.draws.retry.Unit2(uint64(c.idx), uint64(c.bo.Attempt)))
	if hint > 0 {
		d = p.Hint(d, hint)
	}
	return d
}

// lost handles a connection the target closed or that broke. Under mu; it
// returns the delay before reconnecting.
func (c *camera) lost(err error) time.Duration {
	f := c.f
	up := time.Since(c.upSince)
	conn := c.conn
	c.forget()
	conn.Close()
	f.policy.Connected(&c.bo, up)
	class := link.ClassOf(err)
	f.m.fail(class)
	d := c.backoffDelay(0)
	if class == link.ErrClose1013 {
		d = f.policy.Closed(d, wire.CloseTryAgainLater)
	}
	return d
}

// drop takes the camera offline the way the outage mode says. Under mu.
func (c *camera) drop(mode string) {
	conn := c.conn
	c.forget()
	conn.Drop(mode)
	if mode == scenarios.ModeSilent {
		// Left open, unanswered, for the target to notice; hung up at the
		// end of the run, or when the next silent outage leaves another.
		if c.abandoned != nil {
			c.abandoned.Close()
		}
		c.abandoned = conn
	}
}

// forget drops the current connection from the camera's state. Under mu.
func (c *camera) forget() {
	c.conn = nil
	c.f.m.connected.Add(-1)
}

var _ link.Handler = (*camera)(nil)

// Lost is the transport saying that conn ended: unless herd dropped or
// replaced it itself, the camera lost it and reconnects.
func (c *camera) Lost(conn link.Conn, err error) {
	f := c.f
	c.mu.Lock()
	if c.conn != conn || c.stopped {
		c.mu.Unlock()
		return
	}
	c.attemptAt = time.Now().Add(c.lost(err))
	c.mu.Unlock()
	f.sched.At(c, time.Now())
}

// Puback records the broker's PUBACK latency of a message the camera
// published over MQTT (sim/mqtt's PubackObserver): the broker's own figure,
// apart from the target's ack.
func (c *camera) Puback(_ link.Conn, d time.Duration) { c.f.m.record(c.idx, hPuback, d) }

// Message settles one message from the target: acks and nacks, and live
// requests answered (under mu, so the camera's writes stay one at a time).
// It runs on the transport's handlers, so it must not wait long.
func (c *camera) Message(conn link.Conn, msg []byte) {
	f := c.f
	f.reach.answer(c.cell)
	m, err := wire.Decode(msg) // copies what it keeps
	if err != nil {
		f.m.fail(link.ErrProtocol)
		return
	}
	switch m.Type {
	case wire.TypeAck:
		c.onAck(m.ID)
		// After the plan the camera waits only for its last acks: wake
		// it to see whether it is quiet.
		if !time.Now().Before(f.plan.end) {
			f.sched.At(c, time.Now())
		}
	case wire.TypeNack:
		f.m.add(cEventsNacked, 1)
		f.m.fail(ErrNackedByShed)
		c.onNack(m.ID, time.Duration(m.RetryAfterMs)*time.Millisecond)
		f.sched.At(c, time.Now())
	case wire.TypeWelcome:
		// herd/1 welcomes once, first: a second welcome would rebind the
		// camera behind its back.
		f.oracle.SecondWelcome(c.idx, m)
	case wire.TypeLive:
		// Answered on a goroutine of its own: it waits for the camera's
		// lock, which a write to a slow target may hold for seconds, and
		// the handlers serve every camera. Live requests are rare.
		f.m.add(cLiveRequests, 1)
		f.lives.Go(func() {
			c.mu.Lock()
			if c.conn == conn {
				c.sendFrame(m.Req)
			}
			c.mu.Unlock()
		})
	default:
		f.m.fail(link.ErrProtocol)
	}
}

func (c *camera) onAck(id string) {
	f := c.f
	seq, ok := f.oracle.CheckAck(c.idx, id)
	if !ok {
		return
	}
	now := time.Now().UnixNano()
	c.pmu.Lock()
	i := c.findPending(uint32(seq))
	if i < 0 {
		c.pmu.Unlock()
		f.m.add(cAcksUnexpected, 1)
		return
	}
	p := c.pending[i]
	c.pending = append(c.pending[:i], c.pending[i+1:]...)
	first := c.firstAck
	c.firstAck = false
	connected := c.connected
	c.pmu.Unlock()
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
		f.m.fail(link.ErrProtocol)
		return
	}
	if !f.policy.HonourRetryAfter {
		wait = 0
	}
	c.pmu.Lock()
	if i := c.findPending(uint32(seq)); i >= 0 {
		p := c.pending[i]
		c.pending = append(c.pending[:i], c.pending[i+1:]...)
		c.backlog = append(c.backlog, capture{seq: p.seq, at: p.at, notBefore: time.Now().Add(wait).UnixNano(), resend: true})
	}
	c.pmu.Unlock()
}

func (c *camera) findPending(seq uint32) int {
	for i := range c.pending {
		if c.pending[i].seq == seq {
			return i
		}
	}
	return -1
}
