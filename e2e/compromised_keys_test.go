package e2e

// The compromised coordinator against the operator's own check of a key
// (forge-keys, forge-key-path, forge-key-child, swap-keys): mpcctl keys get,
// derive and create show a key as attested only when its holders' signed
// attestations verify against the operator's pinned roster, and show the
// addresses and children computed on the operator's machine. See
// compromised_test.go for the harness.

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

// childPath is the derived key the tests ask for, and childSteps its steps.
const childPath = "m/44/60/0/0/7"

var childSteps = []uint32{44, 60, 0, 0, 7}

// keyAttestations is the "attestations" object of mpcctl's key output.
type keyAttestations struct {
	Verified bool     `json:"verified"`
	By       []string `json:"attested_by"`
	Error    string   `json:"error"`
}

// derivedView is 'mpcctl keys derive --json', and the "derived" object of
// 'keys get --path --json'.
type derivedView struct {
	Path         string            `json:"path"`
	PublicKey    string            `json:"public_key"`
	Addresses    map[string]string `json:"addresses"`
	Attestations *keyAttestations  `json:"attestations"`
}

// keyView is 'mpcctl keys get/create --json' with a pinned roster.
type keyView struct {
	keyInfo
	ChainCode    string            `json:"chain_code"`
	Addresses    map[string]string `json:"addresses"`
	Derived      *derivedView      `json:"derived"`
	Attestations *keyAttestations  `json:"attestations"`
}

// opText runs mpcctl as the operator without --json: what a person reads.
func (c *cluster) opText(t testing.TB, op *operator, args ...string) result {
	t.Helper()
	full := append([]string{bin("mpcctl"), "--coordinator-dir", c.coordDir}, args...)
	full = append(full, "--operator-dir", op.dir)
	return c.runOnce(t, "mpcctl-op-text-"+args[0], c.env("MPC_OPERATOR_PASSPHRASE="+op.pass), ctlTimeout, full...)
}

