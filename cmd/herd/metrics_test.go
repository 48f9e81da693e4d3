package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herd-drill/herd/internal/exitcode"
)

// A scrape of /metrics during a small drill returns the families a soak
// test's dashboard watches.
func TestMetricsListenServesTheDrillsFamilies(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	done := make(chan int, 1)
	var stderr syncBuffer
	go func() {
		done <- run(context.Background(), []string{"run", "--cameras", "60", "--time-scale", "0.15", "--metrics-listen", addr}, io.Discard, &stderr)
	}()
	want := []string{"herd_cameras ", "herd_cameras_connected ", "herd_connects_total ", "herd_events_acked_total ",
		`herd_errors_total{class=`, `herd_violations_total{class="cross_account"}`, `herd_latency_seconds_bucket{op="connect"`, `herd_phase{phase=`}
	var body string
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if strings.Contains(body, `herd_latency_seconds_bucket{op="connect"`) && strings.Contains(body, "herd_events_acked_total ") {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %q; got:\n%s", w, body)
		}
	}
	if code := <-done; code != exitcode.OK {
		t.Errorf("drill exit %d; stderr:\n%s", code, stderr.String())
	}
}
