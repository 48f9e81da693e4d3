package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/reports"
	"github.com/herd-drill/herd/sim/cloud"
)

// cacheLeak is a scenario in which every account has events before the
// apps all open after the outage, so that the shared-cache-key fault
// always leaks a non-empty page.
const cacheLeak = `name: cache
camera: {events_per_minute: 120}
app: {active: 0, surge: 1, surge_window: 500ms, thumbnails: 1, live: 0, probes: 0}
phases:
  - {kind: steady, duration: 3s}
  - {kind: outage, duration: 1s, fraction: 1, mode: reset}
  - {kind: settle, duration: 3s}
`

// The built-in target's embedded broker: a drill over MQTT 5 and 3.1.1
// passes with zero violations, and a fault of the target is caught
// through MQTT as it is through the WebSocket.
func TestMQTTDrillOnTheEmbeddedBroker(t *testing.T) {
	for _, version := range []string{"5", "3.1.1"} {
		t.Run("MQTT "+version, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "result.json")
			code, stdout, stderr := herd(t, context.Background(), "run", "--transport", "mqtt", "--mqtt-version", version,
				"--cameras", "120", "--time-scale", "0.1", "--quiet", "--out", out)
			if code != exitcode.OK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			r := readResult(t, out)
			if r.Events.Acked == 0 || r.Recovery.Reconnected != 120 || r.Violations.Total != 0 || len(r.Target.Brokers) != 1 {
				t.Errorf("acked %d, reconnected %d, violations %d, brokers %v", r.Events.Acked, r.Recovery.Reconnected, r.Violations.Total, r.Target.Brokers)
			}
		})
	}
	t.Run("fault", func(t *testing.T) {
		sc := filepath.Join(t.TempDir(), "cache.yaml")
		os.WriteFile(sc, []byte(cacheLeak), 0o600)
		code, stdout, _ := herd(t, context.Background(), "run", sc, "--transport", "mqtt", "--cameras", "100", "--target-fault", "shared-cache-key", "--quiet")
		if code != exitcode.Failed || !strings.Contains(stdout, "cross_account=") || strings.Contains(stdout, "cross_account=0") {
			t.Errorf("exit %d, want 3 with cross_account violations:\n%s", code, stdout)
		}
	})
}

// mosquitto starts a Mosquitto broker on a free loopback port with the
// password and ACL files of dir, or skips (fails under HERD_REQUIRE_TOOLS).
func mosquitto(t *testing.T, dir string) string {
	return startMosquitto(t, dir).url
}

// mosquittoProc is a Mosquitto of a test, which it may stop and start
// again on the same port.
type mosquittoProc struct {
	t         *testing.T
	bin, conf string
	dir, url  string
	cmd       *exec.Cmd
	log       *os.File
}

func startMosquitto(t *testing.T, dir string) *mosquittoProc {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/mosquitto"); e == nil {
			bin = "/usr/sbin/mosquitto"
		} else if os.Getenv("HERD_REQUIRE_TOOLS") != "" {
			t.Fatal("mosquitto is not installed (HERD_REQUIRE_TOOLS is set; apt-get install mosquitto)")
		} else {
			t.Skip("mosquitto is not installed (apt-get install mosquitto)")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	conf := filepath.Join(dir, "mosquitto.conf")
	user := ""
	if os.Geteuid() == 0 {
		user = "user root\n" // else Mosquitto drops to its own user, which cannot read a test's directory
	}
	os.WriteFile(conf, []byte(fmt.Sprintf("%slistener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\nacl_file %s\npersistence false\n",
		user, addr.Port, filepath.Join(dir, "passwd"), filepath.Join(dir, "acl"))), 0o600)
	m := &mosquittoProc{t: t, bin: bin, conf: conf, dir: dir, url: "mqtt://" + addr.String()}
	m.start()
	t.Cleanup(m.stop)
	return m
}

