// Package tlspin makes the coordinator's self-signed certificate and the
// client-side TLS configuration that pins it by SHA-256 fingerprint.
package tlspin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrFingerprintMismatch reports a server whose certificate is not the pinned one.
var ErrFingerprintMismatch = errors.New("tlspin: coordinator certificate does not match the pinned fingerprint")

// Fingerprint is the lowercase hex SHA-256 of a DER certificate.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ParseFingerprint accepts hex with or without ':' separators.
func ParseFingerprint(s string) (string, error) {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("tlspin: a fingerprint is 64 hex digits (SHA-256)")
	}
	return s, nil
}

// MismatchError is a server certificate that matches no pin. Served is its
// fingerprint, for an error message that lets an operator compare it with
// 'coordinator cert show'; it is never trusted on its own.
type MismatchError struct{ Served string }

func (e *MismatchError) Error() string {
	return "tlspin: coordinator certificate " + e.Served + " does not match the pinned fingerprint"
}

// Is makes a MismatchError match ErrFingerprintMismatch.
func (e *MismatchError) Is(target error) bool { return target == ErrFingerprintMismatch }

// ClientConfig pins the server certificate by fingerprint: any of
// fingerprints is accepted (during a certificate rotation, the current and
// the next one). There is no CA: the coordinator's certificate is
// self-signed and the pin, obtained from the pairing code or the operator,
// is the whole trust decision. Chain verification is therefore replaced (not
// skipped) by the exact match below.
func ClientConfig(fingerprints ...string) (*tls.Config, error) {
	return ClientConfigSeen(nil, fingerprints...)
}

// ClientConfigSeen is ClientConfig that also tells seen, at every handshake,
// the fingerprint of the certificate the server presented and whether it
// matched a pin.
func ClientConfigSeen(seen func(served string, pinned bool), fingerprints ...string) (*tls.Config, error) {
	if len(fingerprints) == 0 {
		return nil, errors.New("tlspin: no fingerprint to pin")
	}
	var want [][]byte
	for _, fp := range fingerprints {
		p, err := ParseFingerprint(fp)
		if err != nil {
			return nil, err
		}
		b, _ := hex.DecodeString(p)
		want = append(want, b)
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by the pin check in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrFingerprintMismatch
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			pinned := 0
			for _, w := range want {
				pinned |= subtle.ConstantTimeCompare(got[:], w)
			}
			served := hex.EncodeToString(got[:])
			if seen != nil {
				seen(served, pinned == 1)
			}
			if pinned != 1 {
				return &MismatchError{Served: served}
			}
			return nil
		},
	}, nil
}

// LoadOrCreate returns the certificate in dir (tls.crt, tls.key), creating a
// self-signed one on first use. created tells whether it was made now.
func LoadOrCreate(dir string, hosts []string) (cert tls.Certificate, created bool, err error) {
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, statErr := os.Stat(certPath); statErr == nil {
		cert, err = tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return cert, false, fmt.Errorf("tlspin: load %s: %w", certPath, err)
		}
		return cert, false, nil
	}
	certPEM, keyPEM, err := generate(hosts)
	if err != nil {
		return cert, false, err
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return cert, false, err
	}
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		return cert, false, err
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	return cert, true, err
}

func generate(hosts []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mpcsign coordinator"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}
