package tlspin

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRotateAndSwitch(t *testing.T) {
	dir := t.TempDir()
	first, _, err := LoadOrCreate(dir, []string{"127.0.0.1", "coordinator.example"})
	if err != nil {
		t.Fatal(err)
	}
	oldFP := Fingerprint(first.Certificate[0])
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	switchAt := now.Add(time.Hour)

	c, err := Rotate(dir, switchAt, now, false)
	if err != nil {
		t.Fatal(err)
	}
	newFP := c.NextFingerprint()
	if c.CurrentFingerprint() != oldFP || newFP == "" || newFP == oldFP || !c.SwitchAt.Equal(switchAt) {
		t.Fatalf("after Rotate: current %s next %s at %s", c.CurrentFingerprint(), newFP, c.SwitchAt)
	}
	if st, err := os.Stat(filepath.Join(dir, nextKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("next key file: %v %v", st, err)
	}
	// The next certificate is for the same hosts.
	if leaf := c.Next.Leaf; leaf == nil || !strings.Contains(strings.Join(leaf.DNSNames, ","), "coordinator.example") || len(leaf.IPAddresses) != 1 {
		t.Fatalf("next certificate hosts: %+v", leaf)
	}

	// A second rotation while one is pending is refused, unless replaced.
	if _, err := Rotate(dir, switchAt, now, false); !errors.Is(err, ErrRotationPending) {
		t.Fatalf("second Rotate: %v", err)
	}

	// Before the switch-over: current is served, next announced.
	before, err := Load(dir, switchAt.Add(-time.Second))
	if err != nil || before.CurrentFingerprint() != oldFP || before.NextFingerprint() != newFP {
		t.Fatalf("Load before: %+v %v", before, err)
	}
	// From the switch-over on, the next one is current, without any write.
	after, err := Load(dir, switchAt)
	if err != nil || after.CurrentFingerprint() != newFP || after.Next != nil {
		t.Fatalf("Load at switch-over: %s %v", after.CurrentFingerprint(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, nextInfoFile)); err != nil {
		t.Fatal("Load wrote something")
	}
	if ok, err := Promote(dir, switchAt.Add(-time.Second)); ok || err != nil {
		t.Fatalf("Promote before its time: %v %v", ok, err)
	}
	if ok, err := Promote(dir, switchAt); !ok || err != nil {
		t.Fatalf("Promote: %v %v", ok, err)
	}
	for _, f := range []string{nextCertFile, nextKeyFile, nextInfoFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left after Promote: %v", f, err)
		}
	}
	cert, created, err := LoadOrCreate(dir, nil)
	if err != nil || created || Fingerprint(cert.Certificate[0]) != newFP {
		t.Fatalf("after Promote tls.crt is not the new certificate: %v %v", created, err)
	}
}

func TestPromoteInterrupted(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreate(dir, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c, err := Rotate(dir, now.Add(time.Minute), now, false)
	if err != nil {
		t.Fatal(err)
	}
	newFP := c.NextFingerprint()
	// A crash between Promote's two renames: the key moved, the certificate not.
	if err := os.Rename(filepath.Join(dir, nextKeyFile), filepath.Join(dir, keyFile)); err != nil {
		t.Fatal(err)
	}
	later := now.Add(2 * time.Minute)
	got, err := Load(dir, later)
	if err != nil || got.CurrentFingerprint() != newFP {
		t.Fatalf("Load after an interrupted promotion: %v", err)
	}
	if ok, err := Promote(dir, later); !ok || err != nil {
		t.Fatalf("finishing the promotion: %v %v", ok, err)
	}
	if got, err := Load(dir, later); err != nil || got.CurrentFingerprint() != newFP || got.Next != nil {
		t.Fatalf("Load after the promotion: %v", err)
	}
}

func TestRotateReplaceAndTamper(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreate(dir, []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	first, err := Rotate(dir, now.Add(time.Hour), now, false)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Rotate(dir, now.Add(2*time.Hour), now, true)
	if err != nil || second.NextFingerprint() == first.NextFingerprint() || !second.SwitchAt.Equal(now.Add(2*time.Hour).UTC()) {
		t.Fatalf("replace: %v", err)
	}
	// A next certificate that is not the one tls.next.json names is refused.
	otherDir := t.TempDir()
	if _, _, err := LoadOrCreate(otherDir, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(otherDir, certFile))
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile(filepath.Join(otherDir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, nextCertFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, nextKeyFile), k, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, now); err == nil || !strings.Contains(err.Error(), "not the one") {
		t.Fatalf("Load with a swapped next certificate: %v", err)
	}
	if ok, err := Promote(dir, now.Add(3*time.Hour)); ok || err == nil {
		t.Fatalf("Promote moved a swapped next certificate: %v %v", ok, err)
	}
}

func TestClientConfigPins(t *testing.T) {
	oldCert, _, err := LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	newCert, _, err := LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	stranger, _, err := LoadOrCreate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	oldFP, newFP, strangerFP := Fingerprint(oldCert.Certificate[0]), Fingerprint(newCert.Certificate[0]), Fingerprint(stranger.Certificate[0])
	dial := func(server tls.Certificate, pins ...string) (served string, pinned bool, err error) {
		cfg, err := ClientConfigSeen(func(fp string, ok bool) { served, pinned = fp, ok }, pins...)
		if err != nil {
			return "", false, err
		}
		c, err := tls.Dial("tcp", serve(t, server), cfg)
		if err == nil {
			c.Close()
		}
		return served, pinned, err
	}
	// During a rotation both certificates are accepted.
	for _, server := range []tls.Certificate{oldCert, newCert} {
		served, pinned, err := dial(server, oldFP, newFP)
		if err != nil || !pinned || served != Fingerprint(server.Certificate[0]) {
			t.Fatalf("pinned both, served %s: %v %v", served, pinned, err)
		}
	}
	// Any other certificate is refused, and the error names it.
	served, pinned, err := dial(stranger, oldFP, newFP)
	var me *MismatchError
	if err == nil || pinned || served != strangerFP || !errors.As(err, &me) && !strings.Contains(err.Error(), strangerFP) {
		t.Fatalf("stranger: served %s pinned %v err %v", served, pinned, err)
	}
	if _, err := ClientConfig(); err == nil {
		t.Fatal("a config without pins")
	}
	if _, err := ClientConfig(oldFP, "nope"); err == nil {
		t.Fatal("a malformed pin was accepted")
	}
	if !errors.Is(&MismatchError{Served: strangerFP}, ErrFingerprintMismatch) {
		t.Fatal("MismatchError is not ErrFingerprintMismatch")
	}
}
