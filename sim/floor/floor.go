// Package floor is the bare-client benchmark herd measures itself against:
// plain clients of herd's own libraries with the smallest buffers that
// work — gorilla/websocket for herd/1, mochi-mqtt's packet codec for herd/1
// over MQTT — each of which connects, reads its welcome, sends one event,
// waits for its ack and holds the connection with one reading goroutine.
// Whatever herd adds on top (the oracle, the state machine, the
// measurements) shows as the distance from this floor.
package floor

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/semaphore"

	"github.com/herd-drill/herd/internal/loopback"
	"github.com/herd-drill/herd/internal/procstat"
	"github.com/herd-drill/herd/sim/wire"
)

// Defaults of a floor run.
const (
	DefaultMaxDialing = 1024 // sockets dialing at once
	DefaultPerSource  = 8000 // sockets per loopback source address
)

// Config is one floor run.
type Config struct {
	Targets []string // base URLs of the target's cells, http://host:port
	// Brokers, when set, put the clients on herd/1 over MQTT (mqtt://
	// URLs, one per cell or one for all) in MQTTVersion (5, or 4: 3.1.1).
	Brokers     []string
	MQTTVersion byte
	Cell        func(i int) int    // cell of socket i (nil: cell 0)
	Cameras     int                // sockets in the fleet
	Only        []int              // the sockets this process opens (nil: all): a shard of the fleet
	Device      func(i int) string // device id of socket i
	Token       func(i int) string // device token of socket i
	MaxDialing  int                // 0 means DefaultMaxDialing
	// SourceOffset skips that many loopback source addresses, so that the
	// processes of one floor run each dial from their own.
	SourceOffset int
	// Start, when set, is the instant dialing begins (processes of one run
	// share it); the elapsed time counts from it.
	Start    time.Time
	Progress func(connected, n int) // called about once a second; may be nil
}

// Result is what a floor run measured.
type Result struct {
	Cameras        int           `json:"cameras"`
	Connected      int64         `json:"connected"`
	Acked          int64         `json:"acked"`
	Failed         int64         `json:"failed"`
	Started        time.Time     `json:"started"`
	Ended          time.Time     `json:"ended"`      // the last ack
	Elapsed        time.Duration `json:"elapsed_ns"` // start to the last ack
	ConnectsPerSec float64       `json:"connects_per_sec"`
	RSSBytes       int64         `json:"rss_bytes"` // process RSS while every socket is held
	BaseRSSBytes   int64         `json:"base_rss_bytes"`
	RSSPerConnKB   float64       `json:"rss_per_conn_kb"`
}

// writePool shares write buffers among all sockets.
var writePool = &sync.Pool{}

// Run opens cfg.Cameras sockets, each doing connect, welcome, one event and
// its ack, measures the process's memory while all are held, then closes
// them.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Only == nil {
		cfg.Only = make([]int, cfg.Cameras)
		for i := range cfg.Only {
			cfg.Only[i] = i
		}
	}
	res := Result{Cameras: len(cfg.Only)}
	if len(cfg.Targets) == 0 {
		return res, fmt.Errorf("floor: no target")
	}
	var wsURLs []string
	host := ""
	for _, t := range cfg.Targets {
		u, err := url.Parse(t)
		if err != nil || u.Host == "" {
			return res, fmt.Errorf("floor: bad target %q", t)
		}
		wsURLs = append(wsURLs, "ws://"+u.Host+wire.PathConnect)
		host = u.Hostname()
	}
	var brokers []string
	for _, raw := range cfg.Brokers {
		b, err := wire.ParseBroker(raw)
		if err != nil {
			return res, fmt.Errorf("floor: %w", err)
		}
		if b.TLS || b.WS != "" {
			return res, fmt.Errorf("floor: broker %s: the floor speaks MQTT over TCP (mqtt://)", raw)
		}
		brokers = append(brokers, b.Addr)
		host, _, _ = net.SplitHostPort(b.Addr)
	}
	if len(brokers) > 0 && cfg.MQTTVersion != 4 && cfg.MQTTVersion != 5 {
		cfg.MQTTVersion = 5
	}
	if cfg.Cell == nil {
		cfg.Cell = func(int) int { return 0 }
	}
	if cfg.MaxDialing <= 0 {
		cfg.MaxDialing = DefaultMaxDialing
	}
	dialers := dialersFor(host, len(cfg.Only), cfg.SourceOffset)
	sem := semaphore.NewWeighted(int64(cfg.MaxDialing))
	res.BaseRSSBytes = procstat.RSS()

	var connected, acked, failed atomic.Int64
	conns := make([]io.Closer, len(cfg.Only))
	if d := time.Until(cfg.Start); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	stopProgress := make(chan struct{})
	if cfg.Progress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					cfg.Progress(int(connected.Load()), len(cfg.Only))
				}
			}
		}()
	}
	for n, i := range cfg.Only {
		if err := sem.Acquire(ctx, 1); err != nil {
			break
		}
		wg.Go(func() {
			d := dialers[(n/DefaultPerSource)%len(dialers)]
			try := func() (io.Closer, bool, time.Duration) {
				return attempt(ctx, d, wsURLs[cfg.Cell(i)%len(wsURLs)], cfg.Device(i), cfg.Token(i), sem, &connected)
			}
			if len(brokers) > 0 {
				try = func() (io.Closer, bool, time.Duration) {
					return attemptMQTT(ctx, d.NetDialContext, brokers[cfg.Cell(i)%len(brokers)], cfg.MQTTVersion, cfg.Device(i), cfg.Token(i), sem, &connected)
				}
			}
			c, ok := one(ctx, try, sem)
			if !ok {
				failed.Add(1)
				return
			}
			acked.Add(1)
			conns[n] = c
		})
	}
	wg.Wait()
	close(stopProgress)
	res.Started, res.Ended = start, time.Now()
	res.Connected, res.Acked, res.Failed = connected.Load(), acked.Load(), failed.Load()
	res.RSSBytes = procstat.RSS()
	res = Sum(res) // the rates of one process are those of a sum of one
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	return res, ctx.Err()
}

