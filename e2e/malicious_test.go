package e2e

// Malicious devices: a party built with -tags malicious (party/
// malicious_on.go) runs the protocols as the honest build does, with its
// own keystore, shares and validly signed envelopes, but changes some of
// its outgoing tss-lib messages first, as MPCSIGN_MALICIOUS says. These
// helpers start such a device in a cluster of real processes;
// TestMaliciousPartyBuild checks that the build works end to end.

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

const (
	// maliciousEnv lists (comma-separated) what a party built with -tags
	// malicious does (party/malicious_on.go lists them all): announce-other-ntilde,
	// replay-mta, wrong-si, wrong-proofbob, garble-p2p, .... The product build
	// ignores it.
	maliciousEnv = "MPCSIGN_MALICIOUS"
	// maliciousPreparamsEnv names the TEST-ONLY pre-parameter file whose
	// last set announce-other-ntilde announces (see preparamsFixture).
	maliciousPreparamsEnv = "MPCSIGN_MALICIOUS_PREPARAMS"
	// maliciousWarnLine is the Warn line a malicious party logs as it
	// starts, followed by behaviours=<what it does>.
	maliciousWarnLine = "TEST ONLY: malicious build: this device misbehaves on purpose"
	// maliciousTamperLine is the Info line it logs for each message it
	// changes, with behaviour=, type= and to=.
	maliciousTamperLine = "TEST ONLY: malicious: tampered with an outgoing message"
	// maliciousUnknownLine is the Error line for a behaviour it does not know.
	maliciousUnknownLine = "TEST ONLY: unknown malicious behaviour ignored"
)

var (
	maliciousOnce sync.Once
	maliciousBin  string
	maliciousErr  error
)

// maliciousParty builds, once per test binary, the party with -tags
// malicious,leakcheck next to the binaries TestMain built (so that
// TestMain's cleanup removes it), and returns its path.
func maliciousParty(t testing.TB) string {
	t.Helper()
	maliciousOnce.Do(func() {
		out := filepath.Join(binDir, "party-malicious")
		build := exec.Command("go", "build", "-tags", "malicious,leakcheck,testfixtures", "-o", out, "./cmd/party")
		build.Dir = moduleRoot
		if b, err := build.CombinedOutput(); err != nil {
			maliciousErr = fmt.Errorf("go build -tags malicious,leakcheck,testfixtures ./cmd/party: %v\n%s", err, b)
			return
		}
		maliciousBin = out
	})
	if maliciousErr != nil {
		t.Fatal(maliciousErr)
	}
	return maliciousBin
}

// runMaliciousParty is runPartyWith for a malicious device: it starts
// 'party run' for d (enrolled as usual, with the product build) from the
// -tags malicious build, with MPCSIGN_MALICIOUS=behaviours and extra
// environment and 'party run' flags, and the TEST-ONLY pre-parameter file
// runPartyWith would give d. The device can be stopped and started again
// with either binary (runParty for the honest one) on the same data.
func (c *cluster) runMaliciousParty(t testing.TB, d *device, behaviours string, env []string, flags ...string) *proc {
	t.Helper()
	binary := maliciousParty(t)
	c.assignFixture(t, d)
	args := d.partyArgs("run", append([]string{"--insecure-test-preparams", preparamsFixture(d.fixture)}, flags...)...)
	args[0] = binary // partyArgs names the product build
	env = append(append(c.partyEnv(d), maliciousEnv+"="+behaviours), env...)
	d.proc = c.startService(t, "party-malicious-"+d.name, env, args...)
	return d.proc
}

// assignFixture gives d its TEST-ONLY pre-parameter file as runPartyWith
// does (the next of the cluster's files, kept across restarts).
func (c *cluster) assignFixture(t testing.TB, d *device) {
	t.Helper()
	if d.fixture != 0 {
		return
	}
	files := c.fixtureFiles
	if files == nil {
		files = []int{1, 2, 3, 4}
	}
	if c.fixtures == len(files) {
		t.Fatalf("this cluster has %d TEST-ONLY pre-parameter files: at most %d running devices", len(files), len(files))
	}
	d.fixture = files[c.fixtures]
	c.fixtures++
}

