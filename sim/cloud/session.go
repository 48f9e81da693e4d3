package cloud

import (
	"context"
	"errors"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herd-drill/herd/sim/wire"
)

// Timing of device sockets.
const (
	// writeWait is the longest a write to one socket may take. It is a
	// deadline set before the write: in a busy process the goroutine may
	// wait its turn for seconds between setting it and writing, and a
	// write past it poisons the socket for good, so it is generous (as
	// gorilla's own examples, 10 s) rather than a measure of the device.
	writeWait = 10 * time.Second
	closeWait = time.Second // how long a closing socket waits for the device's side of the close
)

// session is one device's connection: a WebSocket, or an MQTT session on
// the broker (mqtt.go). What a session sends and how it is closed goes
// through out; the WebSocket's read loop is run's.
type session struct {
	srv             *Server
	ws              *websocket.Conn // nil for an MQTT session
	out             deviceConn
	device, account string // what the connection was bound to at connect

	slot int // position in its table shard's slab; guarded by that shard's lock

	wmu       sync.Mutex // one writer of data frames at a time
	closeSent atomic.Bool

	lmu  sync.Mutex
	live map[string]chan []byte // live-view requests waiting for their frame, by req

	gone    chan struct{}       // closed when the socket's read loop has ended
	done    chan putResult      // the writer's answer for the event in flight; buffered 1
	handled chan bool           // a frame's handling is over, and whether the socket lives on
	seen    map[string]struct{} // dup-on-retry: the ids this socket has stored
}

// handleConnect is GET /v1/devices/connect: admission, token look-up, then
// the upgrade. Every refusal happens before the upgrade.
func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	if s.isClosing() {
		s.stats.connectsRefused.Add(1)
		shed(w, time.Second, "target shutting down")
		return
	}
	if s.connects != nil {
		if ok, wait := s.connects.take(time.Now()); !ok {
			s.stats.connectsRefused.Add(1)
			shed(w, wait, "connect rate limit")
			return
		}
	}
	tok, ok := bearer(r)
	if !ok {
		s.stats.connectsUnauthorized.Add(1)
		writeError(w, http.StatusUnauthorized, "missing device token")
		return
	}
	device, account, err := s.lookupDeviceToken(r.Context(), tok)
	switch {
	case errors.Is(err, errUnknown):
		s.stats.connectsUnauthorized.Add(1)
		writeError(w, http.StatusUnauthorized, "unknown device token")
		return
	case err != nil:
		s.stats.connectsRefused.Add(1)
		shed(w, time.Second, err.Error())
		return
	}
	if s.deviceCerts && (r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != device) {
		s.stats.connectsUnauthorized.Add(1)
		writeError(w, http.StatusUnauthorized, "a device presents its own certificate (signed by the target's --client-ca, naming the device)")
		return
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	ss := &session{
		srv:     s,
		ws:      conn,
		out:     wsConn{conn},
		device:  device,
		account: account,
		gone:    make(chan struct{}),
		done:    make(chan putResult, 1),
		handled: make(chan bool),
	}
	// The welcome goes out before the session can be routed to, so it is
	// the first frame the device reads. It is written here, on the
	// handler's already grown stack, rather than on the socket's goroutine.
	if ss.send(&wire.Message{Type: wire.TypeWelcome, Device: ss.device, Account: ss.account}) != nil {
		conn.Close()
		return
	}
	// Registered under the read lock: connects do not wait for each other,
	// and Close, which takes the write lock, either sees this socket or
	// has it refused here; sockWG.Add never races sockWG.Wait.
	s.mu.RLock()
	if s.closing {
		s.mu.RUnlock()
		ss.closeWith(websocket.CloseGoingAway, "target shutting down")
		conn.Close()
		return
	}
	s.sockWG.Add(1)
	s.sessions.add(ss)
	s.mu.RUnlock()
	// A fresh goroutine starts with a small stack; the handler's, grown by
	// net/http, is given back when it returns.
	go ss.run()
}

func (s *Server) isClosing() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closing
}