// shownKey runs an mpcctl key command as the operator and decodes its
// JSON output into v; it requires success and a verdict on the holders'
// attestations in the output (else the test fails, and goes on if the
// output decoded: ok).
func (c *cluster) shownKey(t testing.TB, op *operator, v any, args ...string) (ok bool) {
	t.Helper()
	r := c.opCtl(t, op, args...)
	if r.code != 0 {
		t.Errorf("mpcctl %s: exit %d, want the key shown with a verdict on its attestations\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		return false
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Errorf("mpcctl %s: output is not the expected JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
		return false
	}
	if !strings.Contains(r.stdout, `"attestations"`) {
		t.Errorf("mpcctl %s printed no verdict on the holders' attestations (the coordinator's word shown as is):\n%s", strings.Join(args, " "), r.stdout)
	}
	return true
}

// notVerified requires a key shown under attack to be NOT VERIFIED, with a
// reason, and what it shows to differ from the genuine key's (the attack
// took effect: the coordinator's forgery is shown, marked as such).
func notVerified(t testing.TB, what string, a *keyAttestations, shown, genuine string) {
	t.Helper()
	switch {
	case a == nil:
		t.Errorf("%s: no verdict on the attestations", what)
	case a.Verified || len(a.By) > 0 || a.Error == "":
		t.Errorf("%s: attestations %+v with public key %s (the genuine one is %s): want NOT VERIFIED with a reason", what, *a, shown, genuine)
	}
	if shown == genuine {
		t.Errorf("%s: shows the genuine public key %s: the coordinator's forgery did not take effect", what, shown)
	}
}

// refused requires an mpcctl key command run under attack to fail, saying
// why (want), and to show no key at all.
func (c *cluster) refused(t testing.TB, op *operator, want string, args ...string) {
	t.Helper()
	r := c.opCtl(t, op, args...)
	if r.code != 1 || !strings.Contains(r.stderr, want) || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("mpcctl %s under attack: exit %d\nstdout: %s\nstderr: %s\nwant exit 1, nothing shown, and a refusal naming %q", strings.Join(args, " "), r.code, r.stdout, r.stderr, want)
	}
}

// TestCompromisedCoordinatorForgesKeys: three devices on an operator-signed
// roster make a 2-of-3 key K; the operator records what mpcctl shows of it
// (attested by all three, the addresses and the child at m/44/60/0/0/7
// computed here). Then the coordinator is taken over (restarted as the
// compromised build) and lies about keys:
//
//   - forge-keys: K's public key and addresses, and its child, are the
//     attacker's own (the holders' attestations kept); keys get, get --path
//     and derive show them NOT VERIFIED, and so does keys create of a second
//     key K2, whose real keygen the coordinator runs and misreports;
//   - forge-key-path: K is genuine but its child is the one at
//     m/44/60/0/0/6; get --path and derive refuse it;
//   - forge-key-child: K is genuine, the child the attacker's; refused;
//   - swap-keys: asked for K, the coordinator answers with K2 (genuine and
//     attested); refused.
//
// The genuine key is never shown attested with another public key or
// child. Back on the product build, K and K2 are attested by their holders
// as before, K signs, and each device holds its share of both.
func TestCompromisedCoordinatorForgesKeys(t *testing.T) {
	evil := compromisedCoordinator(t)
	c := newCluster(t)
	c.startCoordinator(t)
	op := c.newOperator(t, "alice")
	genesis := c.initRoster(t, op)
	names := []string{"phone", "laptop", "server"}
	for _, n := range names {
		c.enrollSigned(t, op, n, genesis)
	}
	for _, n := range names {
		c.runParty(t, c.devices[n])
	}
	c.waitReady(t, names...)

	var key keyInfo
	c.opJSON(t, op, &key, "keys", "create", "--threshold", "1", "--devices", strings.Join(names, ","))
	c.newRequester(t, op, "wallet", "--keys", key.ID)

	// What the operator sees of K from the honest coordinator: attested by
	// all three, addresses and child as computed here independently.
	var genuine keyView
	if !c.shownKey(t, op, &genuine, "keys", "get", key.ID, "--path", childPath) {
		t.FailNow()
	}
	pub := mustHex(t, "public key", genuine.PublicKey, 33)
	child := bip32Child(t, pub, mustHex(t, "chain code", genuine.ChainCode, 32), childSteps...)
	if a := genuine.Attestations; a == nil || !a.Verified || len(a.By) != 3 || genuine.PublicKey != key.PublicKey {
		t.Fatalf("keys get %s from the honest coordinator: %+v, attestations %+v: want it attested by its three holders", key.ID, genuine.keyInfo, genuine.Attestations)
	}
	checkAddresses(t, "the genuine key", pub, genuine.Addresses)
	if d := genuine.Derived; d == nil || d.Path != childPath || d.PublicKey != hex.EncodeToString(child) {
		t.Fatalf("keys get %s --path %s from the honest coordinator: derived %+v, want %x", key.ID, childPath, d, child)
	}
	checkAddresses(t, "the genuine child", child, genuine.Derived.Addresses)
	var genuineDerive derivedView
	if c.shownKey(t, op, &genuineDerive, "keys", "derive", key.ID, "--path", childPath) &&
		(genuineDerive.Attestations == nil || !genuineDerive.Attestations.Verified || genuineDerive.PublicKey != hex.EncodeToString(child)) {
		t.Errorf("keys derive %s --path %s from the honest coordinator: %+v: want the child %x, attested", key.ID, childPath, genuineDerive, child)
	}
	childHex := hex.EncodeToString(child)

	// The coordinator's machine is taken over; each attack restarts it
	// (inside its subtest, so that one attack's failure does not hide the
	// next's).
	var key2ID, forgedK2 string
	t.Run("forge-keys: the attacker's key is shown NOT VERIFIED", func(t *testing.T) {
		c.restartAs(t, evil, compromisedEnv+"=forge-keys")
		c.waitReady(t, names...)
		var got keyView
		if c.shownKey(t, op, &got, "keys", "get", key.ID) {
			notVerified(t, "keys get", got.Attestations, got.PublicKey, genuine.PublicKey)
			if got.ID != key.ID {
				t.Errorf("keys get %s showed key %s", key.ID, got.ID)
			}
		}

		var withChild keyView
		if c.shownKey(t, op, &withChild, "keys", "get", key.ID, "--path", childPath) {
			notVerified(t, "keys get --path", withChild.Attestations, withChild.PublicKey, genuine.PublicKey)
			if withChild.Derived == nil || withChild.Derived.PublicKey == childHex {
				t.Errorf("keys get --path under forge-keys: derived %+v, want the attacker's child (not %s)", withChild.Derived, childHex)
			}
		}

		var derived derivedView
		if c.shownKey(t, op, &derived, "keys", "derive", key.ID, "--path", childPath) {
			notVerified(t, "keys derive", derived.Attestations, derived.PublicKey, childHex)
		}

		// What a person reads says so too.
		r := c.opText(t, op, "keys", "get", key.ID)
		if r.code != 0 || !strings.Contains(r.stdout, "attested:   NOT VERIFIED") || strings.Contains(r.stdout, "attested:   by") {
			t.Errorf("keys get %s (text) under forge-keys: exit %d\n%s%s\nwant it shown NOT VERIFIED", key.ID, r.code, r.stdout, r.stderr)
		}

		// A real keygen, misreported.
		var created keyView
		if c.shownKey(t, op, &created, "keys", "create", "--threshold", "1", "--devices", strings.Join(names, ",")) {
			notVerified(t, "keys create", created.Attestations, created.PublicKey, "")
		}
		key2ID, forgedK2 = created.ID, created.PublicKey
	})
	if key2ID == "" || key2ID == key.ID {
		t.Fatalf("keys create under forge-keys reported key %q: no second key to go on with", key2ID)
	}

	t.Run("forge-key-path: the child of another path is refused", func(t *testing.T) {
		c.restartAs(t, evil, compromisedEnv+"=forge-key-path")
		var got keyView
		if c.shownKey(t, op, &got, "keys", "get", key.ID); got.Attestations == nil || !got.Attestations.Verified || got.PublicKey != genuine.PublicKey {
			t.Errorf("keys get %s (no path) under forge-key-path: %+v, attestations %+v: want the genuine key, attested", key.ID, got.keyInfo, got.Attestations)
		}
		const why = "not of " + childPath + " that you asked for"
		c.refused(t, op, why, "keys", "get", key.ID, "--path", childPath)
		c.refused(t, op, why, "keys", "derive", key.ID, "--path", childPath)
	})

	t.Run("forge-key-child: the attacker's child is refused", func(t *testing.T) {
		c.restartAs(t, evil, compromisedEnv+"=forge-key-child")
		const why = "derived key is not the one the attested key and chain code give"
		c.refused(t, op, why, "keys", "get", key.ID, "--path", childPath)
		c.refused(t, op, why, "keys", "derive", key.ID, "--path", childPath)
	})

	t.Run("swap-keys: another key than the one asked for is refused", func(t *testing.T) {
		c.restartAs(t, evil, compromisedEnv+"=swap-keys")
		why := "asked for key " + key.ID
		c.refused(t, op, why, "keys", "get", key.ID)
		c.refused(t, op, why, "keys", "get", key.ID, "--path", childPath)
		c.refused(t, op, why, "keys", "derive", key.ID, "--path", childPath)
	})

	// The operators take the coordinator back.
	c.restartAs(t, bin("coordinator"))
	c.waitReady(t, names...)
	var key2 keyInfo
	t.Run("both keys are attested as before", func(t *testing.T) {
		var got keyView
		c.shownKey(t, op, &got, "keys", "get", key.ID, "--path", childPath)
		if a := got.Attestations; a == nil || !a.Verified || got.PublicKey != genuine.PublicKey || got.Derived == nil || got.Derived.PublicKey != childHex {
			t.Errorf("keys get %s --path %s after the attack: %+v (derived %+v), attestations %+v; want the genuine key and child, attested", key.ID, childPath, got.keyInfo, got.Derived, got.Attestations)
		}
		var k2 keyView
		c.shownKey(t, op, &k2, "keys", "get", key2ID)
		if a := k2.Attestations; a == nil || !a.Verified || len(a.By) != 3 || k2.PublicKey == forgedK2 || k2.Epoch != 0 {
			t.Errorf("keys get %s (made under forge-keys) after the attack: %+v, attestations %+v; want it attested by its three holders, not the attacker's %s", key2ID, k2.keyInfo, k2.Attestations, forgedK2)
		}
		checkAddresses(t, "the second key", mustHex(t, "public key", k2.PublicKey, 33), k2.Addresses)
		key2 = k2.keyInfo
	})
	if key2.ID == "" {
		t.FailNow()
	}

	t.Run("the key signs", func(t *testing.T) {
		signAndVerify(t, c, key, "compromised coordinator: forged keys, after")
	})
	t.Run("no secret in any log", func(t *testing.T) {
		if leaks := c.scanLogs(t, []secret{operatorSecret(op)}); len(leaks) > 0 {
			t.Errorf("leaks: %+v", leaks)
		}
	})
	c.checkKeysAndShares(t, []keyInfo{key, key2}, names...)
	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}
