package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/herd-drill/herd/internal/mqttio"
	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/wire"
)

// A broker's refusals in herd's classes: credentials as a 401, shedding
// as a 503 with its retry-after-ms, in MQTT 5 and 3.1.1 alike; and an open
// session shed or ended by the broker.
func TestBrokerRefusalsHaveHerdsClasses(t *testing.T) {
	for _, tc := range []struct {
		version, code byte
		props         packets.Properties
		class         string
		retry         time.Duration
	}{
		{5, 0x86, packets.Properties{}, link.ErrHTTP401, 0},
		{5, 0x87, packets.Properties{}, link.ErrHTTP401, 0},
		{4, 4, packets.Properties{}, link.ErrHTTP401, 0},
		{4, 5, packets.Properties{}, link.ErrHTTP401, 0},
		{5, 0x9F, packets.Properties{User: []packets.UserProperty{{Key: "retry-after-ms", Val: "1500"}}}, link.ErrHTTP503, 1500 * time.Millisecond},
		{5, 0x89, packets.Properties{}, link.ErrHTTP503, 0},
		{5, 0x88, packets.Properties{}, link.ErrHTTP503, 0},
		{4, 3, packets.Properties{}, link.ErrHTTP503, 0},
		{4, 0x9F, packets.Properties{}, link.ErrHTTP503, 0}, // a 5 code to a 3.1.1 client, as some brokers send
		{5, 0x84, packets.Properties{}, link.ErrHTTPOther, 0},
	} {
		err := connackFailure(&packets.Packet{ProtocolVersion: tc.version, ReasonCode: tc.code, Properties: tc.props})
		var f *link.Failure
		if !errors.As(err, &f) || f.Class != tc.class || f.RetryAfter != tc.retry {
			t.Errorf("v%d CONNACK 0x%02X: %v (retry %v), want %s retry %v", tc.version, tc.code, err, f.RetryAfter, tc.class, tc.retry)
		}
	}
	for code, class := range map[byte]string{0x89: link.ErrClose1013, 0x97: link.ErrClose1013, 0x8B: link.ErrClose1001, 0x8E: link.ErrCloseOther, 0x00: link.ErrCloseOther} {
		if f := disconnectFailure(code, 5); f.Class != class {
			t.Errorf("DISCONNECT 0x%02X: %s, want %s", code, f.Class, class)
		}
	}
}

// recorder is a link.Handler that keeps what a connection got.
type recorder struct {
	msgs    chan string
	lost    chan *link.Failure
	pubacks chan time.Duration
}

func newRecorder() *recorder {
	return &recorder{msgs: make(chan string, 16), lost: make(chan *link.Failure, 1), pubacks: make(chan time.Duration, 16)}
}

func (r *recorder) Message(_ link.Conn, msg []byte) { r.msgs <- string(msg) }
func (r *recorder) Lost(_ link.Conn, err error) {
	var f *link.Failure
	errors.As(err, &f)
	r.lost <- f
}
func (r *recorder) Puback(_ link.Conn, d time.Duration) { r.pubacks <- d }

// allowAll lets every client in, to every topic.
type allowAll struct{ mochi.HookBase }

func (allowAll) ID() string { return "allow-all" }
func (allowAll) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (allowAll) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (allowAll) OnACLCheck(*mochi.Client, string, bool) bool              { return true }

// testBroker is mochi's own broker with its own WebSocket listener (not
// herd's: the other side of MQTT over WebSocket is someone else's code),
// letting everyone in, and answering each device's hello with a welcome.
func testBroker(t *testing.T) (*mochi.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := b.AddHook(new(allowAll), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.AddListener(listeners.NewWebsocket(listeners.Config{ID: "ws", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(wire.UpFilter, 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		dev, _, _ := wire.TopicDevice(pk.TopicName)
		if m, err := wire.Decode(pk.Payload); err == nil && m.Type == wire.TypeHello {
			_ = b.Publish(wire.DownTopic(dev), wire.Encode(&wire.Message{Type: wire.TypeWelcome, Device: dev, Account: "acct"}), false, 1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("the broker did not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return b, "ws://" + addr + "/mqtt"
}

// MQTT over WebSocket, against mochi's own WebSocket listener, in 5 and
// 3.1.1: a camera is welcomed, its QoS 1 publish is PUBACKed, a message
// on its down topic reaches it. A malformed message reaches the camera
// (which counts it); a packet over the camera's limit is refused: an MQTT 5
// camera declares its maximum packet size, so the broker drops the message
// and the connection lives on; a 3.1.1 camera, which cannot declare one,
// ends the connection as a protocol failure, and Lost says so.
func TestMQTTOverWebSocketAndBadDownMessages(t *testing.T) {
	b, url := testBroker(t)
	huge := bytes.Repeat([]byte("x"), mqttio.MaxPacket+10)
	for _, version := range []byte{5, 4} {
		d, err := NewDialer([]string{url}, Options{Version: version}, link.TLS{}, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		dev := fmt.Sprintf("cam-v%d", version)
		rec := newRecorder()
		c, welcome, err := d.Dial(context.Background(), link.Camera{Device: dev, Token: "t"}, rec)
		if err != nil || welcome.Type != wire.TypeWelcome || welcome.Device != dev {
			t.Fatalf("v%d: dial: %+v %v", version, welcome, err)
		}
		if err := c.Send(wire.Encode(&wire.Message{Type: wire.TypeAck, ID: "e-1"})); err != nil {
			t.Fatal(err)
		}
		select {
		case <-rec.pubacks:
		case <-time.After(5 * time.Second):
			t.Fatalf("v%d: no PUBACK", version)
		}
		_ = b.Publish(wire.DownTopic(dev), []byte("{not herd/1"), false, 1)
		if got := <-rec.msgs; got != "{not herd/1" {
			t.Errorf("v%d: got %q", version, got)
		}
		_ = b.Publish(wire.DownTopic(dev), huge, false, 1)
		_ = b.Publish(wire.DownTopic(dev), []byte(`{"type":"ack","id":"e-2"}`), false, 1)
		select {
		case got := <-rec.msgs:
			if version == 4 {
				t.Errorf("v%d: after an oversized packet, got %q", version, got)
			}
		case f := <-rec.lost:
			if version == 5 || f == nil || f.Class != link.ErrProtocol || !strings.Contains(f.Error(), "over the") {
				t.Errorf("v%d: lost with %v", version, f)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("v%d: neither the next message nor a lost connection", version)
		}
		c.Close()
		d.Close()
	}
}
