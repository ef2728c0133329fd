package e2e

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// The normal reshare flows of mpcctl: a drill and its JSON report, a reshare
// to another committee, and a revocation with a replacement device. Each is
// the closing step of a crash test's cluster (reshare_crash_test.go): there
// it also proves that the crashes left nothing stuck, and it saves a key
// generation and a cluster per flow.

const (
	// crashEnv names the crash point a process kills itself at (-9).
	crashEnv = "MPCSIGN_TEST_CRASH_AT"
	// syncTimeout bounds a device's reconnect and its applying what the
	// coordinator says about a key (a hang guard, not a speed target).
	syncTimeout = 90 * time.Second
)

// reshareReport is the report of 'mpcctl drill/keys reshare --json' and a
// key's last_reshare.
type reshareReport struct {
	KeyID         string        `json:"key_id"`
	OK            bool          `json:"ok"`
	Error         string        `json:"error"`
	Committed     bool          `json:"committed"`
	FromEpoch     uint64        `json:"from_epoch"`
	ToEpoch       uint64        `json:"to_epoch"`
	OldThreshold  int           `json:"old_threshold"`
	NewThreshold  int           `json:"new_threshold"`
	OldCommittee  []string      `json:"old_committee"`
	NewCommittee  []string      `json:"new_committee"`
	PublicKey     string        `json:"public_key"`
	TestDigest    string        `json:"test_digest"`
	TestSignature string        `json:"test_signature"`
	Steps         []reshareStep `json:"steps"`
}

type reshareStep struct {
	Name       string `json:"name"`
	DurationMS uint64 `json:"duration_ms"`
	OK         bool   `json:"ok"`
	Detail     string `json:"detail"`
}

// keyState is 'mpcctl keys get --json': the key, its last reshare of any
// kind and its last drill.
type keyState struct {
	keyInfo
	LastReshare *reshareReport `json:"last_reshare"`
	LastDrill   *reshareReport `json:"last_drill"`
}

// reshareJob is an entry of 'mpcctl keys jobs --json'.
type reshareJob struct {
	KeyID        string   `json:"key_id"`
	State        string   `json:"state"`
	Reason       string   `json:"reason"`
	Detail       string   `json:"detail"`
	Attempts     int      `json:"attempts"`
	NewCommittee []string `json:"new_committee"`
	NewThreshold int      `json:"new_threshold"`
	Epoch        uint64   `json:"epoch"`
}

// partyShare is a share as 'party status --json' lists it.
type partyShare struct {
	KeyID     string `json:"key_id"`
	Epoch     uint64 `json:"epoch"`
	State     string `json:"state"`
	Threshold int    `json:"threshold"`
	PublicKey string `json:"public_key"`
}

// committedShare is the one share a device holds of key at epoch once a
// reshare is finished.
func committedShare(key keyInfo, epoch uint64) partyShare {
	return partyShare{KeyID: key.ID, Epoch: epoch, State: "committed", Threshold: key.Threshold, PublicKey: key.PublicKey}
}

// What an agent logs as it applies the coordinator's word about a key.
func logPromoted(keyID string, epoch uint64) string {
	return fmt.Sprintf(`msg="new key share committed" key=%s epoch=%d`, keyID, epoch)
}
func logErased(keyID string, epoch uint64) string {
	return fmt.Sprintf(`msg="retired key share erased" key=%s epoch=%d`, keyID, epoch)
}
func logDropped(keyID string, epoch uint64) string {
	return fmt.Sprintf(`msg="pending key share of an abandoned reshare dropped" key=%s epoch=%d`, keyID, epoch)
}

// runDevice starts d's agent for the reshare tests: with a pool of one
// pre-parameter set, so that no device generates safe primes (minutes of
// CPU) while the tests' protocols run as long as its fixture file lasts, and
// with the crash point crashAt armed when it is not empty.
func (c *cluster) runDevice(t testing.TB, d *device, crashAt string) *proc {
	t.Helper()
	var env []string
	if crashAt != "" {
		env = append(env, crashEnv+"="+crashAt)
	}
	return c.runPartyWith(t, d, env, "--preparams-pool", "1")
}

