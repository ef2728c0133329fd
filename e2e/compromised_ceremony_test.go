package e2e

// The compromised coordinator against the devices' own checks of what the
// operators signed: a KeySync that moves keys on without a commit
// certificate (forge-key-sync), and keygens and drills run under a replayed,
// an expired or no operator authorization (skip-ceremony-checks). See
// compromised_test.go for the harness.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// readAuthorizationFile reads a file 'mpcctl ... --authorization-out' wrote
// (encoding/json of the ceremony's body and the signatures, base64) as the
// attacker would send it on the wire, with the ceremony it signs.
func readAuthorizationFile(t testing.TB, path string) (*mpcv1.Authorization, roster.Ceremony) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the authorization file: %v", err)
	}
	var f struct {
		Body       []byte `json:"body"`
		Signatures []struct {
			Key []byte `json:"key"`
			Sig []byte `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(b, &f); err != nil || len(f.Body) == 0 || len(f.Signatures) == 0 {
		t.Fatalf("%s is not a signed authorization (%v):\n%s", path, err, b)
	}
	c, err := roster.DecodeCeremony(f.Body)
	if err != nil {
		t.Fatalf("%s: the ceremony does not decode: %v", path, err)
	}
	a := &mpcv1.Authorization{Body: f.Body}
	for _, s := range f.Signatures {
		a.Signatures = append(a.Signatures, &mpcv1.RosterSignature{Key: s.Key, Signature: s.Sig})
	}
	return a, c
}

// writeAuthorizationOut runs the operator's mpcctl with --authorization-out
// FILE: it signs the ceremony, writes it and runs nothing.
func (c *cluster) writeAuthorizationOut(t testing.TB, op *operator, file string, args ...string) {
	t.Helper()
	r := c.opCtl(t, op, append(args, "--authorization-out", file)...)
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "nothing was run") {
		t.Fatalf("mpcctl %s --authorization-out: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("mpcctl %s --authorization-out wrote nothing: %v", strings.Join(args, " "), err)
	}
}

// liveStatus is the running agent's own view ('party status --json' over
// its local socket): its pool level and the shares its keystore holds.
func (c *cluster) liveStatus(t testing.TB, d *device) (pool int, shares []partyShare) {
	t.Helper()
	r := c.runOnce(t, "party-status-"+d.name, c.env(), enrolTimeout, d.partyArgs("status", "--json")...)
	var st struct {
		Live           bool `json:"live"`
		PreparamsReady int  `json:"preparams_ready"`
		Device         struct {
			Name string `json:"name"`
		} `json:"device"`
		Shares []partyShare `json:"shares"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || !st.Live || st.Device.Name != d.name {
		t.Fatalf("live party status --json of %s: exit %d\nstdout:\n%s\nstderr:\n%s", d.name, r.code, r.stdout, r.stderr)
	}
	return st.PreparamsReady, st.Shares
}

// poolLevels is each running device's pre-parameter pool level, by name.
func (c *cluster) poolLevels(t testing.TB, ds ...*device) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, d := range ds {
		out[d.name], _ = c.liveStatus(t, d)
	}
	return out
}

// logLines counts the lines of d's agent log that contain every one of subs.
func logLines(d *device, subs ...string) int {
	n := 0
	for _, l := range strings.Split(d.proc.stderr(), "\n") {
		if !slices.ContainsFunc(subs, func(s string) bool { return !strings.Contains(l, s) }) {
			n++
		}
	}
	return n
}

// waitLogLines waits until d's agent has logged at least n lines with every
// one of subs.
func (c *cluster) waitLogLines(t testing.TB, d *device, n int, subs ...string) {
	t.Helper()
	deadline := time.Now().Add(syncTimeout)
	for {
		got := logLines(d, subs...)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s logged %d lines with %q within %s, want %d\nstderr:\n%s", d.name, got, subs, syncTimeout, n, d.proc.stderr())
		}
		time.Sleep(pollEvery)
	}
}

// refusedSession is what an agent logs as it refuses a session start.
const refusedSession = `msg="refused a session"`

