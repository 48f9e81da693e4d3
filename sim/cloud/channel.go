package cloud

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"golang.org/x/sync/errgroup"

	"github.com/herd-drill/herd/internal/tlsfiles"
	"github.com/herd-drill/herd/sim/wire"
)

// DeviceChannel is where a reference target's devices connect besides its
// WebSocket: an embedded MQTT broker (MQTTListen: HOST:PORT for MQTT over
// TCP, ws://HOST:PORT/PATH for MQTT over WebSocket) or an external one
// (Broker, with the ingest's User and Password). herd target's flags.
type DeviceChannel struct {
	MQTTListen, Broker, User, Password string
	// TLSCert and TLSKey put the embedded broker on TLS (mqtts://);
	// ClientCA then requires each device's own certificate, signed by it
	// and naming the device (as 'herd fleet export --certs' issues them).
	TLSCert, TLSKey, ClientCA string
	// HTTPCert and HTTPKey put the HTTP listener (the app channel, and
	// herd/1's device WebSocket) on TLS: https:// and wss://. ClientCA
	// then requires each device's own certificate on the WebSocket too
	// (app users present none).
	HTTPCert, HTTPKey string
}

// AddFlags adds herd target's flags of c to f.
func (c *DeviceChannel) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&c.MQTTListen, "mqtt-listen", "", "also serve herd/1 over MQTT on an embedded broker at this address: HOST:PORT, or ws://HOST:PORT/PATH for MQTT over WebSocket (port 0 picks a free one)")
	f.StringVar(&c.Broker, "broker", "", "serve the device channel through this external MQTT broker (mqtt://host:port or ws://host:port/path) instead: the ingest subscribes to every device's up topic")
	f.StringVar(&c.User, "broker-user", "", "user name of the ingest at --broker")
	f.StringVar(&c.Password, "broker-password", os.Getenv("HERD_BROKER_PASSWORD"), "password of the ingest at --broker (env HERD_BROKER_PASSWORD)")
	f.StringVar(&c.TLSCert, "mqtt-tls-cert", "", "serve the embedded broker over TLS (mqtts://, wss://) with this PEM certificate ('herd fleet export --certs' writes server.crt)")
	f.StringVar(&c.TLSKey, "mqtt-tls-key", "", "its PEM key (server.key)")
	f.StringVar(&c.HTTPCert, "tls-cert", "", "serve HTTP over TLS (https://, devices on wss://) with this PEM certificate")
	f.StringVar(&c.HTTPKey, "tls-key", "", "its PEM key")
	f.StringVar(&c.ClientCA, "client-ca", "", "require every device's own certificate, signed by this CA (ca.crt) and naming the device")
}

// Check refuses flags that do not go together, for a target of cells.
func (c DeviceChannel) Check(cells int) error {
	switch {
	case c.MQTTListen != "" && c.Broker != "":
		return errors.New("give --mqtt-listen (the embedded broker) or --broker (an external one), not both")
	case c.Broker != "":
		b, err := wire.ParseBroker(c.Broker)
		if err == nil && b.TLS {
			err = fmt.Errorf("--broker %s: the ingest connects over plain TCP or WebSocket (mqtt:// or ws://); give the broker such a listener for it", c.Broker)
		}
		return err
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("give --mqtt-tls-cert and --mqtt-tls-key together")
	case (c.HTTPCert == "") != (c.HTTPKey == ""):
		return errors.New("give --tls-cert and --tls-key together")
	case c.ClientCA != "" && c.TLSCert == "" && c.HTTPCert == "":
		return errors.New("--client-ca needs --tls-cert/--tls-key or --mqtt-tls-cert/--mqtt-tls-key: client certificates come with TLS")
	case c.TLSCert != "" && c.MQTTListen == "":
		return errors.New("--mqtt-tls-cert applies to the embedded broker: give --mqtt-listen too")
	case c.MQTTListen != "":
		addr, _, err := c.listenAddr()
		if err != nil {
			return err
		}
		if _, port, _ := net.SplitHostPort(addr); cells > 1 && port != "0" {
			return fmt.Errorf("--mqtt-listen %s with --cells %d: give port 0, so that each cell's broker takes a free port", c.MQTTListen, cells)
		}
	}
	return nil
}

// Opened is a device channel ready to serve: the embedded broker's
// listener, or the ingest's connection to the external broker, already
// subscribed, so that no device's first message is published before the
// ingest can hear it.
type Opened struct {
	ln     net.Listener
	ingest *brokerClient
	broker wire.Broker // the external broker the ingest is connected to
}