// ctlText runs mpcctl without --json, for what it shows a person.
func (c *cluster) ctlText(t testing.TB, args ...string) result {
	t.Helper()
	full := append([]string{bin("mpcctl"), "--coordinator-dir", c.coordDir}, args...)
	return c.runOnce(t, "mpcctl-"+args[0], c.env(), ctlTimeout, full...)
}

func (c *cluster) getKey(t testing.TB, id string) keyState {
	t.Helper()
	var k keyState
	c.ctlJSON(t, &k, "keys", "get", id)
	return k
}

// drill runs 'mpcctl drill --key ID --json' and returns its one report and
// mpcctl's exit status (1 when the drill failed).
func (c *cluster) drill(t testing.TB, keyID string) (reshareReport, int) {
	t.Helper()
	r := c.ctl(t, "drill", "--key", keyID)
	var reps []reshareReport
	if err := json.Unmarshal([]byte(r.stdout), &reps); err != nil || len(reps) != 1 {
		t.Fatalf("drill --key %s: exit %d, want one JSON report (%v)\nstdout:\n%s\nstderr:\n%s", keyID, r.code, err, r.stdout, r.stderr)
	}
	return reps[0], r.code
}

// sharesOf reads the shares of keyID that a stopped device holds, with
// 'party status --json', in epoch order.
func (c *cluster) sharesOf(t testing.TB, d *device, keyID string) []partyShare {
	t.Helper()
	if d.proc != nil && !d.proc.exited() {
		t.Fatalf("%s's agent still runs: stop it before reading its keystore", d.name)
	}
	r := c.runOnce(t, "party-status-"+d.name, c.partyEnv(d), enrolTimeout, d.partyArgs("status", "--json")...)
	var st struct {
		Device struct {
			Name string `json:"name"`
		} `json:"device"`
		Shares []partyShare `json:"shares"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.Device.Name != d.name {
		t.Fatalf("party status --json of %s: exit %d\nstdout:\n%s\nstderr:\n%s", d.name, r.code, r.stdout, r.stderr)
	}
	out := slices.DeleteFunc(st.Shares, func(s partyShare) bool { return s.KeyID != keyID })
	slices.SortFunc(out, func(a, b partyShare) int { return cmp.Compare(a.Epoch, b.Epoch) })
	return out
}

// checkShares requires a stopped device to hold exactly want of keyID.
func (c *cluster) checkShares(t testing.TB, d *device, keyID string, want ...partyShare) {
	t.Helper()
	if got := c.sharesOf(t, d, keyID); !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
		t.Errorf("%s holds these shares of key %s:\n  %+v\nwant:\n  %+v", d.name, keyID, got, want)
	}
}

// checkOneEpoch stops the named devices' agents, requires each to hold
// exactly one share of key, committed, at epoch (no older epoch left, no
// pending one), and starts them again.
func (c *cluster) checkOneEpoch(t testing.TB, key keyInfo, epoch uint64, names ...string) {
	t.Helper()
	for _, n := range names {
		stopParty(t, c.devices[n])
	}
	for _, n := range names {
		c.checkShares(t, c.devices[n], key.ID, committedShare(key, epoch))
	}
	for _, n := range names {
		c.runDevice(t, c.devices[n], "")
	}
	c.waitReady(t, names...)
}

// waitPartyLog waits until d's running agent has logged every one of lines.
func (c *cluster) waitPartyLog(t testing.TB, d *device, lines ...string) {
	t.Helper()
	deadline := time.Now().Add(syncTimeout)
	for {
		log := d.proc.stderr()
		missing := slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return strings.Contains(log, l) })
		if len(missing) == 0 {
			return
		}
		if d.proc.exited() {
			t.Fatalf("%s's agent exited (%s) before it logged %q\nstderr:\n%s", d.name, d.proc.cmd.ProcessState, missing, log)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's agent did not log %q within %s\nstderr:\n%s", d.name, missing, syncTimeout, log)
		}
		time.Sleep(pollEvery)
	}
}

// signAndVerify signs a digest of msg and verifies the signature
// independently under the key's public key.
func signAndVerify(t testing.TB, c *cluster, key keyInfo, msg string) signResult {
	t.Helper()
	digest := digestOf(msg)
	s := c.sign(t, key, digest)
	verifySignature(t, key.PublicKey, digest, s)
	return s
}

// sameNames reports whether two lists hold the same names, in any order.
func sameNames(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func subset(a, of []string) bool {
	for _, n := range a {
		if !slices.Contains(of, n) {
			return false
		}
	}
	return true
}

// verifyRSV checks a 65-byte r||s||v signature over digest with decred's
// secp256k1 only: it verifies, s is low, and v recovers the public key.
func verifyRSV(t testing.TB, pubHex string, digest []byte, rsvHex string) {
	t.Helper()
	pub, err := secp256k1.ParsePubKey(mustHex(t, "public key", pubHex, 33))
	if err != nil {
		t.Fatalf("public key does not parse: %v", err)
	}
	rsv := mustHex(t, "signature", rsvHex, 65)
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(rsv[:32]) || s.SetByteSlice(rsv[32:64]) || r.IsZero() || s.IsZero() {
		t.Fatalf("r or s of %x is out of range", rsv)
	}
	if s.IsOverHalfOrder() {
		t.Errorf("s of %x is not low", rsv)
	}
	if !ecdsa.NewSignature(&r, &s).Verify(digest, pub) {
		t.Errorf("signature %x does not verify over %x under %s", rsv, digest, pubHex)
	}
	if rsv[64] > 1 {
		t.Fatalf("recovery id %d, want 0 or 1", rsv[64])
	}
	rec, _, err := ecdsa.RecoverCompact(append([]byte{27 + 4 + rsv[64]}, rsv[:64]...), digest)
	if err != nil || !rec.IsEqual(pub) {
		t.Errorf("v = %d does not recover %s (%v)", rsv[64], pubHex, err)
	}
}

var reshareSteps = []string{"plan", "wait for devices", "reshare protocol", "test signature", "commit"}

// checkReport checks a successful reshare's report of key from epoch from
// to epoch to, with the new committee and threshold.
func checkReport(t testing.TB, rep reshareReport, key keyInfo, from, to uint64, committee []string, threshold int) {
	t.Helper()
	if rep.KeyID != key.ID || !rep.OK || !rep.Committed || rep.Error != "" || rep.FromEpoch != from || rep.ToEpoch != to {
		t.Errorf("report %+v: want key %s, ok, committed, no error, epoch %d -> %d", rep, key.ID, from, to)
	}
	if rep.PublicKey != key.PublicKey {
		t.Errorf("report's public key %s, want %s", rep.PublicKey, key.PublicKey)
	}
	if rep.OldThreshold != key.Threshold || rep.NewThreshold != threshold {
		t.Errorf("report's thresholds %d -> %d, want %d -> %d", rep.OldThreshold, rep.NewThreshold, key.Threshold, threshold)
	}
	// The old committee is t+1 holders of the old epoch.
	if len(rep.OldCommittee) != key.Threshold+1 || !subset(rep.OldCommittee, key.Holders) {
		t.Errorf("old committee %v: want %d of the holders %v", rep.OldCommittee, key.Threshold+1, key.Holders)
	}
	if !sameNames(rep.NewCommittee, committee) {
		t.Errorf("new committee %v, want %v", rep.NewCommittee, committee)
	}
	var names []string
	for _, s := range rep.Steps {
		names = append(names, s.Name)
		if !s.OK {
			t.Errorf("step %q failed: %s", s.Name, s.Detail)
		}
	}
	if !slices.Equal(names, reshareSteps) {
		t.Errorf("steps %q, want %q", names, reshareSteps)
	}
	if i := slices.Index(names, "commit"); i >= 0 && rep.Steps[i].Detail != fmt.Sprintf("epoch %d committed", to) {
		t.Errorf("commit step says %q, want %q", rep.Steps[i].Detail, fmt.Sprintf("epoch %d committed", to))
	}
	// The test signature of the new shares verifies under the same key.
	verifyRSV(t, key.PublicKey, mustHex(t, "test digest", rep.TestDigest, 32), rep.TestSignature)
}

// checkDrill runs 'mpcctl drill --key ID --json' on a key at epoch from:
// it must succeed to epoch to on the same committee, report each step, and
// be the key's last reshare.
func checkDrill(t testing.TB, c *cluster, key keyInfo, from, to uint64) {
	t.Helper()
	rep, code := c.drill(t, key.ID)
	if code != 0 {
		t.Fatalf("drill failed (exit %d): %+v", code, rep)
	}
	checkReport(t, rep, key, from, to, key.Holders, key.Threshold)
	k := c.getKey(t, key.ID)
	if k.Epoch != to || k.PublicKey != key.PublicKey || !sameNames(k.Holders, key.Holders) || k.Threshold != key.Threshold {
		t.Errorf("after the drill keys get says %+v, want epoch %d and the rest unchanged from %+v", k.keyInfo, to, key)
	}
	if k.LastReshare == nil || !reflect.DeepEqual(*k.LastReshare, rep) {
		t.Errorf("last_reshare of the key is %+v, want the drill's report %+v", k.LastReshare, rep)
	}
	if k.LastDrill == nil || !reflect.DeepEqual(*k.LastDrill, rep) {
		t.Errorf("last_drill of the key is %+v, want the drill's report %+v", k.LastDrill, rep)
	}
	c.checkOneEpoch(t, key, to, key.Holders...)
	signAndVerify(t, c, key, fmt.Sprintf("after the drill to epoch %d", to))
}

// checkReshareTo runs 'mpcctl keys reshare' of a key at epoch from to the
// devices with a threshold: the key keeps its public key, its new holders
// hold epoch to only and sign, and a holder left out keeps no share.
func checkReshareTo(t testing.TB, c *cluster, key keyInfo, from, to uint64, devices []string, threshold int) keyInfo {
	t.Helper()
	var out struct {
		Key    keyState      `json:"key"`
		Report reshareReport `json:"report"`
	}
	c.waitReady(t, devices...)
	c.ctlJSON(t, &out, "keys", "reshare", key.ID, "--devices", strings.Join(devices, ","), "--threshold", strconv.Itoa(threshold))
	checkReport(t, out.Report, key, from, to, devices, threshold)
	nk := out.Key.keyInfo
	if nk.ID != key.ID || nk.PublicKey != key.PublicKey || nk.Epoch != to || nk.Threshold != threshold || !sameNames(nk.Holders, devices) {
		t.Errorf("reshared key %+v: want %s, same public key, epoch %d, threshold %d, holders %v", nk, key.ID, to, threshold, devices)
	}
	if got := c.getKey(t, key.ID); !reflect.DeepEqual(got.keyInfo, nk) {
		t.Errorf("keys get says %+v, keys reshare said %+v", got.keyInfo, nk)
	}
	nk.Holders = devices
	s := signAndVerify(t, c, nk, fmt.Sprintf("after the reshare to epoch %d", to))
	if !subset(s.Signers, devices) {
		t.Errorf("signers %v are not all in the new committee %v", s.Signers, devices)
	}
	c.checkOneEpoch(t, nk, to, devices...)
	// Old holders erase the old epoch: one left out of the new committee,
	// online all along, must hold nothing of the key any more.
	for _, n := range key.Holders {
		if slices.Contains(devices, n) {
			continue
		}
		stopParty(t, c.devices[n])
		if left := c.sharesOf(t, c.devices[n], key.ID); len(left) > 0 {
			t.Errorf("%s, left out of the new committee and online all along, still holds %+v of key %s after epoch %d was committed: old holders must erase the old epoch", n, left, key.ID, to)
		}
	}
	return nk
}

var revokedRE = regexp.MustCompile(`(?m)^device "([^"]+)" \(([0-9a-f]+)\) revoked$`)

