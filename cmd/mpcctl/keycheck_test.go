package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/mpcsign/mpcsign/internal/address"
	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/resharing"
)

// stubAdmin is a coordinator that answers only what a test gives it: the
// roster, and GetKey and CreateKey by the test's functions. Any other call
// panics (the embedded client is nil).
type stubAdmin struct {
	mpcv1.AdminServiceClient
	roster    *mpcv1.GetRosterResponse
	getKey    func(*mpcv1.GetKeyRequest) *mpcv1.GetKeyResponse
	createKey func(*mpcv1.CreateKeyRequest) *mpcv1.CreateKeyResponse
}

func (s *stubAdmin) GetRoster(context.Context, *mpcv1.GetRosterRequest, ...grpc.CallOption) (*mpcv1.GetRosterResponse, error) {
	if s.roster == nil {
		return &mpcv1.GetRosterResponse{}, nil
	}
	return s.roster, nil
}

func (s *stubAdmin) GetKey(_ context.Context, req *mpcv1.GetKeyRequest, _ ...grpc.CallOption) (*mpcv1.GetKeyResponse, error) {
	if s.getKey == nil {
		return nil, errors.New("stub: no GetKey")
	}
	return s.getKey(req), nil
}

func (s *stubAdmin) CreateKey(_ context.Context, req *mpcv1.CreateKeyRequest, _ ...grpc.CallOption) (*mpcv1.CreateKeyResponse, error) {
	if s.createKey == nil {
		return nil, errors.New("stub: no CreateKey")
	}
	return s.createKey(req), nil
}

// attestFixture is a roster built in the test (one operator, quorum 1),
// pinned in the operator's directory, and the identity keys of every device
// ever added to it.
type attestFixture struct {
	t       *testing.T
	opDir   string
	opFlags []string
	op      *keyfile.Key
	entries []roster.Entry
	st      *roster.State
	devKeys map[string]ed25519.PrivateKey // by device id, revoked ones too
	ids     map[string]string             // name -> id of the device added last under it
}

