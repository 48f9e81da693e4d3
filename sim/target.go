package sim

import (
	"errors"
	"fmt"
	"strings"

	"github.com/herd-drill/herd/sim/wire"
)

// TargetOf is a drill's target as herd run's --transport, --broker,
// --mqtt-version and --admin-token ask (embedded: no --target).
func TargetOf(transport, brokers, mqttVersion, adminToken string, embedded bool) (Target, error) {
	t := Target{AdminToken: adminToken}
	if transport == "" && brokers != "" {
		transport = "mqtt"
	}
	switch transport {
	case "", "ws":
		if brokers != "" {
			return t, errors.New("--broker goes with --transport mqtt")
		}
		return t, nil
	case "mqtt":
	default:
		return t, fmt.Errorf("--transport %q: want ws or mqtt", transport)
	}
	switch mqttVersion {
	case "5", "5.0":
		t.MQTT.Version = 5
	case "3.1.1", "4":
		t.MQTT.Version = 4
	default:
		return t, fmt.Errorf("--mqtt-version %q: want 5 or 3.1.1", mqttVersion)
	}
	if brokers == "" {
		if !embedded {
			return t, errors.New("--transport mqtt with --target needs --broker mqtt://HOST:PORT: where the target's devices connect")
		}
		return t, nil // the built-in target's embedded broker
	}
	if embedded {
		return t, errors.New("--broker needs --target: the app channel of the target behind that broker")
	}
	for _, b := range strings.Split(brokers, ",") {
		b = strings.TrimSpace(b)
		if _, err := wire.BrokerAddr(b); err != nil {
			return t, fmt.Errorf("--broker: %w", err)
		}
		t.Brokers = append(t.Brokers, b)
	}
	return t, nil
}
