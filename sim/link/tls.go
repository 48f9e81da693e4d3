package link

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
