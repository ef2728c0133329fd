package party

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mpcsign/mpcsign/internal/tlspin"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// A rotation of the coordinator's certificate, from the device's side:
//
//  1. The coordinator announces the next certificate's fingerprint in its
//     Welcome or in a NextCertificate message. Both arrive only on a link
//     whose TLS certificate matched a pin and whose challenge-response
//     succeeded, so the announcement is as trustworthy as the pin itself.
//     The device stores it as Config.NextFingerprint.
//  2. Until the switch-over, the device accepts both certificates.
//  3. The first connection that is served the next certificate and
//     completes the handshake makes it the only pin; the old one is dropped.
//
// A device offline through the whole grace period sees a certificate it
// does not pin: the connection fails with a PinError that tells the
// operator how to re-pin (Repin).

// pins are the fingerprints the device accepts now.
func (a *Agent) pins() []string {
	a.pinMu.Lock()
	defer a.pinMu.Unlock()
	if a.cfg.NextFingerprint == "" {
		return []string{a.cfg.Fingerprint}
	}
	return []string{a.cfg.Fingerprint, a.cfg.NextFingerprint}
}

// updatePins changes the stored pins with f, in memory and in the keystore.
// f reports whether it changed anything; it may change only the pin fields.
func (a *Agent) updatePins(f func(c *Config) bool) (Config, bool, error) {
	a.pinMu.Lock()
	defer a.pinMu.Unlock()
	c := a.cfg
	if !f(&c) {
		return c, false, nil
	}
	if err := saveConfig(a.ks, c); err != nil {
		return a.cfg, false, err
	}
	// Only the pins and the learned replicas change: the other fields are
	// read without the lock.
	a.cfg.Fingerprint, a.cfg.NextFingerprint, a.cfg.NextSwitchAt = c.Fingerprint, c.NextFingerprint, c.NextSwitchAt
	a.cfg.Replicas = c.Replicas
	return c, true, nil
}

// address is the list of coordinator addresses the device dials: the
// pairing code's, then those the coordinator announced since.
func (a *Agent) address() string {
	a.pinMu.Lock()
	defer a.pinMu.Unlock()
	return dialList(a.cfg.Address, a.cfg.Replicas)
}

// learnNext stores the next certificate a connected coordinator announced.
// It is called only with what came over the pinned, authenticated link.
func (a *Agent) learnNext(n *mpcv1.NextCertificate) {
	if n == nil {
		return // no announcement: the pins stay as they are
	}
	fp, err := tlspin.ParseFingerprint(n.GetFingerprint())
	if err != nil {
		a.log.Warn("coordinator announced a malformed next certificate fingerprint; ignored")
		return
	}
	var at time.Time
	if n.GetSwitchAt().IsValid() {
		at = n.GetSwitchAt().AsTime().UTC()
	}
	c, changed, err := a.updatePins(func(c *Config) bool {
		if fp == c.Fingerprint || fp == c.NextFingerprint && at.Equal(c.NextSwitchAt) {
			return false
		}
		c.NextFingerprint, c.NextSwitchAt = fp, at
		return true
	})
	if err != nil {
		a.log.Error("could not store the coordinator's next certificate fingerprint", "err", err)
		return
	}
	if changed {
		a.log.Info("coordinator announced its next TLS certificate; pinned it next to the current one",
			"next_fingerprint", c.NextFingerprint, "switch_at", c.NextSwitchAt.Format(time.RFC3339))
	}
}

// servedCert is told, after a successful handshake, which certificate the
// coordinator presented. When it is the next one the switch-over happened:
// the next pin becomes the only one.
func (a *Agent) servedCert(fp string) {
	c, changed, err := a.updatePins(func(c *Config) bool {
		if fp == "" || fp != c.NextFingerprint {
			return false
		}
		c.Fingerprint, c.NextFingerprint, c.NextSwitchAt = fp, "", time.Time{}
		return true
	})
	if err != nil {
		a.log.Error("could not store the coordinator's new certificate fingerprint", "err", err)
		return
	}
	if changed {
		a.log.Info("coordinator serves its new TLS certificate; the old pin is dropped", "fingerprint", c.Fingerprint)
	}
}

func saveConfig(ks *keystore.Store, c Config) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return ks.Put(configKey, b)
}

// Repin replaces the pinned coordinator certificate with fingerprint and
// forgets any next one. It is for a device that missed a certificate
// rotation: its operator checked fingerprint with 'coordinator cert show'.
// The agent must not be running (the keystore is locked while it runs).
func Repin(ks *keystore.Store, fingerprint string) (old, now Config, err error) {
	fp, err := tlspin.ParseFingerprint(fingerprint)
	if err != nil {
		return old, now, err
	}
	old, err = LoadConfig(ks)
	if err != nil {
		return old, now, err
	}
	now = old
	now.Fingerprint, now.NextFingerprint, now.NextSwitchAt = fp, "", time.Time{}
	return old, now, saveConfig(ks, now)
}

// PinError is a coordinator whose certificate this device does not pin.
type PinError struct {
	Address string
	// Served is the fingerprint of the certificate presented; Pinned are
	// the device's pins.
	Served string
	Pinned []string
}

func (e *PinError) Error() string {
	return fmt.Sprintf("the coordinator at %s presents TLS certificate %s, which this device does not pin (it pins %s). "+
		"If the coordinator's certificate was rotated while this device was offline, check that 'coordinator cert show' on the coordinator "+
		"prints %s, then stop this agent and run 'party repin --fingerprint %s' (or pair the device again). "+
		"If it does not print it, this is not your coordinator: do not re-pin",
		e.Address, e.Served, strings.Join(e.Pinned, " and "), e.Served, e.Served)
}

// Is makes a PinError match tlspin.ErrFingerprintMismatch.
func (e *PinError) Is(target error) bool { return target == tlspin.ErrFingerprintMismatch }

// servedCerts records what a connection's TLS handshakes saw.
type servedCerts struct {
	mu       sync.Mutex
	pinned   string // the last certificate that matched a pin
	unpinned string // the last one that did not
}

func (s *servedCerts) seen(fp string, pinned bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pinned {
		s.pinned = fp
	} else {
		s.unpinned = fp
	}
}

func (s *servedCerts) get() (pinned, unpinned string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pinned, s.unpinned
}

// pinError turns a failed connection into a PinError when its handshake
// met a certificate that no pin matched.
func (a *Agent) pinError(err error, seen *servedCerts, pins []string) error {
	if err == nil {
		return nil
	}
	if pinned, unpinned := seen.get(); unpinned != "" && pinned == "" {
		return &PinError{Address: a.address(), Served: unpinned, Pinned: pins}
	}
	return err
}
