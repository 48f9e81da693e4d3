package cloud

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/herd-drill/herd/internal/mqttio"
	"github.com/herd-drill/herd/sim/wire"
)

// The device channel on a broker (herd/1 over MQTT): a device connects with
// client id and user name its device id and password its token, subscribes
// to its down topic, and says hello on its up topic; the ingest binds a
// session to it and answers with the welcome, as the WebSocket's connect
// does. From then on its up topic's messages go through the same session
// code as a socket's frames: the same store, the same faulty cache client,
// the same faults.
//
// The broker is embedded (ServeMQTT: mochi-mqtt, its authentication and
// ACL fed by provisioning) or external (ServeBroker: the ingest is a client
// of it, and the broker authenticates devices by its own files, such as
// those 'herd fleet export --format mosquitto' writes).

// ingest routes up-topic messages to sessions, one per device.
type ingest struct {
	s *Server
	// down sends a herd/1 message to device; shut ends device's
	// connection with an MQTT reason code, where the ingest can.
	down func(device string, b []byte) error
	shut func(device string, reason byte)

	mu   sync.Mutex
	sess map[string]*session // by device: the session of its last hello
}

func newIngest(s *Server) *ingest { return &ingest{s: s, sess: map[string]*session{}} }

// up is one message on device's up topic, whose account is account ("":
// look it up). Calls for one device come one at a time, in order.
func (in *ingest) up(ctx context.Context, device, account string, payload []byte) {
	s := in.s
	m, err := wire.Decode(payload)
	if err == nil && m.Type == wire.TypeHello {
		in.hello(ctx, device, account)
		return
	}
	in.mu.Lock()
	ss := in.sess[device]
	in.mu.Unlock()
	switch {
	case ss == nil:
		s.stats.closedBadData.Add(1)
		in.shut(device, packets.ErrProtocolViolation.Code) // a message before hello
	case !ss.handle(payload):
		in.drop(device, ss)
	}
}

// hello binds a fresh session to device and welcomes it.
func (in *ingest) hello(ctx context.Context, device, account string) {
	s := in.s
	if s.isClosing() {
		in.shut(device, packets.ErrServerShuttingDown.Code)
		return
	}
	if account == "" {
		acct, err := s.get(ctx, keyDevice+device)
		if err != nil {
			s.stats.connectsUnauthorized.Add(1)
			in.shut(device, packets.ErrNotAuthorized.Code)
			return
		}
		account = acct
	}
	ss := &session{
		srv: s, device: device, account: account,
		gone: make(chan struct{}), done: make(chan putResult, 1), handled: make(chan bool),
	}
	ss.out = &mqttConn{in: in, device: device, ss: ss}
	in.mu.Lock()
	old := in.sess[device]
	in.sess[device] = ss
	in.mu.Unlock()
	if old != nil {
		in.end(old)
	}
	s.stats.connectsAccepted.Add(1)
	s.stats.socketsOpen.Add(1)
	s.sessions.add(ss)
	_ = ss.send(&wire.Message{Type: wire.TypeWelcome, Device: device, Account: account})
}

// drop ends device's session ss, if it is still the device's.
func (in *ingest) drop(device string, ss *session) {
	in.mu.Lock()
	cur := in.sess[device]
	if cur == nil || (ss != nil && cur != ss) {
		in.mu.Unlock()
		return
	}
	delete(in.sess, device)
	in.mu.Unlock()
	in.end(cur)
}

func (in *ingest) end(ss *session) {
	in.s.sessions.remove(ss)
	in.s.stats.socketsOpen.Add(-1)
	close(ss.gone)
}

// mqttConn is a session's way to its device through the broker.
type mqttConn struct {
	in     *ingest
	device string
	ss     *session
}

func (c *mqttConn) write(b []byte) error { return c.in.down(c.device, b) }

// shut says a herd/1 close code as a DISCONNECT reason.
func (c *mqttConn) shut(code int, _ string) {
	reason := packets.ErrUnspecifiedError.Code
	switch code {
	case wire.CloseTryAgainLater:
		reason = packets.ErrServerBusy.Code
	case wire.CloseGoingAway:
		reason = packets.ErrServerShuttingDown.Code
	case wire.CloseInvalidData:
		reason = packets.ErrMalformedPacket.Code
	case wire.CloseTooBig:
		reason = packets.ErrPacketTooLarge.Code
	}
	c.in.shut(c.device, reason)
	c.in.drop(c.device, c.ss)
}

func (c *mqttConn) ping() {} // MQTT keep-alive is the broker's

