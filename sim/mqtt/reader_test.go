package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/herd-drill/herd/internal/mqttio"
	"github.com/herd-drill/herd/internal/stackcheck"
	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/wire"
)

// oneGoroutineBroker answers each connection's CONNECT, SUBSCRIBE and
// hello on one goroutine and then only holds it, handing it to accepted
// (when not nil): no goroutine per connection, so the goroutines in the
// process are the readers.
func oneGoroutineBroker(t *testing.T, accepted chan<- net.Conn) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	t.Cleanup(func() {
		ln.Close()
		for _, c := range held {
			c.Close()
		}
	})
	write := func(c net.Conn, pk packets.Packet, enc func(*packets.Packet, *bytes.Buffer) error) {
		_ = mqttio.Write(c, func(b *bytes.Buffer) error { return enc(&pk, b) })
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
			for step := 0; step < 3; step++ {
				pk, err := readFromClient(c)
				if err != nil {
					break
				}
				switch step {
				case 0:
					write(c, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ProtocolVersion: 5}, (*packets.Packet).ConnackEncode)
				case 1:
					write(c, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Suback}, ProtocolVersion: 5, PacketID: pk.PacketID, ReasonCodes: []byte{1}}, (*packets.Packet).SubackEncode)
				case 2:
					write(c, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 5, PacketID: pk.PacketID}, (*packets.Packet).PubackEncode)
					m, _ := wire.Decode(pk.Payload)
					welcome := wire.Encode(&wire.Message{Type: wire.TypeWelcome, Device: m.Device, Account: "acct"})
					write(c, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 5, TopicName: wire.DownTopic(m.Device), Payload: welcome}, (*packets.Packet).PublishEncode)
				}
			}
			if accepted != nil {
				accepted <- c
			}
		}
	}()
	return "mqtt://" + ln.Addr().String()
}

// A camera's reader costs the runtime's smallest goroutine stack (2 KB),
// parked and after messages: readers handed a QoS 1 message each, beside
// a warm handler pool, add 2 KB of stack apiece, and with them parked the
// runtime still starts goroutines on 2 KB. A reader that parks in more
// than about 1.1 KB of frames starts every later one on 4 KB; one that
// goes deep on its way (an allocation can; handling a packet does) grows
// to 4 KB: 2 KB more per camera, a quarter of what a camera costs.
//
// The race detector's instrumentation enlarges every frame: built with it,
// the test runs itself in a build without it.
func TestReaderStackStaysSmall(t *testing.T) {
	if raceEnabled {
		stackcheck.WithoutRace(t, "TestReaderStackStaysSmall")
		return
	}
	const warm, n = 200, 2000
	accepted := make(chan net.Conn, warm+n)
	d, err := NewDialer([]string{oneGoroutineBroker(t, accepted)}, Options{Version: 5}, link.TLS{}, warm+n, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var got atomic.Int64
	dial := func(from, count int) (conns []link.Conn) {
		for i := from; i < from+count; i++ {
			c, _, err := d.Dial(context.Background(), link.Camera{Device: fmt.Sprintf("cam-%d", i), Token: "t", Nth: i}, counter{&got})
			if err != nil {
				closeAll(conns)
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		return conns
	}
	// Each server side gets a QoS 1 message for its camera; the camera's
	// PUBACK goes unread.
	send := func(count int, total int64) {
		for range count {
			c := <-accepted
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5, TopicName: "down", PacketID: 7,
				Payload: []byte(`{"type":"ack","id":"e-1"}`)}
			_ = mqttio.Write(c, pk.PublishEncode)
		}
		for deadline := time.Now().Add(10 * time.Second); got.Load() < total; {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d messages handled", got.Load(), total)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	defer closeAll(dial(0, warm))
	send(warm, warm) // the handlers' stacks grow here, not in what is measured
	before := stackcheck.Measure()
	defer closeAll(dial(warm, n))
	send(n, warm+n)
	each, used := before.Each(n)
	t.Logf("a parked reader: %d bytes of stack, %d of them used", each, used)
	if each > 2048+128 {
		t.Errorf("%d readers after a message each: %d bytes of stack apiece, want 2048", n, each)
	}
	if used > 1024 {
		t.Errorf("a parked reader uses %d bytes of its stack, want at most 1024: the runtime would start goroutines on 4 KB", used)
	}
}

// counter is a link.Handler that counts messages.
type counter struct{ n *atomic.Int64 }

func (c counter) Message(link.Conn, []byte) { c.n.Add(1) }
func (counter) Lost(link.Conn, error)       {}

// readFromClient reads and decodes a packet a client sends.
func readFromClient(c net.Conn) (packets.Packet, error) {
	body, hdr, err := mqttio.ReadRaw(c, new([1]byte))
	if err != nil {
		return packets.Packet{}, err
	}
	pk := packets.Packet{ProtocolVersion: 5}
	if err := pk.FixedHeader.Decode(hdr); err != nil {
		return pk, err
	}
	buf := bytes.Clone(body.Bytes())
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectDecode(buf)
	case packets.Subscribe:
		err = pk.SubscribeDecode(buf)
	case packets.Publish:
		err = pk.PublishDecode(buf)
	}
	return pk, err
}

func dialAll(t *testing.T, d *Dialer, n int) []link.Conn {
	t.Helper()
	var conns []link.Conn
	for i := range n {
		c, _, err := d.Dial(context.Background(), link.Camera{Device: fmt.Sprintf("cam-%d", i), Token: "t", Nth: i}, newRecorder())
		if err != nil {
			closeAll(conns)
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return conns
}

func closeAll(conns []link.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// A reader whose connection has ended reads the next one dialed: a fleet
// that drops and reconnects runs on the readers of its first connections,
// born with the smallest stacks. Closing the Dialer ends them all.
func TestReadersAreReused(t *testing.T) {
	const n = 200
	before := runtime.NumGoroutine()
	d, err := NewDialer([]string{oneGoroutineBroker(t, nil)}, Options{Version: 5}, link.TLS{}, n, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(dialAll(t, d, n))
	peak := runtime.NumGoroutine()
	for round := range 3 {
		conns := dialAll(t, d, n)
		if now := runtime.NumGoroutine(); now > peak+10 {
			t.Errorf("round %d: %d goroutines with %d connections, %d with the first %d", round, now, n, peak, n)
		}
		closeAll(conns)
	}
	d.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) { // the broker's goroutine, and the listener's
		time.Sleep(10 * time.Millisecond)
	}
	if now := runtime.NumGoroutine(); now > before+2 {
		t.Errorf("%d goroutines after Close, %d before the Dialer", now, before)
	}
}

// A silent drop leaves the socket open and unread, so the broker can only
// notice by the missing keep-alive; the camera's Close closes it later.
func TestSilentDropLeavesTheSocketOpen(t *testing.T) {
	accepted := make(chan net.Conn, 1)
	d, err := NewDialer([]string{oneGoroutineBroker(t, accepted)}, Options{Version: 5}, link.TLS{}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rec := newRecorder()
	c, _, err := d.Dial(context.Background(), link.Camera{Device: "cam-1", Token: "t"}, rec)
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	c.Drop(scenarios.ModeSilent)
	_ = server.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	var buf [64]byte
	if n, err := server.Read(buf[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("after a silent drop the broker read %d bytes, %v; want nothing, the socket open", n, err)
	}
	select {
	case f := <-rec.lost:
		t.Errorf("a silent drop was reported lost: %v", f)
	default:
	}
	c.Close()
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(server); err != nil {
		t.Errorf("after Close: %v, want the socket closed", err)
	}
}
