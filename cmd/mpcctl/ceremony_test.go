package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/adminview"
	"github.com/mpcsign/mpcsign/internal/clitest"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
	"google.golang.org/protobuf/proto"
)

// ceremonyRoot is mpcctl's command tree with 'ceremony' in it (added here
// while root.go does not register it).
func ceremonyRoot() *cobra.Command {
	root := newRootCmd()
	for _, c := range root.Commands() {
		if c.Name() == "ceremony" {
			return root
		}
	}
	g := &globals{}
	r := &cobra.Command{Use: "mpcctl", Short: "mpcctl with the ceremony command", SilenceUsage: true, SilenceErrors: true}
	g.register(r)
	r.AddCommand(newCeremonyCmd(g))
	return r
}

// runCeremony runs 'mpcctl ceremony ...'.
func (e *rosterEnv) runCeremony(args ...string) (string, error) {
	e.t.Helper()
	var out, errw bytes.Buffer
	root := ceremonyRoot()
	root.SetArgs(append([]string{"--coordinator-dir", e.dir, "ceremony"}, args...))
	root.SetOut(&out)
	root.SetErr(&errw)
	err := root.ExecuteContext(e.ctx)
	return out.String() + errw.String(), err
}

// ceremonyCluster starts a roster whose genesis operator (held by the test)
// puts the named devices on it (running, Ed25519-ready: no pre-parameters),
// then hands the roster to ops with quorum (set_operators, the genesis
// operator staying one of them); each of ops pins its genesis.
func (e *rosterEnv) ceremonyCluster(quorum int, devices []string, ops ...testOperator) map[string]*testkit.Device {
	e.t.Helper()
	root := testkit.NewOperator("root")
	genesis := e.c.StartRoster(e.t, root)
	devs := map[string]*testkit.Device{}
	for _, name := range devices {
		devs[name] = e.c.AddDevice(e.t, name, nil)
	}
	set := []roster.Operator{root.Info()}
	for _, o := range ops {
		_, name, pub, err := keyfile.ReadPublic(filepath.Join(o.dir, operatorKeyName))
		if err != nil {
			e.t.Fatal(err)
		}
		set = append(set, roster.Operator{Name: name, Key: pub})
	}
	st := e.c.Roster(e.t)
	b := st.Next(roster.KindSetOperators, time.Now())
	b.Operators, b.Quorum = set, quorum
	raw, err := roster.EncodeBody(b)
	if err != nil {
		e.t.Fatal(err)
	}
	entry := roster.Entry{Body: raw}
	entry.Sign(root)
	e.c.SubmitRoster(e.t, entry)
	for _, o := range ops {
		e.mustRun(o.dirOnly("roster", "pin", "--genesis", genesis.String())...)
	}
	e.waitDevicesRoster(devs, b.Height)
	return devs
}

