// Package ws is herd/1 over WebSocket, a transport of the device channel
// (sim/link): the connection of every simulated camera of a process, on
// gorilla/websocket.
//
// A connected camera costs one goroutine, its socket's reader, and the
// reader only reads: a small pool of handlers (the Dialer's) deals with
// each message and each ping while the reader waits, so a camera's
// messages are still handled one at a time and in order. A parked reader
// is herd's largest cost per camera, and this keeps it at the runtime's
// smallest stack (2 KB) where adaptive starting sizes are off, as in
// worker processes (in one process readers start on 4 KB: see
// TestReaderStackStaysSmall): handling a message, or gorilla's
// default ping handler writing its pong, goes deep enough to grow the
// reader's stack to 4–8 KB for the rest of the socket's life (the runtime
// shrinks a stack only when a quarter of it is in use), and a goroutine per
// message or per pong piles up thousands of grown stacks when the CPU is
// short. The reader allocates nothing either (an allocation can go as
// deep). Write buffers are pooled too: a camera holds one only while it
// writes a frame.
package ws

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herd-drill/herd/internal/loopback"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/wire"
)

// Timing of a camera's socket.
const (
	DialTimeout    = 10 * time.Second // TCP connect + upgrade
	WelcomeTimeout = 10 * time.Second // upgrade to welcome
	WriteTimeout   = 10 * time.Second // one frame
	pongTimeout    = time.Second      // a pong, when another frame is being written
)

// DefaultHandlers is how many goroutines handle what the readers read.
const DefaultHandlers = 64

// DefaultPerSource is how many sockets dial from one loopback source
// address: the kernel's ephemeral ports towards one destination are about
// 28,000, and TIME_WAIT keeps closed ones for a minute.
const DefaultPerSource = 8000

// Dialer connects cameras over WebSocket to the target's cells.
type Dialer struct {
	urls    []string // device-channel URL of each cell
	tls     link.TLS
	dialers []*websocket.Dialer
	inbox   chan *inbound  // what the readers read, for the handlers
	readers sync.WaitGroup // open sockets
	workers sync.WaitGroup // handlers
	bufs    sync.Pool      // *bytes.Buffer: a message being handled
	close   sync.Once
}

var _ link.Dialer = (*Dialer)(nil)

// NewDialer connects to cells (http:// or https:// base URLs; devices use
// ws:// or wss:// on the same host, over TLS as t says), for a process of
// cameras sockets dialing from the loopback source addresses after the
// first sourceOffset.
func NewDialer(cells []string, t link.TLS, cameras, sourceOffset int) (*Dialer, error) {
	d := &Dialer{inbox: make(chan *inbound, DefaultHandlers), tls: t}
	host, overTLS := "", false
	for _, cell := range cells {
		u, err := url.Parse(cell)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("target cell " + cell + " is not an http:// or https:// base URL")
		}
		ws := *u
		ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
		ws.Path = strings.TrimSuffix(u.Path, "/") + wire.PathConnect
		d.urls = append(d.urls, ws.String())
		host, overTLS = u.Hostname(), overTLS || u.Scheme == "https"
	}
	var conf *tls.Config
	if overTLS {
		var err error
		if conf, err = t.Config(host); err != nil {
			return nil, err
		}
	}
	for _, local := range loopback.Sources(host, cameras, DefaultPerSource, sourceOffset) {
		nd := &net.Dialer{Timeout: DialTimeout, LocalAddr: local, Control: loopback.Control}
		d.dialers = append(d.dialers, &websocket.Dialer{
			NetDialContext:   nd.DialContext,
			HandshakeTimeout: DialTimeout,
			ReadBufferSize:   128, // acks, welcomes and live requests are tens of bytes
			WriteBufferSize:  4096,
			WriteBufferPool:  writePool,
			TLSClientConfig:  conf,
		})
	}
	d.bufs.New = func() any { return new(bytes.Buffer) }
	for range DefaultHandlers {
		d.workers.Go(d.handle)
	}
	return d, nil
}

// writePool shares write buffers between all cameras.
var writePool = &sync.Pool{}

