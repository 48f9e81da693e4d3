package mqtt

import (
	"errors"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/herd-drill/herd/sim/link"
)

// A broker's refusals in herd's classes: credentials as a 401, shedding
// as a 503 with its retry-after-ms, in MQTT 5 and 3.1.1 alike; and an open
// session shed or ended by the broker.
func TestBrokerRefusalsHaveHerdsClasses(t *testing.T) {
	for _, tc := range []struct {
		version, code byte
		props         packets.Properties
		class         string
		retry         time.Duration
	}{
		{5, 0x86, packets.Properties{}, link.ErrHTTP401, 0},
		{5, 0x87, packets.Properties{}, link.ErrHTTP401, 0},
		{4, 4, packets.Properties{}, link.ErrHTTP401, 0},
		{4, 5, packets.Properties{}, link.ErrHTTP401, 0},
		{5, 0x9F, packets.Properties{User: []packets.UserProperty{{Key: "retry-after-ms", Val: "1500"}}}, link.ErrHTTP503, 1500 * time.Millisecond},
		{5, 0x89, packets.Properties{}, link.ErrHTTP503, 0},
		{5, 0x88, packets.Properties{}, link.ErrHTTP503, 0},
		{4, 3, packets.Properties{}, link.ErrHTTP503, 0},
		{4, 0x9F, packets.Properties{}, link.ErrHTTP503, 0}, // a 5 code to a 3.1.1 client, as some brokers send
		{5, 0x84, packets.Properties{}, link.ErrHTTPOther, 0},
	} {
		err := connackFailure(packets.Packet{ProtocolVersion: tc.version, ReasonCode: tc.code, Properties: tc.props})
		var f *link.Failure
		if !errors.As(err, &f) || f.Class != tc.class || f.RetryAfter != tc.retry {
			t.Errorf("v%d CONNACK 0x%02X: %v (retry %v), want %s retry %v", tc.version, tc.code, err, f.RetryAfter, tc.class, tc.retry)
		}
	}
	for code, class := range map[byte]string{0x89: link.ErrClose1013, 0x97: link.ErrClose1013, 0x8B: link.ErrClose1001, 0x8E: link.ErrCloseOther, 0x00: link.ErrCloseOther} {
		if f := disconnectFailure(code, 5); f.Class != class {
			t.Errorf("DISCONNECT 0x%02X: %s, want %s", code, f.Class, class)
		}
	}
}
