package tlscert

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"testing"
	"time"
)

func TestSelfSignedVerifiesForLoopback(t *testing.T) {
	now := time.Now()
	cert, spki, err := SelfSigned(now)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: now}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now.Add(Validity + time.Minute)}); err == nil {
		t.Error("certificate still valid after Validity")
	}
	sum := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	if want := base64.StdEncoding.EncodeToString(sum[:]); spki != want {
		t.Errorf("spki %q, want %q", spki, want)
	}
}
