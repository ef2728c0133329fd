package party

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

type testOp struct{ priv ed25519.PrivateKey }

func newTestOp() testOp {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	return testOp{priv}
}
func (o testOp) PublicKey() ed25519.PublicKey { return o.priv.Public().(ed25519.PublicKey) }
func (o testOp) Sign(m []byte) []byte         { return ed25519.Sign(o.priv, m) }

// testChain is an operator's roster: genesis, then entries as the test adds them.
type testChain struct {
	op      testOp
	st      *roster.State
	entries []roster.Entry
}

func newTestChain(t *testing.T) *testChain {
	t.Helper()
	op := newTestOp()
	g, err := roster.NewGenesis([]roster.Operator{{Name: "alice", Key: op.PublicKey()}}, 1, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g.Sign(op)
	st, err := roster.Open(g)
	if err != nil {
		t.Fatal(err)
	}
	return &testChain{op: op, st: st, entries: []roster.Entry{g}}
}

// next makes (without applying) the next entry.
func (c *testChain) next(t *testing.T, fill func(*roster.Body)) roster.Entry {
	t.Helper()
	b := c.st.Next(roster.KindAddDevice, time.Now())
	fill(&b)
	raw, err := roster.EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	e := roster.Entry{Body: raw}
	e.Sign(c.op)
	return e
}

func (c *testChain) add(t *testing.T, e roster.Entry) {
	t.Helper()
	if err := c.st.Apply(e); err != nil {
		t.Fatal(err)
	}
	c.entries = append(c.entries, e)
}

func addDevice(name string, pub, enc []byte) func(*roster.Body) {
	return func(b *roster.Body) {
		b.Kind = roster.KindAddDevice
		b.Device = &roster.Device{ID: identity.DeviceID(pub), Name: name, IdentityKey: pub, EncryptionKey: enc}
	}
}

func randomDevice(name string) func(*roster.Body) {
	id, _ := identity.New()
	return addDevice(name, id.PublicKey(), id.EncryptionPublicKey())
}

func update(first uint64, height uint64, es ...roster.Entry) *mpcv1.RosterUpdate {
	u := &mpcv1.RosterUpdate{FirstHeight: first, Height: height}
	for _, e := range es {
		u.Entries = append(u.Entries, roster.EntryProto(e))
	}
	return u
}

// rosterAgent is an agent that pinned chain's genesis at enrolment.
func rosterAgent(t *testing.T, dir string, c *testChain) *Agent {
	t.Helper()
	ks := openStore(t, dir)
	t.Cleanup(func() { ks.Close() })
	id, err := loadOrCreateIdentity(ks)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DeviceID: identity.DeviceID(id.PublicKey()), Name: "dev", Address: "127.0.0.1:1", Fingerprint: fingerprint(1), RosterGenesis: c.entries[0].Hash().String()}
	if err := saveConfig(ks, cfg); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Store: ks})
	if err != nil {
		t.Fatal(err)
	}
	a.Pool().FixturesOnly() // it never generates
	return a
}

// A device verifies the roster from the genesis it pinned, keeps its head
// across restarts, and refuses a chain that rolls back, forks, starts at
// another genesis or carries a forged signature - changing nothing.
func TestDeviceVerifiesRoster(t *testing.T) {
	c := newTestChain(t)
	dir := t.TempDir()
	a := rosterAgent(t, dir, c)
	self := addDevice("dev", a.id.PublicKey(), a.id.EncryptionPublicKey())
	c.add(t, c.next(t, self))
	c.add(t, c.next(t, randomDevice("laptop")))
	if err := a.applyRoster(update(0, 2, c.entries...)); err != nil {
		t.Fatalf("a valid roster: %v", err)
	}
	if n := a.rosterEntries(); n != 3 {
		t.Fatalf("verified %d entries, want 3", n)
	}
	head := c.st.Head()

	// The same entries again, or an update that overlaps, change nothing.
	if err := a.applyRoster(update(1, 2, c.entries[1:]...)); err != nil {
		t.Fatalf("overlapping update: %v", err)
	}

	other := newTestChain(t)
	other.add(t, other.next(t, randomDevice("x")))
	bad := c.next(t, randomDevice("tablet")) // height 3, forged below
	bad.Signatures[0].Sig[0] ^= 1
	c.add(t, c.next(t, randomDevice("server")))

	// fork2 differs from the verified entry at height 2.
	c2 := newTestChain(t)
	c2.st, c2.entries = mustVerify(t, c.entries[:2]), c.entries[:2]
	c2.op = c.op
	fork2 := c2.next(t, randomDevice("intruder"))

	cases := []struct {
		name string
		u    *mpcv1.RosterUpdate
		want error
	}{
		{"rolled back", update(0, 1, c.entries[:2]...), roster.ErrRollback},
		{"forked at a verified height", update(2, 2, fork2), roster.ErrFork},
		{"another genesis", update(0, 2, other.entries...), roster.ErrFork},
		{"forged signature", update(3, 3, bad), roster.ErrBadSignature},
		{"gap", update(4, 4, c.entries[3]), roster.ErrChain},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := a.applyRoster(tc.u)
			if !errors.Is(err, tc.want) {
				t.Fatalf("applyRoster = %v, want %v", err, tc.want)
			}
			if h, _ := a.Roster(); h.Height != 2 || h.Head != head.String() {
				t.Fatalf("a refused update changed the head: %+v", h)
			}
		})
	}

	// A later, valid entry is taken, and survives a restart.
	if err := a.applyRoster(update(3, 3, c.entries[3])); err != nil {
		t.Fatalf("valid extension: %v", err)
	}
	a.ks.Close()
	b := rosterAgent(t, dir, c)
	if h, _ := b.Roster(); !h.Verified || h.Height != 3 || h.Head != c.st.Head().String() {
		t.Fatalf("after a restart the verified head is %+v", h)
	}
	// The restarted device still refuses a rollback to what it saw before.
	if err := b.applyRoster(update(0, 2, c.entries[:3]...)); !errors.Is(err, roster.ErrRollback) {
		t.Fatalf("rollback after restart: %v", err)
	}
}