// waitDevicesRoster waits until every device verified the roster up to height h.
func (e *rosterEnv) waitDevicesRoster(devs map[string]*testkit.Device, h uint64) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for name, d := range devs {
		for {
			if r, ok := d.Agent.Roster(); ok && r.Verified && r.Height >= h {
				break
			}
			if time.Now().After(deadline) {
				r, _ := d.Agent.Roster()
				e.t.Fatalf("device %s verified the roster up to %+v, want height %d", name, r, h)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (e *rosterEnv) key(id string) *mpcv1.Key {
	e.t.Helper()
	resp, err := e.c.Admin.GetKey(e.ctx, &mpcv1.GetKeyRequest{KeyId: id})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.GetKey()
}

func (e *rosterEnv) keyCount() int {
	e.t.Helper()
	resp, err := e.c.Admin.ListKeys(e.ctx, &mpcv1.ListKeysRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(resp.GetKeys())
}

// createdKeyID is the id in 'keys create --json' output.
func createdKeyID(t *testing.T, out string) string {
	t.Helper()
	var k struct{ ID string }
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.ID == "" {
		t.Fatalf("keys create --json: %v\n%s", err, out)
	}
	return k.ID
}

// attestedBy reports whether 'keys get' output says the key is attested by
// devices of these names (each shown with the start of its id), in order.
func attestedBy(out string, names ...string) bool {
	var parts []string
	for _, n := range names {
		parts = append(parts, regexp.QuoteMeta(n)+` \([0-9a-f]{8}\)`)
	}
	return regexp.MustCompile(`attested:   by ` + strings.Join(parts, ", ") + `, checked against your roster`).MatchString(out)
}

func sortedHolders(k *mpcv1.Key) string {
	names := adminview.HolderNames(k)
	slices.Sort(names)
	return strings.Join(names, ",")
}

// TestCeremonyRoster: with a roster of quorum 1, keys create, drill and
// keys reshare sign their ceremonies with the operator key; a device not
// active on the verified roster is refused by mpcctl itself, naming it; a
// revocation with --replace-with carries a signed plan under which the
// background reshare completes.
func TestCeremonyRoster(t *testing.T) {
	e := newRosterEnv(t)
	alice := e.operator("alice")
	e.ceremonyCluster(1, []string{"phone", "laptop", "server", "tablet"}, alice)

	// A device that is not on the roster: mpcctl refuses before asking
	// the coordinator for anything.
	_, _, err := e.run(alice.with("keys", "create", "--curve", "ed25519", "--threshold", "1", "--devices", "phone,laptop,ghost")...)
	if err == nil || !strings.Contains(err.Error(), `device "ghost" is not active on the roster`) {
		t.Fatalf("keys create with a device not on the roster: %v", err)
	}
	if n := e.keyCount(); n != 0 {
		t.Fatalf("%d keys after a refused keygen", n)
	}

	out, errOut, err := e.run(alice.with("--json", "keys", "create", "--curve", "ed25519", "--threshold", "1", "--devices", "phone,laptop,server")...)
	if err != nil {
		t.Fatalf("keys create: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "operators' authorization signed as alice: keygen ") {
		t.Fatalf("keys create --json did not say (on stderr) that it signed the keygen:\n%s", errOut)
	}
	id := createdKeyID(t, out)
	// The key made is checked here: its members attested it.
	var made struct{ Attestations keyCheck }
	if err := json.Unmarshal([]byte(out), &made); err != nil || !made.Attestations.Verified || len(made.Attestations.By) != 3 {
		t.Fatalf("keys create --json: the key made is not attested: %v %+v\n%s", err, made.Attestations, out)
	}
	if k := e.key(id); sortedHolders(k) != "laptop,phone,server" || k.GetThreshold() != 1 || k.GetCurve() != mpcv1.Curve_CURVE_ED25519 {
		t.Fatalf("the key made: %v", k)
	}

	// A drill signs its ceremony and commits.
	out = e.mustRun(alice.with("drill", "--key", id)...)
	if !strings.Contains(out, "operators' authorization signed as alice: drill ") || !strings.Contains(out, "epoch 0 -> 1: ok") {
		t.Fatalf("drill:\n%s", out)
	}
	if k := e.key(id); k.GetEpoch() != 1 {
		t.Fatalf("epoch after the drill: %d", k.GetEpoch())
	}
	// keys get checks the holders' own attestations of the epoch against
	// the operator's roster; a key whose attestations do not hold is
	// shown as not verified.
	if out := e.mustRun("keys", "get", id, "--operator-dir", alice.dir); !attestedBy(out, "laptop", "phone", "server") {
		t.Fatalf("keys get:\n%s", out)
	}
	st, _, err := verifiedRoster(e.ctx, e.c.Admin, alice.dir)
	if err != nil {
		t.Fatal(err)
	}
	k := e.key(id)
	if c := checkKey(k, st); !c.Verified {
		t.Fatalf("checkKey: %+v", c)
	}
	for name, tamper := range map[string]func(k *mpcv1.Key){
		"an attestation missing": func(k *mpcv1.Key) { k.Attestations = k.Attestations[1:] },
		"another holder listed":  func(k *mpcv1.Key) { k.Holders[0].DeviceId = k.Holders[1].GetDeviceId() },
		"another threshold":      func(k *mpcv1.Key) { k.Threshold = 2 },
		"another public key":     func(k *mpcv1.Key) { k.PublicKey = append([]byte{}, k.Attestations[0].GetSignature()[:32]...) },
		"a signature changed":    func(k *mpcv1.Key) { k.Attestations[0].Signature = k.Attestations[1].GetSignature() },
	} {
		forged := proto.Clone(k).(*mpcv1.Key)
		tamper(forged)
		if c := checkKey(forged, st); c.Verified || c.Error == "" {
			t.Errorf("%s: %+v", name, c)
		}
	}

	// Revoking server with tablet as its replacement: the plan is signed
	// (from phone and laptop to them and tablet) and the job runs under it.
	out = e.mustRun(alice.with("devices", "revoke", "server", "--replace-with", "tablet", "--wait", "0")...)
	if !strings.Contains(out, "reshare plan of key "+id+" signed") || !strings.Contains(out, "phone, laptop (t=1) -> phone, laptop, tablet (t=1)") ||
		!strings.Contains(out, "revocation appended to the roster") {
		t.Fatalf("devices revoke:\n%s", out)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		jobs, err := e.c.Admin.ListReshareJobs(e.ctx, &mpcv1.ListReshareJobsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var job *mpcv1.ReshareJob
		for _, j := range jobs.GetJobs() {
			if j.GetKeyId() == id {
				job = j
			}
		}
		if job.GetState() == mpcv1.ReshareJobState_RESHARE_JOB_STATE_DONE {
			break
		}
		if job.GetState() == mpcv1.ReshareJobState_RESHARE_JOB_STATE_BLOCKED || time.Now().After(deadline) {
			t.Fatalf("the revocation's reshare job: %v", job)
		}
		time.Sleep(100 * time.Millisecond)
	}
	k = e.key(id)
	if sortedHolders(k) != "laptop,phone,tablet" || k.GetThreshold() != 1 || k.GetEpoch() != 2 {
		t.Fatalf("after the revocation: holders %s, t=%d, epoch %d", sortedHolders(k), k.GetThreshold(), k.GetEpoch())
	}
	if out := e.mustRun("keys", "get", id, "--operator-dir", alice.dir); !attestedBy(out, "laptop", "phone", "tablet") {
		t.Fatalf("keys get after the revocation:\n%s", out)
	}

	// keys reshare: a revoked device is named and refused; the key's
	// holders at a new threshold are signed and reshared to.
	_, _, err = e.run(alice.with("keys", "reshare", id, "--devices", "phone,laptop,tablet,server")...)
	if err == nil || !strings.Contains(err.Error(), `device "server" is revoked on the roster`) {
		t.Fatalf("keys reshare to a revoked device: %v", err)
	}
	out = e.mustRun(alice.with("keys", "reshare", id, "--threshold", "2")...)
	if !strings.Contains(out, "operators' authorization signed as alice: reshare ") || !strings.Contains(out, "epoch 2 -> 3: ok") {
		t.Fatalf("keys reshare:\n%s", out)
	}
	if k := e.key(id); k.GetThreshold() != 2 || sortedHolders(k) != "laptop,phone,tablet" {
		t.Fatalf("after keys reshare: t=%d holders %s", k.GetThreshold(), sortedHolders(k))
	}

	// Drills on a schedule: one standing authorization, signed once, runs
	// drill after drill (the key's epoch moves on each time) without the
	// operator key; an ordinary drill authorization runs once.
	standing := filepath.Join(t.TempDir(), "standing.json")
	if _, _, err := e.run(alice.with("drill", "--key", id, "--standing")...); err == nil || !strings.Contains(err.Error(), "--authorization-out") {
		t.Fatalf("--standing without --authorization-out: %v", err)
	}
	e.mustRun(alice.with("drill", "--key", id, "--standing", "--valid-for", "24h", "--authorization-out", standing)...)
	for _, epoch := range []string{"epoch 3 -> 4: ok", "epoch 4 -> 5: ok"} {
		if out := e.mustRun("drill", "--key", id, "--authorization", standing, "--operator-dir", alice.dir); !strings.Contains(out, epoch) {
			t.Fatalf("scheduled drill under the standing authorization:\n%s", out)
		}
	}
	once := filepath.Join(t.TempDir(), "once.json")
	e.mustRun(alice.with("drill", "--key", id, "--authorization-out", once)...)
	e.mustRun("drill", "--key", id, "--authorization", once, "--operator-dir", alice.dir)
	if _, _, err := e.run("drill", "--key", id, "--authorization", once, "--operator-dir", alice.dir); err == nil || !strings.Contains(err.Error(), "epoch") {
		t.Fatalf("an ordinary drill authorization used twice: %v", err)
	}
}

// TestCeremonyQuorum: with a quorum of two, signing alone is refused with
// what to do; an authorization written with --authorization-out and signed
// by a second operator with 'ceremony sign' runs with --authorization, and
// only for the ceremony it names.
func TestCeremonyQuorum(t *testing.T) {
	e := newRosterEnv(t)
	alice, bob, carol := e.operator("alice"), e.operator("bob"), e.operator("carol")
	e.ceremonyCluster(2, []string{"phone", "laptop", "server"}, alice, bob)
	create := func(o testOperator, extra ...string) (string, error) {
		out, errOut, err := e.run(o.with(append([]string{"keys", "create", "--curve", "ed25519", "--threshold", "1", "--devices", "phone,laptop,server"}, extra...)...)...)
		return out + errOut, err
	}

	if _, err := create(alice); err == nil || !strings.Contains(err.Error(), "quorum is 2") || !strings.Contains(err.Error(), "--authorization-out") {
		t.Fatalf("keys create with quorum 2 and no authorization file: %v", err)
	}
	file := filepath.Join(t.TempDir(), "keygen.json")
	out, err := create(alice, "--authorization-out", file)
	if err != nil || !strings.Contains(out, "written to "+file) || !strings.Contains(out, "mpcctl ceremony sign --in "+file) {
		t.Fatalf("keys create --authorization-out: %v\n%s", err, out)
	}
	if n := e.keyCount(); n != 0 {
		t.Fatalf("--authorization-out made %d keys", n)
	}
	var af struct {
		Body       []byte
		Signatures []struct{ Key, Sig []byte }
	}
	if raw, err := os.ReadFile(file); err != nil || json.Unmarshal(raw, &af) != nil || len(af.Signatures) != 1 || len(af.Body) == 0 {
		t.Fatalf("authorization file: %v\n%s", err, raw)
	}

	// Alice's signature alone does not run it.
	if _, err := create(alice, "--authorization", file); err == nil || !strings.Contains(err.Error(), "not signed by enough operators") {
		t.Fatalf("keys create with a half-signed authorization: %v", err)
	}
	// Carol is not an operator of this roster.
	e.mustRun(carol.dirOnly("roster", "pin", "--genesis", readPin(t, alice.dir).Genesis)...)
	if out, err := e.runCeremony(carol.with("sign", "--in", file)...); err == nil || !strings.Contains(err.Error(), "not one of the roster's operators") {
		t.Fatalf("carol signs: %v\n%s", err, out)
	}
	out, err = e.runCeremony(bob.with("sign", "--in", file)...)
	if err != nil || !strings.Contains(out, "keygen (ed25519)") || !strings.Contains(out, "phone (") || !strings.Contains(out, "quorum (2) is reached") {
		t.Fatalf("bob signs: %v\n%s", err, out)
	}

	// The authorization is for these devices only.
	if _, _, err := e.run(alice.with("keys", "create", "--curve", "ed25519", "--threshold", "1", "--devices", "phone,laptop", "--authorization", file)...); err == nil ||
		!strings.Contains(err.Error(), "not for what this command runs") {
		t.Fatalf("keys create with an authorization of another committee: %v", err)
	}
	out, err = create(alice, "--json", "--authorization", file)
	if err != nil || !strings.Contains(out, "running under the operators' authorization") {
		t.Fatalf("keys create --authorization: %v\n%s", err, out)
	}
	id := createdKeyID(t, out[:strings.LastIndex(out, "}")+1])

	// A drill the same way.
	drillFile := filepath.Join(t.TempDir(), "drill.json")
	e.mustRun(alice.with("drill", "--key", id, "--authorization-out", drillFile)...)
	if out, err := e.runCeremony(bob.with("sign", "--in", drillFile)...); err != nil || !strings.Contains(out, "drill (ed25519)") || !strings.Contains(out, "key:           "+id) {
		t.Fatalf("bob signs the drill: %v\n%s", err, out)
	}
	out = e.mustRun(alice.with("drill", "--key", id, "--authorization", drillFile)...)
	if !strings.Contains(out, "epoch 0 -> 1: ok") {
		t.Fatalf("drill --authorization:\n%s", out)
	}
	if _, _, err := e.run(alice.with("drill", "--all")...); err == nil || !strings.Contains(err.Error(), "quorum is 2") {
		t.Fatalf("drill --all with quorum 2: %v", err)
	}
}

// TestCeremonyWithoutRoster: without a roster nothing is signed and keys
// create, drill and reshare work as before; the authorization flags are
// refused.
func TestCeremonyWithoutRoster(t *testing.T) {
	e := newRosterEnv(t)
	for _, name := range []string{"a", "b", "c"} {
		e.c.AddDevice(t, name, nil)
	}
	args := []string{"keys", "create", "--curve", "ed25519", "--threshold", "1", "--devices", "a,b"}
	if _, _, err := e.run(append(args, "--authorization-out", filepath.Join(t.TempDir(), "x.json"))...); err == nil || !strings.Contains(err.Error(), "has none") {
		t.Fatalf("--authorization-out without a roster: %v", err)
	}
	out := e.mustRun(append([]string{"--json"}, args...)...)
	id := createdKeyID(t, out)
	if strings.Contains(out, "authorization") {
		t.Fatalf("keys create without a roster mentions an authorization:\n%s", out)
	}
	out = e.mustRun("drill", "--key", id)
	if strings.Contains(out, "authorization") || !strings.Contains(out, "epoch 0 -> 1: ok") {
		t.Fatalf("drill without a roster:\n%s", out)
	}
	out = e.mustRun("keys", "reshare", id, "--devices", "a,b,c")
	if !strings.Contains(out, "epoch 1 -> 2: ok") {
		t.Fatalf("keys reshare without a roster:\n%s", out)
	}
	if k := e.key(id); sortedHolders(k) != "a,b,c" {
		t.Fatalf("holders after the reshare: %s", sortedHolders(k))
	}
}

// TestCeremonyHelp: the ceremony command and the new flags are documented.
func TestCeremonyHelp(t *testing.T) {
	clitest.CheckHelp(t, ceremonyRoot(), 2)
	root := newRootCmd()
	for _, path := range [][]string{{"keys", "create"}, {"keys", "reshare"}, {"drill"}} {
		cmd, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"valid-for", "authorization", "authorization-out", "operator-dir", "passphrase-file"} {
			if cmd.Flags().Lookup(f) == nil {
				t.Errorf("mpcctl %s has no --%s", strings.Join(path, " "), f)
			}
		}
	}
	cmd, _, err := root.Find([]string{"devices", "revoke"})
	if err != nil {
		t.Fatal(err)
	}
	if f := cmd.Flags().Lookup("plan-valid-for"); f == nil || f.DefValue != (7*24*time.Hour).String() {
		t.Errorf("devices revoke --plan-valid-for: %+v", f)
	}
}