// TestMaliciousPartyBuild: one of three devices runs the malicious build
// with wrong-proofbob (a bad Bob proof in each signing's round 2). The
// 2-of-3 key generation is untouched by it and succeeds; each signature's
// first attempt, with the malicious device picked first, aborts blaming it
// alone, and the coordinator's retry signs with the two honest devices.
func TestMaliciousPartyBuild(t *testing.T) {
	maliciousParty(t) // build it before the cluster starts its clocks
	c := newCluster(t)
	c.startCoordinator(t)
	// evil first: the coordinator picks the first usable holders in order.
	names := []string{"evil", "honest1", "honest2"}
	for _, n := range names {
		c.enroll(t, n, false)
	}
	evil := c.devices["evil"]
	c.runMaliciousParty(t, evil, "wrong-proofbob, no-such-behaviour", nil)
	c.runParty(t, c.devices["honest1"])
	c.runParty(t, c.devices["honest2"])
	c.waitReady(t, names...)

	t.Run("the malicious party says what it does", func(t *testing.T) {
		if logLines(evil, "level=WARN", maliciousWarnLine, "behaviours=wrong-proofbob") != 1 {
			t.Errorf("evil's log has no Warn line %q with behaviours=wrong-proofbob:\n%s", maliciousWarnLine, evil.proc.stderr())
		}
		if logLines(evil, "level=ERROR", maliciousUnknownLine, "behaviour=no-such-behaviour") != 1 {
			t.Errorf("evil's log does not report the unknown behaviour at Error level:\n%s", evil.proc.stderr())
		}
		for _, n := range []string{"honest1", "honest2"} {
			if strings.Contains(c.devices[n].proc.stderr(), maliciousWarnLine) {
				t.Errorf("%s, the product build, says it is malicious", n)
			}
		}
	})

	key := c.createKey(t, names)
	checkSigners(t, key.Holders, names...)

	admin := mpcv1.NewAdminServiceClient(c.dialGRPC(t, "admin.token"))
	for i := range 2 {
		t.Run(fmt.Sprintf("signature %d is made without the malicious device", i), func(t *testing.T) {
			s := signAndVerify(t, c, key, fmt.Sprintf("malicious party build: signature %d", i))
			if slices.Contains(s.Signers, "evil") {
				t.Errorf("signers %v include the malicious device", s.Signers)
			}
			checkSigners(t, s.Signers, "honest1", "honest2")

			// The coordinator's records: the retry by the honest devices,
			// after a first attempt with evil that aborted blaming evil alone.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := admin.ListSessions(ctx, &mpcv1.ListSessionsRequest{Limit: 2})
			if err != nil {
				t.Fatalf("ListSessions: %v", err)
			}
			recs := resp.GetSessions()
			if len(recs) != 2 {
				t.Fatalf("the coordinator lists %d sessions, want 2: %v", len(recs), recs)
			}
			retry, aborted := recs[0], recs[1]
			if retry.GetKind() != "sign" || !retry.GetOk() || !sameNames(retry.GetDevices(), s.Signers) {
				t.Errorf("newest session %v: want the successful sign by %v", retry, s.Signers)
			}
			if aborted.GetKind() != "sign" || aborted.GetOk() || aborted.GetKeyId() != key.ID ||
				!slices.Contains(aborted.GetDevices(), "evil") || !slices.Equal(aborted.GetCulprits(), []string{"evil"}) {
				t.Errorf("session before it %v: want a failed sign with evil, culprits [evil] only", aborted)
			}
		})
	}

	t.Run("the malicious party tampered with its Bob proofs", func(t *testing.T) {
		// One SignRound2Message to the other signer per attempt with evil.
		if n := logLines(evil, maliciousTamperLine, "behaviour=wrong-proofbob", "type=binance.tsslib.ecdsa.signing.SignRound2Message"); n < 2 {
			t.Errorf("evil logged %d tampered Bob proofs, want at least 2 (one per signature)", n)
		}
	})

	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}
