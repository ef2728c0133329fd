package party

import (
	"errors"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// A device that pins a roster joins a keygen or reshare only under a
// matching, valid operator authorization, and a keygen's only once.
func TestCheckCeremony(t *testing.T) {
	c := newTestChain(t)
	a := rosterAgent(t, t.TempDir(), c)
	c.add(t, c.next(t, addDevice("dev", a.id.PublicKey(), a.id.EncryptionPublicKey())))
	peer, _ := identity.New()
	c.add(t, c.next(t, addDevice("peer", peer.PublicKey(), peer.EncryptionPublicKey())))
	if err := a.applyRoster(update(0, 2, c.entries...)); err != nil {
		t.Fatal(err)
	}
	self, other := a.cfg.DeviceID, identity.DeviceID(peer.PublicKey())
	parts := []*mpcv1.Participant{{DeviceId: self, IdentityPublicKey: a.id.PublicKey()}, {DeviceId: other, IdentityPublicKey: peer.PublicKey()}}
	now := time.Now()
	sign := func(signer roster.Signer, fill func(*roster.Ceremony)) *mpcv1.Authorization {
		cer := c.st.NewCeremony(roster.CeremonyKeygen, time.Hour, now)
		cer.Curve, cer.Threshold, cer.Committee = roster.CurveSecp256k1, 1, []string{self, other}
		fill(&cer)
		raw, err := roster.EncodeCeremony(cer)
		if err != nil {
			t.Fatal(err)
		}
		au := roster.Authorization{Body: raw}
		au.Sign(signer)
		p := &mpcv1.Authorization{Body: au.Body}
		for _, s := range au.Signatures {
			p.Signatures = append(p.Signatures, &mpcv1.RosterSignature{Key: s.Key, Signature: s.Sig})
		}
		return p
	}
	keygen := func(auth *mpcv1.Authorization) *mpcv1.SessionStart {
		return &mpcv1.SessionStart{Kind: mpcv1.SessionKind_SESSION_KIND_KEYGEN, Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, Participants: parts, Authorization: auth}
	}
	reshare := func(auth *mpcv1.Authorization, epoch uint64) *mpcv1.SessionStart {
		return &mpcv1.SessionStart{Kind: mpcv1.SessionKind_SESSION_KIND_RESHARE, Curve: mpcv1.Curve_CURVE_SECP256K1, KeyId: "k1", Epoch: epoch, Threshold: 1,
			NewThreshold: 1, OldCommittee: []string{self, other}, NewCommittee: []string{self, other}, Participants: parts, Authorization: auth}
	}
	none := func(*roster.Ceremony) {}
	// The drills below are of the key this device holds at epoch 3 with
	// the peer (a drill keeps the committee that holds the key).
	if err := saveShare(a.ks, shareRecord{Meta: ShareMeta{KeyID: "k1", Epoch: 3, State: ShareCommitted, Threshold: 1, PublicKey: []byte{2}, Holders: []string{other, self}}}); err != nil {
		t.Fatal(err)
	}
	drill := func(cer *roster.Ceremony) {
		cer.Kind, cer.KeyID, cer.Epoch, cer.NewThreshold, cer.NewCommittee = roster.CeremonyDrill, "k1", 3, 1, []string{self, other}
	}
	cases := []struct {
		name string
		st   *mpcv1.SessionStart
		ok   bool
	}{
		{"keygen without authorization", keygen(nil), false},
		{"keygen signed by a stranger", keygen(sign(newTestOp(), none)), false},
		{"keygen expired", keygen(sign(c.op, func(cer *roster.Ceremony) {
			cer.NotAfter = now.Add(-time.Minute).Unix()
			cer.NotBefore = now.Add(-time.Hour).Unix()
		})), false},
		{"keygen for another threshold", keygen(sign(c.op, func(cer *roster.Ceremony) { cer.Threshold = 0 })), false},
		{"keygen for another committee", keygen(sign(c.op, func(cer *roster.Ceremony) { cer.Committee = []string{self}; cer.Threshold = 0 })), false},
		{"a drill's authorization for a keygen", keygen(sign(c.op, drill)), false},
		{"reshare under a keygen's authorization", reshare(sign(c.op, none), 3), false},
		{"drill at another epoch", reshare(sign(c.op, drill), 4), false},
		{"drill", reshare(sign(c.op, drill), 3), true},
		{"keygen", keygen(sign(c.op, none)), true},
	}
	for _, tc := range cases {
		err := a.checkCeremony(tc.st, now)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrCeremonyRefused)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// The accepted keygen's authorization cannot serve a second keygen.
	used := cases[len(cases)-1].st
	if err := a.checkCeremony(used, now); !errors.Is(err, ErrCeremonyRefused) {
		t.Fatalf("a replayed keygen authorization: %v", err)
	}
	// A device without a roster accepts the coordinator's word, as before.
	legacy, _ := newTestAgent(t, t.TempDir())
	if err := legacy.checkCeremony(keygen(nil), now); err != nil {
		t.Fatalf("a device without a roster: %v", err)
	}
}