// attackWith calls the admin API with the admin token alone, as the
// attacker who owns the coordinator's machine does.
func attackWith(t testing.TB, call func(context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return call(ctx)
}

// refusedByDevice requires e to be a device's refusal (not the
// coordinator's) of an unauthorized ceremony, naming want.
func refusedByDevice(t testing.TB, what string, e rpcError, want ...string) {
	t.Helper()
	expectRPC(t, e, codes.PermissionDenied, append([]string{"the operators did not authorize this ceremony"}, want...)...)
	if !strings.Contains(e.Msg, "device phone refused") && !strings.Contains(e.Msg, "device laptop refused") {
		t.Errorf("%s: %q is not a refusal by a device (phone or laptop)", what, e.Msg)
	}
}

// TestCompromisedCoordinatorForgesKeySync: the operator signs phone and
// laptop onto the roster and a 2-of-2 key is made under the operator's
// signed keygen. Then the coordinator is taken over (restarted from its
// data directory as the compromised build with forge-key-sync): on every
// connect it tells each device that its key moved to the next epoch, with
// no commit certificate. A device believing it would erase its share (the
// key would be lost: 2-of-2). Each device refuses, logs it and reports it
// (audited as device.refused, "key_sync: ..."), keeps its committed share,
// and once the honest coordinator is back the key signs with both original
// shares under the same public key.
func TestCompromisedCoordinatorForgesKeySync(t *testing.T) {
	evil := compromisedCoordinator(t)
	c := newCluster(t)
	c.startCoordinator(t)
	op := c.newOperator(t, "alice")
	genesis := c.initRoster(t, op)
	phone := c.enrollSigned(t, op, "phone", genesis)
	laptop := c.enrollSigned(t, op, "laptop", genesis)
	devs := []enrolled{phone, laptop}
	c.runParty(t, phone.device)
	c.runParty(t, laptop.device)
	c.waitReady(t, "phone", "laptop")

	var key keyInfo
	c.opJSON(t, op, &key, "keys", "create", "--threshold", "1", "--devices", "phone,laptop")
	c.newRequester(t, op, "wallet", "--keys", key.ID)
	if key.Epoch != 0 || key.Threshold != 1 {
		t.Fatalf("keys create printed %+v: want a 2-of-2 key at epoch 0", key)
	}
	checkSigners(t, key.Holders, "phone", "laptop")
	s := signAndVerify(t, c, key, "forged key sync: before")
	checkSigners(t, s.Signers, "phone", "laptop")

	// The coordinator's machine is taken over.
	c.restartAs(t, evil, compromisedEnv+"=forge-key-sync")

	var refusals []auditlog.Entry
	t.Run("each device refuses the key sync without a certificate", func(t *testing.T) {
		// The KeySync comes first thing on a new link; the refusal at once.
		c.waitReady(t, "phone", "laptop")
		const refusalWait = 30 * time.Second
		deadline := time.Now().Add(refusalWait)
		for {
			entries := c.auditLog(t)
			refusals = auditWith(entries, "device.refused", func(auditlog.Entry) bool { return true })
			var have []string
			for _, e := range refusals {
				have = append(have, e.Devices...)
			}
			if slices.Contains(have, "phone") && slices.Contains(have, "laptop") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s after the devices reconnected, device.refused entries only for %v; audit log:\n%s", refusalWait, have, auditDump(entries))
			}
			time.Sleep(pollEvery)
		}
		for _, d := range devs {
			got := auditWith(refusals, "device.refused", func(e auditlog.Entry) bool { return slices.Equal(e.Devices, []string{d.name}) })
			if len(got) == 0 {
				t.Errorf("no device.refused entry for %s", d.name)
			}
			for _, e := range got {
				if e.Actor != "device:"+d.id || e.Result != "refused" || e.KeyID != key.ID || !strings.HasPrefix(e.Detail, "key_sync: ") ||
					!strings.Contains(e.Detail, "epoch 1 of key "+key.ID+" is said to be committed") || !strings.Contains(e.Detail, "without a commit certificate") {
					t.Errorf("%s's refusal is audited as actor %q key %q result %q detail %q; want actor device:%s, key %s, result refused, a key_sync refusal of epoch 1 with no commit certificate",
						d.name, e.Actor, e.KeyID, e.Result, e.Detail, d.id, key.ID)
				}
			}
			log := d.proc.stderr()
			if logLines(d.device, "refused the coordinator's key state", "key="+key.ID, "without a commit certificate") == 0 {
				t.Errorf("%s's log does not show it refused the forged key state", d.name)
			}
			if strings.Contains(log, logErased(key.ID, 0)) {
				t.Errorf("%s logged that it erased its share of %s: %q", d.name, key.ID, logErased(key.ID, 0))
			}
		}
		for _, e := range refusals {
			if !slices.Contains([]string{"phone", "laptop"}, strings.Join(e.Devices, ",")) || !strings.HasPrefix(e.Detail, "key_sync: ") {
				t.Errorf("unexpected refusal: %+v", e)
			}
		}
	})

	t.Run("no share was erased", func(t *testing.T) {
		// The running agents' own view of their keystores, while the
		// compromised coordinator still serves them.
		for _, d := range devs {
			_, shares := c.liveStatus(t, d.device)
			shares = slices.DeleteFunc(shares, func(s partyShare) bool { return s.KeyID != key.ID })
			if want := []partyShare{committedShare(key, 0)}; !slices.Equal(shares, want) {
				t.Errorf("under the forged key sync %s holds these shares of %s:\n  %+v\nwant:\n  %+v", d.name, key.ID, shares, want)
			}
		}
	})

	// The operators take the coordinator back: the product build on the
	// same data directory. Its sync (epoch 0, as committed) is no refusal.
	c.restartAs(t, bin("coordinator"))
	c.waitReady(t, "phone", "laptop")

	t.Run("the key still signs with both original shares", func(t *testing.T) {
		got := c.getKey(t, key.ID)
		if got.PublicKey != key.PublicKey || got.Epoch != key.Epoch || got.Threshold != key.Threshold {
			t.Errorf("after the forged key sync the key is %+v, want it as created: %+v", got.keyInfo, key)
		}
		checkSigners(t, got.Holders, "phone", "laptop")
		// 2-of-2: each signature needs both shares of epoch 0.
		for i := range 2 {
			s := signAndVerify(t, c, key, fmt.Sprintf("forged key sync: after %d", i))
			checkSigners(t, s.Signers, "phone", "laptop")
			if s.PublicKey != "" && s.PublicKey != key.PublicKey {
				t.Errorf("signed under public key %s, want %s", s.PublicKey, key.PublicKey)
			}
		}
		// Each device applied the honest coordinator's sync (sent before
		// any session on its link, and any refusal before the signature's
		// messages): none refused it.
		after := auditWith(c.auditLog(t), "device.refused", func(auditlog.Entry) bool { return true })
		if len(after) != len(refusals) {
			t.Errorf("the devices refused the honest coordinator's key sync:\n%s", auditDump(after[len(refusals):]))
		}
	})

	t.Run("no secret in any log", func(t *testing.T) {
		if leaks := c.scanLogs(t, []secret{operatorSecret(op)}); len(leaks) > 0 {
			t.Errorf("leaks: %+v", leaks)
		}
	})
	// Stops the devices and reads their keystores: one committed share of
	// epoch 0 each.
	c.checkKeysAndShares(t, []keyInfo{key}, "phone", "laptop")
	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}

