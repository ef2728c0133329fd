package coordinator

import (
	"context"
	"crypto/tls"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mpcsign/mpcsign/internal/coordclient"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// certs is the coordinator's TLS certificate and, during a rotation
// ('coordinator cert rotate'), the next one. The files in the data directory
// are the truth: reload reads them again (the server does so every
// CertCheckInterval), and the switch-over happens by the clock at the first
// handshake past its time, without a restart.
type certs struct {
	dir string
	now func() time.Time
	log *slog.Logger

	mu       sync.Mutex
	cur      *tls.Certificate
	curFP    string
	next     *tls.Certificate
	nextFP   string
	switchAt time.Time
	// prevFP is the certificate this process served before its last
	// switch-over: a device whose TLS handshake saw it just before the
	// switch may still answer the challenge for it.
	prevFP  string
	changed chan struct{}
	// client.json, once the server publishes it (publish).
	clientPath, clientAddr string
}

func newCerts(dir string, now func() time.Time, log *slog.Logger) (*certs, error) {
	c := &certs{dir: dir, now: now, log: log, changed: make(chan struct{})}
	st, err := tlspin.Load(dir, now())
	if err != nil {
		return nil, err
	}
	c.set(st)
	return c, nil
}

// set takes st; the caller holds mu or owns c.
func (c *certs) set(st tlspin.Certs) {
	cur := st.Current
	c.cur, c.curFP = &cur, st.CurrentFingerprint()
	c.next, c.nextFP, c.switchAt = st.Next, st.NextFingerprint(), st.SwitchAt
}

// switchLocked serves the next certificate once its time has come. It
// reports whether it switched.
func (c *certs) switchLocked() bool {
	if c.next == nil || c.now().Before(c.switchAt) {
		return false
	}
	c.prevFP = c.curFP
	c.cur, c.curFP = c.next, c.nextFP
	c.next, c.nextFP, c.switchAt = nil, "", time.Time{}
	c.log.Info("switched to the next TLS certificate", "fingerprint", c.curFP, "previous", c.prevFP)
	c.notifyLocked()
	if err := c.writeClientLocked(); err != nil {
		c.log.Warn("could not update client.json", "err", err)
	}
	return true
}

// publish writes client.json (address and fingerprints, for mpcctl on
// this machine) now and again at every change.
func (c *certs) publish(path, addr string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clientPath, c.clientAddr = path, addr
	return c.writeClientLocked()
}

func (c *certs) writeClientLocked() error {
	if c.clientPath == "" {
		return nil
	}
	cc := coordclient.ClientConfig{Address: c.clientAddr, Fingerprint: c.curFP, NextFingerprint: c.nextFP}
	if c.next != nil {
		cc.SwitchAt = c.switchAt.UTC()
	}
	return writeClientConfig(c.clientPath, cc)
}

func (c *certs) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// certificate is the one to serve now (tls.Config.GetCertificate).
func (c *certs) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.switchLocked()
	return c.cur, nil
}

// reload reads the files again and reports whether what is served or
// announced changed. A switch-over due by the clock counts as a change.
func (c *certs) reload() (bool, error) {
	st, err := tlspin.Load(c.dir, c.now())
	c.mu.Lock()
	defer c.mu.Unlock()
	switched := c.switchLocked()
	if err != nil {
		return switched, err
	}
	if st.CurrentFingerprint() == c.curFP && st.NextFingerprint() == c.nextFP && st.SwitchAt.Equal(c.switchAt) {
		return switched, nil
	}
	if st.CurrentFingerprint() != c.curFP {
		c.prevFP = c.curFP
		c.log.Info("TLS certificate replaced on disk; serving it", "fingerprint", st.CurrentFingerprint(), "previous", c.curFP)
	}
	c.set(st)
	if err := c.writeClientLocked(); err != nil {
		c.log.Warn("could not update client.json", "err", err)
	}
	if c.next != nil {
		c.log.Info("certificate rotation pending: devices are told the next certificate", "next_fingerprint", c.nextFP, "switch_at", c.switchAt.Format(time.RFC3339))
	}
	c.notifyLocked()
	return true, nil
}

// wait returns a channel closed at the next change.
func (c *certs) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// fingerprints are the current one and the next one ("" when none).
func (c *certs) fingerprints() (cur, next string, switchAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.switchLocked()
	return c.curFP, c.nextFP, c.switchAt
}

// accepted are the fingerprints a device's connect transcript may name:
// every certificate this process may have presented to it.
func (c *certs) accepted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.switchLocked()
	var out []string
	for _, fp := range []string{c.curFP, c.nextFP, c.prevFP} {
		if fp != "" {
			out = append(out, fp)
		}
	}
	return out
}

// announcement tells a device the next certificate; nil when none.
func (c *certs) announcement() *mpcv1.NextCertificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.switchLocked()
	if c.next == nil {
		return nil
	}
	return &mpcv1.NextCertificate{Fingerprint: c.nextFP, SwitchAt: timestamppb.New(c.switchAt)}
}

// watch reloads the certificate files every interval until ctx ends, so
// that 'coordinator cert rotate' takes effect without a restart.
func (c *certs) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := c.reload()
		if msg := errString(err); msg != lastErr {
			if err != nil {
				c.log.Warn("could not read the certificate files; serving the certificate loaded before", "err", err)
			}
			lastErr = msg
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
