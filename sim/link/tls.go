package link

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/herd-drill/herd/internal/tlsfiles"
)

// TLS is how a camera's connection goes over TLS (mqtts://): whom it
// trusts and, for mutual TLS, where each device's own certificate is.
// It travels to worker processes as it is.
type TLS struct {
	CAFile   string `json:",omitempty"` // PEM certificates of a private CA; "" trusts the system's roots
	Insecure bool   `json:",omitempty"` // skip verifying the broker's certificate (a lab)
	// CertDir holds DEVICE.crt and DEVICE.key per device ('herd fleet
	// export --certs'); a camera presents its own. "" presents none.
	CertDir string `json:",omitempty"`
}

// Config is the client configuration of t for serverName.
func (t TLS) Config(serverName string) (*tls.Config, error) {
	c := &tls.Config{ServerName: serverName, InsecureSkipVerify: t.Insecure, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		var err error
		if c.RootCAs, err = tlsfiles.CertPool("--ca-file", t.CAFile); err != nil {
			return nil, err
		}
	}
	if t.CertDir != "" {
		if st, err := os.Stat(t.CertDir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--client-certs %s: not a directory of DEVICE.crt and DEVICE.key files (write one with 'herd fleet export --certs DIR')", t.CertDir)
		}
	}
	return c, nil
}

// Cert is device's own certificate, from CertDir.
func (t TLS) Cert(device string) (tls.Certificate, error) {
	if t.CertDir == "" {
		return tls.Certificate{}, errors.New("no --client-certs")
	}
	c, err := tls.LoadX509KeyPair(filepath.Join(t.CertDir, device+".crt"), filepath.Join(t.CertDir, device+".key"))
	if err != nil {
		return c, fmt.Errorf("device %s's certificate: %w (was --client-certs written for this run's key, seed and size?)", device, err)
	}
	return c, nil
}

// ForDevice is conf presenting device's own certificate, when t has them
// (CertDir); conf itself otherwise.
func (t TLS) ForDevice(conf *tls.Config, device string) (*tls.Config, error) {
	if t.CertDir == "" {
		return conf, nil
	}
	cert, err := t.Cert(device)
	if err != nil {
		return nil, Fail(ErrProtocol, err)
	}
	conf = conf.Clone()
	conf.Certificates = []tls.Certificate{cert}
	return conf, nil
}

// HandshakeFailure classifies a failed TLS handshake with peer (the
// broker, the target): a certificate herd cannot verify is said with the
// remedy; an alert from peer is peer refusing the device's credentials.
func HandshakeFailure(err error, peer string) *Failure {
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return Fail(ErrProtocol, fmt.Errorf("the %s's certificate: %w (give --ca-file with its CA, or --insecure-skip-verify in a lab)", peer, err))
	}
	return TLSFailure(err, peer)
}

// TLSFailure classifies a failure of a TLS connection: an alert from peer
// (TLS 1.3 sends the refusal of a client certificate after the handshake,
// on the first read) is peer refusing the device.
func TLSFailure(err error, peer string) *Failure {
	if strings.Contains(err.Error(), "remote error: tls: ") {
		return &Failure{Class: ErrHTTP401, Err: fmt.Errorf("the %s refused the TLS handshake: %w (does it require a client certificate? --client-certs)", peer, err)}
	}
	return Fail(Net(err), err)
}
