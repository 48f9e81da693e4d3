// Package mqtt is herd/1 over MQTT (5.0 and 3.1.1), a transport of the
// device channel (sim/link): each simulated camera is an MQTT client of the
// target's broker, on the packet codec of mochi-mqtt (packets), with herd's
// own loop around it.
//
// No client library's loop runs here: herd's reconnect policy decides when
// a camera comes back, so nothing reconnects by itself, and a connected
// camera costs what a WebSocket camera costs — one reader goroutine, which
// only reads, and no buffers of its own while it waits. As in sim/ws, a
// small pool of handlers decodes and answers what the readers read (PUBACKs
// for the target's QoS 1 messages, the messages themselves) and ends the
// connections that fail, so a reader's stack stays at the runtime's
// smallest. A reader whose connection has ended reads the next one a
// camera dials (see link.Readers). One goroutine per Dialer sends every
// camera's PINGREQ when its keep-alive is due.
//
// What travels is exactly herd/1's JSON: the camera publishes hello, event
// and frame on its up topic and reads welcome, ack, nack and live on its
// down topic (see sim/wire). A PUBACK says that the broker took a message;
// only the target's ack says the event is stored: the two are kept apart,
// and a PUBACK's latency goes to the Handler when it is a PubackObserver.
package mqtt

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/herd-drill/herd/internal/loopback"
	"github.com/herd-drill/herd/internal/mqttio"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/wire"
)

// Timing of a camera's connection.
const (
	DialTimeout    = 10 * time.Second // TCP connect + CONNACK + SUBACK
	WelcomeTimeout = 10 * time.Second // hello to welcome
	WriteTimeout   = 10 * time.Second // one packet
)

// DefaultKeepalive is the keep-alive a camera asks for.
const DefaultKeepalive = 30 * time.Second

// DefaultHandlers is how many goroutines handle what the readers read.
const DefaultHandlers = 64

// DefaultPerSource is how many connections dial from one loopback source
// address (see sim/ws).
const DefaultPerSource = 8000

// Options are a camera's MQTT session.
type Options struct {
	Version       byte          // 5, or 4 for 3.1.1
	Keepalive     time.Duration // 0: DefaultKeepalive
	Persistent    bool          // Clean Start (Clean Session) 0
	SessionExpiry time.Duration // MQTT 5, with Persistent
}

// PubackObserver is a link.Handler that wants the broker's PUBACK latency of
// each QoS 1 message a camera published.
type PubackObserver interface {
	Puback(c link.Conn, d time.Duration)
}

// Dialer connects cameras to the target's broker (one per cell).
type Dialer struct {
	brokers []wire.Broker
	tlsConf []*tls.Config // per cell, for mqtts:// and wss:// brokers (nil: none)
	tls     link.TLS
	opt     Options
	dialers []*net.Dialer
	inbox   chan inbound
	loops   *link.Readers  // the connections' readers, reused
	readers sync.WaitGroup // open connections
	workers sync.WaitGroup // handlers, keep-alive
	close   sync.Once
	stop    chan struct{}

	mu    sync.Mutex
	conns map[*conn]struct{} // open and not abandoned: their keep-alive is due
}

var _ link.Dialer = (*Dialer)(nil)

// NewDialer connects to brokers (mqtt://, mqtts://, ws:// or wss:// URLs,
// one per cell, or one for all), for a process of cameras connections
// dialing from the loopback source addresses after the first sourceOffset.
func NewDialer(brokers []string, opt Options, t link.TLS, cameras, sourceOffset int) (*Dialer, error) {
	if opt.Version != 4 && opt.Version != 5 {
		return nil, fmt.Errorf("MQTT version %d: want 5 or 4 (3.1.1)", opt.Version)
	}
	if opt.Keepalive <= 0 {
		opt.Keepalive = DefaultKeepalive
	}
	d := &Dialer{opt: opt, tls: t, inbox: make(chan inbound, DefaultHandlers), loops: link.NewReaders(), stop: make(chan struct{}), conns: map[*conn]struct{}{}}
	host := ""
	for _, raw := range brokers {
		b, err := wire.ParseBroker(raw)
		if err != nil {
			return nil, err
		}
		d.brokers = append(d.brokers, b)
		host, _, _ = net.SplitHostPort(b.Addr)
		var conf *tls.Config
		if b.TLS {
			if conf, err = t.Config(host); err != nil {
				return nil, err
			}
		}
		d.tlsConf = append(d.tlsConf, conf)
	}
	if len(d.brokers) == 0 {
		return nil, errors.New("no broker")
	}
	for _, local := range loopback.Sources(host, cameras, DefaultPerSource, sourceOffset) {
		d.dialers = append(d.dialers, &net.Dialer{Timeout: DialTimeout, LocalAddr: local, Control: loopback.Control})
	}
	for range DefaultHandlers {
		d.workers.Go(d.handle)
	}
	d.workers.Go(d.keepalive)
	return d, nil
}

