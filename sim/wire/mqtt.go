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

// BrokerAddr checks a broker URL (mqtt://HOST[:PORT], port 1883 by
// default, or mqtts:// over TLS, port 8883) and returns its host:port.
func BrokerAddr(raw string) (string, error) {
	addr, _, err := ParseBroker(raw)
	return addr, err
}

// ParseBroker checks a broker URL and returns its host:port and whether
// it is over TLS.
func ParseBroker(raw string) (addr string, overTLS bool, err error) {
	u, err := url.Parse(raw)
	if err == nil && (u.Scheme == "ws" || u.Scheme == "wss") {
		return "", false, fmt.Errorf("broker %s: MQTT over WebSocket is not supported yet; use mqtt:// or mqtts://", raw)
	}
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", false, fmt.Errorf("broker %q is not a URL such as mqtt://127.0.0.1:1883", raw)
	}
	port := "1883"
	switch u.Scheme {
	case "mqtt", "tcp":
	case "mqtts", "ssl":
		overTLS, port = true, "8883"
	case "ws", "wss":
		return "", false, fmt.Errorf("broker %s: MQTT over WebSocket is not supported yet; use mqtt:// or mqtts://", raw)
	default:
		return "", false, fmt.Errorf("broker %q: want mqtt://HOST:PORT or mqtts://HOST:PORT", raw)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), port), overTLS, nil
	}
	return u.Host, overTLS, nil
}