// ServeMQTT runs the target's embedded broker on ln until ctx ends:
// devices authenticate with their tokens, may publish only on their own up
// topic and subscribe only to their own down topic, and the ingest answers
// on the broker itself. The broker holds every connection, so this
// Server's connect admission (MaxConnectRate) applies to CONNECTs: a shed
// one is refused with CONNACK 0x9F and a retry-after-ms property.
func (s *Server) ServeMQTT(ctx context.Context, ln net.Listener) error {
	b := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Logger:       brokerLog(),
		// Small per-client buffers: a cell holds thousands of devices.
		ClientNetWriteBufferSize: 1024,
		ClientNetReadBufferSize:  1024,
	})
	b.Options.Capabilities.MaximumPacketSize = wire.MaxFrame + 1024
	in := newIngest(s)
	h := &brokerHook{s: s, in: in, broker: b, bound: map[string]string{}}
	in.down = func(device string, msg []byte) error { return b.Publish(wire.DownTopic(device), msg, false, 1) }
	in.shut = func(device string, reason byte) {
		if cl, ok := b.Clients.Get(device); ok {
			_ = b.DisconnectClient(cl, packets.Code{Code: reason, Reason: "herd target"})
		}
	}
	if err := b.AddHook(h, nil); err != nil {
		return err
	}
	if err := b.AddListener(&netListener{ln: ln, id: "herd", b: b}); err != nil {
		return err
	}
	if err := b.Subscribe(wire.UpFilter, 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		h.mu.Lock()
		account, ok := h.bound[pk.Origin]
		h.mu.Unlock()
		if dev, up, valid := wire.TopicDevice(pk.TopicName); ok && valid && up && dev == pk.Origin {
			in.up(ctx, dev, account, pk.Payload)
		}
	}); err != nil {
		return err
	}
	if err := b.Serve(); err != nil {
		return err
	}
	<-ctx.Done()
	s.sessions.closeAll(wire.CloseGoingAway, "target shutting down")
	return b.Close()
}

// brokerHook is the embedded broker's authentication and ACL, fed by
// provisioning: a device id's token, and only its own two topics.
type brokerHook struct {
	mqtt.HookBase
	s      *Server
	in     *ingest
	broker *mqtt.Server

	mu    sync.Mutex
	bound map[string]string // client id (= device) → account, once authenticated
}

func (h *brokerHook) ID() string { return "herd-target" }

func (h *brokerHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnDisconnect}, []byte{b})
}

// OnConnect admits and authenticates a CONNECT, answering a refusal with
// its own CONNACK.
func (h *brokerHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	s := h.s
	refuse := func(code packets.Code, retry time.Duration) error {
		if cl.Properties.ProtocolVersion < 5 { // 3.1.1 has return codes 3 (unavailable) and 5 (not authorised) for these
			switch code {
			case packets.ErrServerBusy, packets.ErrConnectionRateExceeded:
				code = packets.ErrServerUnavailable
			case packets.ErrNotAuthorized:
				code = packets.ErrBadUsernameOrPassword
			}
		}
		var props *packets.Properties
		if retry > 0 {
			props = &packets.Properties{User: []packets.UserProperty{{Key: "retry-after-ms", Val: strconv.FormatInt(retry.Milliseconds(), 10)}}}
		}
		_ = h.broker.SendConnack(cl, code, false, props)
		return code
	}
	if s.isClosing() {
		s.stats.connectsRefused.Add(1)
		return refuse(packets.ErrServerUnavailable, time.Second)
	}
	if s.connects != nil {
		if ok, wait := s.connects.take(time.Now()); !ok {
			s.stats.connectsRefused.Add(1)
			return refuse(packets.ErrConnectionRateExceeded, wait)
		}
	}
	device := string(pk.Connect.Username)
	dev, account, err := s.lookupDeviceToken(context.Background(), string(pk.Connect.Password))
	switch {
	case errors.Is(err, errUnknown):
		s.stats.connectsUnauthorized.Add(1)
		return refuse(packets.ErrBadUsernameOrPassword, 0)
	case err != nil:
		s.stats.connectsRefused.Add(1)
		return refuse(packets.ErrServerBusy, time.Second)
	case dev != device || cl.ID != device:
		s.stats.connectsUnauthorized.Add(1)
		return refuse(packets.ErrNotAuthorized, 0)
	}
	if tc, ok := tlsOf(cl.Net.Conn); ok {
		// With client certificates (--client-ca), a device's own names it.
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 && certs[0].Subject.CommonName != device {
			s.stats.connectsUnauthorized.Add(1)
			return refuse(packets.ErrNotAuthorized, 0)
		}
	}
	h.mu.Lock()
	h.bound[cl.ID] = account
	h.mu.Unlock()
	return nil
}

func (h *brokerHook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.bound[cl.ID]
	return ok
}

// OnACLCheck lets a device publish on its own up topic and read its own
// down topic, nothing else.
func (h *brokerHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	dev, up, ok := wire.TopicDevice(topic)
	return ok && dev == cl.ID && up == write
}

