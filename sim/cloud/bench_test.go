package cloud

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/herd-drill/herd/sim/wire"
)

// Benchmarks of the target's three capacity figures: connects per second,
// events per second, and memory per held socket. The first two run the
// target in-process; the third runs it in a child process (this test binary,
// re-executed) so that the target's RSS is measured alone and each process
// stays under the machine's 20,000 open files:
//
//	go test -run '^$' -bench BenchmarkConnect -benchtime 5000x ./sim/cloud/
//	go test -run '^$' -bench BenchmarkEvents -benchtime 100000x ./sim/cloud/
//	HERD_BENCH_SOCKETS=19000 go test -run '^$' -bench BenchmarkSocketsHeld -benchtime 1x -timeout 10m ./sim/cloud/

func TestMain(m *testing.M) {
	if os.Getenv("HERD_TARGET_CHILD") == "1" {
		os.Exit(childTarget())
	}
	os.Exit(m.Run())
}

// childTarget serves a target on loopback, prints its address, and answers
// "gc" lines on stdin (collect garbage, then print memory figures) until
// stdin closes.
func childTarget() int {
	s, err := New(Config{AdminToken: testAdmin, PingInterval: 5 * time.Minute})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	fmt.Println(ln.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "gc" {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("heap-inuse=%d stack-inuse=%d sys=%d goroutines=%d\n", ms.HeapInuse, ms.StackInuse, ms.Sys, runtime.NumGoroutine())
		}
	}
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// benchDialer spreads client sockets over several loopback source
// addresses, so that tens of thousands of them never run out of ports.
func benchDialer(i int) *websocket.Dialer {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))}
	d := &net.Dialer{LocalAddr: local, Timeout: 30 * time.Second}
	return &websocket.Dialer{NetDialContext: d.DialContext, HandshakeTimeout: 30 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
}

// dialN connects devices cam-0-0 … with workers in parallel. A connect the
// target sheds (503) is retried after a short pause, as a device would; it
// returns the sockets (when keep) and how many connects were shed.
func dialN(b *testing.B, wsURL string, first, n, workers int, keep bool) ([]*websocket.Conn, int64) {
	b.Helper()
	conns := make([]*websocket.Conn, n)
	var next atomic.Int64
	next.Store(-1)
	var failed, shed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := benchDialer(w)
			for {
				i := int(next.Add(1))
				if i >= n {
					return
				}
				dev := fmt.Sprintf("cam-%d-%d", (first+i)/1000, (first+i)%1000)
				var c *websocket.Conn
				for try := 0; ; try++ {
					var resp *http.Response
					var err error
					c, resp, err = d.Dial(wsURL, http.Header{"Authorization": {"Bearer tok-" + dev}})
					if err == nil {
						break
					}
					if resp != nil && resp.StatusCode == http.StatusServiceUnavailable && try < 50 {
						shed.Add(1)
						time.Sleep(50 * time.Millisecond)
						continue
					}
					if failed.Add(1) <= 3 {
						b.Logf("connect %s: %v", dev, err)
					}
					break
				}
				if c == nil {
					continue
				}
				if _, _, err := c.ReadMessage(); err != nil {
					failed.Add(1)
				}
				if keep {
					conns[i] = c
				} else {
					c.Close()
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d connects failed", f, n)
	}
	return conns, shed.Load()
}

// BenchmarkConnect measures upgrades with the welcome read, 64 at a time,
// target and devices in one process.
func BenchmarkConnect(b *testing.B) {
	tt := startTarget(b, Config{})
	tt.provision(b, fleetOf((b.N+999)/1000, 1000))
	b.ReportAllocs()
	b.ResetTimer()
	_, shed := dialN(b, tt.wsURL(), 0, b.N, 64, false)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "connects/s")
	b.ReportMetric(float64(shed)/float64(b.N), "shed/connect")
}

// BenchmarkEvents measures events acked per second over 200 sockets, each
// sending with up to 16 events unacknowledged.
func BenchmarkEvents(b *testing.B) {
	const sockets, window = 200, 16
	tt := startTarget(b, Config{})
	tt.provision(b, fleetOf(1, sockets))
	conns, _ := dialN(b, tt.wsURL(), 0, sockets, 16, true)
	per := (b.N + sockets - 1) / sockets
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	var acked atomic.Int64
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := fmt.Sprintf("cam-0-%d", i)
			credit := make(chan struct{}, window) // the device's window of unacked events
			go func() {
				for seq := 1; seq <= per; seq++ {
					credit <- struct{}{}
					if sendMsg(c, eventMsg(dev, seq)) != nil {
						return
					}
				}
			}()
			for n := 0; n < per; n++ {
				m, err := readMsg(c)
				if err != nil {
					return
				}
				if m.Type == wire.TypeAck {
					acked.Add(1)
				}
				<-credit
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(acked.Load())/b.Elapsed().Seconds(), "events/s")
	if got, want := acked.Load(), int64(per*sockets); got != want {
		b.Errorf("%d events acked, want %d (nacks: %d)", got, want, tt.Stats().Nacks)
	}
	for _, c := range conns {
		c.Close()
	}
}

// BenchmarkSocketsHeld opens HERD_BENCH_SOCKETS (default 2,000) device
// sockets to a target in a child process and reports the child's RSS per
// held socket and the connect rate. Run it with -benchtime 1x.
func BenchmarkSocketsHeld(b *testing.B) {
	n := 2000
	if v := os.Getenv("HERD_BENCH_SOCKETS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("HERD_BENCH_SOCKETS=%q", v)
		}
	}
	for range b.N {
		rssPer, rate := holdSockets(b, n)
		b.ReportMetric(rssPer, "RSS-bytes/socket")
		b.ReportMetric(rate, "connects/s")
	}
}

func holdSockets(b *testing.B, n int) (rssPerSocket, connectsPerSec float64) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "HERD_TARGET_CHILD=1")
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("child target: %v", err)
		}
	}()
	out := bufio.NewScanner(stdout)
	if !out.Scan() {
		b.Fatal("child target printed no address")
	}
	tt := &testTarget{url: "http://" + out.Text()}
	gc := func() int64 {
		fmt.Fprintln(stdin, "gc")
		out.Scan()
		b.Logf("child after GC: %s", out.Text())
		return rssOf(b, cmd.Process.Pid)
	}
	tt.provision(b, fleetOf((n+999)/1000, 1000))
	before := gc()

	start := time.Now()
	conns, shed := dialN(b, tt.wsURL(), 0, n, 64, true)
	elapsed := time.Since(start)
	b.ReportMetric(float64(shed)/float64(n), "shed/connect")
	// Every socket stores an event, so that what is measured is a socket
	// that has worked, not one that only said hello.
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				m := eventMsg(fmt.Sprintf("cam-%d-%d", i/1000, i%1000), 1)
				if sendMsg(conns[i], m) != nil {
					b.Errorf("socket %d: send failed", i)
					return
				}
				if got, err := readMsg(conns[i]); err != nil || got.Type != wire.TypeAck {
					b.Errorf("socket %d: %+v, %v, want an ack", i, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(time.Second) // let the target settle
	rawRSS := rssOf(b, cmd.Process.Pid)
	after := gc()
	b.Logf("%d sockets: child RSS %d MB before, %d MB held (%d MB before GC); %.0f connects/s",
		n, before>>20, after>>20, rawRSS>>20, float64(n)/elapsed.Seconds())
	for _, c := range conns {
		c.Close()
	}
	return float64(after-before) / float64(n), float64(n) / elapsed.Seconds()
}

// rssOf reads a process's resident set size from /proc.
func rssOf(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