// Dial connects cam: CONNECT, SUBSCRIBE to its down topic, hello, and the
// target's welcome.
func (d *Dialer) Dial(ctx context.Context, cam link.Camera, h link.Handler) (link.Conn, wire.Message, error) {
	b, conf := d.brokers[cam.Cell%len(d.brokers)], d.tlsConf[cam.Cell%len(d.brokers)]
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	nd := d.dialers[(cam.Nth/DefaultPerSource)%len(d.dialers)]
	var nc net.Conn
	var err error
	if b.WS != "" {
		nc, err = d.dialWS(dctx, nd, b.WS, conf, cam.Device)
	} else {
		nc, err = d.dialTCP(dctx, nd, b.Addr, conf, cam.Device)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, wire.Message{}, ctx.Err()
		}
		return nil, wire.Message{}, err
	}
	// What the reader needs is made here: an allocation on the reader can
	// go deep enough to grow its stack (see mqttio.ReadRaw).
	c := &conn{nc: nc, h: h, d: d, device: cam.Device, down: wire.DownTopic(cam.Device), up: wire.UpTopic(cam.Device), done: make(chan struct{})}
	stopWatch := context.AfterFunc(dctx, func() { nc.SetDeadline(time.Now()) })
	msg, err := c.handshake(cam, d.opt)
	stopWatch()
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, wire.Message{}, ctx.Err()
		}
		return nil, wire.Message{}, err
	}
	_ = nc.SetDeadline(time.Time{})
	d.mu.Lock()
	d.conns[c] = struct{}{}
	d.mu.Unlock()
	d.readers.Add(1)
	d.loops.Go(c)
	return c, msg, nil
}

// dialTCP opens MQTT over TCP, or over TLS with conf.
func (d *Dialer) dialTCP(ctx context.Context, nd *net.Dialer, addr string, conf *tls.Config, device string) (net.Conn, error) {
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, link.Fail(link.Net(err), err)
	}
	if conf == nil {
		return nc, nil
	}
	if conf, err = d.tls.ForDevice(conf, device); err != nil {
		nc.Close()
		return nil, err
	}
	tc := tls.Client(nc, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, link.HandshakeFailure(err, "broker")
	}
	return tc, nil
}

// dialWS opens MQTT over a WebSocket (subprotocol mqtt) at url, over TLS
// with conf (wss://).
func (d *Dialer) dialWS(ctx context.Context, nd *net.Dialer, url string, conf *tls.Config, device string) (net.Conn, error) {
	wd := websocket.Dialer{
		NetDialContext: nd.DialContext, HandshakeTimeout: DialTimeout, Subprotocols: []string{mqttio.Subprotocol},
		ReadBufferSize: 128, WriteBufferSize: 4096, WriteBufferPool: wsWritePool,
	}
	if conf != nil {
		var err error
		if wd.TLSClientConfig, err = d.tls.ForDevice(conf, device); err != nil {
			return nil, err
		}
	}
	ws, resp, err := wd.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	switch {
	case err == nil:
		return mqttio.NewWSConn(ws), nil
	case resp != nil:
		return nil, link.HTTPFailure(resp, fmt.Errorf("MQTT over WebSocket at %s: %w", url, err))
	case conf != nil:
		return nil, link.HandshakeFailure(err, "broker")
	}
	return nil, link.Fail(link.Net(err), err)
}

// wsWritePool shares WebSocket write buffers between all cameras.
var wsWritePool = &sync.Pool{}

// Close stops the handlers once every reader has ended.
func (d *Dialer) Close() {
	d.close.Do(func() {
		d.readers.Wait()
		d.loops.Close()
		close(d.stop)
		close(d.inbox)
		d.workers.Wait()
	})
}

// keepalive sends PINGREQ on every connection that has written nothing for
// half its keep-alive.
func (d *Dialer) keepalive() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	half := int64(d.opt.Keepalive / 2)
	var due []*conn
	for {
		select {
		case <-d.stop:
			return
		case now := <-t.C:
			due = due[:0]
			d.mu.Lock()
			for c := range d.conns {
				if now.UnixNano()-c.wrote.Load() >= half {
					due = append(due, c)
				}
			}
			d.mu.Unlock()
			for _, c := range due {
				_ = c.write(func(b *bytes.Buffer) error {
					pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}
					return pk.PingreqEncode(b)
				})
			}
		}
	}
}

