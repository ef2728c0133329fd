package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

const testRequesterPassphrase = "requester passphrase 1"

// useTestRequesterKDF makes new requester key files cheap to create for the
// rest of the test. Tests that call it must not run in parallel.
func useTestRequesterKDF(t *testing.T) {
	t.Helper()
	old := requesterKDF
	requesterKDF = testkit.TestKDF
	t.Cleanup(func() { requesterKDF = old })
}

// requesterPassFile is a file holding testRequesterPassphrase.
func requesterPassFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "requester-passphrase")
	if err := os.WriteFile(p, []byte(testRequesterPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newRequesterEnv is a roster environment where requester passphrases come
// only from the flags a test passes.
func newRequesterEnv(t *testing.T) *rosterEnv {
	t.Helper()
	e := newRosterEnv(t)
	useTestRequesterKDF(t)
	t.Setenv(requesterPassphraseEnv, "")
	return e
}

// rosterRequester is the requester of that name on alice's verified roster.
func (e *rosterEnv) rosterRequester(o testOperator, ref string) roster.RequesterState {
	e.t.Helper()
	st, _, err := verifiedRoster(e.ctx, e.c.Admin, o.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := resolveRequester(st, ref)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// writePublicKeyPEM writes a fresh P-256 key's public key as a KMS exports
// it and returns the key.
func writePublicKeyPEM(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return k
}
