package cloud

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"golang.org/x/sync/errgroup"

	"github.com/herd-drill/herd/internal/tlsfiles"
	"github.com/herd-drill/herd/sim/wire"
)

// DeviceChannel is where a reference target's devices connect besides its
// WebSocket: an embedded MQTT broker (MQTTListen) or an external one
// (Broker, with the ingest's User and Password). herd target's flags.
type DeviceChannel struct {
	MQTTListen, Broker, User, Password string
	// TLSCert and TLSKey put the embedded broker on TLS (mqtts://);
	// ClientCA then requires each device's own certificate, signed by it
	// and naming the device (as 'herd fleet export --certs' issues them).
	TLSCert, TLSKey, ClientCA string
}

// Check refuses flags that do not go together, for a target of cells.
func (c DeviceChannel) Check(cells int) error {
	switch {
	case c.MQTTListen != "" && c.Broker != "":
		return errors.New("give --mqtt-listen (the embedded broker) or --broker (an external one), not both")
	case c.Broker != "":
		_, err := wire.BrokerAddr(c.Broker)
		return err
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("give --mqtt-tls-cert and --mqtt-tls-key together")
	case c.ClientCA != "" && c.TLSCert == "":
		return errors.New("--client-ca needs --mqtt-tls-cert and --mqtt-tls-key: client certificates come with TLS")
	case c.TLSCert != "" && c.MQTTListen == "":
		return errors.New("--mqtt-tls-cert applies to the embedded broker: give --mqtt-listen too")
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
	conf, err := c.tlsConfig()
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", c.MQTTListen)
	if err != nil {
		return nil, "", fmt.Errorf("--mqtt-listen: %w", err)
	}
	if conf == nil {
		return ln, "mqtt://" + ln.Addr().String(), nil
	}
	return tls.NewListener(ln, conf), "mqtts://" + ln.Addr().String(), nil
}

func (c DeviceChannel) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--mqtt-tls-cert/--mqtt-tls-key: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCA != "" {
		if conf.ClientCAs, err = tlsfiles.CertPool("--client-ca", c.ClientCA); err != nil {
			return nil, err
		}
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
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
