// The compromised coordinator against the roster: see compromised_test.go for the harness.

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// TestCompromisedCoordinatorApprovesIntruder: the coordinator is taken over
// (restarted from its data directory as the compromised build with
// approve-all and skip-ceremony-checks) after the operator set up the
// roster with two devices. The attacker, holding the admin token, pairs and
// enrols a device of their own, which the coordinator activates without any
// operator signature. The operator's mpcctl refuses to sign a keygen or a
// reshare with it (it is not on the roster the operator verified); the
// attacker's own keygen and reshare, sent on the admin API without any
// operator authorization, reach the devices, and the honest ones, checking
// every session against the roster they verified, refuse them. The key the
// honest devices hold keeps signing under the same public key, with both
// shares, and the audit trail keeps the failed attempts.
func TestCompromisedCoordinatorApprovesIntruder(t *testing.T) {
	evil := compromisedCoordinator(t)
	c := newCluster(t)
	// The product build ignores the variable: every device stays pending
	// until the operator signs it (enrollSigned checks).
	c.serveCoordinator(t, "127.0.0.1:0", compromisedEnv+"=approve-all,roster-rollback")
	op := c.newOperator(t, "alice")
	genesis := c.initRoster(t, op)
	phone := c.enrollSigned(t, op, "phone", genesis)
	laptop := c.enrollSigned(t, op, "laptop", genesis)
	c.runParty(t, phone.device)
	c.runParty(t, laptop.device)
	c.waitReady(t, "phone", "laptop")

	// The coordinator's machine is taken over.
	c.restartAs(t, evil, compromisedEnv+"=approve-all,skip-ceremony-checks")
	c.waitReady(t, "phone", "laptop")

	// The attacker pairs and enrols their own device with the admin token
	// alone; the coordinator activates it, no operator involved.
	intruder := c.newDevice(t, "intruder", false)
	r := c.enrollWith(t, intruder, withoutGenesis(t, c.pair(t, "intruder").Code))
	m := deviceIDRE.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil || strings.Contains(r.stdout, "must compare it and approve") {
		t.Fatalf("party enroll intruder: exit %d, want an enrolment needing no approval\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	intruderID := m[1]
	c.devices["intruder"] = intruder
	c.runParty(t, intruder)
	// Active, online and ready as far as the coordinator says.
	c.waitReady(t, "phone", "laptop", "intruder")

	t.Run("the operator's verified roster does not have the intruder", func(t *testing.T) {
		var rs rosterShow
		c.opJSON(t, op, &rs, "roster", "show")
		if rs.Genesis != genesis || rs.Height != 2 {
			t.Errorf("roster show: genesis %s height %d, want %s and 2", rs.Genesis, rs.Height, genesis)
		}
		if got := rs.activeOnRoster(); !slices.Equal(got, []string{"phone", "laptop"}) {
			t.Errorf("devices active on the roster: %v, want [phone laptop]", got)
		}
		for _, e := range rs.Entries {
			if !slices.Equal(e.SignedBy, []string{op.name}) {
				t.Errorf("roster entry %d (%s) signed by %v, want [%s]", e.Height, e.Kind, e.SignedBy, op.name)
			}
		}
	})

	// The attacker holds the admin token but no operator key: stock mpcctl
	// will not run a ceremony without signing it, so they call the admin
	// API directly, and the compromised coordinator runs the sessions
	// without any operator authorization.
	admin := mpcv1.NewAdminServiceClient(c.dialGRPC(t, "admin.token"))
	attack := func(t *testing.T, call func(context.Context) error) rpcError {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return grpcErr(t, call(ctx))
	}

	t.Run("a key including the intruder is refused", func(t *testing.T) {
		// The operator's mpcctl resolves the committee on the roster the
		// operator verified, and signs nothing with the intruder in it.
		r := c.opCtl(t, op, "keys", "create", "--threshold", "1", "--devices", "phone,laptop,intruder")
		if r.code == 0 || !strings.Contains(r.stderr, `"intruder"`) || !strings.Contains(r.stderr, "roster") {
			t.Errorf("operator's keys create with the intruder: exit %d, want a refusal naming the intruder and the roster\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		// The attacker's keygen reaches the devices; the honest ones refuse.
		e := attack(t, func(ctx context.Context) error {
			_, err := admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Threshold: 1, Devices: []string{"phone", "laptop", "intruder"}})
			return err
		})
		refusedByHonest(t, "the attacker's keygen with the intruder", e, intruderID)
		if keys := c.listKeys(t); len(keys) != 0 {
			t.Errorf("a refused key generation left keys: %+v", keys)
		}
	})

	var key keyInfo
	c.opJSON(t, op, &key, "keys", "create", "--threshold", "1", "--devices", "phone,laptop")
	c.newRequester(t, op, "wallet", "--keys", key.ID)
	checkSigners(t, key.Holders, "phone", "laptop")
	t.Run("the honest devices make and use a 2-of-2 key", func(t *testing.T) {
		digest := digestOf("compromised coordinator: before the reshare attempt")
		s := c.sign(t, key, digest)
		verifySignature(t, key.PublicKey, digest, s)
		checkSigners(t, s.Signers, "phone", "laptop")
	})

	t.Run("a reshare onto the intruder is refused and the key is unchanged", func(t *testing.T) {
		r := c.opCtl(t, op, "keys", "reshare", key.ID, "--devices", "phone,intruder")
		if r.code == 0 || !strings.Contains(r.stderr, `"intruder"`) || !strings.Contains(r.stderr, "roster") {
			t.Errorf("operator's keys reshare onto the intruder: exit %d, want a refusal naming the intruder and the roster\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		e := attack(t, func(ctx context.Context) error {
			_, err := admin.ReshareKey(ctx, &mpcv1.ReshareKeyRequest{KeyId: key.ID, Devices: []string{"phone", "intruder"}})
			return err
		})
		refusedByHonest(t, "the attacker's reshare onto the intruder", e, intruderID)
		var got keyInfo
		c.ctlJSON(t, &got, "keys", "get", key.ID)
		if got.PublicKey != key.PublicKey || got.Epoch != key.Epoch || got.Threshold != key.Threshold {
			t.Errorf("after the refused reshare the key is %+v, want it as created: %+v", got, key)
		}
		checkSigners(t, got.Holders, "phone", "laptop")
		// 2-of-2: every signature needs both honest shares.
		for i := range 2 {
			digest := digestOf(fmt.Sprintf("compromised coordinator: after the reshare attempt %d", i))
			s := c.sign(t, key, digest)
			verifySignature(t, key.PublicKey, digest, s)
			checkSigners(t, s.Signers, "phone", "laptop")
		}
	})

	t.Run("the audit trail records the attack and the failed attempts", func(t *testing.T) {
		entries := c.auditLog(t)
		all := func(auditlog.Entry) bool { return true }
		// The operator signed phone and laptop onto the roster, never the intruder.
		var signed []string
		for _, e := range auditWith(entries, "roster.add_device", all) {
			signed = append(signed, e.Devices...)
		}
		if !slices.Equal(signed, []string{"phone", "laptop"}) {
			t.Errorf("roster.add_device entries for %v, want [phone laptop]", signed)
		}
		// The coordinator's own record of the unsigned activation.
		if got := auditWith(entries, "device.enroll", func(e auditlog.Entry) bool {
			return slices.Equal(e.Devices, []string{"intruder"}) && e.Detail == "active"
		}); len(got) != 1 {
			t.Errorf("want one device.enroll entry for the intruder saying it is active, found %d", len(got))
		}
		if got := auditWith(entries, "key.create", func(e auditlog.Entry) bool {
			return e.Result == "failed" && slices.Contains(e.Devices, "intruder")
		}); len(got) != 1 {
			t.Errorf("want one failed key.create entry with the intruder, found %d", len(got))
		} else if !strings.Contains(got[0].Detail, "roster") {
			// Not fatal: the error the caller got names the roster; the
			// audit detail of a refused keygen does not (see the report).
			t.Logf("note: the failed key.create audit entry does not say why: %q", got[0].Detail)
		}
		if got := auditWith(entries, "key.create", func(e auditlog.Entry) bool {
			return e.Result == "ok" && e.KeyID == key.ID && slices.Equal(e.Devices, []string{"phone", "laptop"})
		}); len(got) != 1 {
			t.Errorf("want one key.create entry for %s on phone,laptop, found %d", key.ID, len(got))
		}
		if got := auditWith(entries, "key.reshare", func(e auditlog.Entry) bool {
			return e.KeyID == key.ID && e.Result == "failed" && strings.Contains(e.Detail, "roster") && strings.Contains(e.Detail, "abandoned")
		}); len(got) != 1 {
			t.Errorf("want one failed key.reshare entry for %s naming the roster, found %d", key.ID, len(got))
		}
		if got := auditWith(entries, "key.reshare", func(e auditlog.Entry) bool { return e.Result != "failed" }); len(got) != 0 {
			t.Errorf("a reshare was committed:\n%s", auditDump(got))
		}
		// A restart of the coordinator serving the same roster is no attack:
		// no device refused its roster.
		if got := auditWith(entries, "device.refused", all); len(got) != 0 {
			t.Errorf("devices refused a roster they should have accepted:\n%s", auditDump(got))
		}
		if t.Failed() {
			t.Logf("audit log:\n%s", auditDump(entries))
		}
	})

	t.Run("the honest devices logged their refusals", func(t *testing.T) {
		for _, d := range []*device{phone.device, laptop.device} {
			if log := d.proc.stderr(); !strings.Contains(log, "refused a session") || !strings.Contains(log, "verified roster") {
				t.Errorf("%s's log has no roster refusal of a session", d.name)
			}
		}
	})

	t.Run("no secret in any log", func(t *testing.T) {
		if leaks := c.scanLogs(t, []secret{operatorSecret(op)}); len(leaks) > 0 {
			t.Errorf("leaks: %+v", leaks)
		}
	})
	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}

// TestCompromisedCoordinatorRollsBackRoster: the operator signs phone,
// laptop and tablet onto the roster, a key is made on phone and laptop, and
// tablet is revoked (the roster's newest entry). Then the coordinator is
// taken over (restarted from its data directory as the compromised build
// with roster-rollback) and serves the devices the roster without that
// revocation. Each device refuses the shorter roster, reports it (audited
// as device.refused, "rolled back"), keeps the roster it verified and keeps
// signing.
func TestCompromisedCoordinatorRollsBackRoster(t *testing.T) {
	evil := compromisedCoordinator(t)
	c := newCluster(t)
	c.startCoordinator(t)
	op := c.newOperator(t, "alice")
	genesis := c.initRoster(t, op)
	phone := c.enrollSigned(t, op, "phone", genesis)
	laptop := c.enrollSigned(t, op, "laptop", genesis)
	tablet := c.enrollSigned(t, op, "tablet", genesis) // never runs
	c.runParty(t, phone.device)
	c.runParty(t, laptop.device)
	c.waitReady(t, "phone", "laptop")

	var key keyInfo
	c.opJSON(t, op, &key, "keys", "create", "--threshold", "1", "--devices", "phone,laptop")
	c.newRequester(t, op, "wallet", "--keys", key.ID)
	digest := digestOf("roster rollback: before")
	verifySignature(t, key.PublicKey, digest, c.sign(t, key, digest))

	var rev struct {
		deviceInfo
		Roster rosterOutcome `json:"roster"`
	}
	c.opJSON(t, op, &rev, "devices", "revoke", "tablet", "--reason", "lost in transit", "--wait", "0")
	if !rev.Roster.Appended || rev.Roster.Height != 5 {
		t.Fatalf("devices revoke tablet: roster outcome %+v, want appended at height 5 (after 3 devices and the requester)", rev.Roster)
	}
	var rs rosterShow
	c.opJSON(t, op, &rs, "roster", "show")
	if rs.Height != 5 || rs.Entries[5].Kind != "revoke_device" || rs.Entries[5].DeviceID != tablet.id {
		t.Fatalf("roster show: height %d, newest entry %+v; want the revocation of tablet (%s) at height 5", rs.Height, rs.Entries[len(rs.Entries)-1], tablet.id)
	}
	if got := rs.activeOnRoster(); !slices.Equal(got, []string{"phone", "laptop"}) {
		t.Fatalf("devices active on the roster: %v, want [phone laptop]", got)
	}
	// The devices receive roster updates and session starts in order on
	// their link: once both signed, both stored the revocation (height 4).
	digest = digestOf("roster rollback: after the revocation")
	s := c.sign(t, key, digest)
	verifySignature(t, key.PublicKey, digest, s)
	checkSigners(t, s.Signers, "phone", "laptop")

	// The coordinator's machine is taken over; it serves the devices the
	// roster without its newest entry.
	c.restartAs(t, evil, compromisedEnv+"=roster-rollback")

	var refusals []auditlog.Entry
	t.Run("each device refuses the rolled-back roster", func(t *testing.T) {
		// A device gets the roster first thing on connecting, and answers
		// a refusal at once.
		c.waitReady(t, "phone", "laptop")
		const refusalWait = 15 * time.Second
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
		for _, d := range []enrolled{phone, laptop} {
			got := auditWith(refusals, "device.refused", func(e auditlog.Entry) bool { return slices.Equal(e.Devices, []string{d.name}) })
			if len(got) == 0 {
				t.Errorf("no device.refused entry for %s", d.name)
				continue
			}
			for _, e := range got {
				if e.Actor != "device:"+d.id || e.Result != "refused" || !strings.HasPrefix(e.Detail, "roster: ") || !strings.Contains(e.Detail, "rolled back") {
					t.Errorf("%s's refusal is audited as actor %q result %q detail %q; want actor device:%s, result refused, a roster refusal saying \"rolled back\"",
						d.name, e.Actor, e.Result, e.Detail, d.id)
				}
			}
			if log := d.proc.stderr(); !strings.Contains(log, "refused the coordinator's roster") || !strings.Contains(log, "rolled back") {
				t.Errorf("%s's log does not show it refused the rolled-back roster", d.name)
			}
		}
		for _, e := range refusals {
			if !slices.Contains([]string{"phone", "laptop"}, strings.Join(e.Devices, ",")) {
				t.Errorf("unexpected refusal: %+v", e)
			}
		}
	})

	t.Run("the key still signs", func(t *testing.T) {
		// The devices kept the roster they verified: both are active on it.
		c.waitReady(t, "phone", "laptop")
		digest := digestOf("roster rollback: after the rollback")
		s := c.sign(t, key, digest)
		verifySignature(t, key.PublicKey, digest, s)
		checkSigners(t, s.Signers, "phone", "laptop")
	})

	t.Run("no secret in any log", func(t *testing.T) {
		if leaks := c.scanLogs(t, []secret{operatorSecret(op)}); len(leaks) > 0 {
			t.Errorf("leaks: %+v", leaks)
		}
	})
	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}