func (d *Dialer) forget(c *conn) {
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
}

// conn is one camera's MQTT connection.
type conn struct {
	nc       net.Conn
	h        link.Handler
	d        *Dialer
	device   string
	up, down string
	version  byte
	scratch  [1]byte       // the reader's: a fixed header's bytes
	done     chan struct{} // a handler has dealt with the reader's packet

	wmu    sync.Mutex // one writer at a time: the camera, PUBACKs, PINGREQs
	nextID uint16
	wrote  atomic.Int64 // Unix ns of the last write

	pmu     sync.Mutex
	pending []inflight // QoS 1 publishes waiting for their PUBACK: a few, so a slice, not a map

	abandoned atomic.Bool                  // dropped silently: left open and unread
	ended     atomic.Pointer[link.Failure] // why a handler ended the connection (a DISCONNECT, a malformed packet)
}

var _ link.Conn = (*conn)(nil)

// handshake runs CONNECT to welcome on the dialing goroutine.
func (c *conn) handshake(cam link.Camera, opt Options) (wire.Message, error) {
	c.version = opt.Version
	_ = c.nc.SetDeadline(time.Now().Add(DialTimeout))
	err := c.write(func(b *bytes.Buffer) error {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: opt.Version}
		pk.Connect = packets.ConnectParams{
			ProtocolName: []byte("MQTT"), ClientIdentifier: cam.Device, Keepalive: uint16(opt.Keepalive / time.Second), Clean: !opt.Persistent,
			UsernameFlag: true, Username: []byte(cam.Device), PasswordFlag: true, Password: []byte(cam.Token),
		}
		if opt.Version == 5 {
			// A broker must not send a packet larger (it drops the message).
			pk.Properties.MaximumPacketSize = mqttio.MaxPacket
		}
		if opt.Version == 5 && opt.Persistent {
			pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = uint32(opt.SessionExpiry/time.Second), true
		}
		return pk.ConnectEncode(b)
	})
	if err != nil {
		return wire.Message{}, link.Fail(link.Net(err), err)
	}
	pk, err := c.next()
	if err != nil {
		return wire.Message{}, err
	}
	if pk.FixedHeader.Type != packets.Connack {
		return wire.Message{}, link.Protocolf("the broker answered CONNECT with packet type %d, not CONNACK", pk.FixedHeader.Type)
	}
	if pk.ReasonCode != 0 {
		return wire.Message{}, connackFailure(pk)
	}
	_ = c.nc.SetDeadline(time.Now().Add(DialTimeout))
	err = c.write(func(b *bytes.Buffer) error {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: c.version, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: c.down, Qos: 1}}}
		return pk.SubscribeEncode(b)
	})
	if err != nil {
		return wire.Message{}, link.Fail(link.Net(err), err)
	}
	if pk, err = c.next(); err != nil {
		return wire.Message{}, err
	}
	if pk.FixedHeader.Type != packets.Suback || len(pk.ReasonCodes) != 1 || pk.ReasonCodes[0] >= 0x80 {
		return wire.Message{}, &link.Failure{Class: link.ErrHTTP401, Err: fmt.Errorf("the broker refused the subscription to %s (SUBACK %v): its ACL must let a device subscribe to its own down topic", c.down, pk.ReasonCodes)}
	}
	_ = c.nc.SetDeadline(time.Now().Add(WelcomeTimeout))
	if err := c.publish(wire.Encode(&wire.Message{Type: wire.TypeHello, Device: c.device})); err != nil {
		return wire.Message{}, err
	}
	hint := "does the broker's ACL let the device read its down topic, and is the target's ingest subscribed to " + wire.UpFilter + "?"
	for {
		pk, err := c.next()
		var f *link.Failure
		if errors.As(err, &f) && f.Class == link.ErrTimeout {
			return wire.Message{}, &link.Failure{Class: link.ErrTimeout, Err: fmt.Errorf("no welcome on %s within %v: %s (%w)", c.down, WelcomeTimeout, hint, err)}
		}
		if err != nil {
			return wire.Message{}, err
		}
		switch pk.FixedHeader.Type {
		case packets.Puback:
			switch {
			case pk.ReasonCode >= 0x80:
				return wire.Message{}, &link.Failure{Class: link.ErrHTTP401, Err: fmt.Errorf("the broker refused the hello on %s (PUBACK 0x%02X): its ACL must let a device publish on its own up topic", c.up, pk.ReasonCode)}
			case pk.ReasonCode == 0x10: // no matching subscribers
				hint = "the broker had no subscriber for the hello (PUBACK 0x10): is the target's ingest connected to this broker and subscribed to " + wire.UpFilter + "?"
			}
			c.acked(pk)
		case packets.Publish:
			if pk.FixedHeader.Qos > 0 {
				_ = c.puback(pk.PacketID)
			}
			m, err := wire.Decode(pk.Payload)
			if err == nil && m.Type != wire.TypeWelcome {
				err = errors.New("the first message is not a welcome")
			}
			if err != nil {
				return wire.Message{}, link.Fail(link.ErrProtocol, err)
			}
			return m, nil
		case packets.Disconnect:
			return wire.Message{}, disconnectFailure(pk.ReasonCode, c.version)
		}
	}
}

