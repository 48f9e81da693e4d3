// Package tlsfiles reads the PEM files herd's TLS flags name.
package tlsfiles

import (
	"crypto/x509"
	"fmt"
	"os"
)

// CertPool reads the PEM certificates of path, which flag named; the
// errors say both.
func CertPool(flag, path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", flag, path)
	}
	return pool, nil
}
