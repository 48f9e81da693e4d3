package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/herd-drill/herd/internal/atomicfile"
)

// WriteCerts issues a test CA and, signed by it, one client certificate
// per device of the fleet (the device id as its subject's common name, as
// managed IoT brokers authenticate devices) and a server certificate for
// loopback (127.0.0.1, ::1, localhost) and hosts: dir/ca.crt, ca.key,
// server.crt, server.key and DEVICE.crt, DEVICE.key. Keys are ECDSA P-256;
// certificates are valid for 30 days. For drills, not for production.
func (l *Layout) WriteCerts(dir string, hosts []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herd test CA " + l.Namespace()},
		NotBefore: now, NotAfter: now.Add(30 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		return err
	}
	if err := writePair(dir, "ca", caDER, caKey); err != nil {
		return err
	}
	issue := func(name string, serial int64, server bool) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		t := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now, NotAfter: now.Add(30 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if server {
			t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			t.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
			t.DNSNames = []string{"localhost"}
			for _, h := range hosts {
				if ip := net.ParseIP(h); ip != nil {
					t.IPAddresses = append(t.IPAddresses, ip)
				} else {
					t.DNSNames = append(t.DNSNames, h)
				}
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, t, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		return writePair(dir, name, der, key)
	}
	if err := issue("server", 2, true); err != nil {
		return err
	}
	for c := range l.Cameras() {
		if err := issue(l.Device(c), int64(c)+3, false); err != nil {
			return fmt.Errorf("device %s: %w", l.Device(c), err)
		}
	}
	return nil
}

// writePair writes dir/name.crt and dir/name.key (the key readable by its
// owner only).
func writePair(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, name+".crt"), func(w io.Writer) error {
		return pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}); err != nil {
		return err
	}
	path := filepath.Join(dir, name+".key")
	if err := atomicfile.Write(path, func(w io.Writer) error {
		return pem.Encode(w, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
