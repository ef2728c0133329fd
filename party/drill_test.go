package party

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	keycommit "github.com/mpcsign/mpcsign/resharing"
)

// drillWorld is a device that pins a roster with four more devices on it
// (a, b, c, d, the device itself being e in the reviewer's story).
type drillWorld struct {
	c     *testChain
	a     *Agent
	self  string
	peers []*identity.Identity
	ids   []string // the peers' device ids
}

func newDrillWorld(t *testing.T) *drillWorld {
	t.Helper()
	w := &drillWorld{c: newTestChain(t)}
	w.a = rosterAgent(t, t.TempDir(), w.c)
	w.self = w.a.cfg.DeviceID
	w.c.add(t, w.c.next(t, addDevice("dev", w.a.id.PublicKey(), w.a.id.EncryptionPublicKey())))
	for _, name := range []string{"a", "b", "c", "d"} {
		p, err := identity.New()
		if err != nil {
			t.Fatal(err)
		}
		w.c.add(t, w.c.next(t, addDevice(name, p.PublicKey(), p.EncryptionPublicKey())))
		w.peers = append(w.peers, p)
		w.ids = append(w.ids, identity.DeviceID(p.PublicKey()))
	}
	if err := w.a.applyRoster(update(0, w.c.st.Height(), w.c.entries...)); err != nil {
		t.Fatal(err)
	}
	return w
}

// authorize signs a reshare or drill of keyID by the chain's operator.
func (w *drillWorld) authorize(t *testing.T, kind roster.CeremonyKind, keyID string, fill func(*roster.Ceremony)) *mpcv1.Authorization {
	t.Helper()
	cer := w.c.st.NewCeremony(kind, 399*24*time.Hour, time.Now())
	cer.KeyID, cer.Curve = keyID, roster.CurveSecp256k1
	fill(&cer)
	raw, err := roster.EncodeCeremony(cer)
	if err != nil {
		t.Fatal(err)
	}
	au := roster.Authorization{Body: raw}
	au.Sign(w.c.op)
	p := &mpcv1.Authorization{Body: au.Body}
	for _, s := range au.Signatures {
		p.Signatures = append(p.Signatures, &mpcv1.RosterSignature{Key: s.Key, Signature: s.Sig})
	}
	return p
}

// standingDrill is the operators' standing drill of keyID for committee
// (threshold 1), valid for 399 days.
func (w *drillWorld) standingDrill(t *testing.T, keyID string, committee []string) *mpcv1.Authorization {
	return w.authorize(t, roster.CeremonyDrill, keyID, func(cer *roster.Ceremony) {
		cer.Standing, cer.Threshold, cer.Committee = true, 1, committee
		cer.NewThreshold, cer.NewCommittee = 1, slices.Clone(committee)
	})
}

func (w *drillWorld) save(t *testing.T, keyID string, epoch uint64, state ShareState, holders []string) {
	t.Helper()
	if err := saveShare(w.a.ks, shareRecord{Meta: ShareMeta{KeyID: keyID, Epoch: epoch, State: state, Threshold: 1, PublicKey: []byte{2}, Holders: holders}}); err != nil {
		t.Fatal(err)
	}
}

func reshareStart(keyID string, epoch uint64, old, committee []string, auth *mpcv1.Authorization) *mpcv1.SessionStart {
	return &mpcv1.SessionStart{Kind: mpcv1.SessionKind_SESSION_KIND_RESHARE, Curve: mpcv1.Curve_CURVE_SECP256K1, KeyId: keyID, Epoch: epoch, NewEpoch: epoch + 1,
		Threshold: 1, NewThreshold: 1, OldCommittee: old, NewCommittee: committee, Authorization: auth}
}