// next reads one packet on the dialing goroutine.
func (c *conn) next() (*packets.Packet, error) {
	pk, err := mqttio.ReadPacket(c.nc, c.version)
	if err != nil {
		var pe *mqttio.PacketError
		if errors.As(err, &pe) {
			return pk, link.Fail(link.ErrProtocol, err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return pk, link.Fail(link.ErrCloseOther, fmt.Errorf("the broker closed the connection: %w", err))
		}
		return pk, link.TLSFailure(err, "broker")
	}
	return pk, nil
}

// connackFailure is a refused CONNACK in herd's classes: credentials
// refused as a 401, a broker shedding as a 503 (with its retry-after-ms).
func connackFailure(pk *packets.Packet) error {
	code := pk.ReasonCode
	if pk.ProtocolVersion != 5 && code < 0x80 { // 3.1.1's return codes (some brokers send 5's codes anyway)
		code = map[byte]byte{1: 0x84, 2: 0x85, 3: wire.ReasonUnavailable, 4: wire.ReasonBadCredentials, 5: wire.ReasonNotAuthorized}[code]
	}
	err := fmt.Errorf("CONNACK 0x%02X", pk.ReasonCode)
	switch code {
	case wire.ReasonBadCredentials, wire.ReasonNotAuthorized:
		return &link.Failure{Class: link.ErrHTTP401, Status: 401, Err: err}
	case wire.ReasonUnavailable, wire.ReasonServerBusy, wire.ReasonRateExceeded, wire.ReasonQuotaExceeded:
		f := &link.Failure{Class: link.ErrHTTP503, Status: 503, Err: err}
		for _, p := range pk.Properties.User {
			if p.Key == "retry-after-ms" {
				if ms, e := strconv.Atoi(p.Val); e == nil && ms > 0 {
					f.RetryAfter = time.Duration(ms) * time.Millisecond
				}
			}
		}
		return f
	}
	return link.Fail(link.ErrHTTPOther, err)
}

// disconnectFailure is the broker's DISCONNECT in herd's classes: shedding
// as a 1013, shutting down as a 1001.
func disconnectFailure(reason byte, version byte) *link.Failure {
	err := fmt.Errorf("DISCONNECT 0x%02X from the broker", reason)
	switch reason {
	case wire.ReasonServerBusy, wire.ReasonQuotaExceeded, wire.ReasonRateExceeded, wire.ReasonUnavailable:
		return link.Fail(link.ErrClose1013, err)
	case wire.ReasonShuttingDown:
		return link.Fail(link.ErrClose1001, err)
	}
	return link.Fail(link.ErrCloseOther, err)
}

// write encodes one packet with enc and writes it, under the write lock.
func (c *conn) write(enc func(*bytes.Buffer) error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(WriteTimeout))
	err := mqttio.Write(c.nc, enc)
	c.wrote.Store(time.Now().UnixNano())
	return err
}

// publish sends msg on the up topic, QoS 1.
func (c *conn) publish(msg []byte) error {
	c.pmu.Lock()
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	id := c.nextID
	c.pending = append(c.pending, inflight{id: id, sent: time.Now().UnixNano()})
	c.pmu.Unlock()
	err := c.write(func(b *bytes.Buffer) error {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: c.version, TopicName: c.up, PacketID: id, Payload: msg}
		return pk.PublishEncode(b)
	})
	if err != nil {
		return link.Fail(link.Net(err), err)
	}
	return nil
}

func (c *conn) puback(id uint16) error {
	return c.write(func(b *bytes.Buffer) error {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: c.version, PacketID: id}
		return pk.PubackEncode(b)
	})
}

