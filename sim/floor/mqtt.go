package floor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/sync/semaphore"

	"github.com/herd-drill/herd/internal/mqttio"
	"github.com/herd-drill/herd/sim/wire"
)

// attemptMQTT is one try of a bare MQTT client on mochi-mqtt's codec:
// CONNECT (no keep-alive: the bare minimum holds the connection without
// pinging), SUBSCRIBE to the down topic, hello and its welcome, one QoS 1
// event and the target's ack; it releases sem once welcomed or refused.
// A CONNACK refusal is retried after its retry-after-ms.
func attemptMQTT(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), addr string, version byte,
	device, token string, sem *semaphore.Weighted, connected *atomic.Int64) (io.Closer, bool, time.Duration) {
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		sem.Release(1)
		return nil, false, 0
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &bare{nc: nc, version: version, up: wire.UpTopic(device), down: wire.DownTopic(device)}
	wait, err := c.welcome(device, token)
	sem.Release(1)
	if err != nil {
		nc.Close()
		return nil, false, wait
	}
	id := device + "/1"
	ev := `{"type":"event","id":"` + id + `","seq":1,"at":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `,"kind":"motion","thumb":"aGVyZA=="}`
	if c.publish(2, []byte(ev)) != nil {
		nc.Close()
		return nil, false, 0
	}
	if msg, err := c.message(); err != nil || !bytes.Contains(msg, []byte(`"ack"`)) {
		nc.Close()
		return nil, false, 0
	}
	_ = nc.SetDeadline(time.Time{})
	connected.Add(1)
	go mqttio.Discard(nc, new([1]byte))
	return nc, true, 0
}

// bare is a bare client's connection while it shakes hands.
type bare struct {
	nc       net.Conn
	version  byte
	up, down string
}

var errRefused = errors.New("refused")

// welcome is CONNECT to welcome; a refused CONNACK gives its retry-after.
func (c *bare) welcome(device, token string) (time.Duration, error) {
	err := mqttio.Write(c.nc, func(b *bytes.Buffer) error {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: c.version}
		pk.Connect = packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: device, Clean: true,
			UsernameFlag: true, Username: []byte(device), PasswordFlag: true, Password: []byte(token)}
		return pk.ConnectEncode(b)
	})
	if err != nil {
		return 0, err
	}
	pk, err := mqttio.ReadPacket(c.nc, c.version)
	if err != nil {
		return 0, err
	}
	if pk.FixedHeader.Type != packets.Connack || pk.ReasonCode != 0 {
		for _, p := range pk.Properties.User {
			if ms, e := strconv.Atoi(p.Val); p.Key == "retry-after-ms" && e == nil {
				return time.Duration(ms) * time.Millisecond, errRefused
			}
		}
		return 0, errRefused
	}
	err = mqttio.Write(c.nc, func(b *bytes.Buffer) error {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: c.version, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: c.down, Qos: 1}}}
		return pk.SubscribeEncode(b)
	})
	if err != nil {
		return 0, err
	}
	if pk, err = mqttio.ReadPacket(c.nc, c.version); err != nil || pk.FixedHeader.Type != packets.Suback {
		return 0, errRefused
	}
	if err := c.publish(1, wire.Encode(&wire.Message{Type: wire.TypeHello, Device: device})); err != nil {
		return 0, err
	}
	_, err = c.message()
	return 0, err
}

// publish sends msg on the up topic, QoS 1.
func (c *bare) publish(id uint16, msg []byte) error {
	return mqttio.Write(c.nc, func(b *bytes.Buffer) error {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: c.version, TopicName: c.up, PacketID: id, Payload: msg}
		return pk.PublishEncode(b)
	})
}

// message reads up to the next message on the down topic, PUBACKing it.
func (c *bare) message() ([]byte, error) {
	for {
		pk, err := mqttio.ReadPacket(c.nc, c.version)
		if err != nil {
			return nil, err
		}
		switch pk.FixedHeader.Type {
		case packets.Publish:
			if pk.FixedHeader.Qos > 0 {
				err = mqttio.Write(c.nc, func(b *bytes.Buffer) error {
					ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: c.version, PacketID: pk.PacketID}
					return ack.PubackEncode(b)
				})
			}
			return pk.Payload, err
		case packets.Disconnect:
			return nil, errRefused
		}
	}
}