// start runs the broker and waits until it listens.
func (m *mosquittoProc) start() {
	m.t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	m.log, _ = os.OpenFile(filepath.Join(m.dir, "mosquitto.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	addr := strings.TrimPrefix(m.url, "mqtt://")
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if i == 100 {
			b, _ := os.ReadFile(filepath.Join(m.dir, "mosquitto.log"))
			m.t.Fatalf("mosquitto did not listen on %s:\n%s", addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop kills the broker (SIGKILL: it dies, it does not shut down).
func (m *mosquittoProc) stop() {
	if m.cmd != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
		m.log.Close()
		m.cmd = nil
	}
}

// serveChannel serves a reference target of cfg whose device channel is
// ch (an embedded broker, or an external one); its HTTP base URL and its
// broker's URL are returned.
func serveChannel(t *testing.T, cfg cloud.Config, ch cloud.DeviceChannel) (target, broker string) {
	t.Helper()
	srv, err := cloud.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mln, broker, err := ch.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ln, target, err := ch.ListenHTTP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ch.Serve(ctx, srv, ln, mln) }()
	t.Cleanup(func() { cancel(); <-done })
	return target, broker
}

// serveOnBroker serves a reference target whose device channel is the
// external broker at url; its HTTP base URL is returned.
func serveOnBroker(t *testing.T, cfg cloud.Config, broker, user, password string) string {
	t.Helper()
	target, _ := serveChannel(t, cfg, cloud.DeviceChannel{Broker: broker, User: user, Password: password})
	return target
}

// Through a real Mosquitto whose password file and ACL 'herd fleet export
// --format mosquitto' wrote: an honest target passes with zero
// violations, and a leaking one is caught.
func TestMQTTDrillThroughMosquitto(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t)
	code, _, stderr := herd(t, context.Background(), "fleet", "export", "--format", "mosquitto", "--key-file", key, "--cameras", "100",
		"--ingest-user", "ingest", "--ingest-password", "ingest-secret", dir)
	if code != exitcode.OK {
		t.Fatalf("fleet export: exit %d: %s", code, stderr)
	}
	broker := mosquitto(t, dir)

	honest := serveOnBroker(t, cloud.Config{AdminToken: "T"}, broker, "ingest", "ingest-secret")
	out := filepath.Join(dir, "result.json")
	code, stdout, stderr := herd(t, context.Background(), "run", "--target", honest, "--admin-token", "T", "--broker", broker,
		"--key-file", key, "--cameras", "100", "--time-scale", "0.1", "--quiet", "--out", out)
	if code != exitcode.OK {
		log, _ := os.ReadFile(filepath.Join(dir, "mosquitto.log"))
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nmosquitto:\n%s", code, stdout, stderr, log)
	}
	if r := readResult(t, out); r.Events.Acked == 0 || r.Violations.Total != 0 {
		t.Errorf("through Mosquitto: acked %d, violations %d", r.Events.Acked, r.Violations.Total)
	}

	// A fresh key: the fleet of this drill is new to the broker's files
	// and to the leaking target.
	key2 := writeKey(t)
	dir2 := t.TempDir()
	if code, _, stderr := herd(t, context.Background(), "fleet", "export", "--format", "mosquitto", "--key-file", key2, "--cameras", "100",
		"--ingest-user", "ingest", "--ingest-password", "ingest-secret", dir2); code != exitcode.OK {
		t.Fatalf("fleet export: %s", stderr)
	}
	broker2 := mosquitto(t, dir2)
	leaky := serveOnBroker(t, cloud.Config{AdminToken: "T", Faults: cloud.Faults{cloud.SharedCacheKey: true}}, broker2, "ingest", "ingest-secret")
	sc := filepath.Join(dir2, "cache.yaml")
	os.WriteFile(sc, []byte(cacheLeak), 0o600)
	out2 := filepath.Join(dir2, "result.json")
	code, stdout, _ = herd(t, context.Background(), "run", sc, "--target", leaky, "--admin-token", "T", "--broker", broker2,
		"--key-file", key2, "--cameras", "100", "--quiet", "--out", out2)
	if r := readResult(t, out2); code != exitcode.Failed || r.Violations.Counts["cross_account"] == 0 || r.Exposure.ViewersListed == 0 {
		t.Errorf("a leaking target through Mosquitto: exit %d, %v, exposure %+v\n%s", code, r.Violations.Counts, r.Exposure, stdout)
	}
}

// A wrong password at the broker is a refused camera, named; the drill
// does not hang.
func TestMQTTWrongBrokerCredentials(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t)
	other := writeKey(t) // the broker knows another run's fleet
	if code, _, stderr := herd(t, context.Background(), "fleet", "export", "--format", "mosquitto", "--key-file", other, "--cameras", "10",
		"--ingest-user", "ingest", "--ingest-password", "ingest-secret", dir); code != exitcode.OK {
		t.Fatalf("fleet export: %s", stderr)
	}
	broker := mosquitto(t, dir)
	target := serveOnBroker(t, cloud.Config{AdminToken: "T"}, broker, "ingest", "ingest-secret")
	start := time.Now()
	code, _, stderr := herd(t, context.Background(), "run", "--target", target, "--admin-token", "T", "--broker", broker,
		"--key-file", key, "--cameras", "10", "--time-scale", "0.1", "--quiet")
	if code != exitcode.Runtime || !strings.Contains(stderr, "CONNACK") || !strings.Contains(stderr, "http_401") || time.Since(start) > 30*time.Second {
		t.Errorf("exit %d after %v, stderr %q; want 1 naming the refused CONNACK", code, time.Since(start), stderr)
	}
	_ = reports.Schema
}

// The outage modes over MQTT: a silent outage (no PINGREQ, the broker
// notices after one and a half keep-alives), then a close (DISCONNECT):
// every camera comes back, taking over its old session; nothing leaks or
// is lost. A broker that sheds CONNECTs (CONNACK 0x9F with retry-after-ms)
// is shedding, not failing.
func TestMQTTOutageModesAndShedding(t *testing.T) {
	dir := t.TempDir()
	sc := filepath.Join(dir, "modes.yaml")
	os.WriteFile(sc, []byte(`name: modes-mqtt
camera:
  mqtt: {keepalive: 2s}
reconnect: {policy: full-jitter, base: 500ms, cap: 2s}
phases:
  - {kind: steady, duration: 2s}
  - {kind: outage, duration: 4s, fraction: 1, mode: silent}
  - {kind: settle, duration: 3s}
  - {kind: outage, duration: 1s, fraction: 1, mode: close}
  - {kind: settle, duration: 4s}
`), 0o600)
	out := filepath.Join(dir, "modes.json")
	code, stdout, _ := herd(t, context.Background(), "run", sc, "--transport", "mqtt", "--cameras", "150", "--quiet", "--out", out)
	r := readResult(t, out)
	if code != exitcode.OK || r.Recovery.Affected != 300 || r.Recovery.Reconnected != 300 || r.Violations.Total != 0 {
		t.Errorf("exit %d, %d of %d back, %d violations\n%s", code, r.Recovery.Reconnected, r.Recovery.Affected, r.Violations.Total, stdout)
	}

	out = filepath.Join(dir, "shed.json")
	code, stdout, _ = herd(t, context.Background(), "run", "--transport", "mqtt", "--cameras", "300", "--time-scale", "0.1",
		"--target-max-connect-rate", "300", "--target-connect-burst", "50", "--quiet", "--out", out)
	r = readResult(t, out)
	if code != exitcode.OK || r.Errors.Shed == 0 || r.Errors.ByClass["http_503"] == 0 || r.Recovery.Reconnected != 300 {
		t.Errorf("exit %d, shed %d (%v), %d back\n%s", code, r.Errors.Shed, r.Errors.ByClass, r.Recovery.Reconnected, stdout)
	}
}

// mTLS as managed IoT brokers use it: 'herd fleet export --certs' issues a
// CA and a certificate per device; the embedded broker requires them; each
// camera presents its own. Without its certificate, or without trusting the
// broker's CA, a camera is refused, and the error says which.
func TestMQTTOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t)
	certs := exportCerts(t, dir, key, 60)
	target, broker := serveChannel(t, cloud.Config{AdminToken: "T"}, cloud.DeviceChannel{MQTTListen: "127.0.0.1:0",
		TLSCert: filepath.Join(certs, "server.crt"), TLSKey: filepath.Join(certs, "server.key"), ClientCA: filepath.Join(certs, "ca.crt")})
	if !strings.HasPrefix(broker, "mqtts://") {
		t.Fatalf("broker %s, want mqtts://", broker)
	}
	run := func(extra ...string) (int, string, string) {
		args := append([]string{"run", "--target", target, "--admin-token", "T", "--broker", broker, "--key-file", key, "--cameras", "60", "--time-scale", "0.1", "--quiet"}, extra...)
		return herd(t, context.Background(), args...)
	}
	if code, stdout, stderr := run("--ca-file", filepath.Join(certs, "ca.crt"), "--client-certs", certs); code != exitcode.OK {
		t.Fatalf("over mTLS: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := run("--ca-file", filepath.Join(certs, "ca.crt")); code != exitcode.Runtime || !strings.Contains(stderr, "refused the TLS handshake") {
		t.Errorf("without client certificates: exit %d, %q", code, stderr)
	}
	if code, _, stderr := run("--client-certs", certs); code != exitcode.Runtime || !strings.Contains(stderr, "--ca-file") {
		t.Errorf("without the CA: exit %d, %q", code, stderr)
	}
}