// OnDisconnect ends the device's session, unless a newer connection of
// the device has taken it over.
func (h *brokerHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	if cl.IsTakenOver() {
		return
	}
	h.in.drop(cl.ID, nil)
}

// tlsOf is the TLS connection under nc (MQTT over TLS, or a WebSocket
// over TLS).
func tlsOf(nc net.Conn) (*tls.Conn, bool) {
	for {
		if tc, ok := nc.(*tls.Conn); ok {
			return tc, true
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil, false
		}
		nc = u.NetConn()
	}
}

// wsListener accepts MQTT over WebSocket on ln at path: each upgraded
// WebSocket (subprotocol mqtt) is a connection of the broker.
type wsListener struct {
	ln    net.Listener
	srv   *http.Server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func listenWS(ln net.Listener, path string) *wsListener {
	l := &wsListener{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	up := &websocket.Upgrader{
		Subprotocols: []string{mqttio.Subprotocol}, ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{},
		CheckOrigin: func(*http.Request) bool { return true }, // devices, not browsers
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader answered
		}
		select {
		case l.conns <- mqttio.NewWSConn(ws):
		case <-l.done:
			ws.Close()
		}
	})
	l.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = l.srv.Serve(ln) }()
	return l
}

func (l *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *wsListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.srv.Close()
}

func (l *wsListener) Addr() net.Addr { return l.ln.Addr() }

// netListener serves the broker on a listener herd opened (a cell's).
type netListener struct {
	ln net.Listener
	id string
	b  *mqtt.Server
}

func (l *netListener) Init(*slog.Logger) error { return nil }
func (l *netListener) ID() string              { return l.id }
func (l *netListener) Address() string         { return l.ln.Addr().String() }
func (l *netListener) Protocol() string        { return "tcp" }

