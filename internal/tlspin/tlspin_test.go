package tlspin

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
)

func serve(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) { _ = c.(*tls.Conn).Handshake(); c.Close() }(c)
		}
	}()
	return lis.Addr().String()
}

func TestPinnedHandshake(t *testing.T) {
	dir := t.TempDir()
	cert, created, err := LoadOrCreate(dir, []string{"127.0.0.1"})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	again, created, err := LoadOrCreate(dir, nil)
	if err != nil || created || Fingerprint(again.Certificate[0]) != Fingerprint(cert.Certificate[0]) {
		t.Fatal("second start did not load the same certificate")
	}
	other, _, err := LoadOrCreate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cert)
	dial := func(fp string) error {
		cfg, err := ClientConfig(fp)
		if err != nil {
			return err
		}
		c, err := tls.Dial("tcp", addr, cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(Fingerprint(cert.Certificate[0])); err != nil {
		t.Fatalf("pinned handshake failed: %v", err)
	}
	err = dial(Fingerprint(other.Certificate[0]))
	if err == nil || !errors.Is(err, ErrFingerprintMismatch) && !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("handshake with another certificate: %v", err)
	}
}

func TestParseFingerprint(t *testing.T) {
	good := strings.Repeat("ab", 32)
	if got, err := ParseFingerprint(strings.ToUpper(good[:2]) + ":" + good[2:]); err != nil || got != good {
		t.Fatalf("ParseFingerprint: %q %v", got, err)
	}
	for _, bad := range []string{"", "zz", good[:62], good + "00"} {
		if _, err := ParseFingerprint(bad); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
}
