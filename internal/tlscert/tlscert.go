// Package tlscert makes the self-signed certificates pushbench's loopback
// servers present: nothing verifies them against a CA, so a run needs no PKI.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Validity is how long a generated certificate is valid: longer than any
// run, short enough that a leaked one is worthless.
const Validity = 24 * time.Hour

// SelfSigned makes a certificate for 127.0.0.1, ::1 and localhost, signed by
// its own key, valid from an hour before now (clock steps) for Validity.
//
// It also returns the certificate's SPKI fingerprint as Chromium's
// --ignore-certificate-errors-spki-list takes it: the base64 of the SHA-256
// of the SubjectPublicKeyInfo. Pinning that one key, rather than passing
// --ignore-certificate-errors, keeps every other certificate check on.
func SelfSigned(now time.Time) (cert tls.Certificate, spki string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"pushbench"}, CommonName: "127.0.0.1"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("parse certificate: %w", err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	return cert, base64.StdEncoding.EncodeToString(sum[:]), nil
}