// acked takes a PUBACK: its latency, for an observer.
func (c *conn) acked(pk *packets.Packet) {
	var sent int64
	c.pmu.Lock()
	for i, p := range c.pending {
		if p.id == pk.PacketID {
			sent = p.sent
			last := len(c.pending) - 1
			c.pending[i] = c.pending[last]
			c.pending = c.pending[:last]
			break
		}
	}
	c.pmu.Unlock()
	if sent != 0 {
		if o, is := c.h.(PubackObserver); is {
			o.Puback(c, time.Duration(time.Now().UnixNano()-sent))
		}
	}
}

// inflight is a QoS 1 publish waiting for its PUBACK.
type inflight struct {
	id   uint16
	sent int64 // Unix ns
}

func (c *conn) Send(msg []byte) error {
	if err := c.publish(msg); err != nil {
		c.nc.Close()
		return err
	}
	return nil
}

func (c *conn) Drop(mode string) {
	c.d.forget(c)
	switch mode {
	case scenarios.ModeSilent:
		// No more PINGREQ, no reading: the broker must notice.
		c.abandoned.Store(true)
		_ = c.nc.SetReadDeadline(time.Now())
		return
	case scenarios.ModeClose:
		_ = c.disconnect()
	default:
		link.ResetOnClose(c.nc) // close sends RST
		c.nc.Close()
		return
	}
	c.nc.Close()
}

func (c *conn) Close() {
	c.d.forget(c)
	if !c.abandoned.Load() {
		_ = c.disconnect()
	}
	c.nc.Close()
}

func (c *conn) disconnect() error {
	return c.write(func(b *bytes.Buffer) error {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: c.version}
		return pk.DisconnectEncode(b)
	})
}

// Loop is the connection's reader: it only reads, and hands each packet to
// the handlers, waiting until it is dealt with. When the connection ends
// it hands that on too (to end, on a handler): what runs on a reader stays
// in the smallest stack (see mqttio.ReadRaw).
func (c *conn) Loop() {
	done := c.done
	for {
		body, hdr, err := mqttio.ReadRaw(c.nc, &c.scratch)
		if err != nil {
			c.d.inbox <- inbound{c: c, err: err}
			return
		}
		c.d.inbox <- inbound{c: c, hdr: hdr, body: body, done: done}
		<-done
		if c.ended.Load() != nil {
			c.d.inbox <- inbound{c: c}
			return
		}
	}
}

// end ends the connection, whose read failed with err or which a handler
// ended, and tells the handler why. An abandoned connection (a silent
// drop) is left open: the camera closes it later.
func (c *conn) end(err error) {
	defer c.d.readers.Done()
	c.d.forget(c)
	if c.abandoned.Load() {
		return
	}
	c.nc.Close()
	if f := c.ended.Load(); f != nil {
		err = f
	}
	var lf *link.Failure
	var pe *mqttio.PacketError
	switch {
	case errors.As(err, &lf):
	case errors.As(err, &pe):
		lf = link.Fail(link.ErrProtocol, fmt.Errorf("the broker sent %w", err))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		lf = link.Fail(link.ErrCloseOther, fmt.Errorf("the broker closed the connection: %w", err))
	default:
		lf = link.Fail(link.Net(err), err)
	}
	c.h.Lost(c, lf)
}

// inbound is a handler's job: one packet, then done signalled; or (done
// nil) the connection's end, with the read's error.
type inbound struct {
	c    *conn
	hdr  byte
	body *bytes.Buffer
	done chan struct{}
	err  error
}

// handle is one of the handlers.
func (d *Dialer) handle() {
	for in := range d.inbox {
		c := in.c
		if in.done == nil {
			c.end(in.err)
			continue
		}
		var pk packets.Packet // on the handler's stack: no garbage per packet
		pk.ProtocolVersion = c.version
		if err := mqttio.Decode(&pk, in.hdr, in.body.Bytes()); err != nil {
			c.ended.Store(link.Fail(link.ErrProtocol, fmt.Errorf("the broker sent %w", err))) // end the connection
		} else {
			switch pk.FixedHeader.Type {
			case packets.Publish:
				if pk.FixedHeader.Qos > 0 {
					_ = c.puback(pk.PacketID)
				}
				c.h.Message(c, pk.Payload)
			case packets.Puback:
				c.acked(&pk)
			case packets.Disconnect:
				c.ended.Store(disconnectFailure(pk.ReasonCode, c.version))
			}
		}
		mqttio.Bufs.Put(in.body)
		in.done <- struct{}{}
	}
}
