package wire

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// TypeHello is the device's first message over MQTT: the target answers it
// with a welcome on the device's down topic.
const TypeHello = "hello"

// Topics of herd/1 over MQTT: a device publishes to its up topic and
// subscribes to its down topic, both QoS 1.
const (
	TopicPrefix = "herd/v1/d/"
	UpSuffix    = "/up"
	DownSuffix  = "/down"
	// UpFilter is every device's up topic, for a target's ingest.
	UpFilter = TopicPrefix + "+" + UpSuffix
)

// UpTopic is device's up topic.
func UpTopic(device string) string { return TopicPrefix + device + UpSuffix }

// DownTopic is device's down topic.
func DownTopic(device string) string { return TopicPrefix + device + DownSuffix }

// TopicDevice is the device of an up or down topic, and which it is.
func TopicDevice(topic string) (device string, up, ok bool) {
	rest, ok := strings.CutPrefix(topic, TopicPrefix)
	if !ok {
		return "", false, false
	}
	if d, ok := strings.CutSuffix(rest, UpSuffix); ok && ValidID(d) && !strings.Contains(d, "/") {
		return d, true, true
	}
	if d, ok := strings.CutSuffix(rest, DownSuffix); ok && ValidID(d) && !strings.Contains(d, "/") {
		return d, false, true
	}
	return "", false, false
}

// MQTT reason codes herd/1 over MQTT gives a meaning (MQTT 5; 3.1.1's
// CONNACK return codes in the comments).
const (
	ReasonBadCredentials   = 0x86 // 3.1.1: 4
	ReasonNotAuthorized    = 0x87 // 3.1.1: 5
	ReasonUnavailable      = 0x88 // 3.1.1: 3
	ReasonServerBusy       = 0x89
	ReasonShuttingDown     = 0x8B
	ReasonSessionTakenOver = 0x8E
	ReasonQuotaExceeded    = 0x97
	ReasonRateExceeded     = 0x9F
)

// Broker is where a broker listens, from its URL.
type Broker struct {
	Addr string // host:port
	TLS  bool   // mqtts:// or wss://
	// WS is the URL of MQTT over WebSocket (ws:// or wss://), "" for
	// MQTT over TCP.
	WS string
}

// BrokerAddr checks a broker URL and returns its host:port.
func BrokerAddr(raw string) (string, error) {
	b, err := ParseBroker(raw)
	return b.Addr, err
}

// DefaultWSPath is the path of MQTT over WebSocket when a ws:// URL has
// none (EMQX's, HiveMQ's and most brokers' default).
const DefaultWSPath = "/mqtt"

// ParseBroker checks a broker URL: mqtt://HOST[:PORT] (port 1883 by
// default), mqtts:// over TLS (8883), or MQTT over WebSocket at
// ws://HOST[:PORT][/PATH] (80, path /mqtt) and wss:// (443).
func ParseBroker(raw string) (Broker, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return Broker{}, fmt.Errorf("broker %q is not a URL such as mqtt://127.0.0.1:1883 or ws://127.0.0.1:8080/mqtt", raw)
	}
	var b Broker
	port := "1883"
	switch u.Scheme {
	case "mqtt", "tcp":
	case "mqtts", "ssl":
		b.TLS, port = true, "8883"
	case "ws":
		port = "80"
	case "wss":
		b.TLS, port = true, "443"
	default:
		return Broker{}, fmt.Errorf("broker %q: want mqtt://, mqtts://, ws:// or wss://HOST:PORT", raw)
	}
	b.Addr = u.Host
	if u.Port() == "" {
		b.Addr = net.JoinHostPort(u.Hostname(), port)
	}
	switch {
	case u.Scheme == "ws" || u.Scheme == "wss":
		ws := *u
		ws.Host = b.Addr
		if ws.Path == "" {
			ws.Path = DefaultWSPath
		}
		b.WS = ws.String()
	case u.Path != "" && u.Path != "/":
		return Broker{}, fmt.Errorf("broker %q: an MQTT URL has no path (MQTT over WebSocket is ws://HOST:PORT/PATH)", raw)
	}
	return b, nil
}
