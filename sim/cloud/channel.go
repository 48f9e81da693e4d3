package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"

	"golang.org/x/sync/errgroup"

	"github.com/herd-drill/herd/sim/wire"
)

// DeviceChannel is where a reference target's devices connect besides its
// WebSocket: an embedded MQTT broker (MQTTListen) or an external one
// (Broker, with the ingest's User and Password). herd target's flags.
type DeviceChannel struct {
	MQTTListen, Broker, User, Password string
}

// Check refuses flags that do not go together, for a target of cells.
func (c DeviceChannel) Check(cells int) error {
	switch {
	case c.MQTTListen != "" && c.Broker != "":
		return errors.New("give --mqtt-listen (the embedded broker) or --broker (an external one), not both")
	case c.Broker != "":
		_, err := wire.BrokerAddr(c.Broker)
		return err
	case c.MQTTListen != "" && cells > 1:
		if _, port, err := net.SplitHostPort(c.MQTTListen); err != nil || port != "0" {
			return fmt.Errorf("--mqtt-listen %s with --cells %d: give port 0, so that each cell's broker takes a free port", c.MQTTListen, cells)
		}
	}
	return nil
}

// Listen opens the embedded broker's listener, if there is one, and
// returns it with the broker's URL (the external one's, else).
func (c DeviceChannel) Listen() (net.Listener, string, error) {
	if c.MQTTListen == "" {
		return nil, c.Broker, nil
	}
	ln, err := net.Listen("tcp", c.MQTTListen)
	if err != nil {
		return nil, "", fmt.Errorf("--mqtt-listen: %w", err)
	}
	return ln, "mqtt://" + ln.Addr().String(), nil
}

// Serve serves s's HTTP on ln and its device channel (mln, from Listen, or
// the external broker) until ctx ends or one of them fails.
func (c DeviceChannel) Serve(ctx context.Context, s *Server, ln, mln net.Listener) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Serve(gctx, ln) })
	switch {
	case mln != nil:
		g.Go(func() error { return s.ServeMQTT(gctx, mln) })
	case c.Broker != "":
		addr, _ := wire.BrokerAddr(c.Broker)
		g.Go(func() error { return s.ServeBroker(gctx, addr, c.User, c.Password) })
	}
	return g.Wait()
}