// Listen opens the device channel: the embedded broker's listener, or the
// ingest's subscription at the external broker; and returns it with the
// broker's URL.
func (c DeviceChannel) Listen() (*Opened, string, error) {
	if c.MQTTListen == "" {
		if c.Broker == "" {
			return nil, "", nil
		}
		b, err := wire.ParseBroker(c.Broker)
		if err != nil {
			return nil, "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ic, err := connectIngest(ctx, b, c.User, c.Password)
		if err != nil {
			return nil, "", fmt.Errorf("broker %s: %w", b.Addr, err)
		}
		return &Opened{ingest: ic, broker: b}, c.Broker, nil
	}
	conf, err := c.tlsConfig()
	if err != nil {
		return nil, "", err
	}
	addr, path, err := c.listenAddr()
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--mqtt-listen: %w", err)
	}
	scheme := "mqtt"
	if conf != nil {
		ln, scheme = tls.NewListener(ln, conf), "mqtts"
	}
	if path == "" {
		return &Opened{ln: ln}, scheme + "://" + ln.Addr().String(), nil
	}
	scheme = map[string]string{"mqtt": "ws", "mqtts": "wss"}[scheme]
	return &Opened{ln: listenWS(ln, path)}, scheme + "://" + ln.Addr().String() + path, nil
}

// listenAddr is MQTTListen's address, and its path when it is MQTT over
// WebSocket.
func (c DeviceChannel) listenAddr() (addr, path string, err error) {
	if !strings.Contains(c.MQTTListen, "://") {
		if _, _, err := net.SplitHostPort(c.MQTTListen); err != nil {
			return "", "", fmt.Errorf("--mqtt-listen %q: want HOST:PORT, or ws://HOST:PORT/PATH for MQTT over WebSocket", c.MQTTListen)
		}
		return c.MQTTListen, "", nil
	}
	b, err := wire.ParseBroker(c.MQTTListen)
	if err != nil || b.WS == "" || b.TLS {
		return "", "", fmt.Errorf("--mqtt-listen %q: want HOST:PORT, or ws://HOST:PORT/PATH for MQTT over WebSocket (with --mqtt-tls-cert it is wss://)", c.MQTTListen)
	}
	u, _ := url.Parse(b.WS)
	return b.Addr, u.Path, nil
}

// ListenHTTP opens the HTTP listener at addr, over TLS with HTTPCert,
// and returns it with its base URL.
func (c DeviceChannel) ListenHTTP(addr string) (net.Listener, string, error) {
	conf, err := serverTLS(c.HTTPCert, c.HTTPKey, "--tls-cert/--tls-key", c.ClientCA, tls.VerifyClientCertIfGiven)
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	if conf == nil {
		return ln, "http://" + ln.Addr().String(), nil
	}
	return tls.NewListener(ln, conf), "https://" + ln.Addr().String(), nil
}

func (c DeviceChannel) tlsConfig() (*tls.Config, error) {
	return serverTLS(c.TLSCert, c.TLSKey, "--mqtt-tls-cert/--mqtt-tls-key", c.ClientCA, tls.RequireAndVerifyClientCert)
}

// serverTLS is a listener's TLS configuration with certFile and keyFile
// (flags names them in errors), verifying client certificates against
// clientCA as auth says when it is given; nil without certFile.
func serverTLS(certFile, keyFile, flags, clientCA string, auth tls.ClientAuthType) (*tls.Config, error) {
	if certFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flags, err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		if conf.ClientCAs, err = tlsfiles.CertPool("--client-ca", clientCA); err != nil {
			return nil, err
		}
		conf.ClientAuth = auth
	}
	return conf, nil
}

// Serve serves s's HTTP on ln and its device channel (o, from Listen)
// until ctx ends or one of them fails.
func (c DeviceChannel) Serve(ctx context.Context, s *Server, ln net.Listener, o *Opened) error {
	s.deviceCerts = c.ClientCA != "" && c.HTTPCert != ""
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Serve(gctx, ln) })
	switch {
	case o == nil:
	case o.ln != nil:
		g.Go(func() error { return s.ServeMQTT(gctx, o.ln) })
	case o.ingest != nil:
		g.Go(func() error { return s.ServeBroker(gctx, o.broker, c.User, c.Password, o.ingest, os.Stderr) })
	}
	return g.Wait()
}
