package ws

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herd-drill/herd/internal/stackcheck"
	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/wire"
)

// holdingTarget upgrades each device's socket, sends the welcome, and
// only holds the socket, handing it to accepted (when not nil): no
// goroutine per connection once upgraded, so the goroutines in the
// process are the readers.
func holdingTarget(t *testing.T, accepted chan<- *websocket.Conn) string {
	t.Helper()
	var mu sync.Mutex
	var held []*websocket.Conn
	up := websocket.Upgrader{ReadBufferSize: 128, WriteBufferSize: 256}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		_ = ws.WriteMessage(websocket.TextMessage, wire.Encode(&wire.Message{Type: wire.TypeWelcome, Device: "d", Account: "a"}))
		mu.Lock()
		held = append(held, ws)
		mu.Unlock()
		if accepted != nil {
			accepted <- ws
		}
	}))
	t.Cleanup(func() {
		mu.Lock()
		for _, ws := range held {
			ws.Close()
		}
		mu.Unlock()
		srv.Close()
	})
	return srv.URL
}

type nothing struct{}

func (nothing) Message(link.Conn, []byte) {}
func (nothing) Lost(link.Conn, error)     {}

// counter is a link.Handler that counts messages.
type counter struct{ n *atomic.Int64 }

func (c counter) Message(link.Conn, []byte) { c.n.Add(1) }
func (counter) Lost(link.Conn, error)       {}

// A camera's reader costs the runtime's smallest goroutine stack (2 KB),
// parked and after a message and a ping (see sim/mqtt's test of the same
// name). An allocation on the reader (its message channel, made there)
// grew every reader to 4 KB. Parked, a reader uses about 1.1 KB of it
// (gorilla/websocket's frame reader and the network's), at the limit of
// the runtime's adaptive starting size: in one process with other deep
// goroutines, readers start on 4 KB; worker processes turn adaptive
// starting sizes off (sim.WorkerEnv), and theirs start, and stay, on 2 KB.
func TestReaderStackStaysSmall(t *testing.T) {
	if raceEnabled {
		stackcheck.WithoutRace(t, "TestReaderStackStaysSmall")
		return
	}
	const warm, n = 200, 2000
	accepted := make(chan *websocket.Conn, warm+n)
	d, err := NewDialer([]string{holdingTarget(t, accepted)}, link.TLS{}, warm+n, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var got atomic.Int64
	var conns []link.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func(from, count int) {
		for i := from; i < from+count; i++ {
			c, _, err := d.Dial(context.Background(), link.Camera{Device: fmt.Sprintf("cam-%d", i), Token: "t", Nth: i}, counter{&got})
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
	}
	send := func(count int, total int64) {
		for range count {
			ws := <-accepted
			_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","id":"e-1"}`))
			_ = ws.WriteControl(websocket.PingMessage, []byte("p"), time.Now().Add(time.Second))
		}
		for deadline := time.Now().Add(10 * time.Second); got.Load() < total; {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d messages handled", got.Load(), total)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // the pongs
	}
	dial(0, warm)
	send(warm, warm) // the handlers' stacks grow here, not in what is measured
	before := stackcheck.Measure()
	dial(warm, n)
	send(n, warm+n)
	each, used := before.Each(n)
	t.Logf("a parked reader: %d bytes of stack, %d of them used", each, used)
	if each > 2048+128 {
		t.Errorf("%d readers after a message and a ping each: %d bytes of stack apiece, want 2048", n, each)
	}
	if used > 1200 {
		t.Errorf("a parked reader uses %d bytes of its stack, want about 1.1 KB", used)
	}
}