// run is the socket's goroutine: one per socket, alive as long as the
// socket. It only reads and waits, so that its stack stays at the minimum:
// decoding and answering frames, and answering pings, go deep into
// encoding/json and the socket's writer, and run on short-lived goroutines.
func (ss *session) run() {
	s := ss.srv
	defer s.sockWG.Done()
	s.stats.connectsAccepted.Add(1)
	s.stats.socketsOpen.Add(1)
	defer s.stats.socketsOpen.Add(-1)

	c := ss.ws
	c.SetReadLimit(wire.MaxFrame)
	alive := func() { c.SetReadDeadline(time.Now().Add(2 * s.cfg.PingInterval)) }
	alive()
	c.SetPongHandler(func(string) error {
		if !ss.closeSent.Load() {
			alive()
		}
		return nil
	})
	c.SetPingHandler(func(data string) error {
		if !ss.closeSent.Load() {
			alive()
		}
		// Counted in sockWG (this socket holds it above zero), so that
		// Close waits for the pong too.
		s.sockWG.Add(1)
		go func() {
			defer s.sockWG.Done()
			c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		}()
		return nil
	})
	ss.readLoop(alive)
	s.sessions.remove(ss)
	close(ss.gone)
	if ss.closeSent.Load() {
		ss.drainAndClose()
	} else {
		c.Close()
	}
}

func (ss *session) readLoop(alive func()) {
	s := ss.srv
	for {
		_, b, err := ss.ws.ReadMessage()
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				// gorilla has sent the 1009 close.
				ss.closeSent.Store(true)
				s.stats.closedBadData.Add(1)
			case errors.As(err, new(*websocket.CloseError)):
				// gorilla has answered the device's close.
				ss.closeSent.Store(true)
			case errors.As(err, &ne) && ne.Timeout() && !ss.closeSent.Load():
				s.stats.timedOut.Add(1)
			}
			return
		}
		if !ss.closeSent.Load() {
			alive()
		}
		go func() { ss.handled <- ss.handle(b) }()
		if !<-ss.handled {
			return
		}
	}
}

// handle decodes and answers one frame; false means the socket was closed.
func (ss *session) handle(b []byte) bool {
	s := ss.srv
	m, err := wire.Decode(b)
	if err != nil {
		var de *wire.DecodeError
		code := wire.CloseInvalidData
		if errors.As(err, &de) {
			code = de.Code
		}
		s.stats.closedBadData.Add(1)
		ss.closeWith(code, err.Error())
		return false
	}
	switch m.Type {
	case wire.TypeEvent:
		return ss.handleEvent(&m)
	case wire.TypeFrame:
		ss.deliverFrame(m.Req, m.Data)
		return true
	default:
		// Known to herd/1, but not something a device sends.
		s.stats.closedBadData.Add(1)
		ss.closeWith(wire.CloseInvalidData, "a device does not send "+m.Type)
		return false
	}
}

// handleEvent stores one event and answers it; false means the socket was
// closed.
func (ss *session) handleEvent(m *wire.Message) bool {
	s := ss.srv
	ev := &event{
		id:      m.ID,
		device:  ss.device,
		account: ss.account,
		seq:     m.Seq,
		at:      m.At,
		kind:    m.Kind,
		thumb:   m.Thumb,
	}
	dupFault := s.faults.Has(DupOnRetry)
	if old, ok := s.store.get(m.ID); ok {
		if old.device != ss.device {
			s.stats.closedBadData.Add(1)
			ss.closeWith(wire.CloseInvalidData, "event id "+m.ID+" belongs to another device")
			return false
		}
		if !dupFault {
			// Stored already (the device missed our ack): ack again.
			s.stats.eventsDuplicate.Add(1)
			return ss.ack(m.ID)
		}
	}
	if dupFault {
		// The bug: de-duplication remembers what this socket stored, so a
		// resend on a new connection is stored again.
		if _, seen := ss.seen[m.ID]; seen {
			s.stats.eventsDuplicate.Add(1)
			return ss.ack(m.ID)
		}
		if ss.seen == nil {
			ss.seen = make(map[string]struct{})
		}
	}

	if s.faults.Has(DropAcked) {
		// The bug: the ack goes out when the queue takes the event, and an
		// event the full queue cannot take is dropped after being acked.
		if !s.writer.offer(writeItem{ev: ev, dedup: !dupFault}) {
			s.stats.eventsDropped.Add(1)
		}
		if dupFault {
			ss.seen[m.ID] = struct{}{}
		}
		return ss.ack(m.ID)
	}
	if !s.writer.offer(writeItem{ev: ev, dedup: !dupFault, done: ss.done}) {
		s.stats.nacks.Add(1)
		return ss.send(&wire.Message{Type: wire.TypeNack, ID: m.ID, RetryAfterMs: DefaultNackRetryAfter.Milliseconds()}) == nil
	}
	switch <-ss.done {
	case foreign:
		s.stats.closedBadData.Add(1)
		ss.closeWith(wire.CloseInvalidData, "event id "+m.ID+" belongs to another device")
		return false
	default:
		if dupFault {
			ss.seen[m.ID] = struct{}{}
		}
		return ss.ack(m.ID)
	}
}

