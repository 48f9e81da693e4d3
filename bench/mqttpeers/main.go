// Command mqttpeers measures MQTT client libraries side by side on one
// broker, as issue 13 asks: each of n connections connects, subscribes to
// a topic of its own, publishes one 1 KiB QoS 1 message, waits for its
// PUBACK and holds; then the process's memory and goroutines per
// connection and the connect rate are printed as one JSON line.
//
//	mqttpeers --lib mochi|paho.golang|paho.mqtt.golang --broker 127.0.0.1:1883 --conns 15000
//
// "mochi" is what herd's camera and floor use: mochi-mqtt's packet codec
// and one reader goroutine per connection (herd's own loop). The paho
// clients run their own loops, with reconnecting off. It is a module of
// its own so that herd does not depend on the paho libraries; run.sh
// starts a Mosquitto and runs all three.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/sync/semaphore"

	"github.com/herd-drill/herd/internal/mqttio"
)

func main() {
	lib := flag.String("lib", "mochi", "mochi, paho.golang or paho.mqtt.golang")
	broker := flag.String("broker", "127.0.0.1:1883", "the broker's host:port")
	n := flag.Int("conns", 15000, "connections")
	perSource := flag.Int("per-source", 8000, "connections per loopback source address")
	firstSource := flag.Int("first-source", 1, "the first source address is 127.0.0.N (runs after one another use others while TIME_WAIT drains)")
	dialing := flag.Int("dialing", 256, "connections in their handshake at once")
	hold := flag.Duration("hold", 5*time.Second, "how long every connection is held before measuring")
	flag.Parse()
	connect, ok := map[string]func(context.Context, *net.Dialer, string, string) (func(), error){
		"mochi": mochiClient, "paho.golang": pahoClient, "paho.mqtt.golang": pahoV3Client,
	}[*lib]
	if !ok {
		fmt.Fprintf(os.Stderr, "mqttpeers: --lib %q: want mochi, paho.golang or paho.mqtt.golang\n", *lib)
		os.Exit(2)
	}
	runtime.GC()
	baseRSS, baseG := rss(), runtime.NumGoroutine()
	sem := semaphore.NewWeighted(int64(*dialing))
	closers := make([]func(), *n)
	var failed atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range *n {
		_ = sem.Acquire(ctx, 1)
		src := net.IPv4(127, 0, 0, byte(*firstSource + i / *perSource))
		d := &net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
		wg.Go(func() {
			defer sem.Release(1)
			closer, err := connect(ctx, d, *broker, "peer-"+strconv.Itoa(i))
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			closers[i] = closer
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	time.Sleep(*hold)
	held := *n - int(failed.Load())
	out := map[string]any{
		"lib": *lib, "conns": *n, "held": held, "failed": failed.Load(), "first_error": firstErr.Load(),
		"connect_s": elapsed.Seconds(), "connects_per_sec": float64(held) / elapsed.Seconds(),
		"rss_per_conn_kb":        float64(rss()-baseRSS) / float64(max(held, 1)) / 1024,
		"goroutines_per_conn":    float64(runtime.NumGoroutine()-baseG) / float64(max(held, 1)),
		"go_version":             runtime.Version(),
		"gomaxprocs":             runtime.GOMAXPROCS(0),
		"payload_bytes":          len(payload),
		"source_addresses_first": "127.0.0." + strconv.Itoa(*firstSource),
	}
	for _, c := range closers {
		if c != nil {
			c()
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

var payload = bytes.Repeat([]byte("h"), 1024)

// rss is the process's resident set size, from /proc.
func rss() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// mochiClient is herd's way: mochi's codec, one reader goroutine.
func mochiClient(ctx context.Context, d *net.Dialer, broker, id string) (func(), error) {
	nc, err := d.DialContext(ctx, "tcp", broker)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	topic := "peers/" + id
	steps := []struct {
		enc  func(*bytes.Buffer) error
		want byte
	}{
		{func(b *bytes.Buffer) error {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
				Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: id, Keepalive: 30, Clean: true}}
			return pk.ConnectEncode(b)
		}, packets.Connack},
		{func(b *bytes.Buffer) error {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 5, PacketID: 1,
				Filters: packets.Subscriptions{{Filter: topic, Qos: 1}}}
			return pk.SubscribeEncode(b)
		}, packets.Suback},
		{func(b *bytes.Buffer) error {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5, TopicName: topic + "/up", PacketID: 2, Payload: payload}
			return pk.PublishEncode(b)
		}, packets.Puback},
	}
	for _, st := range steps {
		if err := mqttio.Write(nc, st.enc); err != nil {
			nc.Close()
			return nil, err
		}
		pk, err := mqttio.ReadPacket(nc, 5)
		if err == nil && (pk.FixedHeader.Type != st.want || pk.ReasonCode >= 0x80) {
			err = fmt.Errorf("packet type %d reason 0x%02X, want type %d", pk.FixedHeader.Type, pk.ReasonCode, st.want)
		}
		if err != nil {
			nc.Close()
			return nil, err
		}
	}
	_ = nc.SetDeadline(time.Time{})
	go mqttio.Discard(nc, new([1]byte))
	return func() { nc.Close() }, nil
}

// pahoClient is paho.golang (MQTT 5) on a connection dialed here.
func pahoClient(ctx context.Context, d *net.Dialer, broker, id string) (func(), error) {
	nc, err := d.DialContext(ctx, "tcp", broker)
	if err != nil {
		return nil, err
	}
	c := paho.NewClient(paho.ClientConfig{Conn: nc})
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ca, err := c.Connect(cctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true})
	if err == nil && ca.ReasonCode != 0 {
		err = fmt.Errorf("CONNACK 0x%02X", ca.ReasonCode)
	}
	if err == nil {
		_, err = c.Subscribe(cctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "peers/" + id, QoS: 1}}})
	}
	if err == nil {
		_, err = c.Publish(cctx, &paho.Publish{Topic: "peers/" + id + "/up", QoS: 1, Payload: payload})
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return func() { _ = c.Disconnect(&paho.Disconnect{}) }, nil
}

// pahoV3Client is paho.mqtt.golang (3.1.1), reconnecting off.
func pahoV3Client(_ context.Context, d *net.Dialer, broker, id string) (func(), error) {
	opts := pahov3.NewClientOptions().AddBroker("tcp://" + broker).SetClientID(id).SetCleanSession(true).
		SetKeepAlive(30 * time.Second).SetAutoReconnect(false).SetConnectRetry(false).SetDialer(d).
		SetConnectTimeout(30 * time.Second)
	c := pahov3.NewClient(opts)
	wait := func(t pahov3.Token) error {
		if !t.WaitTimeout(30 * time.Second) {
			return errors.New("timed out")
		}
		return t.Error()
	}
	if err := wait(c.Connect()); err != nil {
		return nil, err
	}
	if err := wait(c.Subscribe("peers/"+id, 1, nil)); err != nil {
		c.Disconnect(0)
		return nil, err
	}
	if err := wait(c.Publish("peers/"+id+"/up", 1, false, payload)); err != nil {
		c.Disconnect(0)
		return nil, err
	}
	return func() { c.Disconnect(0) }, nil
}
