package floor_test

import (
	"context"
	"io"
	"testing"

	"github.com/herd-drill/herd/sim/cloud"
	"github.com/herd-drill/herd/sim/floor"
)

// The floor's bare clients, over WebSocket and over MQTT (5 and 3.1.1),
// against the reference target: every client is welcomed, its event
// acknowledged, and the connection held while the memory is measured; a
// target that sheds connects (503, CONNACK 0x9F with retry-after) is
// retried until every client is in. Against a broker that is not there,
// every client fails.
func TestFloorOverWebSocketAndMQTT(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mqtt    bool
		version byte
		rate    float64
	}{
		{"ws", false, 0, 0},
		{"ws shed", false, 0, 200},
		{"mqtt 5", true, 5, 0},
		{"mqtt 3.1.1", true, 4, 0},
		{"mqtt shed", true, 5, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, broker, stop, err := cloud.ServeLoopback(cloud.Config{AdminToken: "T", MaxConnectRate: tc.rate, ConnectBurst: 20}, tc.mqtt)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			f := floor.Fleet{Target: []string{url}, Cameras: 120, Seed: 1, MaxDialing: 64}
			if tc.mqtt {
				f.Brokers, f.MQTTVersion = []string{broker}, tc.version
			}
			r, err := floor.Bench(context.Background(), f, "T", 1, nil, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if r.Acked != 120 || r.Connected != 120 || r.Failed != 0 || r.ConnectsPerSec <= 0 {
				t.Errorf("%+v", r)
			}
		})
	}
	t.Run("no broker", func(t *testing.T) {
		url, _, stop, err := cloud.ServeLoopback(cloud.Config{AdminToken: "T"}, false)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		f := floor.Fleet{Target: []string{url}, Cameras: 5, Seed: 1, Brokers: []string{"mqtt://127.0.0.1:1"}, MQTTVersion: 5}
		r, err := floor.Bench(context.Background(), f, "T", 1, nil, io.Discard)
		if err != nil || r.Acked != 0 || r.Failed != 5 {
			t.Errorf("%+v %v", r, err)
		}
	})
}