// MQTT over WebSocket on the reference target's embedded broker: over
// ws:// in 3.1.1, and over wss:// with each device's own certificate.
func TestMQTTOverWebSocket(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t)
	certs := exportCerts(t, dir, key, 60)
	for _, tc := range []struct {
		ch     cloud.DeviceChannel
		scheme string
		extra  []string
	}{
		{cloud.DeviceChannel{MQTTListen: "ws://127.0.0.1:0/mqtt"}, "ws://", []string{"--mqtt-version", "3.1.1"}},
		{cloud.DeviceChannel{MQTTListen: "ws://127.0.0.1:0/mqtt", TLSCert: filepath.Join(certs, "server.crt"), TLSKey: filepath.Join(certs, "server.key"), ClientCA: filepath.Join(certs, "ca.crt")},
			"wss://", []string{"--ca-file", filepath.Join(certs, "ca.crt"), "--client-certs", certs}},
	} {
		target, broker := serveChannel(t, cloud.Config{AdminToken: "T"}, tc.ch)
		if !strings.HasPrefix(broker, tc.scheme) || !strings.HasSuffix(broker, "/mqtt") {
			t.Fatalf("broker %s, want %s…/mqtt", broker, tc.scheme)
		}
		out := filepath.Join(dir, "result.json")
		args := append([]string{"run", "--target", target, "--admin-token", "T", "--broker", broker, "--key-file", key, "--cameras", "60", "--time-scale", "0.1", "--quiet", "--out", out}, tc.extra...)
		code, stdout, stderr := herd(t, context.Background(), args...)
		if code != exitcode.OK {
			t.Fatalf("%s: exit %d\n%s\n%s", broker, code, stdout, stderr)
		}
		if r := readResult(t, out); r.Events.Acked == 0 || r.Recovery.Reconnected != 60 || r.Violations.Total != 0 {
			t.Errorf("%s: acked %d, reconnected %d, violations %d", broker, r.Events.Acked, r.Recovery.Reconnected, r.Violations.Total)
		}
	}
}