func (ss *session) ack(id string) bool {
	ss.srv.stats.acks.Add(1)
	return ss.send(&wire.Message{Type: wire.TypeAck, ID: id}) == nil
}

// send writes one data frame. A socket that cannot take it within writeWait
// is closed, which ends its read loop.
func (ss *session) send(m *wire.Message) error {
	b := wire.Encode(m)
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	return ss.out.write(b)
}

// deviceConn is how a session reaches its device.
type deviceConn interface {
	// write sends one herd/1 message; a failure ends the connection.
	write(b []byte) error
	// shut closes the connection with a herd/1 close code (see package
	// wire), which MQTT says as a DISCONNECT reason.
	shut(code int, reason string)
	// ping checks that the device is there (MQTT's keep-alive is the
	// broker's).
	ping()
}

// wsConn is a device WebSocket.
type wsConn struct{ c *websocket.Conn }

func (w wsConn) write(b []byte) error {
	w.c.SetWriteDeadline(time.Now().Add(writeWait))
	err := w.c.WriteMessage(websocket.TextMessage, b)
	if err != nil {
		w.c.NetConn().Close()
	}
	return err
}

func (w wsConn) shut(code int, reason string) {
	w.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(writeWait))
	// Shorten the read loop's wait for the device's close.
	w.c.NetConn().SetReadDeadline(time.Now().Add(closeWait))
}

func (w wsConn) ping() { w.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)) }

// closeWith sends a close frame with code; the read loop then ends and the
// socket waits briefly for the device's side of the close.
func (ss *session) closeWith(code int, reason string) {
	if len(reason) > 120 { // a close frame's reason must fit in 123 bytes
		reason = reason[:120]
	}
	if ss.closeSent.Swap(true) {
		return
	}
	ss.out.shut(code, reason)
}

// drainAndClose ends a socket whose close frame is sent: it half-closes and
// reads until the device hangs up, so that the close frame is not lost to a
// reset from unread data.
func (ss *session) drainAndClose() {
	nc := ss.ws.NetConn()
	if tc, ok := nc.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
	nc.SetReadDeadline(time.Now().Add(closeWait))
	io.Copy(io.Discard, nc)
	nc.Close()
}

func (ss *session) deliverFrame(req string, data []byte) {
	ss.lmu.Lock()
	ch := ss.live[req]
	delete(ss.live, req)
	ss.lmu.Unlock()
	if ch != nil {
		ch <- data // buffered 1, and only one frame is ever delivered per req
	}
}

// relay sends a live-view request to the socket and waits for its frame.
func (ss *session) relay(ctx context.Context, req string, timeout time.Duration) ([]byte, bool) {
	ch := make(chan []byte, 1)
	ss.lmu.Lock()
	if ss.live == nil {
		ss.live = make(map[string]chan []byte)
	}
	ss.live[req] = ch
	ss.lmu.Unlock()
	defer func() {
		ss.lmu.Lock()
		delete(ss.live, req)
		ss.lmu.Unlock()
	}()
	if ss.send(&wire.Message{Type: wire.TypeLive, Req: req}) != nil {
		return nil, false
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case data := <-ch:
		return data, true
	case <-t.C:
	case <-ss.gone:
	case <-ctx.Done():
	}
	return nil, false
}

