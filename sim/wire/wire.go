// Package wire holds the herd/1 messages and their codec, shared by the
// simulated fleet and the reference target.
//
// The contract itself is described in docs/PROTOCOL.md. This package knows
// the shapes and the rules of the wire (identifiers, close codes, frame
// size); it knows nothing of accounts' ownership or of faults.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Message types on the device channel.
const (
	TypeWelcome = "welcome"
	TypeEvent   = "event"
	TypeAck     = "ack"
	TypeNack    = "nack"
	TypeLive    = "live"
	TypeFrame   = "frame"
)

// WebSocket close codes used by herd/1.
const (
	CloseGoingAway     = 1001 // the target is shutting down
	CloseInvalidData   = 1007 // bad JSON, unknown type or bad base64
	CloseTooBig        = 1009 // a frame over MaxFrame
	CloseTryAgainLater = 1013 // the target sheds an open connection
)

// MaxFrame is the largest device frame a target accepts, in bytes.
const MaxFrame = 1 << 20

// Paths of the herd/1 HTTP and WebSocket endpoints.
const (
	PathFleet   = "/v1/fleet"
	PathConnect = "/v1/devices/connect"
)

// EventsPath is the Events-tab listing path of account.
func EventsPath(account string) string { return "/v1/accounts/" + account + "/events" }

// LivePath is the live-view path of device.
func LivePath(device string) string { return "/v1/devices/" + device + "/live" }

// ThumbPath is the thumbnail path of event id, with the id path-escaped the
// way the reference target writes thumb_url ("/" becomes "%2F").
func ThumbPath(id string) string {
	return "/v1/events/" + strings.ReplaceAll(id, "/", "%2F") + "/thumbnail"
}

// MaxIDLen is the longest identifier herd/1 allows.
const MaxIDLen = 64

// ValidID reports whether s is a herd/1 identifier: 1–64 characters from
// [A-Za-z0-9._:/-].
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == ':', c == '/', c == '-':
		default:
			return false
		}
	}
	return true
}

// Message is one device-channel frame. Which fields are set depends on Type;
// byte fields travel as standard padded base64.
type Message struct {
	Type         string `json:"type"`
	Device       string `json:"device,omitempty"`
	Account      string `json:"account,omitempty"`
	ID           string `json:"id,omitempty"`
	Seq          uint64 `json:"seq,omitempty"`
	At           int64  `json:"at,omitempty"`
	Kind         string `json:"kind,omitempty"`
	Thumb        []byte `json:"thumb,omitempty"`
	RetryAfterMs int64  `json:"retry_after_ms,omitempty"`
	Req          string `json:"req,omitempty"`
	Data         []byte `json:"data,omitempty"`
}

// DecodeError is a frame that breaks the contract. Code is the WebSocket
// close code the receiver answers with.
type DecodeError struct {
	Code   int
	Reason string
}

func (e *DecodeError) Error() string { return fmt.Sprintf("wire: %s (close %d)", e.Reason, e.Code) }

func invalid(format string, args ...any) *DecodeError {
	return &DecodeError{Code: CloseInvalidData, Reason: fmt.Sprintf(format, args...)}
}

// Decode parses one frame and checks it against the contract: known type,
// the fields that type needs, valid identifiers. The returned error, if any,
// is a *DecodeError carrying the close code to answer with.
func Decode(b []byte) (Message, error) {
	var m Message
	if len(b) > MaxFrame {
		return m, &DecodeError{Code: CloseTooBig, Reason: "frame of " + strconv.Itoa(len(b)) + " bytes is over 1 MiB"}
	}
	if decodeFlat(b, &m) {
		if err := m.Validate(); err != nil {
			return m, err
		}
		return m, nil
	}
	m = Message{}
	if err := json.Unmarshal(b, &m); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return m, invalid("not valid JSON at byte %d", se.Offset)
		}
		// Type mismatches and bad base64 land here.
		return m, invalid("%v", err)
	}
	if err := m.Validate(); err != nil {
		return m, err
	}
	return m, nil
}

// Validate checks that m has the fields its type needs.
func (m *Message) Validate() error {
	switch m.Type {
	case TypeWelcome:
		if !ValidID(m.Device) || !ValidID(m.Account) {
			return invalid("welcome needs a valid device and account")
		}
	case TypeEvent:
		if !ValidID(m.ID) {
			return invalid("event needs a valid id")
		}
		if m.Kind == "" {
			return invalid("event %q needs a kind", m.ID)
		}
	case TypeAck:
		if !ValidID(m.ID) {
			return invalid("ack needs a valid id")
		}
	case TypeNack:
		if !ValidID(m.ID) {
			return invalid("nack needs a valid id")
		}
		if m.RetryAfterMs < 0 {
			return invalid("nack %q has a negative retry_after_ms", m.ID)
		}
	case TypeLive:
		if !ValidID(m.Req) {
			return invalid("live needs a valid req")
		}
	case TypeFrame:
		if !ValidID(m.Req) {
			return invalid("frame needs a valid req")
		}
	case TypeHello:
		if !ValidID(m.Device) {
			return invalid("hello needs a valid device")
		}
	case "":
		return invalid("frame has no type")
	default:
		return invalid("unknown type %q", m.Type)
	}
	return nil
}

// Encode returns the JSON form of m.
func Encode(m *Message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		// Message has only strings, integers and byte slices: Marshal cannot fail.
		panic(err)
	}
	return b
}