// maxAttempts bounds a bare client's tries; a refused attempt (a target
// shedding load with 503) is tried again after retryPause.
const (
	maxAttempts = 100
	retryPause  = 20 * time.Millisecond
)

// one is a bare client: connect, welcome, one event, its ack, retrying a
// refused attempt. The socket stays open; a goroutine blocked in Read holds
// it as a real client would (that goroutine's stack is part of the floor).
func one(ctx context.Context, attempt func() (io.Closer, bool, time.Duration), sem *semaphore.Weighted) (io.Closer, bool) {
	for i := 0; i < maxAttempts && ctx.Err() == nil; i++ {
		if i > 0 {
			time.Sleep(retryPause)
			if sem.Acquire(ctx, 1) != nil {
				return nil, false
			}
		}
		c, ok, wait := attempt()
		if ok {
			return c, true
		}
		if wait > retryPause {
			// Like any client, honour the target's Retry-After: retrying a
			// shedding target every 20 ms only deepens its queues.
			time.Sleep(wait - retryPause)
		}
	}
	return nil, false
}

// attempt is one try of one; it releases sem once the handshake is over.
func attempt(ctx context.Context, d *websocket.Dialer, ws, device, token string, sem *semaphore.Weighted, connected *atomic.Int64) (io.Closer, bool, time.Duration) {
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	c, resp, err := d.DialContext(ctx, ws, hdr)
	var wait time.Duration
	if resp != nil {
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
			wait = time.Duration(n) * time.Second
		}
		if resp.Body != nil {
			resp.Body.Close()
		}
	}
	if err != nil {
		sem.Release(1)
		return nil, false, wait
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, _, err := c.ReadMessage(); err != nil {
		sem.Release(1)
		c.Close()
		return nil, false, 0
	}
	sem.Release(1)
	id := device + "/1"
	ev := `{"type":"event","id":"` + id + `","seq":1,"at":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `,"kind":"motion","thumb":"aGVyZA=="}`
	if err := c.WriteMessage(websocket.TextMessage, []byte(ev)); err != nil {
		c.Close()
		return nil, false, 0
	}
	_, b, err := c.ReadMessage()
	if err != nil || !strings.Contains(string(b), `"ack"`) {
		c.Close()
		return nil, false, 0
	}
	_ = c.SetReadDeadline(time.Time{})
	connected.Add(1)
	go func() {
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}()
	return c, true, 0
}

func dialersFor(host string, n, offset int) []*websocket.Dialer {
	var out []*websocket.Dialer
	for _, local := range loopback.Sources(host, n, DefaultPerSource, offset) {
		nd := &net.Dialer{Timeout: 30 * time.Second, LocalAddr: local, Control: loopback.Control}
		out = append(out, &websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 30 * time.Second,
			ReadBufferSize: 128, WriteBufferSize: 512, WriteBufferPool: writePool})
	}
	return out
}

// Sum is the floor run whose processes measured parts: counts and memory
// added, from the earliest start to the latest ack.
func Sum(parts ...Result) Result {
	var sum Result
	for _, r := range parts {
		sum.Cameras += r.Cameras
		sum.Connected += r.Connected
		sum.Acked += r.Acked
		sum.Failed += r.Failed
		sum.RSSBytes += r.RSSBytes
		sum.BaseRSSBytes += r.BaseRSSBytes
		if sum.Started.IsZero() || r.Started.Before(sum.Started) {
			sum.Started = r.Started
		}
		if r.Ended.After(sum.Ended) {
			sum.Ended = r.Ended
		}
	}
	sum.Elapsed = sum.Ended.Sub(sum.Started)
	if sum.Elapsed > 0 {
		sum.ConnectsPerSec = float64(sum.Connected) / sum.Elapsed.Seconds()
	}
	if sum.Acked > 0 {
		sum.RSSPerConnKB = float64(sum.RSSBytes-sum.BaseRSSBytes) / float64(sum.Acked) / 1024
	}
	return sum
}