// checkRevokeReplace revokes a holder of key (at epoch from) with a
// replacement, following the per-key progress as an operator sees it: the
// key is reshared to epoch to on the other holders plus the replacement,
// keeps its public key, signs with the replacement, and the revoked device's
// share is left alone at a retired epoch that no other device holds.
func checkRevokeReplace(t testing.TB, c *cluster, key keyInfo, from, to uint64, revoked, repl string) keyInfo {
	t.Helper()
	holders := append(slices.DeleteFunc(slices.Clone(key.Holders), func(n string) bool { return n == revoked }), repl)
	r := c.ctlText(t, "devices", "revoke", revoked, "--replace-with", repl)
	if r.code != 0 {
		t.Fatalf("devices revoke %s --replace-with %s: exit %d\nstdout:\n%s\nstderr:\n%s", revoked, repl, r.code, r.stdout, r.stderr)
	}
	if m := revokedRE.FindStringSubmatch(r.stdout); m == nil || m[1] != revoked || !strings.Contains(r.stdout, "resharing 1 key(s) without it:") {
		t.Errorf("devices revoke does not say it revoked %s and reshares its one key:\n%s", revoked, r.stdout)
	}
	// The progress ends with the key's line saying it is done.
	doneRE := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(key.ID) + `  done +reshared to epoch ` + strconv.FormatUint(to, 10) + `: ([a-z, ]+) \(t=` + strconv.Itoa(key.Threshold) + `\)$`)
	if m := doneRE.FindStringSubmatch(r.stdout); m == nil || !sameNames(strings.Split(m[1], ", "), holders) {
		t.Errorf("the progress does not end with %s done, reshared to epoch %d on %v:\n%s", key.ID, to, holders, r.stdout)
	}

	var jobs []reshareJob
	c.ctlJSON(t, &jobs, "keys", "jobs")
	i := slices.IndexFunc(jobs, func(j reshareJob) bool { return j.KeyID == key.ID })
	if i < 0 {
		t.Fatalf("keys jobs lists no job for %s: %+v", key.ID, jobs)
	}
	if j := jobs[i]; j.State != "done" || j.Epoch != to || j.Attempts < 1 || !sameNames(j.NewCommittee, holders) ||
		j.NewThreshold != key.Threshold || !strings.Contains(j.Reason, "revoked "+revoked) {
		t.Errorf("job %+v: want done, epoch %d, new committee %v (t=%d), reason naming %s", j, to, holders, key.Threshold, revoked)
	}
	k := c.getKey(t, key.ID)
	if k.Epoch != to || k.PublicKey != key.PublicKey || k.Threshold != key.Threshold || !sameNames(k.Holders, holders) {
		t.Errorf("keys get says %+v, want epoch %d, holders %v, the same public key and threshold", k.keyInfo, to, holders)
	}
	if k.LastReshare == nil || !k.LastReshare.OK || k.LastReshare.FromEpoch != from || k.LastReshare.ToEpoch != to {
		t.Errorf("last_reshare %+v: want ok, epoch %d -> %d", k.LastReshare, from, to)
	}

	// The revoked agent is cut off; its share stays behind at the old epoch.
	d := c.devices[revoked]
	if !d.proc.wait(syncTimeout) {
		t.Fatalf("%s's agent still runs %s after its revocation", revoked, syncTimeout)
	}
	if code := d.proc.exitCode(); code != 1 || !strings.Contains(d.proc.stderr(), "device is revoked") {
		t.Errorf("revoked agent exited with code %d, want 1 and 'device is revoked'", code)
	}
	left := c.sharesOf(t, d, key.ID)
	for _, s := range left {
		if s.Epoch >= to {
			t.Errorf("the revoked %s holds epoch %d of the key, reshared to %d without it", revoked, s.Epoch, to)
		}
	}
	nk := k.keyInfo
	nk.Holders = holders
	// Every remaining holder holds epoch to only: the revoked share has no
	// partner of its epoch left.
	c.checkOneEpoch(t, nk, to, holders...)

	// The replacement's share signs: stop a holder other than it.
	other := holders[0]
	stopParty(t, c.devices[other])
	c.waitOffline(t, other)
	s := signAndVerify(t, c, nk, "after the revocation of "+revoked)
	if !slices.Contains(s.Signers, repl) || slices.Contains(s.Signers, revoked) {
		t.Errorf("signers %v: want the replacement %s and not the revoked %s", s.Signers, repl, revoked)
	}
	c.runDevice(t, c.devices[other], "")
	c.waitReady(t, other)
	return nk
}
