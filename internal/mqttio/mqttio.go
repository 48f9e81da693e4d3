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

// ReadRaw reads one packet's fixed header byte and body (a pooled buffer).
//
// A camera's reader parks in here for most of its connection's life, so
// the frames it parks in are kept small: the runtime starts goroutines on
// a stack the size of the average one it scans, and a reader whose parked
// frames pass about 1.1 KB would put every later one on 4 KB instead of
// 2 KB. The fixed header is read by a shallow loop into scratch, the
// caller's, so that a read allocates nothing (an allocation can go deep
// enough to grow the stack); the body, read once the packet has started
// arriving, and the errors are in functions of their own, absent from the
// parked stack.
func ReadRaw(r io.Reader, scratch *[1]byte) (body *bytes.Buffer, hdr byte, err error) {
	n := 0
	if hdr, n, err = readFixed(r, scratch); err != nil {
		return nil, 0, err
	}
	return readBody(r, hdr, n)
}

// readFixed reads the fixed header: its first byte and the remaining
// length.
func readFixed(r io.Reader, b *[1]byte) (hdr byte, n int, err error) {
	for i, mult := -1, 1; ; i++ {
		for {
			k, err := r.Read(b[:])
			if k == 1 {
				break
			}
			if err != nil {
				return 0, 0, err
			}
		}
		if i < 0 {
			hdr = b[0]
			continue
		}
		n += int(b[0]&0x7f) * mult
		if b[0]&0x80 == 0 {
			return hdr, n, nil
		}
		if mult *= 128; i == 3 {
			return 0, 0, lengthError(-1)
		}
	}
}

// readBody reads a body of n bytes into a pooled buffer.
//
//go:noinline
func readBody(r io.Reader, hdr byte, n int) (*bytes.Buffer, byte, error) {
	if n > MaxPacket {
		return nil, 0, lengthError(n)
	}
	body := Bufs.Get().(*bytes.Buffer)
	body.Reset()
	body.Grow(n)
	p := body.AvailableBuffer()[:n]
	if _, err := io.ReadFull(r, p); err != nil {
		Bufs.Put(body)
		return nil, 0, err
	}
	body.Write(p) // p is the buffer's own room: this only sets its length
	return body, hdr, nil
}

// Discard reads packets off r and drops them until a read fails, which it
// returns: a bare client's only reader. Give it scratch made on another
// goroutine (go Discard(nc, new([1]byte))), for ReadRaw's sake.
func Discard(r io.Reader, scratch *[1]byte) error {
	for {
		body, _, err := ReadRaw(r, scratch)
		if err != nil {
			return err
		}
		Bufs.Put(body)
	}
}

// lengthError is a remaining length over 4 bytes (n < 0) or over
// MaxPacket.
//
//go:noinline
func lengthError(n int) error {
	if n < 0 {
		return &PacketError{errors.New("remaining length over 4 bytes")}
	}
	return &PacketError{fmt.Errorf("a %d-byte packet, over the %d a camera reads", n, MaxPacket)}
}

// ReadPacket reads and decodes one packet. The packet is on the heap: a
// packet is some 800 bytes, and a dialing goroutine that held it on its
// stack while it waits for the broker would grow its stack (see ReadRaw).
func ReadPacket(r io.Reader, version byte) (*packets.Packet, error) {
	body, hdr, err := ReadRaw(r, new([1]byte))
	if err != nil {
		return nil, err
	}
	// The codec's strings and slices point into the bytes it decodes
	// (topic, payload, reason codes, properties): a packet that outlives
	// the call gets bytes of its own, and the pooled buffer goes back.
	own := bytes.Clone(body.Bytes())
	Bufs.Put(body)
	pk := &packets.Packet{ProtocolVersion: version}
	return pk, Decode(pk, hdr, own)
}

// Decode decodes a packet a broker sends a client into pk, whose
// ProtocolVersion is set. The packet's strings and slices share body's
// memory: they are valid while body is.
func Decode(pk *packets.Packet, hdr byte, body []byte) error {
	if err := pk.FixedHeader.Decode(hdr); err != nil {
		return &PacketError{err}
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
		return &PacketError{err}
	}
	return nil
}