func newAttestFixture(t *testing.T) *attestFixture {
	t.Helper()
	useTestOperatorKDF(t)
	t.Setenv("MPC_HOME", t.TempDir())
	base := t.TempDir()
	dir, pass := filepath.Join(base, "alice"), filepath.Join(base, "passphrase")
	if err := os.WriteFile(pass, []byte(testOperatorPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &attestFixture{t: t, opDir: dir, opFlags: []string{"--operator-dir", dir, "--passphrase-file", pass},
		devKeys: map[string]ed25519.PrivateKey{}, ids: map[string]string{}}
	if _, errOut, err := runOperatorCLI(t, append([]string{"operator", "init", "--name", "alice"}, f.opFlags...)...); err != nil {
		t.Fatalf("operator init: %v\n%s", err, errOut)
	}
	k, err := keyfile.Read(filepath.Join(dir, operatorKeyName), keystore.NewPassphrase([]byte(testOperatorPassphrase)))
	if err != nil {
		t.Fatal(err)
	}
	f.op = k
	g, err := roster.NewGenesis([]roster.Operator{{Name: k.Name(), Key: k.PublicKey()}}, 1, false, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	g.Sign(k)
	if f.st, err = roster.Open(g); err != nil {
		t.Fatal(err)
	}
	f.entries = []roster.Entry{g}
	return f
}

func (f *attestFixture) append(b roster.Body) {
	f.t.Helper()
	raw, err := roster.EncodeBody(b)
	if err != nil {
		f.t.Fatal(err)
	}
	e := roster.Entry{Body: raw}
	e.Sign(f.op)
	if err := f.st.Apply(e); err != nil {
		f.t.Fatalf("%s: %v", b.Kind, err)
	}
	f.entries = append(f.entries, e)
}

// addDevice puts a device of a fresh identity key on the roster.
func (f *attestFixture) addDevice(name string) string {
	f.t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	enc := make([]byte, 32)
	rand.Read(enc)
	d := roster.Device{ID: identity.DeviceID(pub), Name: name, IdentityKey: pub, EncryptionKey: enc}
	b := f.st.Next(roster.KindAddDevice, time.Now())
	b.Device = &d
	f.append(b)
	f.devKeys[d.ID], f.ids[name] = priv, d.ID
	return d.ID
}

func (f *attestFixture) revoke(id string) {
	f.t.Helper()
	b := f.st.Next(roster.KindRevokeDevice, time.Now())
	b.DeviceID, b.Reason = id, "stolen"
	f.append(b)
}

// pin pins the roster as it is now in the operator's directory.
func (f *attestFixture) pin() {
	f.t.Helper()
	writePin(f.t, f.opDir, pinFile{Genesis: f.entries[0].Hash().String(), Height: f.st.Height(), Head: f.st.Head().String()})
}

func (f *attestFixture) rosterResponse() *mpcv1.GetRosterResponse {
	r := &mpcv1.GetRosterResponse{Exists: true, Height: f.st.Height()}
	for _, e := range f.entries {
		r.Entries = append(r.Entries, roster.EntryProto(e))
	}
	return r
}

// key is a fresh secp256k1 key (with a chain code) of threshold t held by
// the devices ids, at epoch, attested by each of them with the identity
// key that device id was added with.
func (f *attestFixture) key(t int, epoch uint64, ids ...string) *mpcv1.Key {
	f.t.Helper()
	priv, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		f.t.Fatal(err)
	}
	pub := priv.PubKey().SerializeCompressed()
	cc := make([]byte, 32)
	rand.Read(cc)
	committee := slices.Sorted(slices.Values(ids))
	k := &mpcv1.Key{Id: identity.KeyID(pub), Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: uint32(t), PublicKey: pub, ChainCode: cc, Epoch: epoch}
	for _, id := range committee {
		commit := make([]byte, 33)
		copy(commit, pub)
		a, err := resharing.Attest(resharing.Attestation{Version: resharing.AttestationVersion, KeyID: k.Id, Curve: resharing.CurveSecp256k1, Epoch: epoch,
			PublicKey: pub, ChainCode: cc, Threshold: t, Committee: committee, Holder: id, ShareCommitment: commit},
			func(msg []byte) []byte { return ed25519.Sign(f.devKeys[id], msg) })
		if err != nil {
			f.t.Fatal(err)
		}
		k.Attestations = append(k.Attestations, &mpcv1.KeyAttestation{Body: a.Body, Signature: a.Signature})
		name := id
		if d, ok := f.st.Device(id); ok {
			name = d.Name
		}
		k.Holders = append(k.Holders, &mpcv1.KeyHolder{DeviceId: id, DeviceName: name})
	}
	k.Addresses = localAddresses(k)
	return k
}

// runStub runs mpcctl against stub.
func runStub(t *testing.T, stub mpcv1.AdminServiceClient, args ...string) (string, string, error) {
	t.Helper()
	var out, errw bytes.Buffer
	root := newRootCmdWith(&globals{adminClient: stub})
	root.SetArgs(append([]string{"--coordinator-dir", filepath.Join(t.TempDir(), "none")}, args...))
	root.SetOut(&out)
	root.SetErr(&errw)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), errw.String(), err
}

// TestCheckKeyRevokedAttesters: phone and laptop are revoked (stolen) and
// paired again under the same names with new identity keys. A key attested
// with the old identity keys, which a thief holds, is not verified: its
// reason names the revoked ids. A key still held by one revoked device (its
// revocation reshare pending) is not verified either; the ceremonies still
// take its attestations (a revocation plans from them).
func TestCheckKeyRevokedAttesters(t *testing.T) {
	f := newAttestFixture(t)
	oldPhone, oldLaptop, server, tablet := f.addDevice("phone"), f.addDevice("laptop"), f.addDevice("server"), f.addDevice("tablet")
	pending := f.key(1, 0, oldPhone, server, tablet)
	f.revoke(oldPhone)
	f.revoke(oldLaptop)
	newPhone, newLaptop := f.addDevice("phone"), f.addDevice("laptop")
	f.pin()

	stolen := f.key(1, 0, oldPhone, oldLaptop)
	c := checkKey(stolen, f.st)
	if c.Verified || !strings.Contains(c.Error, oldPhone) || !strings.Contains(c.Error, oldLaptop) || !strings.Contains(c.Error, "revoked") {
		t.Fatalf("a key attested by revoked devices: %+v", c)
	}
	out, errOut, err := runStub(t, &stubAdmin{roster: f.rosterResponse(), getKey: func(*mpcv1.GetKeyRequest) *mpcv1.GetKeyResponse {
		return &mpcv1.GetKeyResponse{Key: stolen}
	}}, "keys", "get", stolen.GetId(), "--operator-dir", f.opDir)
	if err != nil || !strings.Contains(out, "attested:   NOT VERIFIED") || !strings.Contains(out, oldPhone) || strings.Contains(out, "attested:   by") {
		t.Fatalf("keys get of a key attested by revoked devices: %v\n%s%s", err, out, errOut)
	}

	c = checkKey(pending, f.st)
	if c.Verified || !strings.Contains(c.Error, oldPhone+" (revoked") || strings.Contains(c.Error, server) || strings.Contains(c.Error, tablet) {
		t.Fatalf("a key whose revocation reshare is pending: %+v", c)
	}
	if err := attestedHolders(f.st, pending); err != nil {
		t.Fatalf("the ceremonies refuse the attestations of a key a revoked device still holds: %v", err)
	}

	// The devices paired again attest their own keys: verified, each named
	// with the start of its id.
	genuine := f.key(1, 0, newPhone, newLaptop, server)
	c = checkKey(genuine, f.st)
	if !c.Verified || !slices.Contains(c.By, "phone ("+newPhone[:8]+")") || !slices.Contains(c.By, "laptop ("+newLaptop[:8]+")") {
		t.Fatalf("a key of active devices: %+v", c)
	}
}

// child is the honest derived key of k at path.
func child(t *testing.T, k *mpcv1.Key, path string) *mpcv1.DerivedKey {
	t.Helper()
	steps, err := hd.ParsePath(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := hd.Derive(k.GetPublicKey(), k.GetChainCode(), steps)
	if err != nil {
		t.Fatal(err)
	}
	return &mpcv1.DerivedKey{Path: hd.FormatPath(steps), PublicKey: c.PublicKey, Addresses: localAddresses(&mpcv1.Key{PublicKey: c.PublicKey})}
}

func ethAddress(t *testing.T, pub []byte) string {
	t.Helper()
	a, err := address.Ethereum(pub)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// foreignKey is a secp256k1 public key no device holds.
func foreignKey(t *testing.T) []byte {
	t.Helper()
	priv, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return priv.PubKey().SerializeCompressed()
}

// TestCheckDerivedRequestedPath: checkDerived derives along the path the
// operator asked for, not the one the coordinator reports: the correct
// child of another path is refused, naming both paths.
func TestCheckDerivedRequestedPath(t *testing.T) {
	f := newAttestFixture(t)
	k := f.key(1, 0, f.addDevice("phone"), f.addDevice("laptop"))
	if err := checkDerived(k, "m/44/60/0/0/7", child(t, k, "m/44/60/0/0/7")); err != nil {
		t.Fatalf("the honest child: %v", err)
	}
	if err := checkDerived(k, "44/60/0/0/7", child(t, k, "m/44/60/0/0/7")); err != nil {
		t.Fatalf("the honest child, the path asked without m/: %v", err)
	}
	err := checkDerived(k, "m/44/60/0/0/7", child(t, k, "m/44/60/0/0/1999999"))
	if err == nil || !strings.Contains(err.Error(), "m/44/60/0/0/1999999") || !strings.Contains(err.Error(), "m/44/60/0/0/7") {
		t.Fatalf("the correct child of another path: %v", err)
	}
	if err := checkDerived(k, "m/44/60/0/0/7", nil); err == nil {
		t.Fatal("no derived key at all was taken")
	}
}

// TestKeysDeriveChecksAttestation: 'keys derive' checks the key as 'keys
// get' does: with a pinned roster, a verified key's child is recomputed at
// the path asked; a foreign child or another path's child is refused; an
// unattested key is marked NOT VERIFIED; without a pin it says not checked.
func TestKeysDeriveChecksAttestation(t *testing.T) {
	f := newAttestFixture(t)
	k := f.key(1, 0, f.addDevice("phone"), f.addDevice("laptop"), f.addDevice("server"))
	f.pin()
	const path = "m/44/60/0/0/7"
	honest := child(t, k, path)
	foreign := &mpcv1.DerivedKey{Path: path, PublicKey: foreignKey(t)}
	foreign.Addresses = localAddresses(&mpcv1.Key{PublicKey: foreign.PublicKey})
	stub := func(key *mpcv1.Key, d *mpcv1.DerivedKey) *stubAdmin {
		return &stubAdmin{roster: f.rosterResponse(), getKey: func(req *mpcv1.GetKeyRequest) *mpcv1.GetKeyResponse {
			return &mpcv1.GetKeyResponse{Key: proto.Clone(key).(*mpcv1.Key), Derived: proto.Clone(d).(*mpcv1.DerivedKey)}
		}}
	}
	derive := func(s *stubAdmin, extra ...string) (string, error) {
		args := append([]string{"keys", "derive", k.GetId(), "--path", path}, extra...)
		out, errOut, err := runStub(t, s, args...)
		return out + errOut, err
	}
	withPin := []string{"--operator-dir", f.opDir}

	// The honest answer: verified, the child's address computed here.
	out, err := derive(stub(k, honest), withPin...)
	if err != nil || !strings.Contains(out, "attested:   by ") || !strings.Contains(out, ethAddress(t, honest.PublicKey)) {
		t.Fatalf("keys derive of an attested key: %v\n%s", err, out)
	}
	// The coordinator's addresses for an honest child are not what is shown.
	lying := proto.Clone(honest).(*mpcv1.DerivedKey)
	lying.Addresses = foreign.Addresses
	out, err = derive(stub(k, lying), withPin...)
	if err != nil || strings.Contains(out, foreign.Addresses.Ethereum) || !strings.Contains(out, ethAddress(t, honest.PublicKey)) {
		t.Fatalf("keys derive with the coordinator's addresses forged: %v\n%s", err, out)
	}

	// A foreign child key at the path asked: refused, its address unshown.
	out, err = derive(stub(k, foreign), withPin...)
	if err == nil || strings.Contains(out, foreign.Addresses.Ethereum) {
		t.Fatalf("keys derive with a foreign child: %v\n%s", err, out)
	}
	// The correct child of another path: refused, naming both paths.
	other := child(t, k, "m/44/60/0/0/1999999")
	out, err = derive(stub(k, other), withPin...)
	if err == nil || !strings.Contains(err.Error(), "m/44/60/0/0/1999999") || !strings.Contains(err.Error(), path) || strings.Contains(out, ethAddress(t, other.PublicKey)) {
		t.Fatalf("keys derive answered with another path's child: %v\n%s", err, out)
	}
	// keys get --path refuses it too.
	_, _, err = runStub(t, stub(k, other), "keys", "get", k.GetId(), "--path", path, "--operator-dir", f.opDir)
	if err == nil || !strings.Contains(err.Error(), "m/44/60/0/0/1999999") {
		t.Fatalf("keys get --path answered with another path's child: %v", err)
	}
	// Another (attested) key than the one asked for: refused.
	k2 := f.key(1, 0, f.ids["phone"], f.ids["laptop"])
	out, err = derive(&stubAdmin{roster: f.rosterResponse(), getKey: func(*mpcv1.GetKeyRequest) *mpcv1.GetKeyResponse {
		return &mpcv1.GetKeyResponse{Key: k2, Derived: child(t, k2, path)}
	}}, withPin...)
	if err == nil || !strings.Contains(err.Error(), k2.GetId()) {
		t.Fatalf("keys derive answered with another key: %v\n%s", err, out)
	}

	// A key (and child) the devices never attested: NOT VERIFIED.
	unattested := proto.Clone(k).(*mpcv1.Key)
	unattested.PublicKey = foreignKey(t)
	unattested.Id = identity.KeyID(unattested.PublicKey)
	fake := child(t, unattested, path)
	s := stub(unattested, fake)
	out, errOut, err := runStub(t, s, "keys", "derive", unattested.GetId(), "--path", path, "--operator-dir", f.opDir)
	if err != nil || !strings.Contains(out, "attested:   NOT VERIFIED") || strings.Contains(out+errOut, "attested:   by") {
		t.Fatalf("keys derive of an unattested key: %v\n%s%s", err, out, errOut)
	}
	out, _, err = runStub(t, s, "--json", "keys", "derive", unattested.GetId(), "--path", path, "--operator-dir", f.opDir)
	var j struct {
		Attestations *keyCheck `json:"attestations"`
	}
	if err != nil || json.Unmarshal([]byte(out), &j) != nil || j.Attestations == nil || j.Attestations.Verified {
		t.Fatalf("keys derive --json of an unattested key: %v\n%s", err, out)
	}

	// No pin: today's output, marked not checked.
	out, err = derive(stub(k, honest), "--operator-dir", t.TempDir())
	if err != nil || !strings.Contains(out, "attested:   not checked") || !strings.Contains(out, ethAddress(t, honest.PublicKey)) {
		t.Fatalf("keys derive without a pin: %v\n%s", err, out)
	}
}

// TestKeysCreateChecksAttestation: 'keys create' with a roster checks the
// key the coordinator reports: its members' attestations of epoch 0 and
// that it is the committee and threshold asked for; a key that does not
// check is marked NOT VERIFIED, never as attested.
func TestKeysCreateChecksAttestation(t *testing.T) {
	f := newAttestFixture(t)
	phone, laptop, server := f.addDevice("phone"), f.addDevice("laptop"), f.addDevice("server")
	f.pin()
	create := func(k *mpcv1.Key, extra ...string) (string, error) {
		var asked *mpcv1.CreateKeyRequest
		s := &stubAdmin{roster: f.rosterResponse(), createKey: func(req *mpcv1.CreateKeyRequest) *mpcv1.CreateKeyResponse {
			asked = req
			return &mpcv1.CreateKeyResponse{Key: proto.Clone(k).(*mpcv1.Key)}
		}}
		args := append(append(extra, "keys", "create", "--threshold", "1", "--devices", "phone,laptop,server"), f.opFlags...)
		out, errOut, err := runStub(t, s, args...)
		if err == nil && (asked == nil || asked.GetAuthorization() == nil) {
			t.Fatalf("keys create sent no signed keygen: %+v", asked)
		}
		return out + errOut, err
	}

	good := f.key(1, 0, phone, laptop, server)
	out, err := create(good)
	if err != nil || !strings.Contains(out, "attested:   by ") || !strings.Contains(out, ethAddress(t, good.GetPublicKey())) {
		t.Fatalf("keys create of an attested key: %v\n%s", err, out)
	}
	// The coordinator's addresses are not what is shown.
	lying := proto.Clone(good).(*mpcv1.Key)
	fk := foreignKey(t)
	lying.Addresses = localAddresses(&mpcv1.Key{PublicKey: fk})
	out, err = create(lying)
	if err != nil || strings.Contains(out, ethAddress(t, fk)) || !strings.Contains(out, ethAddress(t, good.GetPublicKey())) {
		t.Fatalf("keys create with forged addresses: %v\n%s", err, out)
	}

	for name, k := range map[string]*mpcv1.Key{
		"unattested": func() *mpcv1.Key {
			k := proto.Clone(good).(*mpcv1.Key)
			k.PublicKey = fk
			k.Id = identity.KeyID(fk)
			k.Addresses = localAddresses(k)
			return k
		}(),
		"no attestations":       func() *mpcv1.Key { k := proto.Clone(good).(*mpcv1.Key); k.Attestations = nil; return k }(),
		"another committee":     f.key(1, 0, phone, laptop),
		"another threshold":     f.key(2, 0, phone, laptop, server),
		"an older key reshared": f.key(1, 3, phone, laptop, server),
	} {
		out, err := create(k)
		if err != nil || !strings.Contains(out, "attested:   NOT VERIFIED") || strings.Contains(out, "attested:   by") {
			t.Errorf("keys create answered with %s: %v\n%s", name, err, out)
		}
		out, err = create(k, "--json")
		var j struct {
			Attestations *keyCheck `json:"attestations"`
		}
		if err != nil || json.NewDecoder(strings.NewReader(out)).Decode(&j) != nil || j.Attestations == nil || j.Attestations.Verified {
			t.Errorf("keys create --json answered with %s: %v\n%s", name, err, out)
		}
	}
}

// TestKeysCreateWithoutRoster: with no roster anywhere, keys create shows
// the coordinator's key as before, marked not checked.
func TestKeysCreateWithoutRoster(t *testing.T) {
	f := newAttestFixture(t)
	k := f.key(1, 0, f.addDevice("phone"), f.addDevice("laptop"))
	s := &stubAdmin{createKey: func(*mpcv1.CreateKeyRequest) *mpcv1.CreateKeyResponse { return &mpcv1.CreateKeyResponse{Key: k} }}
	out, errOut, err := runStub(t, s, "keys", "create", "--threshold", "1", "--devices", "phone,laptop", "--operator-dir", t.TempDir())
	if err != nil || !strings.Contains(out, "attested:   not checked") || !strings.Contains(out, k.GetAddresses().GetEthereum()) {
		t.Fatalf("keys create without a roster: %v\n%s%s", err, out, errOut)
	}
}
