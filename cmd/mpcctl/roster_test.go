package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/coordclient"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// rosterEnv is a coordinator and the operators and devices of a test.
type rosterEnv struct {
	t   *testing.T
	c   *testkit.Cluster
	dir string // the coordinator's data directory
	ctx context.Context
}

func newRosterEnv(t *testing.T) *rosterEnv {
	t.Helper()
	useTestOperatorKDF(t)
	t.Setenv("MPC_HOME", t.TempDir()) // no default --operator-dir outside the test
	t.Setenv(operatorPassphraseEnv, "")
	c := testkit.New(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // against hanging only
	t.Cleanup(cancel)
	dir := filepath.Join(c.Dir, "coordinator")
	if err := coordclient.WaitConfig(ctx, dir); err != nil {
		t.Fatal(err)
	}
	return &rosterEnv{t: t, c: c, dir: dir, ctx: ctx}
}

func (e *rosterEnv) run(args ...string) (string, string, error) {
	e.t.Helper()
	var out, errw bytes.Buffer
	root := newRootCmd()
	root.SetArgs(append([]string{"--coordinator-dir", e.dir}, args...))
	root.SetOut(&out)
	root.SetErr(&errw)
	err := root.ExecuteContext(e.ctx)
	return out.String(), errw.String(), err
}

// mustRun runs a command that must succeed and returns its stdout.
func (e *rosterEnv) mustRun(args ...string) string {
	e.t.Helper()
	out, errOut, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("mpcctl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// testOperator is an operator key on disk.
type testOperator struct {
	name  string
	dir   string
	pub   string   // hex
	flags []string // --operator-dir and --passphrase-file
}

func (o testOperator) with(args ...string) []string { return append(args, o.flags...) }

// dirOnly is --operator-dir alone (for commands that sign nothing).
func (o testOperator) dirOnly(args ...string) []string { return append(args, "--operator-dir", o.dir) }

func (e *rosterEnv) operator(name string) testOperator {
	e.t.Helper()
	base := e.t.TempDir()
	dir := filepath.Join(base, name)
	pass := filepath.Join(base, "passphrase")
	if err := os.WriteFile(pass, []byte(testOperatorPassphrase+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	o := testOperator{name: name, dir: dir, flags: []string{"--operator-dir", dir, "--passphrase-file", pass}}
	e.mustRun(o.with("operator", "init", "--name", name)...)
	_, _, pub, err := keyfile.ReadPublic(filepath.Join(dir, operatorKeyName))
	if err != nil {
		e.t.Fatal(err)
	}
	o.pub = hex.EncodeToString(pub)
	return o
}

// enroll pairs a device (the code made by `devices pair` as operator o)
// and enrols it; the device stays pending.
func (e *rosterEnv) enroll(o testOperator, name string) party.Config {
	e.t.Helper()
	out := e.mustRun(o.dirOnly("--json", "devices", "pair", "--name", name, "--no-qr")...)
	var code struct {
		Code          string `json:"code"`
		RosterGenesis string `json:"roster_genesis"`
	}
	if err := json.Unmarshal([]byte(out), &code); err != nil {
		e.t.Fatalf("devices pair --json: %v\n%s", err, out)
	}
	ks, err := keystore.Open(filepath.Join(e.c.Dir, name), keystore.NewPassphrase([]byte("test passphrase "+name)), keystore.Options{KDF: testkit.TestKDF})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ks.Close() })
	cfg, err := party.Enroll(e.ctx, ks, code.Code)
	if err != nil {
		e.t.Fatalf("enrol %s: %v", name, err)
	}
	if !cfg.PendingApproval {
		e.t.Fatalf("%s was approved without the operator", name)
	}
	return cfg
}

func (e *rosterEnv) roster() *mpcv1.GetRosterResponse {
	e.t.Helper()
	r, err := e.c.Admin.GetRoster(e.ctx, &mpcv1.GetRosterRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *rosterEnv) device(name string) *mpcv1.Device {
	e.t.Helper()
	resp, err := e.c.Admin.ListDevices(e.ctx, &mpcv1.ListDevicesRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range resp.GetDevices() {
		if d.GetName() == name {
			return d
		}
	}
	e.t.Fatalf("no device %s", name)
	return nil
}

// pendingID is the id of the only pending entry.
func (e *rosterEnv) pendingID() string {
	e.t.Helper()
	p := e.roster().GetPending()
	if len(p) != 1 {
		e.t.Fatalf("%d pending entries, want 1", len(p))
	}
	return entryID(roster.EntryFromProto(p[0]).Hash())
}

func readPin(t *testing.T, dir string) pinFile {
	t.Helper()
	raw, err := os.ReadFile(pinPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	var p pinFile
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func writePin(t *testing.T, dir string, p pinFile) {
	t.Helper()
	raw, _ := json.Marshal(p)
	if err := os.WriteFile(pinPath(dir), raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

func otherSAS(sas string) string {
	if sas == "000-000" {
		return "000-001"
	}
	return "000-000"
}

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

// startRoster submits a genesis of ops with quorum signed by all of them,
// and pins it for each.
func (e *rosterEnv) startRoster(quorum int, ops ...testOperator) string {
	e.t.Helper()
	var rops []roster.Operator
	var keys []*keyfile.Key
	for _, o := range ops {
		k, err := keyfile.Read(filepath.Join(o.dir, operatorKeyName), keystore.NewPassphrase([]byte(testOperatorPassphrase)))
		if err != nil {
			e.t.Fatal(err)
		}
		keys = append(keys, k)
		rops = append(rops, roster.Operator{Name: k.Name(), Key: k.PublicKey()})
	}
	g, err := roster.NewGenesis(rops, quorum, false, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, k := range keys {
		g.Sign(k)
	}
	if _, err := e.c.Admin.SubmitRosterEntry(e.ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(g)}); err != nil {
		e.t.Fatal(err)
	}
	for _, o := range ops {
		e.mustRun(o.dirOnly("roster", "pin", "--genesis", g.Hash().String())...)
	}
	return g.Hash().String()
}

// TestRosterQuorumRevoke: with a quorum of two, an approval and a
// revocation each wait until the second operator signs them.
func TestRosterQuorumRevoke(t *testing.T) {
	e := newRosterEnv(t)
	alice, bob, carol := e.operator("alice"), e.operator("bob"), e.operator("carol")
	genesis := e.startRoster(2, alice, bob)

	// Approving a device waits for bob.
	cfg := e.enroll(alice, "phone")
	out := e.mustRun(alice.with("devices", "approve", "phone", "--sas", cfg.SAS)...)
	if !strings.Contains(out, "waits for more operator signatures") {
		t.Fatalf("approve with quorum 2:\n%s", out)
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_PENDING {
		t.Fatalf("approved with one of two signatures: %v", d.GetStatus())
	}
	id := e.pendingID()
	out = e.mustRun(bob.dirOnly("roster", "pending")...)
	if !strings.Contains(out, id) || !strings.Contains(out, "add_device") || !strings.Contains(out, "1 of 2") {
		t.Fatalf("roster pending:\n%s", out)
	}
	out = e.mustRun(bob.with("roster", "sign", id)...)
	if !strings.Contains(out, cfg.DeviceID) || !strings.Contains(out, "appended to the roster (height 1)") {
		t.Fatalf("bob signs the approval:\n%s", out)
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE {
		t.Fatalf("approved by both: %v", d.GetStatus())
	}

	// The revocation waits for bob too.
	out = e.mustRun(alice.with("devices", "revoke", "phone", "--reason", "lost on a train", "--wait", "0")...)
	if !strings.Contains(out, "waits for more operator signatures") || !strings.Contains(out, "mpcctl roster sign") {
		t.Fatalf("revoke with quorum 2:\n%s", out)
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE {
		t.Fatalf("revoked with one of two signatures: %v", d.GetStatus())
	}
	id = e.pendingID()

	// An entry no operator signed (the coordinator, or anyone with an admin
	// token, can submit one) is not co-signed: it came from none of them.
	st, _, err := verifiedRoster(e.ctx, e.c.Admin, alice.dir)
	if err != nil {
		t.Fatal(err)
	}
	forged := st.Next(roster.KindRevokeDevice, time.Now())
	forged.DeviceID, forged.Reason = cfg.DeviceID, "forged"
	raw, err := roster.EncodeBody(forged)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := roster.Entry{Body: raw}
	if _, err := e.c.Admin.SubmitRosterEntry(e.ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(unsigned)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.run(bob.with("roster", "sign", entryID(unsigned.Hash()))...); err == nil || !strings.Contains(err.Error(), "no operator has signed") {
		t.Fatalf("bob co-signs an entry no operator signed: %v", err)
	}

	// An operator who is not on the roster cannot sign it.
	e.mustRun(carol.dirOnly("roster", "pin", "--genesis", genesis)...)
	if _, _, err := e.run(carol.with("roster", "sign", id)...); err == nil || !strings.Contains(err.Error(), "not one of the roster's operators") {
		t.Fatalf("carol signs: %v", err)
	}

	out = e.mustRun(bob.with("roster", "sign", id)...)
	if !strings.Contains(out, "revoke_device") || !strings.Contains(out, "appended to the roster (height 2)") {
		t.Fatalf("bob signs the revocation:\n%s", out)
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED {
		t.Fatalf("revoked by both: %v", d.GetStatus())
	}
	out = e.mustRun(alice.dirOnly("roster", "show")...)
	for _, want := range []string{"revoke_device", `reason: "lost on a train"`, "alice, bob"} {
		if !strings.Contains(out, want) {
			t.Fatalf("roster show does not say %q:\n%s", want, out)
		}
	}
	// Alice had not seen the last entry; her pin follows it now.
	if p := readPin(t, alice.dir); p.Height != 2 {
		t.Fatalf("alice's pin: %+v", p)
	}

	// Operators change by a quorum of those in office: carol replaces bob
	// and the quorum drops to one; from then on bob's key signs nothing.
	out = e.mustRun(alice.with("roster", "operators", "--operator", "alice="+alice.pub, "--operator", "carol="+carol.pub, "--quorum", "1")...)
	if !strings.Contains(out, "waits for more operator signatures") {
		t.Fatalf("roster operators with one of two signatures:\n%s", out)
	}
	out = e.mustRun(bob.with("roster", "sign", e.pendingID())...)
	if !strings.Contains(out, "set_operators") || !strings.Contains(out, "appended to the roster (height 3)") {
		t.Fatalf("bob signs the change of operators:\n%s", out)
	}
	e.mustRun(alice.dirOnly("roster", "verify")...)
	e.mustRun(bob.dirOnly("roster", "verify")...)
	tablet := e.enroll(bob, "tablet")
	if _, _, err := e.run(bob.with("devices", "approve", "tablet", "--sas", tablet.SAS)...); err == nil || !strings.Contains(err.Error(), "not one of the roster's operators") {
		t.Fatalf("bob signs after he was retired: %v", err)
	}
	watch := e.enroll(carol, "watch")
	out = e.mustRun(carol.with("devices", "approve", "watch", "--sas", watch.SAS)...)
	if !strings.Contains(out, "appended to the roster (height 4)") {
		t.Fatalf("carol approves alone (quorum 1):\n%s", out)
	}
}

// TestRosterAddDevice: a device approved before the roster existed is put
// on it only with the id read on the device.
func TestRosterAddDevice(t *testing.T) {
	e := newRosterEnv(t)
	alice := e.operator("alice")

	// Before the roster: the old approval, unchanged.
	cfg := e.enroll(alice, "phone")
	if _, _, err := e.run(alice.with("devices", "approve", "phone", "--sas", otherSAS(cfg.SAS))...); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("approve with a wrong SAS, no roster: %v", err)
	}
	out := e.mustRun(alice.with("devices", "approve", "phone", "--sas", cfg.SAS)...)
	if !strings.Contains(out, "approved") {
		t.Fatalf("approve without a roster: %s", out)
	}

	e.mustRun(alice.with("roster", "init")...)
	if d := e.device("phone"); d.GetOnRoster() {
		t.Fatal("a device approved before the roster is on it")
	}
	if _, _, err := e.run(alice.with("devices", "approve", "phone", "--sas", cfg.SAS)...); err == nil || !strings.Contains(err.Error(), "mpcctl roster add-device phone") {
		t.Fatalf("approving an adopted-to-be device: %v", err)
	}
	wrong := strings.Repeat("0", len(cfg.DeviceID))
	if _, _, err := e.run(alice.with("roster", "add-device", "phone", "--device-id", wrong)...); err == nil || !strings.Contains(err.Error(), "do not adopt it") {
		t.Fatalf("add-device with a wrong id: %v", err)
	}
	if r := e.roster(); r.GetHeight() != 0 || len(r.GetPending()) != 0 {
		t.Fatalf("a refused add-device changed the roster: height %d", r.GetHeight())
	}
	out = e.mustRun(alice.with("roster", "add-device", "phone", "--device-id", cfg.DeviceID)...)
	if !strings.Contains(out, "appended to the roster (height 1)") {
		t.Fatalf("add-device:\n%s", out)
	}
	if d := e.device("phone"); !d.GetOnRoster() || d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE {
		t.Fatalf("after add-device: on roster %v, %v", d.GetOnRoster(), d.GetStatus())
	}
	if _, _, err := e.run(alice.with("roster", "add-device", "phone", "--device-id", cfg.DeviceID)...); err == nil || !strings.Contains(err.Error(), "on the roster already") {
		t.Fatalf("add-device twice: %v", err)
	}
	// With quorum 1 a revocation takes effect at once.
	out = e.mustRun(alice.with("devices", "revoke", "phone", "--wait", "0")...)
	if !strings.Contains(out, "revocation appended to the roster (height 2)") || !strings.Contains(out, `device "phone"`) {
		t.Fatalf("revoke:\n%s", out)
	}
	if d := e.device("phone"); d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_REVOKED {
		t.Fatalf("after revoke: %v", d.GetStatus())
	}
}
