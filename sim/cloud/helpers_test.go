package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herd-drill/herd/sim/wire"
)

const testAdmin = "admin-secret"

// testTarget is a Server serving on a loopback listener for one test.
type testTarget struct {
	*Server
	url string // http://127.0.0.1:port
}

// startTarget serves cfg on a loopback port until the test ends, and checks
// that Serve then returns nil.
func startTarget(t testing.TB, cfg Config) *testTarget {
	t.Helper()
	if cfg.AdminToken == "" {
		cfg.AdminToken = testAdmin
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
	})
	return &testTarget{Server: s, url: "http://" + ln.Addr().String()}
}

// fleetOf makes accounts acct-i, each with perAccount devices cam-i-j, and
// tokens derived from the names.
func fleetOf(accounts, perAccount int) []wire.Account {
	var out []wire.Account
	for i := range accounts {
		a := wire.Account{Account: fmt.Sprintf("acct-%d", i), UserToken: fmt.Sprintf("user-%d", i)}
		for j := range perAccount {
			d := fmt.Sprintf("cam-%d-%d", i, j)
			a.Devices = append(a.Devices, wire.Device{Device: d, Token: "tok-" + d})
		}
		out = append(out, a)
	}
	return out
}

func fleetBody(accts []wire.Account) []byte {
	var b bytes.Buffer
	for i := range accts {
		wire.WriteAccount(&b, &accts[i])
	}
	return b.Bytes()
}

// provision posts body to /v1/fleet and returns the status and error text.
func (tt *testTarget) provisionRaw(t testing.TB, token string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, tt.url+wire.PathFleet, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb wire.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb.Error
}

func (tt *testTarget) provision(t testing.TB, accts []wire.Account) {
	t.Helper()
	if code, msg := tt.provisionRaw(t, testAdmin, fleetBody(accts)); code != http.StatusNoContent {
		t.Fatalf("provision: %d %s", code, msg)
	}
}

func (tt *testTarget) wsURL() string {
	return "ws" + strings.TrimPrefix(tt.url, "http") + wire.PathConnect
}

var testDialer = websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}

// dial connects a device with token; on success it has read the welcome.
func (tt *testTarget) dial(t testing.TB, token string) (*websocket.Conn, wire.Message, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	c, resp, err := testDialer.Dial(tt.wsURL(), h)
	if err != nil {
		return nil, wire.Message{}, resp, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := readMsg(c)
	if err != nil {
		c.Close()
		return nil, m, resp, fmt.Errorf("reading welcome: %w", err)
	}
	c.SetReadDeadline(time.Time{})
	return c, m, resp, nil
}

// mustDial dials and checks the welcome names the device of token.
func (tt *testTarget) mustDial(t testing.TB, device string) *websocket.Conn {
	t.Helper()
	c, m, _, err := tt.dial(t, "tok-"+device)
	if err != nil {
		t.Fatalf("dial %s: %v", device, err)
	}
	if m.Type != wire.TypeWelcome || m.Device != device {
		t.Fatalf("dial %s: first frame %+v, want a welcome for it", device, m)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readMsg(c *websocket.Conn) (wire.Message, error) {
	_, b, err := c.ReadMessage()
	if err != nil {
		return wire.Message{}, err
	}
	return wire.Decode(b)
}

func sendMsg(c *websocket.Conn, m *wire.Message) error {
	return c.WriteMessage(websocket.TextMessage, wire.Encode(m))
}

func eventMsg(device string, seq int) *wire.Message {
	return &wire.Message{
		Type:  wire.TypeEvent,
		ID:    fmt.Sprintf("%s/%d", device, seq),
		Seq:   uint64(seq),
		At:    1764412800000 + int64(seq),
		Kind:  "motion",
		Thumb: []byte(fmt.Sprintf("thumb of %s/%d \x00\xff", device, seq)),
	}
}

// sendAndAck sends one event and reads the answer to it.
func sendAndAck(t testing.TB, c *websocket.Conn, m *wire.Message) wire.Message {
	t.Helper()
	if err := sendMsg(c, m); err != nil {
		t.Fatalf("send %s: %v", m.ID, err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	got, err := readMsg(c)
	if err != nil {
		t.Fatalf("answer to %s: %v", m.ID, err)
	}
	if got.ID != m.ID || (got.Type != wire.TypeAck && got.Type != wire.TypeNack) {
		t.Fatalf("answer to %s: %+v", m.ID, got)
	}
	return got
}

// appDo makes an app call and returns status, headers and body.
func (tt *testTarget) appDo(t testing.TB, method, path, token string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, tt.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// listAll pages through an account's Events tab.
func (tt *testTarget) listAll(t testing.TB, account, token string) []wire.EventInfo {
	t.Helper()
	var out []wire.EventInfo
	after := ""
	for {
		path := wire.EventsPath(account) + "?limit=500"
		if after != "" {
			path += "&after=" + after
		}
		code, _, body := tt.appDo(t, http.MethodGet, path, token)
		if code != http.StatusOK {
			t.Fatalf("list %s: %d %s", account, code, body)
		}
		var p wire.EventsPage
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("list %s: %v", account, err)
		}
		out = append(out, p.Events...)
		after = p.Next
		if !p.More {
			return out
		}
	}
}

// closeCode reads until the socket closes and returns the close code; then
// it hangs up, as a device does.
func closeCode(t testing.TB, c *websocket.Conn) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		c.Close()
		if ce, ok := err.(*websocket.CloseError); ok {
			return ce.Code
		}
		t.Fatalf("socket ended without a close frame: %v", err)
	}
}

// device runs a simulated camera's reader: it answers live requests with a
// frame naming itself, and collects acks and nacks.
type device struct {
	name    string
	c       *websocket.Conn
	wmu     sync.Mutex
	mu      sync.Mutex
	acks    map[string]bool
	nack    int
	badNack int // nacks without a positive retry_after_ms
	done    chan struct{}
}

func (tt *testTarget) startDevice(t testing.TB, name string) *device {
	t.Helper()
	d := &device{name: name, c: tt.mustDial(t, name), acks: map[string]bool{}, done: make(chan struct{})}
	go d.read()
	return d
}

func (d *device) read() {
	defer close(d.done)
	for {
		m, err := readMsg(d.c)
		if err != nil {
			return
		}
		switch m.Type {
		case wire.TypeLive:
			d.send(&wire.Message{Type: wire.TypeFrame, Req: m.Req, Data: []byte("frame from " + d.name)})
		case wire.TypeAck:
			d.mu.Lock()
			d.acks[m.ID] = true
			d.mu.Unlock()
		case wire.TypeNack:
			d.mu.Lock()
			d.nack++
			if m.RetryAfterMs <= 0 {
				d.badNack++
			}
			d.mu.Unlock()
		}
	}
}

func (d *device) send(m *wire.Message) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	return sendMsg(d.c, m)
}

// answered returns how many events got an ack or a nack.
func (d *device) answered() (acks, nacks int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.acks), d.nack
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
