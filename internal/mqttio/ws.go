package mqttio

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Subprotocol is the WebSocket subprotocol of MQTT (MQTT 5 §6; 3.1.1 §6).
const Subprotocol = "mqtt"

// WSConn is MQTT over one WebSocket as a byte stream: MQTT packets travel
// in binary messages, and a packet may span messages or share one, so a
// reader sees only the bytes. Each Write is one message (herd writes one
// packet per Write).
type WSConn struct {
	ws *websocket.Conn
	r  io.Reader // the message being read, nil between messages
	// wdl is the write deadline (Unix ns, 0: none). gorilla's own is not
	// safe beside a write, and a broker sets deadlines from its reader:
	// Write hands it to gorilla, which sets it on each frame.
	wdl atomic.Int64
}

var _ net.Conn = (*WSConn)(nil)

// NewWSConn wraps ws, whose handshake is done.
func NewWSConn(ws *websocket.Conn) *WSConn { return &WSConn{ws: ws} }

// ErrTextMessage is a WebSocket text message, which MQTT does not use.
var ErrTextMessage = errors.New("MQTT over WebSocket: a text message (MQTT travels in binary messages)")

// Read reads the stream; it must not be called from two goroutines.
func (c *WSConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			op, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, ErrTextMessage
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r, err = nil, nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// Write sends p as one binary message. Writes must not overlap (a
// WebSocket's frames are written one at a time).
func (c *WSConn) Write(p []byte) (int, error) {
	var dl time.Time
	if ns := c.wdl.Load(); ns != 0 {
		dl = time.Unix(0, ns)
	}
	_ = c.ws.SetWriteDeadline(dl)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the connection without a closing handshake, as MQTT
// closes a TCP connection.
func (c *WSConn) Close() error                      { return c.ws.NetConn().Close() }
func (c *WSConn) LocalAddr() net.Addr               { return c.ws.LocalAddr() }
func (c *WSConn) RemoteAddr() net.Addr              { return c.ws.RemoteAddr() }
func (c *WSConn) SetReadDeadline(t time.Time) error { return c.ws.NetConn().SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of the next writes, and of a write
// under way (on the connection under the WebSocket).
func (c *WSConn) SetWriteDeadline(t time.Time) error {
	ns := int64(0)
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.wdl.Store(ns)
	return c.ws.NetConn().SetWriteDeadline(t)
}

func (c *WSConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

// NetConn is the connection under the WebSocket (a *tls.Conn for wss://).
func (c *WSConn) NetConn() net.Conn { return c.ws.NetConn() }