// A standing drill (it names no epoch) reshares a key to the committee that
// holds it: a device joins one only when it holds the key's committed share
// of the drilled epoch, none newer, and that share's holders are exactly
// the drill's committee; an ordinary drill is bound to its epoch. The reviewer's attack: a standing drill of K to
// {a,b,c,d}, signed before K was reshared to {a,b,e}, run by a compromised
// coordinator with old holders {a,b} to move K back onto c and d.
func TestCheckCeremonyDrillNeedsTheHolders(t *testing.T) {
	w := newDrillWorld(t)
	a, b, c, d := w.ids[0], w.ids[1], w.ids[2], w.ids[3]
	now := time.Now()
	old := []string{w.self, b}
	drillTo := []string{w.self, b, c, d}
	cases := []struct {
		name  string
		setup func(keyID string)
		st    func(keyID string) *mpcv1.SessionStart
		ok    bool
	}{
		{"an old holder of {self,a,b} (K reshared since) refuses a standing drill to {self,b,c,d}",
			func(k string) { w.save(t, k, 1, ShareCommitted, []string{w.self, a, b}) },
			func(k string) *mpcv1.SessionStart {
				return reshareStart(k, 1, old, drillTo, w.standingDrill(t, k, drillTo))
			}, false},
		{"an ordinary drill names the epoch and the committee the operators chose (a restore's swap, say): a holder of that epoch joins",
			func(k string) { w.save(t, k, 1, ShareCommitted, []string{w.self, a, b}) },
			func(k string) *mpcv1.SessionStart {
				return reshareStart(k, 1, old, drillTo, w.authorize(t, roster.CeremonyDrill, k, func(cer *roster.Ceremony) {
					cer.Epoch, cer.Threshold, cer.Committee, cer.NewThreshold, cer.NewCommittee = 1, 1, drillTo, 1, drillTo
				}))
			}, true},
		{"an ordinary drill of an epoch the key has left",
			func(k string) { w.save(t, k, 2, ShareCommitted, []string{w.self, a, b}) },
			func(k string) *mpcv1.SessionStart {
				return reshareStart(k, 2, old, drillTo, w.authorize(t, roster.CeremonyDrill, k, func(cer *roster.Ceremony) {
					cer.Epoch, cer.Threshold, cer.Committee, cer.NewThreshold, cer.NewCommittee = 1, 1, drillTo, 1, drillTo
				}))
			}, false},
		{"a device holding no share of K refuses a drill of K",
			func(string) {},
			func(k string) *mpcv1.SessionStart {
				return reshareStart(k, 1, []string{b, c}, drillTo, w.standingDrill(t, k, drillTo))
			}, false},
		{"a device holding only a pending share refuses",
			func(k string) { w.save(t, k, 1, SharePending, drillTo) },
			func(k string) *mpcv1.SessionStart {
				return reshareStart(k, 1, []string{b, c}, drillTo, w.standingDrill(t, k, drillTo))
			}, false},
		{"a drill of an epoch this device holds a newer one of",
			func(k string) { w.save(t, k, 1, ShareCommitted, drillTo); w.save(t, k, 2, ShareCommitted, drillTo) },
			func(k string) *mpcv1.SessionStart {
				return reshareStart(k, 1, old, drillTo, w.standingDrill(t, k, drillTo))
			}, false},
		{"a standing drill of the committee that holds the key",
			func(k string) { w.save(t, k, 1, ShareCommitted, []string{d, c, b, w.self}) },
			func(k string) *mpcv1.SessionStart {
				return reshareStart(k, 1, old, drillTo, w.standingDrill(t, k, drillTo))
			}, true},
		{"the standing drill again after earlier drills (epoch 5, the old one erased)",
			func(k string) { w.save(t, k, 5, ShareCommitted, drillTo) },
			func(k string) *mpcv1.SessionStart {
				return reshareStart(k, 5, []string{c, w.self}, drillTo, w.standingDrill(t, k, drillTo))
			}, true},
		{"a reshare (not a drill) may change the committee",
			func(k string) { w.save(t, k, 1, ShareCommitted, []string{w.self, a, b}) },
			func(k string) *mpcv1.SessionStart {
				return reshareStart(k, 1, old, drillTo, w.authorize(t, roster.CeremonyReshare, k, func(cer *roster.Ceremony) {
					cer.Epoch, cer.Threshold, cer.Committee, cer.NewThreshold, cer.NewCommittee = 1, 1, []string{w.self, a, b}, 1, drillTo
				}))
			}, true},
	}
	for i, tc := range cases {
		keyID := "k" + string(rune('a'+i))
		tc.setup(keyID)
		err := w.a.checkCeremony(tc.st(keyID), now)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrCeremonyRefused)) {
			t.Errorf("%s: %v", tc.name, err)
		} else if err != nil && !strings.Contains(err.Error(), "drill") && !strings.Contains(err.Error(), "epoch") {
			t.Errorf("%s: the refusal does not say why: %v", tc.name, err)
		}
	}
}

