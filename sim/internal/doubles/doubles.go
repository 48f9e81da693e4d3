// Package doubles gives an honest herd/1 target the habits of backends the
// reference target does not have, for tests: a reverse proxy in front of
// it that rewrites what passes through. A test drives herd against the
// proxy and says, in a few lines, how the backend misbehaves (a second
// welcome, acks for events never sent, another account's token in a field
// herd does not know, a cursor that never advances) or how an honest one
// is awkward (late acks, refusals by redirect, shedding during the audit).
package doubles

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herd-drill/herd/sim/wire"
)

// Proxy rewrites herd/1 traffic between herd and a target. Its hooks run on
// the proxy's goroutines, concurrently for different requests and sockets;
// a nil hook passes traffic through unchanged.
type Proxy struct {
	// Request may rewrite an app or provisioning request before it goes
	// to the target (a backend that skips a check behaves as if the
	// caller were the owner: swap the token).
	Request func(r *http.Request)
	// Answer may rewrite the target's answer to an app request, or replace
	// it; req is the request as herd sent it.
	Answer func(req *http.Request, a *Answer)
	// Down gets each message the target sends a device and returns what the
	// device gets instead: nil drops it.
	Down func(c *Conn, msg []byte) [][]byte
	// Up gets each message a device sends the target and returns what the
	// target gets instead.
	Up func(c *Conn, msg []byte) [][]byte

	target *url.URL
	srv    *httptest.Server
	client *http.Client
	up     websocket.Upgrader

	mu    sync.Mutex
	conns map[*Conn]struct{}
}

// Answer is a target's answer to an app request.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Start serves p in front of the target at base (http://host:port) on a
// loopback port and returns the proxy's base URL.
func (p *Proxy) Start(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	p.target = u
	p.conns = map[*Conn]struct{}{}
	p.client = &http.Client{
		Timeout:       time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 256},
	}
	p.up = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p.srv.URL, nil
}

// Close closes every socket and stops the proxy.
func (p *Proxy) Close() {
	p.mu.Lock()
	for c := range p.conns {
		c.dev.Close()
		c.tgt.Close()
	}
	p.mu.Unlock()
	p.srv.CloseClientConnections()
	p.srv.Close()
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == wire.PathConnect && websocket.IsWebSocketUpgrade(r) {
		p.socket(w, r)
		return
	}
	if p.Request != nil {
		p.Request(r)
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target.String()+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for _, h := range []string{"Authorization", "Content-Type"} {
		if v := r.Header.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
	resp, err := p.client.Do(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	a := &Answer{Status: resp.StatusCode, Header: resp.Header.Clone(), Body: body}
	if p.Answer != nil {
		p.Answer(r, a)
	}
	for k, vs := range a.Header {
		if k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(a.Body)))
	w.WriteHeader(a.Status)
	w.Write(a.Body)
}

// Conn is one device socket through the proxy.
type Conn struct {
	p      *Proxy
	Token  string // the device token the camera connected with
	Device string // what the target's welcome named

	dev, tgt *websocket.Conn
	wmu      sync.Mutex // one writer to the device at a time

	mu    sync.Mutex
	state map[string]any
}

// Send writes msg to the device, as if the target had sent it.
func (c *Conn) Send(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.dev.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.dev.WriteMessage(websocket.TextMessage, msg)
}

// Reset cuts both sides of the socket with a TCP reset, as a load balancer
// that drops its connections does.
func (c *Conn) Reset() {
	for _, ws := range []*websocket.Conn{c.dev, c.tgt} {
		if tc, ok := ws.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		ws.Close()
	}
}

// Value returns the test's own value under key for this socket.
func (c *Conn) Value(key string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state[key]
}

// SetValue keeps a value of the test's own for this socket.
func (c *Conn) SetValue(key string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil {
		c.state = map[string]any{}
	}
	c.state[key] = v
}

func (p *Proxy) socket(w http.ResponseWriter, r *http.Request) {
	ws := *p.target
	ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[p.target.Scheme]
	ws.Path = strings.TrimSuffix(p.target.Path, "/") + wire.PathConnect
	hdr := http.Header{}
	if v := r.Header.Get("Authorization"); v != "" {
		hdr.Set("Authorization", v)
	}
	tgt, resp, err := (&websocket.Dialer{HandshakeTimeout: 10 * time.Second}).DialContext(r.Context(), ws.String(), hdr)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			for k, vs := range resp.Header {
				for _, v := range vs {
					w.Header().Add(k, v)
				}
			}
			w.WriteHeader(resp.StatusCode)
			w.Write(body)
			return
		}
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	dev, err := p.up.Upgrade(w, r, nil)
	if err != nil {
		tgt.Close()
		return
	}
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	c := &Conn{p: p, Token: tok, dev: dev, tgt: tgt}
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	// Liveness stays end to end: the target's pings reach the device and
	// its pongs come back, so a silent device is still noticed.
	tgt.SetPingHandler(func(data string) error {
		return dev.WriteControl(websocket.PingMessage, []byte(data), time.Now().Add(10*time.Second))
	})
	dev.SetPongHandler(func(data string) error {
		return tgt.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.pump(tgt, dev, true)
	}()
	c.pump(dev, tgt, false)
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// pump copies messages from src to dst through the hook of its direction
// until src fails, then passes the close on.
func (c *Conn) pump(src, dst *websocket.Conn, down bool) {
	for {
		_, msg, err := src.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				_ = dst.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(ce.Code, ce.Text), time.Now().Add(time.Second))
			}
			dst.Close()
			return
		}
		out := [][]byte{msg}
		if down {
			if c.Device == "" {
				var m wire.Message
				if json.Unmarshal(msg, &m) == nil && m.Type == wire.TypeWelcome {
					c.Device = m.Device
				}
			}
			if c.p.Down != nil {
				out = c.p.Down(c, msg)
			}
		} else if c.p.Up != nil {
			out = c.p.Up(c, msg)
		}
		for _, m := range out {
			var err error
			if down {
				err = c.Send(m)
			} else {
				_ = dst.SetWriteDeadline(time.Now().Add(10 * time.Second))
				err = dst.WriteMessage(websocket.TextMessage, m)
			}
			if err != nil {
				src.Close()
				dst.Close()
				return
			}
		}
	}
}

// Type returns the herd/1 type of a device-channel message ("" when it is
// not one).
func Type(msg []byte) string {
	var m struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(msg, &m)
	return m.Type
}

// Message decodes a device-channel message.
func Message(msg []byte) wire.Message {
	var m wire.Message
	_ = json.Unmarshal(msg, &m)
	return m
}

// Encode encodes a device-channel message.
func Encode(m wire.Message) []byte { return wire.Encode(&m) }

// EditPage decodes an Events-tab page in a, lets edit change it as a
// generic JSON object (so that fields herd does not know can be added),
// and encodes it back. Non-200 answers are left alone.
func EditPage(a *Answer, edit func(page map[string]any)) {
	if a.Status != http.StatusOK {
		return
	}
	var page map[string]any
	dec := json.NewDecoder(bytes.NewReader(a.Body))
	dec.UseNumber()
	if dec.Decode(&page) != nil {
		return
	}
	edit(page)
	if b, err := json.Marshal(page); err == nil {
		a.Body = b
	}
}
