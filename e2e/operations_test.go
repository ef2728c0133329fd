package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// agentStatus is 'party status --json'.
type agentStatus struct {
	Live   bool   `json:"live"`
	Note   string `json:"note"`
	Device struct {
		Name            string `json:"name"`
		Fingerprint     string `json:"fingerprint"`
		NextFingerprint string `json:"next_fingerprint"`
	} `json:"device"`
	Connected       bool      `json:"connected"`
	ConnectedSince  time.Time `json:"connected_since"`
	Draining        bool      `json:"draining"`
	PreparamsReady  int       `json:"preparams_ready"`
	PreparamsTarget int       `json:"preparams_target"`
	Sessions        []any     `json:"sessions"`
	Shares          []any     `json:"shares"`
}

// partyStatus runs 'party status --json' with env.
func (c *cluster) partyStatus(t testing.TB, d *device, env []string) agentStatus {
	t.Helper()
	r := c.runOnce(t, "party-status-"+d.name, env, enrolTimeout, d.partyArgs("status", "--json")...)
	var st agentStatus
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.Device.Name != d.name {
		t.Fatalf("party status --json of %s: exit %d\nstdout:\n%s\nstderr:\n%s", d.name, r.code, r.stdout, r.stderr)
	}
	return st
}

// certInfo is 'coordinator cert show/rotate --json'.
type certInfo struct {
	Fingerprint     string    `json:"fingerprint"`
	NextFingerprint string    `json:"next_fingerprint"`
	SwitchAt        time.Time `json:"switch_at"`
}

func (c *cluster) cert(t testing.TB, args ...string) certInfo {
	t.Helper()
	full := append([]string{bin("coordinator"), "cert"}, args...)
	full = append(full, "--data", c.coordDir, "--json")
	r := c.runOnce(t, "coordinator-cert-"+args[0], c.env(), enrolTimeout, full...)
	var ci certInfo
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ci) != nil {
		t.Fatalf("coordinator cert %s: exit %d\nstdout:\n%s\nstderr:\n%s", args[0], r.code, r.stdout, r.stderr)
	}
	return ci
}

// TestOperations runs a device agent and checks, with the real binaries,
// its live status over the local socket (no passphrase needed), a
// certificate rotation that the running coordinator announces to it, and
// its drain on SIGTERM.
func TestOperations(t *testing.T) {
	c := newCluster(t)
	c.startCoordinator(t)
	d := c.enroll(t, "olive", false)
	p := c.runParty(t, d)
	c.waitReady(t, "olive")

	// Live, from the running agent: no passphrase in the environment.
	st := c.partyStatus(t, d, c.env())
	if !st.Live || !st.Connected || st.ConnectedSince.IsZero() || st.Draining || st.Device.Fingerprint != c.fingerprint || st.PreparamsReady < 1 || st.Sessions == nil {
		t.Fatalf("live status: %+v", st)
	}
	if fi, err := os.Stat(filepath.Join(d.dir, "party.sock")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("status socket: %v", err)
	}

	// A rotation made while the coordinator runs; SIGHUP makes it read the
	// files at once, and it tells the connected device.
	rot := c.cert(t, "rotate", "--grace", "1h")
	if rot.Fingerprint != c.fingerprint || rot.NextFingerprint == "" || rot.NextFingerprint == c.fingerprint || time.Until(rot.SwitchAt) < 50*time.Minute {
		t.Fatalf("cert rotate: %+v", rot)
	}
	if err := c.coord.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(readyTimeout)
	for st = c.partyStatus(t, d, c.env()); st.Device.NextFingerprint != rot.NextFingerprint; st = c.partyStatus(t, d, c.env()) {
		if time.Now().After(deadline) {
			t.Fatalf("the device did not learn the next certificate: %+v\ncoordinator:\n%s", st, c.coord.stderr())
		}
		time.Sleep(pollEvery)
	}
	if st.Device.Fingerprint != c.fingerprint {
		t.Fatalf("the device dropped the current pin during the grace period: %+v", st)
	}
	if show := c.cert(t, "show"); show.Fingerprint != rot.Fingerprint || show.NextFingerprint != rot.NextFingerprint || !show.SwitchAt.Equal(rot.SwitchAt) {
		t.Fatalf("cert show %+v, cert rotate said %+v", show, rot)
	}
	// mpcctl reads both pins from client.json and keeps working.
	var cc struct {
		Fingerprint     string `json:"fingerprint"`
		NextFingerprint string `json:"next_fingerprint"`
	}
	if err := json.Unmarshal([]byte(readFile(filepath.Join(c.coordDir, "client.json"))), &cc); err != nil || cc.Fingerprint != c.fingerprint || cc.NextFingerprint != rot.NextFingerprint {
		t.Fatalf("client.json during the grace period: %+v %v", cc, err)
	}
	if devs := c.listDevices(t); len(devs) != 1 {
		t.Fatalf("devices list: %+v", devs)
	}

	// SIGTERM: the agent drains, closes its keystore and exits 0.
	if code, killed := p.stop(); code != 0 || killed {
		t.Fatalf("party run on SIGTERM: exit %d, killed %v\n%s", code, killed, p.stderr())
	}
	for _, want := range []string{"draining: refusing new sessions", "drained: no session runs", "device stopped; keystore closed"} {
		if !strings.Contains(p.stderr(), want) {
			t.Errorf("party run's log lacks %q:\n%s", want, p.stderr())
		}
	}
	if _, err := os.Stat(filepath.Join(d.dir, "party.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("status socket left after the agent stopped: %v", err)
	}

	// Offline: the keystore's view, with a note; the next pin was persisted.
	st = c.partyStatus(t, d, c.partyEnv(d))
	if st.Live || st.Connected || !strings.Contains(st.Note, "not running") || st.Device.NextFingerprint != rot.NextFingerprint {
		t.Fatalf("offline status: %+v", st)
	}
}