// A device erases its share on a drill's commit certificate only when the
// drill's committee is the one that holds its share: the certificate of a
// drill run under a standing authorization signed before a reshare (K back
// on {a,b,c,d}) does not retire the share of e, which holds K with {a,b,e}.
func TestDrillCertificateNeedsTheHolders(t *testing.T) {
	w := newDrillWorld(t)
	a, b, c, d := w.ids[0], w.ids[1], w.ids[2], w.ids[3]
	signers := map[string]*identity.Identity{w.self: w.a.id}
	for i, id := range w.ids {
		signers[id] = w.peers[i]
	}
	nonce := []byte("sixteen byte nce")
	// newKey saves this device's records of a fresh key; cert is the
	// genuine certificate of its epoch 2, held by committee.
	type testKey struct {
		id   string
		priv *secp256k1.PrivateKey
		pub  []byte
	}
	newKey := func(seed string, recs ...ShareMeta) testKey {
		priv := secp256k1.PrivKeyFromBytes([]byte(seed))
		k := testKey{priv: priv, pub: priv.PubKey().SerializeCompressed()}
		k.id = identity.KeyID(k.pub)
		for _, m := range recs {
			m.KeyID, m.Threshold, m.PublicKey = k.id, 1, k.pub
			if err := saveShare(w.a.ks, shareRecord{Meta: m}); err != nil {
				t.Fatal(err)
			}
		}
		return k
	}
	cert := func(k testKey, epoch uint64, committee []string) []byte {
		committee = slices.Sorted(slices.Values(committee))
		cc := &keycommit.Certificate{KeyID: k.id, Epoch: epoch, TestNonce: nonce}
		for _, h := range committee {
			sa, err := keycommit.Attest(keycommit.Attestation{Version: 1, KeyID: k.id, Curve: keycommit.CurveSecp256k1, Epoch: epoch, PublicKey: k.pub,
				Threshold: 1, Committee: committee, Holder: h, ShareCommitment: k.pub}, signers[h].Sign)
			if err != nil {
				t.Fatal(err)
			}
			cc.Attestations = append(cc.Attestations, sa)
		}
		digest, err := keycommit.TestDigest(k.id, epoch, nonce)
		if err != nil {
			t.Fatal(err)
		}
		sig := ecdsa.Sign(k.priv, digest)
		r, s := sig.R(), sig.S()
		rb, sb := r.Bytes(), s.Bytes()
		cc.TestSignature = append(rb[:], sb[:]...)
		b, err := keycommit.EncodeCertificate(cc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var refusals []string
	sync := func(k testKey, epoch uint64, certificate []byte, auth *mpcv1.Authorization) {
		refusals = nil
		w.a.applySync(&mpcv1.KeySync{Keys: []*mpcv1.KeyEpoch{{KeyId: k.id, CommittedEpoch: epoch, NextEpoch: epoch + 1, Certificate: certificate, Authorization: auth}}},
			func(_, reason string) { refusals = append(refusals, reason) })
	}
	shares := func(k testKey) string {
		metas, err := keyShares(w.a.ks, k.id)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range metas {
			out = append(out, string(m.State)+"@"+string(rune('0'+m.Epoch)))
		}
		return strings.Join(out, ",")
	}
	abcd := []string{a, b, c, d}

	// The attack: this device is e, holding epoch 1 of K with {a,b,e}; the
	// certificate of epoch 2 is genuine (a, b, c and d attested it) and
	// the standing drill of K to {a,b,c,d} verifies.
	k := newKey("a test key of thirty-two bytes!!", ShareMeta{Epoch: 1, State: ShareCommitted, Holders: []string{a, b, w.self}})
	sync(k, 2, cert(k, 2, abcd), w.standingDrill(t, k.id, abcd))
	if len(refusals) != 1 || !strings.Contains(refusals[0], "drill") {
		t.Errorf("a standing drill's certificate to another committee: refusals %q", refusals)
	}
	if got := shares(k); got != "committed@1" {
		t.Fatalf("a standing drill's certificate to another committee erased this device's share: %s", got)
	}
	// An ordinary drill is bound to its epoch: one of an epoch this device
	// is past proves nothing either.
	sync(k, 2, cert(k, 2, abcd), w.authorize(t, roster.CeremonyDrill, k.id, func(cer *roster.Ceremony) {
		cer.Epoch, cer.Threshold, cer.Committee, cer.NewThreshold, cer.NewCommittee = 0, 1, abcd, 1, abcd
	}))
	if len(refusals) != 1 {
		t.Errorf("an ordinary drill's certificate of an older epoch: refusals %q", refusals)
	}
	if got := shares(k); got != "committed@1" {
		t.Fatalf("an ordinary drill's certificate of an older epoch erased this device's share: %s", got)
	}

	// A device that held no committed share of the key is given none by a
	// drill's certificate.
	mine := []string{w.self, a, b, c}
	k2 := newKey("another key of thirty-two bytes!", ShareMeta{Epoch: 2, State: SharePending, Holders: mine})
	sync(k2, 2, cert(k2, 2, mine), w.standingDrill(t, k2.id, mine))
	if len(refusals) != 1 {
		t.Errorf("a drill's certificate promoting the share of a device that held none: refusals %q", refusals)
	}
	if got := shares(k2); got != "pending@2" {
		t.Fatalf("a drill's certificate promoted the share of a device that held none: %s", got)
	}

	// A legitimate standing drill, of the committee that holds the key:
	// epoch 2 is promoted and epoch 1 erased, and then again for epoch 3.
	k3 := newKey("a third key, of thirty-two bytes",
		ShareMeta{Epoch: 1, State: ShareCommitted, Holders: slices.Sorted(slices.Values(mine))},
		ShareMeta{Epoch: 2, State: SharePending, Holders: slices.Sorted(slices.Values(mine))})
	standing := w.standingDrill(t, k3.id, mine)
	sync(k3, 2, cert(k3, 2, mine), standing)
	if len(refusals) != 0 || shares(k3) != "committed@2" {
		t.Fatalf("a legitimate standing drill: refusals %q, shares %s", refusals, shares(k3))
	}
	if err := saveShare(w.a.ks, shareRecord{Meta: ShareMeta{KeyID: k3.id, Epoch: 3, State: SharePending, Threshold: 1, PublicKey: k3.pub, Holders: mine}}); err != nil {
		t.Fatal(err)
	}
	sync(k3, 3, cert(k3, 3, mine), standing)
	if len(refusals) != 0 || shares(k3) != "committed@3" {
		t.Fatalf("the standing drill again: refusals %q, shares %s", refusals, shares(k3))
	}
}