// sessionTable routes live-view requests to device sockets. Each shard is a
// slab of sessions reused by slot, with a device → slot map, as session
// tables of real gateways are; the shards keep connects from sharing a lock.
type sessionTable struct {
	misroute bool // the live-misroute fault
	seed     maphash.Seed
	shards   [16]tableShard
}

type tableShard struct {
	mu       sync.Mutex
	slots    []*session
	free     []int // freed slots, reused last-freed first
	byDevice map[string]int
	all      map[*session]struct{} // every open socket, routed or not, for pings and shutdown
}

func newSessionTable(misroute bool) *sessionTable {
	t := &sessionTable{misroute: misroute, seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].byDevice = make(map[string]int)
		t.shards[i].all = make(map[*session]struct{})
	}
	return t
}

func (t *sessionTable) shard(device string) *tableShard {
	return &t.shards[maphash.String(t.seed, device)%uint64(len(t.shards))]
}

// add gives ss a slot and routes its device to it: the newest connection of
// a device is the one live view uses.
func (t *sessionTable) add(ss *session) {
	sh := t.shard(ss.device)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if n := len(sh.free); n > 0 {
		ss.slot = sh.free[n-1]
		sh.free = sh.free[:n-1]
		sh.slots[ss.slot] = ss
	} else {
		ss.slot = len(sh.slots)
		sh.slots = append(sh.slots, ss)
	}
	sh.byDevice[ss.device] = ss.slot
	sh.all[ss] = struct{}{}
}

// remove frees ss's slot when its socket has ended.
func (t *sessionTable) remove(ss *session) {
	sh := t.shard(ss.device)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	delete(sh.all, ss)
	if t.misroute {
		// The bug: the slot is found by device, as if a device had one
		// connection at a time. When the device has reconnected while this
		// old socket lingered, that is the new connection's slot: it is freed
		// while the device still routes to it, and the next device to
		// connect in this shard takes it.
		slot, ok := sh.byDevice[ss.device]
		if !ok {
			slot = ss.slot
		}
		if sh.slots[slot] != nil {
			sh.slots[slot] = nil
			sh.free = append(sh.free, slot)
		}
	} else if sh.slots[ss.slot] == ss {
		sh.slots[ss.slot] = nil
		sh.free = append(sh.free, ss.slot)
	}
	if cur, ok := sh.byDevice[ss.device]; ok && cur == ss.slot {
		delete(sh.byDevice, ss.device)
	}
}

// route returns the socket live view for device goes to, or nil.
func (t *sessionTable) route(device string) *session {
	sh := t.shard(device)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	slot, ok := sh.byDevice[device]
	if !ok {
		return nil
	}
	return sh.slots[slot]
}

func (t *sessionTable) snapshot(sh *tableShard) []*session {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	out := make([]*session, 0, len(sh.all))
	for ss := range sh.all {
		out = append(out, ss)
	}
	return out
}

// pingAll pings every open socket. WriteControl may run beside a data write.
// Each ping gets its own deadline: a round of 15,000 pings in a busy
// process can take longer than writeWait, and a ping written after a
// shared deadline fails, which poisons a healthy socket for good.
func (t *sessionTable) pingAll() {
	for i := range t.shards {
		for _, ss := range t.snapshot(&t.shards[i]) {
			ss.out.ping()
		}
	}
}

// closeAll sends every open socket a close frame with code, one goroutine
// per shard so that a few slow sockets do not hold up the rest.
func (t *sessionTable) closeAll(code int, reason string) {
	var wg sync.WaitGroup
	for i := range t.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, ss := range t.snapshot(&t.shards[i]) {
				ss.closeWith(code, reason)
			}
		}()
	}
	wg.Wait()
}

// errUnknown is a look-up of something the registry does not have.
var errUnknown = errors.New("unknown")

// lookupDeviceToken resolves a device token to the device and its account.
func (s *Server) lookupDeviceToken(ctx context.Context, tok string) (device, account string, err error) {
	val, err := s.get(ctx, keyDeviceToken+tok)
	if err != nil {
		return "", "", err
	}
	device, account, ok := strings.Cut(val, " ")
	if !ok || !wire.ValidID(device) || !wire.ValidID(account) {
		return "", "", errGarbled
	}
	return device, account, nil
}