// herd/1 over wss://: the reference target serves HTTPS (app and device
// WebSocket) with a private CA's certificate; a drill that trusts the CA
// passes, and so does one that skips verifying in a lab; one that trusts
// neither is refused at preflight, naming --ca-file. With --client-ca each
// camera presents its own certificate on the WebSocket, and one without is
// refused.
func TestHerdOverWSS(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t)
	certs := exportCerts(t, dir, key, 50)
	ca := filepath.Join(certs, "ca.crt")
	target, _ := serveChannel(t, cloud.Config{AdminToken: "T"}, cloud.DeviceChannel{HTTPCert: filepath.Join(certs, "server.crt"), HTTPKey: filepath.Join(certs, "server.key")})
	if !strings.HasPrefix(target, "https://") {
		t.Fatalf("target %s, want https://", target)
	}
	run := func(target string, extra ...string) (int, string, string) {
		args := append([]string{"run", "--target", target, "--admin-token", "T", "--key-file", writeKey(t), "--cameras", "50", "--time-scale", "0.1", "--quiet"}, extra...)
		return herd(t, context.Background(), args...)
	}
	if code, stdout, stderr := run(target, "--ca-file", ca); code != exitcode.OK {
		t.Fatalf("--ca-file: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr := run(target, "--insecure-skip-verify"); code != exitcode.OK {
		t.Fatalf("--insecure-skip-verify: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := run(target); code != exitcode.Runtime || !strings.Contains(stderr, "certificate") {
		t.Errorf("trusting nothing: exit %d, %q", code, stderr)
	}

	mtls, _ := serveChannel(t, cloud.Config{AdminToken: "T"}, cloud.DeviceChannel{HTTPCert: filepath.Join(certs, "server.crt"), HTTPKey: filepath.Join(certs, "server.key"), ClientCA: ca})
	args := []string{"run", "--target", mtls, "--admin-token", "T", "--key-file", key, "--cameras", "50", "--time-scale", "0.1", "--quiet", "--ca-file", ca}
	if code, stdout, stderr := herd(t, context.Background(), append(args, "--client-certs", certs)...); code != exitcode.OK {
		t.Fatalf("wss:// with device certificates: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, _, stderr := run(mtls, "--ca-file", ca); code != exitcode.Runtime || !strings.Contains(stderr, "http_401") {
		t.Errorf("without device certificates: exit %d, %q", code, stderr)
	}
}

// A broker that dies mid-drill: the drill ends by itself with a result.
// When the broker stays dead, the cameras' reconnects are refused and the
// verdict fails on the drill's own thresholds, with no violation (nothing
// the target acknowledged is lost). When it comes back, the target's
// ingest and the cameras connect again and the drill passes.
func TestMQTTBrokerDiesMidDrill(t *testing.T) {
	for _, back := range []bool{false, true} {
		t.Run(map[bool]string{false: "stays dead", true: "comes back"}[back], func(t *testing.T) {
			dir := t.TempDir()
			key := writeKey(t)
			if code, _, stderr := herd(t, context.Background(), "fleet", "export", "--format", "mosquitto", "--key-file", key, "--cameras", "80",
				"--ingest-user", "ingest", "--ingest-password", "ingest-secret", dir); code != exitcode.OK {
				t.Fatalf("fleet export: %s", stderr)
			}
			m := startMosquitto(t, dir)
			target := serveOnBroker(t, cloud.Config{AdminToken: "T"}, m.url, "ingest", "ingest-secret")
			sc := filepath.Join(dir, "dies.yaml")
			// The errors threshold is what a dead broker fails; a broker
			// back after 2 s costs a burst of refused reconnects, so that
			// drill judges violations only.
			thresholds := "[violations.total == 0]"
			if !back {
				thresholds = "[violations.total == 0, errors.rate < 5%]"
			}
			os.WriteFile(sc, []byte(`name: broker-dies
camera: {events_per_minute: 120}
reconnect: {policy: full-jitter, base: 200ms, cap: 1s}
phases:
  - {kind: steady, duration: 12s}
thresholds: `+thresholds+"\n"), 0o600)
			go func() {
				time.Sleep(4 * time.Second)
				m.stop()
				if back {
					time.Sleep(2 * time.Second)
					m.start()
				}
			}()
			out := filepath.Join(dir, "result.json")
			start := time.Now()
			code, stdout, stderr := herd(t, context.Background(), "run", sc, "--target", target, "--admin-token", "T", "--broker", m.url,
				"--key-file", key, "--cameras", "80", "--quiet", "--out", out)
			took := time.Since(start)
			r := readResult(t, out)
			t.Logf("exit %d after %v; errors %v; captured %d, acked %d; violations %v", code, took.Round(time.Millisecond), r.Errors.ByClass, r.Events.Captured, r.Events.Acked, r.Violations.Counts)
			if took > 90*time.Second || r.Violations.Total != 0 || r.Events.Acked == 0 {
				t.Errorf("exit %d after %v, %d violations, %d acked\n%s\n%s", code, took, r.Violations.Total, r.Events.Acked, stdout, stderr)
			}
			switch {
			case !back && (code != exitcode.Failed || r.Errors.ByClass["refused"] == 0):
				t.Errorf("a dead broker: exit %d, errors %v; want 3 with refused connects\n%s", code, r.Errors.ByClass, stdout)
			case !back && !strings.Contains(stdout, "errors.rate"):
				t.Errorf("a dead broker: the summary does not name the failed threshold\n%s", stdout)
			case back && (code != exitcode.OK || r.Events.Acked*10 < r.Events.Captured*7):
				t.Errorf("a broker back after 2 s: exit %d, %d of %d events acked; want 0, most acked\n%s\n%s", code, r.Events.Acked, r.Events.Captured, stdout, stderr)
			}
		})
	}
}

// A broker whose ACL refuses what herd/1 needs: a device that may not
// subscribe to its down topic is refused (http_401, the subscription
// named), and the drill ends by itself; an ingest that may not read the up
// topics is an error of 'herd target' at the start, saying what to allow.
func TestMQTTBrokerACLRefuses(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t)
	if code, _, stderr := herd(t, context.Background(), "fleet", "export", "--format", "mosquitto", "--key-file", key, "--cameras", "10",
		"--ingest-user", "ingest", "--ingest-password", "ingest-secret", dir); code != exitcode.OK {
		t.Fatalf("fleet export: %s", stderr)
	}
	// Devices may publish but not subscribe; the ingest may write but not read.
	os.WriteFile(filepath.Join(dir, "acl"), []byte("user ingest\ntopic write herd/v1/d/+/down\n\npattern write herd/v1/d/%u/up\n"), 0o600)
	broker := mosquitto(t, dir)
	// Mosquitto grants a subscription its ACL keeps messages from: the
	// camera hears nothing, and says what to check.
	target := serveOnBroker(t, cloud.Config{AdminToken: "T"}, broker, "ingest", "ingest-secret")
	code, _, stderr := herd(t, context.Background(), "run", "--target", target, "--admin-token", "T", "--broker", broker,
		"--key-file", key, "--cameras", "10", "--time-scale", "0.1", "--quiet")
	if code != exitcode.Runtime || !strings.Contains(stderr, "no welcome") || !strings.Contains(stderr, "ACL") {
		t.Errorf("an ingest the ACL keeps from the up topics: exit %d, %q", code, stderr)
	}
	os.WriteFile(filepath.Join(dir, "acl"), []byte("user ingest\ntopic read herd/v1/d/+/up\ntopic write herd/v1/d/+/down\n\npattern write herd/v1/d/%u/up\n"), 0o600)
	m := startMosquitto(t, dir)
	target = serveOnBroker(t, cloud.Config{AdminToken: "T"}, m.url, "ingest", "ingest-secret")
	code, _, stderr = herd(t, context.Background(), "run", "--target", target, "--admin-token", "T", "--broker", m.url,
		"--key-file", key, "--cameras", "10", "--time-scale", "0.1", "--quiet")
	if code != exitcode.Runtime || !strings.Contains(stderr, "no welcome") || !strings.Contains(stderr, "read its down topic") {
		t.Errorf("a device the ACL keeps from its down topic: exit %d, %q", code, stderr)
	}
}

// exportCerts writes a test CA, a server certificate and one certificate
// per device of a fleet of n cameras of key to dir/certs.
func exportCerts(t *testing.T, dir, key string, n int) string {
	t.Helper()
	certs := filepath.Join(dir, "certs")
	if code, _, stderr := herd(t, context.Background(), "fleet", "export", "--key-file", key, "--cameras", fmt.Sprint(n), "--certs", certs, "--out", filepath.Join(dir, "fleet.jsonl")); code != exitcode.OK {
		t.Fatalf("fleet export --certs: %s", stderr)
	}
	return certs
}
