// Package mqttio reads MQTT packets off a connection with the codec of
// mochi-mqtt (packets), for herd's MQTT cameras and the reference target's
// broker client: no buffer is held between packets.
package mqttio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Bufs pools the buffers packets are read into and encoded in.
var Bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Write encodes one packet with enc into a pooled buffer and writes it.
func Write(w io.Writer, enc func(*bytes.Buffer) error) error {
	b := Bufs.Get().(*bytes.Buffer)
	defer Bufs.Put(b)
	b.Reset()
	if err := enc(b); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// packetError is a packet that breaks MQTT.
type PacketError struct{ err error }

func (e *PacketError) Error() string { return "malformed MQTT packet: " + e.err.Error() }
func (e *PacketError) Unwrap() error { return e.err }

// MaxPacket is the largest packet a camera reads.
const MaxPacket = 1<<20 + 1024 // herd/1's largest frame, and the packet around it

// readRaw reads one packet's fixed header byte and body (a pooled buffer).
func ReadRaw(r io.Reader) (body *bytes.Buffer, hdr byte, err error) {
	var one [1]byte
	if _, err := io.ReadFull(r, one[:]); err != nil {
		return nil, 0, err
	}
	hdr = one[0]
	n, mult := 0, 1
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, one[:]); err != nil {
			return nil, 0, err
		}
		n += int(one[0]&0x7f) * mult
		if one[0]&0x80 == 0 {
			break
		}
		if mult *= 128; i == 3 {
			return nil, 0, &PacketError{errors.New("remaining length over 4 bytes")}
		}
	}
	if n > MaxPacket {
		return nil, 0, &PacketError{fmt.Errorf("a %d-byte packet, over the %d a camera reads", n, MaxPacket)}
	}
	body = Bufs.Get().(*bytes.Buffer)
	body.Reset()
	body.Grow(n)
	// io.ReadFull straight into the buffer's room, not io.CopyN: a camera's
	// reader parks in this call, and CopyN's five frames more (Copy,
	// ReadFrom, a LimitedReader) grow its stack past the runtime's 2 KB
	// for the rest of the connection's life.
	p := body.AvailableBuffer()[:n]
	if _, err := io.ReadFull(r, p); err != nil {
		Bufs.Put(body)
		return nil, 0, err
	}
	body.Write(p) // p is the buffer's own room: this only sets its length
	return body, hdr, nil
}

// readPacket reads and decodes one packet.
func ReadPacket(r io.Reader, version byte) (packets.Packet, error) {
	body, hdr, err := ReadRaw(r)
	if err != nil {
		return packets.Packet{}, err
	}
	// The codec's strings and slices point into the bytes it decodes
	// (topic, payload, reason codes, properties): a packet that outlives
	// the call gets bytes of its own, and the pooled buffer goes back.
	own := bytes.Clone(body.Bytes())
	Bufs.Put(body)
	return Decode(hdr, own, version)
}

// Decode decodes a packet a broker sends a client. The packet's strings
// and slices share body's memory: they are valid while body is.
func Decode(hdr byte, body []byte, version byte) (packets.Packet, error) {
	pk := packets.Packet{ProtocolVersion: version}
	if err := pk.FixedHeader.Decode(hdr); err != nil {
		return pk, &PacketError{err}
	}
	pk.FixedHeader.Remaining = len(body)
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pingresp:
	case packets.Disconnect:
		if len(body) > 0 {
			err = pk.DisconnectDecode(body)
		}
	default:
		err = fmt.Errorf("a broker does not send packet type %d to a client", pk.FixedHeader.Type)
	}
	if err != nil {
		return pk, &PacketError{err}
	}
	return pk, nil
}