func mustVerify(t *testing.T, es []roster.Entry) *roster.State {
	t.Helper()
	st, err := roster.Verify(es[0].Hash(), es)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A device with a roster joins a session only when it and every participant
// are active on it with the keys it lists.
func TestCheckMembers(t *testing.T) {
	c := newTestChain(t)
	a := rosterAgent(t, t.TempDir(), c)
	start := func(ps ...*mpcv1.Participant) *mpcv1.SessionStart {
		return &mpcv1.SessionStart{Participants: ps}
	}
	selfP := &mpcv1.Participant{DeviceId: a.cfg.DeviceID, IdentityPublicKey: a.id.PublicKey()}
	if err := a.checkMembers(start(selfP)); err == nil || !strings.Contains(err.Error(), "not received") {
		t.Fatalf("before any roster: %v", err)
	}
	if err := a.applyRoster(update(0, 0, c.entries...)); err != nil {
		t.Fatal(err)
	}
	if err := a.checkMembers(start(selfP)); err == nil || !strings.Contains(err.Error(), "this device is not active") {
		t.Fatalf("not yet on the roster: %v", err)
	}
	c.add(t, c.next(t, addDevice("dev", a.id.PublicKey(), a.id.EncryptionPublicKey())))
	peer, _ := identity.New()
	c.add(t, c.next(t, addDevice("peer", peer.PublicKey(), peer.EncryptionPublicKey())))
	gone, _ := identity.New()
	c.add(t, c.next(t, addDevice("gone", gone.PublicKey(), gone.EncryptionPublicKey())))
	c.add(t, c.next(t, func(b *roster.Body) {
		b.Kind, b.DeviceID = roster.KindRevokeDevice, identity.DeviceID(gone.PublicKey())
	}))
	if err := a.applyRoster(update(1, 4, c.entries[1:]...)); err != nil {
		t.Fatal(err)
	}
	peerP := &mpcv1.Participant{DeviceId: identity.DeviceID(peer.PublicKey()), IdentityPublicKey: peer.PublicKey()}
	if err := a.checkMembers(start(selfP, peerP)); err != nil {
		t.Fatalf("two active members: %v", err)
	}
	stranger, _ := identity.New()
	cases := map[string]*mpcv1.SessionStart{
		"not on the roster": start(selfP, &mpcv1.Participant{DeviceId: identity.DeviceID(stranger.PublicKey()), IdentityPublicKey: stranger.PublicKey()}),
		"revoked":           start(selfP, &mpcv1.Participant{DeviceId: identity.DeviceID(gone.PublicKey()), IdentityPublicKey: gone.PublicKey()}),
		"another key":       start(selfP, &mpcv1.Participant{DeviceId: peerP.DeviceId, IdentityPublicKey: stranger.PublicKey()}),
		"committee member not taking part": {Participants: []*mpcv1.Participant{selfP, peerP},
			NewCommittee: []string{selfP.DeviceId, identity.DeviceID(stranger.PublicKey())}},
	}
	for name, st := range cases {
		if err := a.checkMembers(st); !errors.Is(err, ErrRosterRefused) {
			t.Errorf("%s: %v, want a roster refusal", name, err)
		}
	}
}

// A device enrolled before the roster pins it once; it never changes to
// another genesis.
func TestPinRoster(t *testing.T) {
	_, ks := newTestAgent(t, t.TempDir())
	c, d := newTestChain(t), newTestChain(t)
	if _, err := PinRoster(ks, "not hex"); err == nil {
		t.Fatal("a malformed genesis was pinned")
	}
	cfg, err := PinRoster(ks, c.entries[0].Hash().String())
	if err != nil || cfg.RosterGenesis != c.entries[0].Hash().String() {
		t.Fatalf("pin: %+v %v", cfg, err)
	}
	if _, err := PinRoster(ks, c.entries[0].Hash().String()); err != nil {
		t.Fatalf("pinning the same genesis again: %v", err)
	}
	if _, err := PinRoster(ks, d.entries[0].Hash().String()); !errors.Is(err, ErrRosterPinned) {
		t.Fatalf("pinning another genesis: %v", err)
	}
	if got, _ := LoadConfig(ks); got.RosterGenesis != c.entries[0].Hash().String() {
		t.Fatalf("the pin changed to %s", got.RosterGenesis)
	}
}
