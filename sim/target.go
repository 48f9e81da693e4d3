package sim

import (
	"errors"
	"fmt"
	"strings"

	"github.com/herd-drill/herd/sim/link"
	"github.com/herd-drill/herd/sim/wire"
)

// TargetFlags are herd run's flags that say what the target is and how
// the cameras reach it.
type TargetFlags struct {
	Transport, Brokers, MQTTVersion, AdminToken string
	// Embedded is a drill of the built-in target (no --target); Builtin
	// says that flags of the built-in target's were given.
	Embedded, Builtin bool
	Provision, Keyed  bool // --provision, --key-file
	TLS               link.TLS
}

// TargetOf is a drill's target as f asks, or why f does not go together.
func TargetOf(f TargetFlags) (Target, error) {
	t := Target{AdminToken: f.AdminToken, TLS: f.TLS}
	transport := f.Transport
	switch {
	case f.Embedded:
	case f.Builtin:
		return t, errors.New("--target-fault and --target-max-connect-rate/--target-connect-burst apply to the built-in target only; drop --target or them")
	case f.AdminToken == "" && f.Provision:
		return t, errors.New("--target needs --admin-token (or HERD_ADMIN_TOKEN) to provision the fleet, or --provision=false for a fleet provisioned from 'herd fleet export'")
	case !f.Provision && !f.Keyed:
		return t, errors.New("--provision=false needs --key-file: the backend holds the fleet 'herd fleet export --key-file' wrote, whose names and tokens derive from that key")
	}
	if transport == "" && f.Brokers != "" {
		transport = "mqtt"
	}
	switch transport {
	case "", "ws":
		if f.Brokers != "" {
			return t, errors.New("--broker goes with --transport mqtt")
		}
		return t, nil
	case "mqtt":
	default:
		return t, fmt.Errorf("--transport %q: want ws or mqtt", transport)
	}
	switch f.MQTTVersion {
	case "5", "5.0":
		t.MQTT.Version = 5
	case "3.1.1", "4":
		t.MQTT.Version = 4
	default:
		return t, fmt.Errorf("--mqtt-version %q: want 5 or 3.1.1", f.MQTTVersion)
	}
	if f.Brokers == "" {
		if !f.Embedded {
			return t, errors.New("--transport mqtt with --target needs --broker mqtt://HOST:PORT: where the target's devices connect")
		}
		return t, nil // the built-in target's embedded broker
	}
	if f.Embedded {
		return t, errors.New("--broker needs --target: the app channel of the target behind that broker")
	}
	for _, b := range strings.Split(f.Brokers, ",") {
		b = strings.TrimSpace(b)
		if _, err := wire.BrokerAddr(b); err != nil {
			return t, fmt.Errorf("--broker: %w", err)
		}
		t.Brokers = append(t.Brokers, b)
	}
	return t, nil
}
