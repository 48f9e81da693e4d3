package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/herd-drill/herd/sim"
	"github.com/herd-drill/herd/sim/cloud"
	"github.com/herd-drill/herd/sim/mqtt"
)

// mqttTarget is herd target's device channel on a broker: embedded
// (--mqtt-listen) or external (--broker).
type mqttTarget struct {
	listen_, broker, user, password string
}

func (m *mqttTarget) check(cells int) error {
	switch {
	case m.listen_ != "" && m.broker != "":
		return errors.New("give --mqtt-listen (the embedded broker) or --broker (an external one), not both")
	case m.broker != "":
		_, err := mqtt.ParseBroker(m.broker)
		return err
	case m.listen_ != "" && cells > 1:
		if _, port, err := net.SplitHostPort(m.listen_); err != nil || port != "0" {
			return fmt.Errorf("--mqtt-listen %s with --cells %d: give port 0, so that each cell's broker takes a free port", m.listen_, cells)
		}
	}
	return nil
}

// listen opens the embedded broker's listener, if asked for.
func (m *mqttTarget) listen() (net.Listener, string, error) {
	if m.listen_ == "" {
		return nil, m.broker, nil
	}
	ln, err := net.Listen("tcp", m.listen_)
	if err != nil {
		return nil, "", fmt.Errorf("--mqtt-listen: %w", err)
	}
	return ln, "mqtt://" + ln.Addr().String(), nil
}

func (m *mqttTarget) describe(broker string) string {
	if broker == "" {
		return ""
	}
	return " mqtt=" + broker
}

// serve serves srv's HTTP on ln and its device channel on the broker, until
// ctx ends or one of them fails.
func (m *mqttTarget) serve(ctx context.Context, srv *cloud.Server, ln, mln net.Listener) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, ln) })
	switch {
	case mln != nil:
		g.Go(func() error { return srv.ServeMQTT(gctx, mln) })
	case m.broker != "":
		addr, _ := mqtt.ParseBroker(m.broker)
		g.Go(func() error { return srv.ServeBroker(gctx, addr, m.user, m.password) })
	}
	return g.Wait()
}

// transportOf is the drill's target as --transport, --broker and
// --mqtt-version ask.
func transportOf(fl *runFlags, embedded bool) (sim.Target, error) {
	t := sim.Target{AdminToken: fl.adminToken}
	if fl.transport == "" && fl.brokers != "" {
		fl.transport = "mqtt"
	}
	switch fl.transport {
	case "", "ws":
		if fl.brokers != "" {
			return t, errors.New("--broker goes with --transport mqtt")
		}
		return t, nil
	case "mqtt":
	default:
		return t, fmt.Errorf("--transport %q: want ws or mqtt", fl.transport)
	}
	switch fl.mqttVersion {
	case "5", "5.0":
		t.MQTT.Version = 5
	case "3.1.1", "4":
		t.MQTT.Version = 4
	default:
		return t, fmt.Errorf("--mqtt-version %q: want 5 or 3.1.1", fl.mqttVersion)
	}
	if fl.brokers == "" {
		if !embedded {
			return t, errors.New("--transport mqtt with --target needs --broker mqtt://HOST:PORT: where the target's devices connect")
		}
		return t, nil // the built-in target's embedded broker
	}
	if embedded {
		return t, errors.New("--broker needs --target: the app channel of the target behind that broker")
	}
	for _, b := range strings.Split(fl.brokers, ",") {
		b = strings.TrimSpace(b)
		if _, err := mqtt.ParseBroker(b); err != nil {
			return t, fmt.Errorf("--broker: %w", err)
		}
		t.Brokers = append(t.Brokers, b)
	}
	return t, nil
}