// TestCompromisedCoordinatorReplaysCeremonies: the operator makes a 2-of-2
// key under a keygen authorization written to a file first (--authorization-
// out, then --authorization). Then the coordinator is taken over (restarted
// as the compromised build with skip-ceremony-checks: it runs whatever it is
// asked) and the attacker, holding the admin token only, calls the admin API:
//   - the spent keygen authorization, replayed for the same committee: each
//     device refuses it as already used, no key is made;
//   - a drill authorization the operator signed valid for a second, sent
//     once expired: the devices refuse it, the key's epoch does not move;
//   - keygens with no authorization at all, three times: refused each time.
//
// No refusal takes a pre-parameter set (each device's pool level is the
// same before and after), no device keeps a share of anything but the key,
// and the key still signs with both shares.
func TestCompromisedCoordinatorReplaysCeremonies(t *testing.T) {
	evil := compromisedCoordinator(t)
	c := newCluster(t)
	c.startCoordinator(t)
	op := c.newOperator(t, "alice")
	genesis := c.initRoster(t, op)
	phone := c.enrollSigned(t, op, "phone", genesis)
	laptop := c.enrollSigned(t, op, "laptop", genesis)
	devs := []*device{phone.device, laptop.device}
	c.runParty(t, phone.device)
	c.runParty(t, laptop.device)
	c.waitReady(t, "phone", "laptop")

	// The operator signs the keygen to a file, then runs it under that file.
	keygenFile := filepath.Join(c.dir, "keygen-authorization.json")
	c.writeAuthorizationOut(t, op, keygenFile, "keys", "create", "--threshold", "1", "--devices", "phone,laptop")
	if keys := c.listKeys(t); len(keys) != 0 {
		t.Fatalf("keys create --authorization-out made keys: %+v", keys)
	}
	keygenAuth, keygenCer := readAuthorizationFile(t, keygenFile)
	if keygenCer.Kind != roster.CeremonyKeygen || keygenCer.Threshold != 1 || !sameNames(keygenCer.Committee, []string{phone.id, laptop.id}) {
		t.Fatalf("the keygen authorization signs %+v: want a keygen of phone and laptop, threshold 1", keygenCer)
	}
	var key keyInfo
	c.opJSON(t, op, &key, "keys", "create", "--threshold", "1", "--devices", "phone,laptop", "--authorization", keygenFile)
	c.newRequester(t, op, "wallet", "--keys", key.ID)
	checkSigners(t, key.Holders, "phone", "laptop")
	s := signAndVerify(t, c, key, "replayed ceremonies: before")
	checkSigners(t, s.Signers, "phone", "laptop")

	// The coordinator's machine is taken over.
	c.restartAs(t, evil, compromisedEnv+"=skip-ceremony-checks")
	c.waitReady(t, "phone", "laptop")
	admin := mpcv1.NewAdminServiceClient(c.dialGRPC(t, "admin.token"))

	pools := c.poolLevels(t, devs...)
	for n, ready := range pools {
		if ready < 1 {
			t.Fatalf("%s's pool holds %d pre-parameter sets: a keygen would wait, not be refused", n, ready)
		}
	}
	t.Logf("pre-parameter pools before the attacks: %v", pools)
	samePools := func(t *testing.T, after string) {
		t.Helper()
		if got := c.poolLevels(t, devs...); !maps.Equal(got, pools) {
			t.Errorf("pre-parameter pools after %s: %v, before the attacks: %v (sets burned)", after, got, pools)
		}
	}
	sameKey := func(t *testing.T, after string) {
		t.Helper()
		if keys := c.listKeys(t); len(keys) != 1 || keys[0].ID != key.ID {
			t.Errorf("after %s the coordinator lists keys %+v, want only %s", after, keys, key.ID)
		}
		got := c.getKey(t, key.ID)
		if got.PublicKey != key.PublicKey || got.Epoch != key.Epoch || got.Threshold != key.Threshold || !sameNames(got.Holders, key.Holders) {
			t.Errorf("after %s the key is %+v, want it as created: %+v", after, got.keyInfo, key)
		}
	}

	t.Run("a spent keygen authorization replayed is refused by every device", func(t *testing.T) {
		err := attackWith(t, func(ctx context.Context) error {
			_, err := admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: uint32(keygenCer.Threshold),
				Devices: keygenCer.Committee, Authorization: keygenAuth})
			return err
		})
		refusedByDevice(t, "the replayed keygen", grpcErr(t, err), "already used")
		// Every device got the session start before any abort, and checks
		// it on receipt: each refused it on its own record.
		for _, d := range devs {
			c.waitLogLines(t, d, 1, refusedSession, "already used (a replay)")
		}
		sameKey(t, "the replayed keygen")
		samePools(t, "the replayed keygen")
	})

	t.Run("an expired drill authorization is refused and the epoch does not move", func(t *testing.T) {
		drillFile := filepath.Join(c.dir, "drill-authorization.json")
		c.writeAuthorizationOut(t, op, drillFile, "drill", "--key", key.ID, "--valid-for", "1s")
		drillAuth, drillCer := readAuthorizationFile(t, drillFile)
		if drillCer.Kind != roster.CeremonyDrill || drillCer.KeyID != key.ID || drillCer.Epoch != key.Epoch {
			t.Fatalf("the drill authorization signs %+v: want a drill of %s at epoch %d", drillCer, key.ID, key.Epoch)
		}
		// Past its window by a whole second on the devices' clocks.
		for time.Now().Unix() <= drillCer.NotAfter+1 {
			time.Sleep(100 * time.Millisecond)
		}
		var resp *mpcv1.DrillKeyResponse
		err := attackWith(t, func(ctx context.Context) error {
			var err error
			resp, err = admin.DrillKey(ctx, &mpcv1.DrillKeyRequest{KeyId: key.ID, Authorization: drillAuth})
			return err
		})
		// A drill that fails reports it (the RPC itself succeeds).
		var why string
		if err != nil {
			e := grpcErr(t, err)
			why = e.Msg
		} else {
			rep := resp.GetReport()
			if rep.GetOk() || rep.GetCommitted() || resp.GetKey().GetEpoch() != key.Epoch {
				t.Errorf("the expired drill's report: ok %v committed %v, key at epoch %d; want failed, uncommitted, epoch %d",
					rep.GetOk(), rep.GetCommitted(), resp.GetKey().GetEpoch(), key.Epoch)
			}
			why = rep.GetError()
		}
		if !strings.Contains(why, "outside its validity window") ||
			(!strings.Contains(why, "device phone refused") && !strings.Contains(why, "device laptop refused")) {
			t.Errorf("the expired drill failed with %q: want a device's refusal of an authorization outside its validity window", why)
		}
		for _, d := range devs {
			c.waitLogLines(t, d, 1, refusedSession, "outside its validity window")
		}
		sameKey(t, "the expired drill")
		samePools(t, "the expired drill")
	})

	t.Run("keygens without authorization are refused each time", func(t *testing.T) {
		const attempts = 3
		for i := range attempts {
			err := attackWith(t, func(ctx context.Context) error {
				_, err := admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Threshold: 1, Devices: []string{"phone", "laptop"}})
				return err
			})
			refusedByDevice(t, fmt.Sprintf("unauthorized keygen %d", i+1), grpcErr(t, err), "no operator authorization")
			for _, d := range devs {
				c.waitLogLines(t, d, i+1, refusedSession, "carries no operator authorization")
			}
		}
		sameKey(t, "the unauthorized keygens")
		samePools(t, "the unauthorized keygens")
		// Nothing was burned: not even the refill started.
		c.assertNoPreparamsGenerated(t)
	})

	t.Run("the key still signs with both shares", func(t *testing.T) {
		for i := range 2 {
			s := signAndVerify(t, c, key, fmt.Sprintf("replayed ceremonies: after %d", i))
			checkSigners(t, s.Signers, "phone", "laptop")
		}
	})

	t.Run("the audit trail keeps the refused attempts", func(t *testing.T) {
		entries := c.auditLog(t)
		if got := auditWith(entries, "key.create", func(e auditlog.Entry) bool { return e.Result == "ok" }); len(got) != 1 || got[0].KeyID != key.ID {
			t.Errorf("want one key.create entry, for %s; found:\n%s", key.ID, auditDump(got))
		}
		failed := auditWith(entries, "key.create", func(e auditlog.Entry) bool { return e.Result == "failed" })
		replays := auditWith(failed, "key.create", func(e auditlog.Entry) bool { return strings.Contains(e.Detail, "already used") })
		bare := auditWith(failed, "key.create", func(e auditlog.Entry) bool { return strings.Contains(e.Detail, "no operator authorization") })
		if len(failed) != 4 || len(replays) != 1 || len(bare) != 3 {
			t.Errorf("want 4 failed key.create entries, 1 naming the replay and 3 the missing authorization; found:\n%s", auditDump(failed))
		}
		drills := auditWith(entries, "key.drill", func(auditlog.Entry) bool { return true })
		if len(drills) != 1 || drills[0].Result != "failed" || drills[0].KeyID != key.ID || !strings.Contains(drills[0].Detail, "abandoned") ||
			!strings.Contains(drills[0].Detail, "validity window") {
			t.Errorf("want one failed key.drill entry for %s, abandoned, naming the validity window; found:\n%s", key.ID, auditDump(drills))
		}
		if t.Failed() {
			t.Logf("audit log:\n%s", auditDump(entries))
		}
	})

	t.Run("no secret in any log", func(t *testing.T) {
		if leaks := c.scanLogs(t, []secret{operatorSecret(op)}); len(leaks) > 0 {
			t.Errorf("leaks: %+v", leaks)
		}
	})
	// Stops the devices and reads their keystores: the key's committed
	// share of epoch 0, no pending share of the drill, nothing else.
	c.checkKeysAndShares(t, []keyInfo{key}, "phone", "laptop")
	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}
