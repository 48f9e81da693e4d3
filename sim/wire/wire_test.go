package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"cam-00000117", true},
		{"cam-00000117/17", true},
		{"a.b_c:d/e-F9", true},
		{strings.Repeat("x", MaxIDLen), true},
		{strings.Repeat("x", MaxIDLen+1), false},
		{"", false},
		{"has space", false},
		{"ümlaut", false},
		{"quote\"", false},
		{"new\nline", false},
	}
	for _, tc := range tests {
		if got := ValidID(tc.in); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestPaths(t *testing.T) {
	tests := []struct{ got, want string }{
		{EventsPath("acct-0000042"), "/v1/accounts/acct-0000042/events"},
		{LivePath("cam-00000117"), "/v1/devices/cam-00000117/live"},
		{ThumbPath("cam-00000117/17"), "/v1/events/cam-00000117%2F17/thumbnail"},
		{ThumbPath("a/b/c"), "/v1/events/a%2Fb%2Fc/thumbnail"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     Message
		wantCode int // 0: no error
	}{
		{name: "welcome", in: `{"type":"welcome","device":"cam-1","account":"acct-1"}`, want: Message{Type: TypeWelcome, Device: "cam-1", Account: "acct-1"}},
		{name: "event", in: `{"type":"event","id":"cam-1/17","seq":17,"at":1764412800123,"kind":"motion","thumb":"AAEC/w=="}`,
			want: Message{Type: TypeEvent, ID: "cam-1/17", Seq: 17, At: 1764412800123, Kind: "motion", Thumb: []byte{0, 1, 2, 255}}},
		{name: "ack", in: `{"type":"ack","id":"cam-1/17"}`, want: Message{Type: TypeAck, ID: "cam-1/17"}},
		{name: "nack", in: `{"type":"nack","id":"x","retry_after_ms":2000}`, want: Message{Type: TypeNack, ID: "x", RetryAfterMs: 2000}},
		{name: "live", in: `{"type":"live","req":"r1"}`, want: Message{Type: TypeLive, Req: "r1"}},
		{name: "frame", in: `{"type":"frame","req":"r1","data":"aGk="}`, want: Message{Type: TypeFrame, Req: "r1", Data: []byte("hi")}},
		{name: "unknown fields are ignored", in: `{"type":"ack","id":"x","extra":[1,2]}`, want: Message{Type: TypeAck, ID: "x"}},
		{name: "not JSON", in: `{"type":`, wantCode: CloseInvalidData},
		{name: "not an object", in: `"ack"`, wantCode: CloseInvalidData},
		{name: "empty", in: ``, wantCode: CloseInvalidData},
		{name: "unknown type", in: `{"type":"selfie"}`, wantCode: CloseInvalidData},
		{name: "no type", in: `{"id":"x"}`, wantCode: CloseInvalidData},
		{name: "bad base64", in: `{"type":"event","id":"x","kind":"k","thumb":"!!"}`, wantCode: CloseInvalidData},
		{name: "unpadded base64", in: `{"type":"frame","req":"r","data":"aGk"}`, wantCode: CloseInvalidData},
		{name: "wrong field type", in: `{"type":"event","id":"x","kind":"k","seq":"17"}`, wantCode: CloseInvalidData},
		{name: "event without kind", in: `{"type":"event","id":"x"}`, wantCode: CloseInvalidData},
		{name: "event with bad id", in: `{"type":"event","id":"a b","kind":"k"}`, wantCode: CloseInvalidData},
		{name: "welcome without account", in: `{"type":"welcome","device":"d"}`, wantCode: CloseInvalidData},
		{name: "negative retry", in: `{"type":"nack","id":"x","retry_after_ms":-1}`, wantCode: CloseInvalidData},
		{name: "live without req", in: `{"type":"live"}`, wantCode: CloseInvalidData},
		{name: "frame without req", in: `{"type":"frame","data":"aGk="}`, wantCode: CloseInvalidData},
		{name: "over 1 MiB", in: `{"type":"frame","req":"r","data":"` + strings.Repeat("A", MaxFrame) + `"}`, wantCode: CloseTooBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.in))
			if tc.wantCode != 0 {
				var de *DecodeError
				if !errors.As(err, &de) || de.Code != tc.wantCode {
					t.Fatalf("Decode error = %v, want a *DecodeError with code %d", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !equalMsg(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeFrameOfExactlyMaxFrame(t *testing.T) {
	head, tail := `{"type":"ack","id":"x","pad":"`, `"}`
	b := []byte(head + strings.Repeat("p", MaxFrame-len(head)-len(tail)) + tail)
	if len(b) != MaxFrame {
		t.Fatalf("built %d bytes", len(b))
	}
	if _, err := Decode(b); err != nil {
		t.Errorf("a frame of exactly MaxFrame bytes: %v", err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	msgs := []Message{
		{Type: TypeWelcome, Device: "d", Account: "a"},
		{Type: TypeEvent, ID: "d/1", Seq: 1, At: 5, Kind: "motion", Thumb: []byte{0, 0xff, '\n'}},
		{Type: TypeNack, ID: "d/1", RetryAfterMs: 2000},
		{Type: TypeFrame, Req: "r", Data: bytes.Repeat([]byte{7}, 1000)},
	}
	for _, m := range msgs {
		b := Encode(&m)
		got, err := Decode(b)
		if err != nil || !equalMsg(got, m) {
			t.Errorf("Decode(Encode(%+v)) = %+v, %v", m, got, err)
		}
	}
	// Zero fields are left out, so a welcome carries no event fields.
	if got := string(Encode(&Message{Type: TypeAck, ID: "x"})); got != `{"type":"ack","id":"x"}` {
		t.Errorf("Encode(ack) = %s", got)
	}
}

func equalMsg(a, b Message) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Equal(ab, bb)
}

// FuzzDecode: Decode never panics, fails only with a *DecodeError carrying
// a herd/1 close code, and what it accepts survives Encode and Decode.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"welcome","device":"cam-1","account":"acct-1"}`,
		`{"type":"event","id":"cam-1/17","seq":17,"at":1764412800123,"kind":"motion","thumb":"AAEC/w=="}`,
		`{"type":"nack","id":"x","retry_after_ms":2000}`,
		`{"type":"frame","req":"r1","data":"aGk="}`,
		`{"type":"live","req":"r1"}`,
		`{"type":"event","id":"x","kind":"k","thumb":"!!"}`,
		`{"type":`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || (de.Code != CloseInvalidData && de.Code != CloseTooBig) {
				t.Fatalf("Decode error %v is not a *DecodeError with a herd/1 close code", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Decode accepted a message Validate rejects: %v", err)
		}
		again, err := Decode(Encode(&m))
		if err != nil || !equalMsg(again, m) {
			t.Fatalf("round trip of %+v: %+v, %v", m, again, err)
		}
	})
}

func TestBrokerAddr(t *testing.T) {
	for in, want := range map[string]string{"mqtt://127.0.0.1:1883": "127.0.0.1:1883", "mqtt://localhost": "localhost:1883", "tcp://[::1]:9": "[::1]:9", "mqtts://b.example": "b.example:8883", "ws://x/mqtt": "x:80", "wss://x:9/p": "x:9"} {
		if got, err := BrokerAddr(in); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:1883", "http://x:1", "mqtt://x/path", "mqtt://", "ws://x/mqtt?a=1"} {
		if _, err := BrokerAddr(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	for in, want := range map[string]Broker{"ws://x": {Addr: "x:80", WS: "ws://x:80/mqtt"}, "wss://x:9/ws": {Addr: "x:9", TLS: true, WS: "wss://x:9/ws"}, "mqtts://x": {Addr: "x:8883", TLS: true}} {
		if got, err := ParseBroker(in); err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
}