// Close closes the listener and disconnects its clients. It does not call
// mochi's own closing function (done): that one (v2.7.9) takes the client
// map's read lock twice, and deadlocks the broker's Close when a client
// disconnecting at that moment waits for the write lock between the two
// (seen in CI). GetAll takes it once.
func (l *netListener) Close(done listeners.CloseFn) {
	l.ln.Close()
	for _, cl := range l.b.Clients.GetAll() {
		if cl.Net.Listener == l.id && !cl.Closed() {
			_ = l.b.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

func (l *netListener) Serve(establish listeners.EstablishFn) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go func() { _ = establish(l.id, c) }()
	}
}

// ServeBroker drills through an external broker b until ctx ends: the
// ingest connects as user with password, subscribes to every device's up
// topic (a shared subscription, so that several cells can share the load,
// where the broker has them) and answers on the down topics. The broker
// authenticates the devices and keeps them to their topics; the ingest
// binds each device to the account provisioning gave it.
//
// A broker lost once the drill is under way is a broker dying mid-drill:
// the ingest says so on logw and connects again every second or so, and
// the devices come back through it as the broker does. A broker that
// cannot be reached, or refuses the ingest, at the start is an error.
//
// first is the ingest's first connection (Listen's, subscribed).
func (s *Server) ServeBroker(ctx context.Context, b wire.Broker, user, password string, first *brokerClient, logw io.Writer) error {
	var cur atomic.Pointer[brokerClient]
	in := newIngest(s)
	in.down = func(device string, msg []byte) error {
		c := cur.Load()
		if c == nil {
			return errors.New("no broker")
		}
		return c.publish(wire.DownTopic(device), msg)
	}
	in.shut = func(string, byte) {} // the broker's to do; the session ends here
	// One worker per slice of the devices: a device's messages in order,
	// different devices' side by side.
	const workers = 64
	queues := make([]chan *packets.Packet, workers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan *packets.Packet, 256)
		wg.Go(func() {
			for pk := range queues[i] {
				if dev, up, ok := wire.TopicDevice(pk.TopicName); ok && up {
					in.up(ctx, dev, "", pk.Payload)
				}
			}
		})
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { s.sessions.closeAll(wire.CloseGoingAway, "target shutting down") })
	defer stop()
	wait := time.Second
	for c := first; ; c = nil {
		up, err := s.brokerSession(ctx, b, user, password, c, &cur, queues)
		cur.Store(nil)
		if ctx.Err() != nil {
			return nil
		}
		if up {
			wait = time.Second
		}
		fmt.Fprintf(logw, "herd target: lost the broker %s (%v); connecting again in %v\n", b.Addr, err, wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// brokerSession is one connection of the ingest to broker b (c, or a new
// one when c is nil), until it ends (up: it was connected and subscribed)
// or ctx does.
func (s *Server) brokerSession(ctx context.Context, b wire.Broker, user, password string, c *brokerClient, cur *atomic.Pointer[brokerClient], queues []chan *packets.Packet) (up bool, err error) {
	if c == nil {
		if c, err = connectIngest(ctx, b, user, password); err != nil {
			return false, err
		}
	}
	nc := c.nc
	defer nc.Close()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(cctx, func() {
		if ctx.Err() != nil {
			_ = c.write(func(b *bytes.Buffer) error {
				pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5}
				return pk.DisconnectEncode(b)
			})
		}
		nc.Close()
	})
	defer stop()
	cur.Store(c)
	go c.pinger(cctx)
	for {
		pk, err := mqttio.ReadPacket(nc, 5)
		if err != nil {
			return true, err
		}
		switch pk.FixedHeader.Type {
		case packets.Publish:
			if pk.FixedHeader.Qos > 0 {
				_ = c.write(func(b *bytes.Buffer) error {
					ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: 5, PacketID: pk.PacketID}
					return ack.PubackEncode(b)
				})
			}
			dev, _, _ := wire.TopicDevice(pk.TopicName)
			h := fnv.New32a()
			h.Write([]byte(dev))
			queues[h.Sum32()%uint32(len(queues))] <- pk
		case packets.Disconnect:
			return true, fmt.Errorf("the broker disconnected the ingest (reason 0x%02X)", pk.ReasonCode)
		}
	}
}

// connectIngest connects the ingest to broker b and subscribes it to
// every device's up topic.
func connectIngest(ctx context.Context, b wire.Broker, user, password string) (*brokerClient, error) {
	nc, err := dialBroker(ctx, b)
	if err != nil {
		return nil, err
	}
	c := &brokerClient{nc: nc}
	cid := "herd-target-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := c.connect(cid, user, password); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// dialBroker opens the ingest's connection: MQTT over TCP, or over a
// WebSocket.
func dialBroker(ctx context.Context, b wire.Broker) (net.Conn, error) {
	if b.WS == "" {
		return (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", b.Addr)
	}
	wd := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Subprotocols: []string{mqttio.Subprotocol}}
	ws, resp, err := wd.DialContext(ctx, b.WS, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return mqttio.NewWSConn(ws), nil
}

// brokerClient is the ingest's connection to an external broker (MQTT 5).
type brokerClient struct {
	nc     net.Conn
	mu     sync.Mutex
	nextID uint16
}

func (c *brokerClient) write(enc func(*bytes.Buffer) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeWait))
	return mqttio.Write(c.nc, enc)
}

func (c *brokerClient) connect(id, user, password string) error {
	_ = c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.nc.SetDeadline(time.Time{})
	err := c.write(func(b *bytes.Buffer) error {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
			Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: id, Keepalive: 30, Clean: true,
				UsernameFlag: user != "", Username: []byte(user), PasswordFlag: password != "", Password: []byte(password)}}
		return pk.ConnectEncode(b)
	})
	if err != nil {
		return err
	}
	pk, err := mqttio.ReadPacket(c.nc, 5)
	if err != nil {
		return fmt.Errorf("no CONNACK: %w", err)
	}
	if pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0 {
		return fmt.Errorf("the broker refused the ingest's CONNECT (CONNACK 0x%02X): check --broker-user and --broker-password, and that the broker's ACL lets that user read every up topic and write every down topic", pk.ReasonCode)
	}
	filter := "$share/herd-target/" + wire.UpFilter
	err = c.write(func(b *bytes.Buffer) error {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 5, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: filter, Qos: 1}}}
		return pk.SubscribeEncode(b)
	})
	if err != nil {
		return err
	}
	if pk, err = mqttio.ReadPacket(c.nc, 5); err != nil {
		return fmt.Errorf("no SUBACK: %w", err)
	}
	if pk.FixedHeader.Type != packets.Suback || len(pk.ReasonCodes) != 1 || pk.ReasonCodes[0] >= 0x80 {
		return fmt.Errorf("the broker refused the ingest's subscription to %s (SUBACK %v): its ACL must let the ingest's user read %s", filter, pk.ReasonCodes, wire.UpFilter)
	}
	return nil
}

// publish sends b on topic, QoS 1 (its PUBACK is read and dropped).
func (c *brokerClient) publish(topic string, b []byte) error {
	return c.write(func(buf *bytes.Buffer) error {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5, TopicName: topic, PacketID: c.nextID, Payload: b}
		return pk.PublishEncode(buf)
	})
}

func (c *brokerClient) pinger(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = c.write(func(b *bytes.Buffer) error {
				pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}
				return pk.PingreqEncode(b)
			})
		}
	}
}

// brokerLog is the embedded broker's log: nothing, or with
// HERD_BROKER_LOG=1 its debug log on stderr.
func brokerLog() *slog.Logger {
	if os.Getenv("HERD_BROKER_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