// Dial upgrades cam's socket and reads the welcome.
func (d *Dialer) Dial(ctx context.Context, cam link.Camera, h link.Handler) (link.Conn, wire.Message, error) {
	hdr := http.Header{"Authorization": {"Bearer " + cam.Token}}
	wd := d.dialers[(cam.Nth/DefaultPerSource)%len(d.dialers)]
	if wd.TLSClientConfig != nil && d.tls.CertDir != "" { // the camera presents its own certificate
		conf, err := d.tls.ForDevice(wd.TLSClientConfig, cam.Device)
		if err != nil {
			return nil, wire.Message{}, err
		}
		own := *wd
		own.TLSClientConfig, wd = conf, &own
	}
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	ws, resp, err := wd.DialContext(dctx, d.urls[cam.Cell], hdr)
	cancel()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, wire.Message{}, err
		}
		if resp != nil {
			return nil, wire.Message{}, link.HTTPFailure(resp, err)
		}
		if wd.TLSClientConfig != nil {
			return nil, wire.Message{}, link.HandshakeFailure(err, "target")
		}
		return nil, wire.Message{}, link.Fail(link.Net(err), err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(WelcomeTimeout))
	_, b, err := ws.ReadMessage()
	if err != nil {
		ws.Close()
		return nil, wire.Message{}, link.Fail(classify(err), err)
	}
	m, err := wire.Decode(b)
	if err == nil && m.Type != wire.TypeWelcome {
		err = errors.New("the first message is not a welcome")
	}
	if err != nil {
		ws.Close()
		return nil, wire.Message{}, link.Fail(link.ErrProtocol, err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	// What the reader needs is made here: an allocation on the reader can
	// go deep enough to grow its stack to 4 KB.
	c := &conn{ws: ws, h: h, d: d}
	c.msg = inbound{c: c, done: make(chan struct{})}
	d.readers.Add(1)
	c.pingJob = inbound{c: c}
	ws.SetPingHandler(c.pinged)
	go c.read()
	return c, m, nil
}

// Close stops the handlers once every reader has ended.
func (d *Dialer) Close() {
	d.close.Do(func() {
		d.readers.Wait()
		close(d.inbox)
		d.workers.Wait()
	})
}

// conn is one camera's socket.
type conn struct {
	ws        *websocket.Conn
	h         link.Handler
	d         *Dialer
	abandoned atomic.Bool // dropped silently: left open and unread
	msg       inbound     // the reader's job for each message (not on its stack)

	pingMu     sync.Mutex
	pingData   string  // the latest ping's, for the pong
	pingQueued bool    // pingJob is in the inbox
	pingJob    inbound // the reader's job for a ping
}

// pinged is the ping handler, on the reader: it queues the socket's ping
// job unless it is queued already (then the pong answers the latest ping,
// as RFC 6455 allows). It allocates nothing: see Dial.
func (c *conn) pinged(data string) error {
	c.pingMu.Lock()
	c.pingData = data
	queue := !c.pingQueued
	c.pingQueued = true
	c.pingMu.Unlock()
	if queue {
		c.d.inbox <- &c.pingJob
	}
	return nil
}

// pong answers the latest ping, on a handler.
func (c *conn) pong() {
	c.pingMu.Lock()
	data := c.pingData
	c.pingQueued = false
	c.pingMu.Unlock()
	// A camera's frame write that a slow target holds up holds up its
	// pong too: waiting at most pongTimeout keeps one stuck socket from
	// stalling every camera's messages.
	_ = c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(pongTimeout))
}

var _ link.Conn = (*conn)(nil)

func (c *conn) Send(msg []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(WriteTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
		c.ws.Close()
		return link.Fail(classify(err), err)
	}
	return nil
}

func (c *conn) Drop(mode string) {
	switch mode {
	case scenarios.ModeSilent:
		// Stop reading (so no pongs) and writing; leave the socket open.
		c.abandoned.Store(true)
		_ = c.ws.SetReadDeadline(time.Now())
		return
	case scenarios.ModeClose:
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "camera offline"), time.Now().Add(time.Second))
	default:
		link.ResetOnClose(c.ws.NetConn())
	}
	c.ws.Close()
}

func (c *conn) Close() {
	if !c.abandoned.Load() {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	}
	c.ws.Close()
}

// read is the socket's reader: it only reads, and hands each message to
// the handlers, waiting until it is dealt with. It allocates nothing (see
// Dial).
func (c *conn) read() {
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			if !c.abandoned.Load() {
				c.h.Lost(c, link.Fail(classify(err), err))
			}
			c.d.readers.Done()
			return
		}
		c.msg.r = r
		c.d.inbox <- &c.msg
		<-c.msg.done
	}
}

// inbound is a handler's job: a message to hand on, then done signalled,
// or (done nil) a ping to answer.
type inbound struct {
	c    *conn
	r    io.Reader
	done chan struct{}
}

// handle is one of the handlers.
func (d *Dialer) handle() {
	for in := range d.inbox {
		if in.done == nil {
			in.c.pong()
			continue
		}
		buf := d.bufs.Get().(*bytes.Buffer)
		buf.Reset()
		if _, err := buf.ReadFrom(in.r); err == nil { // else the reader sees the error next
			in.c.h.Message(in.c, buf.Bytes())
		}
		d.bufs.Put(buf)
		in.done <- struct{}{}
	}
}

// classify maps a socket error to an error class: herd/1's close codes,
// else the network's.
func classify(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case wire.CloseTryAgainLater:
			return link.ErrClose1013
		case wire.CloseGoingAway:
			return link.ErrClose1001
		}
		return link.ErrCloseOther
	}
	return link.Net(err)
}
