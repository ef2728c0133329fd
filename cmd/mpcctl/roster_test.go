package main

import (
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/coordclient"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// TestRosterInitShowVerify: an operator creates the roster, approves a
// device onto it (refusing a wrong SAS), and 'roster verify' refuses a
// coordinator whose roster forks from or rolls back the operator's pin.
func TestRosterInitShowVerify(t *testing.T) {
	e := newRosterEnv(t)
	alice := e.operator("alice")

	if _, _, err := e.run(alice.dirOnly("roster", "verify")...); err == nil || !strings.Contains(err.Error(), "mpcctl roster init") {
		t.Fatalf("roster verify without a roster: %v", err)
	}
	out := e.mustRun(alice.with("roster", "init")...)
	pin := readPin(t, alice.dir)
	if pin.Height != 0 || pin.Head != pin.Genesis || !strings.Contains(out, "roster genesis: "+pin.Genesis) ||
		!strings.Contains(out, "mpcctl roster pin --genesis "+pin.Genesis) {
		t.Fatalf("roster init printed:\n%s\npin %+v", out, pin)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(pinPath(alice.dir)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("pin file: %v, %v", fi, err)
		}
	}
	if r := e.roster(); !r.GetExists() || r.GetHeight() != 0 {
		t.Fatalf("after init the coordinator has exists=%v height=%d", r.GetExists(), r.GetHeight())
	}
	if _, _, err := e.run(alice.with("roster", "init")...); err == nil || !strings.Contains(err.Error(), "pinned roster "+pin.Genesis+" already") {
		t.Fatalf("second roster init: %v", err)
	}

	out = e.mustRun(alice.dirOnly("roster", "verify")...)
	if want := "roster verified: 1 entries from genesis " + pin.Genesis + ", head " + pin.Genesis + " at height 0"; !strings.Contains(out, want) {
		t.Fatalf("roster verify: %q, want %q", out, want)
	}
	out = e.mustRun(alice.dirOnly("roster", "show")...)
	for _, want := range []string{pin.Genesis, "genesis", "operators alice; quorum 1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("roster show does not say %q:\n%s", want, out)
		}
	}

	// A device pairs (the code pins the roster) and enrols.
	cfg := e.enroll(alice, "phone")
	if cfg.RosterGenesis != pin.Genesis {
		t.Fatalf("the device pinned %q, want %s", cfg.RosterGenesis, pin.Genesis)
	}

	// A wrong SAS is refused here, and nothing reaches the roster.
	_, _, err := e.run(alice.with("devices", "approve", "phone", "--sas", otherSAS(cfg.SAS))...)
	// mpcctl refuses with the coordinator's words (coordclient keeps a copy).
	if err == nil || !errors.Is(err, coordclient.ErrSASMismatch) || err.Error() != coordinator.ErrSASMismatch.Error() {
		t.Fatalf("approve with a wrong SAS: %v", err)
	}
	if r := e.roster(); r.GetHeight() != 0 || len(r.GetPending()) != 0 {
		t.Fatalf("after a refused approval: height %d, %d pending", r.GetHeight(), len(r.GetPending()))
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_PENDING {
		t.Fatalf("after a refused approval the device is %v", d.GetStatus())
	}

	// The right one (typed with a space) puts it on the roster.
	out = e.mustRun(alice.with("devices", "approve", "phone", "--sas", strings.ReplaceAll(cfg.SAS, "-", " "))...)
	if !strings.Contains(out, "appended to the roster (height 1)") || !strings.Contains(out, `device "phone" (`+cfg.DeviceID+") approved") {
		t.Fatalf("devices approve:\n%s", out)
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE || !d.GetOnRoster() {
		t.Fatalf("after approval: %v, on roster %v", d.GetStatus(), d.GetOnRoster())
	}
	if p := readPin(t, alice.dir); p.Height != 1 {
		t.Fatalf("the pin did not advance: %+v", p)
	}

	out = e.mustRun(alice.dirOnly("--json", "roster", "show")...)
	var shown struct {
		Genesis string
		Height  uint64
		Entries []struct {
			Kind     string
			Device   struct{ ID, Name string }
			SignedBy []string `json:"signed_by"`
		}
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("roster show --json: %v\n%s", err, out)
	}
	if shown.Genesis != pin.Genesis || shown.Height != 1 || len(shown.Entries) != 2 ||
		shown.Entries[1].Kind != "add_device" || shown.Entries[1].Device.ID != cfg.DeviceID || shown.Entries[1].Device.Name != "phone" ||
		strings.Join(shown.Entries[1].SignedBy, ",") != "alice" || strings.Join(shown.Entries[0].SignedBy, ",") != "alice" {
		t.Fatalf("roster show --json:\n%s", out)
	}
	out = e.mustRun(alice.dirOnly("roster", "verify")...)
	if !strings.Contains(out, "roster verified: 2 entries") || !strings.Contains(out, "at height 1") {
		t.Fatalf("roster verify: %s", out)
	}
	good := readPin(t, alice.dir)

	// Another head at the height this operator verified: a fork.
	writePin(t, alice.dir, pinFile{Genesis: good.Genesis, Height: 1, Head: strings.Repeat("ab", 32)})
	_, _, err = e.run(alice.dirOnly("roster", "verify")...)
	if !errors.Is(err, roster.ErrFork) || !strings.Contains(err.Error(), "forks from what this operator verified") || !strings.Contains(err.Error(), "Do not sign anything") {
		t.Fatalf("roster verify against a forked pin: %v", err)
	}
	// Signing commands refuse it too.
	if _, _, err := e.run(alice.with("devices", "revoke", "phone", "--wait", "0")...); !errors.Is(err, roster.ErrFork) {
		t.Fatalf("devices revoke against a forked pin: %v", err)
	}

	// A height beyond the coordinator's roster: a rollback.
	writePin(t, alice.dir, pinFile{Genesis: good.Genesis, Height: 5, Head: strings.Repeat("cd", 32)})
	_, _, err = e.run(alice.dirOnly("roster", "verify")...)
	if !errors.Is(err, roster.ErrRollback) || !strings.Contains(err.Error(), "rolls back what this operator verified") {
		t.Fatalf("roster verify against a longer pin: %v", err)
	}
	if p := readPin(t, alice.dir); p.Height != 5 {
		t.Fatalf("a refused roster changed the pin: %+v", p)
	}

	// Another genesis: pin refuses to replace it without --force, and then
	// the coordinator's roster and its pairing codes are refused.
	other := strings.Repeat("ef", 32)
	writePin(t, alice.dir, good)
	if _, _, err := e.run(alice.dirOnly("roster", "pin", "--genesis", other)...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("roster pin of another genesis: %v", err)
	}
	out = e.mustRun(alice.dirOnly("roster", "pin", "--genesis", good.Genesis)...)
	if p := readPin(t, alice.dir); p != good || !strings.Contains(out, "pinned already") {
		t.Fatalf("pinning the same genesis again: %+v\n%s", p, out)
	}
	e.mustRun(alice.dirOnly("roster", "pin", "--genesis", other, "--force")...)
	if _, _, err := e.run(alice.dirOnly("roster", "verify")...); !errors.Is(err, roster.ErrGenesisMismatch) {
		t.Fatalf("roster verify against another genesis: %v", err)
	}
	// The operator's mpcctl makes the code itself, after checking that the
	// coordinator serves the roster it pinned.
	if _, _, err := e.run(alice.dirOnly("devices", "pair", "--name", "tablet", "--no-qr")...); !errors.Is(err, roster.ErrGenesisMismatch) {
		t.Fatalf("devices pair with another pinned genesis: %v", err)
	}

	writePin(t, alice.dir, good)
	e.mustRun(alice.dirOnly("roster", "verify")...)
}

// TestRosterGenesisQuorum: a genesis that needs two signatures starts the
// roster once the second operator pinned and signed it.
func TestRosterGenesisQuorum(t *testing.T) {
	e := newRosterEnv(t)
	alice, bob := e.operator("alice"), e.operator("bob")

	out := e.mustRun(alice.with("roster", "init", "--operator", "bob="+bob.pub, "--quorum", "2")...)
	genesis := readPin(t, alice.dir).Genesis
	if !strings.Contains(out, "waits for more operator signatures") || !strings.Contains(out, "mpcctl roster sign "+genesis[:12]) {
		t.Fatalf("roster init with quorum 2:\n%s", out)
	}
	if e.roster().GetExists() {
		t.Fatal("a genesis with one of two signatures started the roster")
	}
	if _, _, err := e.run(alice.dirOnly("roster", "verify")...); err == nil || !strings.Contains(err.Error(), genesis) {
		t.Fatalf("roster verify before the genesis is appended: %v", err)
	}
	// No pairing code while the roster alice pinned has not started.
	if _, _, err := e.run(alice.dirOnly("devices", "pair", "--name", "phone", "--no-qr")...); err == nil || !strings.Contains(err.Error(), "has not started") {
		t.Fatalf("devices pair before the genesis is appended: %v", err)
	}
	// Bob signs only the genesis he pinned.
	if _, _, err := e.run(bob.with("roster", "sign", genesis[:12])...); !errors.Is(err, errNoPin) {
		t.Fatalf("bob signs the genesis before pinning it: %v", err)
	}
	e.mustRun(bob.dirOnly("roster", "pin", "--genesis", genesis)...)
	out = e.mustRun(bob.with("roster", "sign", genesis[:12])...)
	if !strings.Contains(out, "appended to the roster (height 0)") {
		t.Fatalf("bob signs the genesis:\n%s", out)
	}
	if r := e.roster(); !r.GetExists() {
		t.Fatal("the genesis signed by both did not start the roster")
	}
	e.mustRun(alice.dirOnly("roster", "verify")...)
}
