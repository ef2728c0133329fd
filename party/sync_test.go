package party

import (
	"errors"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/mpcsign/mpcsign/internal/identity"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	keycommit "github.com/mpcsign/mpcsign/resharing"
)

// A device that pins a roster erases an old share, or promotes a pending
// one, only on a commit certificate that verifies against its own roster:
// a forged KeySync (no certificate, one attested by a device not on the
// roster, one whose test signature is for another epoch) changes nothing.
func TestKeySyncNeedsACertificate(t *testing.T) {
	c := newTestChain(t)
	a := rosterAgent(t, t.TempDir(), c)
	peer, _ := identity.New()
	stranger, _ := identity.New()
	c.add(t, c.next(t, addDevice("dev", a.id.PublicKey(), a.id.EncryptionPublicKey())))
	c.add(t, c.next(t, addDevice("peer", peer.PublicKey(), peer.EncryptionPublicKey())))
	if err := a.applyRoster(update(0, 2, c.entries...)); err != nil {
		t.Fatal(err)
	}
	self, other := a.cfg.DeviceID, identity.DeviceID(peer.PublicKey())
	committee := []string{self, other}
	if other < self {
		committee = []string{other, self}
	}
	key := secp256k1.PrivKeyFromBytes([]byte("a test key of thirty-two bytes!!"))
	pub := key.PubKey().SerializeCompressed()
	keyID := identity.KeyID(pub)
	// Epoch 0 committed, epoch 1 pending (this device is in both committees).
	for _, rec := range []shareRecord{
		{Meta: ShareMeta{KeyID: keyID, Epoch: 0, State: ShareCommitted, Threshold: 1, PublicKey: pub, Holders: committee}},
		{Meta: ShareMeta{KeyID: keyID, Epoch: 1, State: SharePending, Threshold: 1, PublicKey: pub, Holders: committee}},
	} {
		if err := saveShare(a.ks, rec); err != nil {
			t.Fatal(err)
		}
	}
	attest := func(signer *identity.Identity, holder string, epoch uint64) keycommit.SignedAttestation {
		sa, err := keycommit.Attest(keycommit.Attestation{Version: 1, KeyID: keyID, Curve: keycommit.CurveSecp256k1, Epoch: epoch, PublicKey: pub,
			Threshold: 1, Committee: committee, Holder: holder, ShareCommitment: pub}, signer.Sign)
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	nonce := []byte("sixteen byte nce")
	cert := func(epoch, sigEpoch uint64, peerSigner *identity.Identity) []byte {
		digest, err := keycommit.TestDigest(keyID, sigEpoch, nonce)
		if err != nil {
			t.Fatal(err)
		}
		sig := ecdsa.Sign(key, digest)
		r, s := sig.R(), sig.S()
		rb, sb := r.Bytes(), s.Bytes()
		atts := map[string]keycommit.SignedAttestation{self: attest(a.id, self, epoch), other: attest(peerSigner, other, epoch)}
		cc := &keycommit.Certificate{KeyID: keyID, Epoch: epoch, TestNonce: nonce, TestSignature: append(rb[:], sb[:]...),
			Attestations: []keycommit.SignedAttestation{atts[committee[0]], atts[committee[1]]}}
		b, err := keycommit.EncodeCertificate(cc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The operators' authorization of the reshare 0 -> 1 to committee.
	authorize := func(fill func(*roster.Ceremony)) *mpcv1.Authorization {
		cer := c.st.NewCeremony(roster.CeremonyReshare, time.Hour, time.Now())
		cer.KeyID, cer.Curve, cer.Epoch, cer.Threshold, cer.Committee = keyID, roster.CurveSecp256k1, 0, 1, committee
		cer.NewThreshold, cer.NewCommittee = 1, committee
		fill(&cer)
		raw, err := roster.EncodeCeremony(cer)
		if err != nil {
			t.Fatal(err)
		}
		au := roster.Authorization{Body: raw}
		au.Sign(c.op)
		p := &mpcv1.Authorization{Body: au.Body}
		for _, s := range au.Signatures {
			p.Signatures = append(p.Signatures, &mpcv1.RosterSignature{Key: s.Key, Signature: s.Sig})
		}
		return p
	}
	good := authorize(func(*roster.Ceremony) {})
	var refusals []string
	syncWith := func(certificate []byte, auth *mpcv1.Authorization) {
		refusals = nil
		a.applySync(&mpcv1.KeySync{Keys: []*mpcv1.KeyEpoch{{KeyId: keyID, CommittedEpoch: 1, NextEpoch: 2, Certificate: certificate, Authorization: auth}}},
			func(_, reason string) { refusals = append(refusals, reason) })
	}
	sync := func(certificate []byte) { syncWith(certificate, good) }
	shares := func() []string {
		metas, err := keyShares(a.ks, keyID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range metas {
			out = append(out, string(m.State)+"@"+string(rune('0'+m.Epoch)))
		}
		return out
	}
	for name, forged := range map[string][]byte{
		"no certificate":                    nil,
		"attested by a device not on it":    cert(1, 1, stranger),
		"test signature of another epoch":   cert(1, 2, peer),
		"certificate of another epoch":      cert(2, 2, peer),
		"a certificate that does not parse": []byte("{"),
	} {
		sync(forged)
		if len(refusals) != 1 {
			t.Errorf("%s: %d refusals, want 1", name, len(refusals))
		}
		if got := shares(); len(got) != 2 || got[0] != "committed@0" || got[1] != "pending@1" {
			t.Fatalf("%s changed the shares: %v", name, got)
		}
	}
	// A valid certificate is still refused without the operators' matching
	// authorization: none, one for another committee or threshold, one of
	// another epoch, or one signed by a stranger.
	stranger2 := newTestOp()
	for name, auth := range map[string]*mpcv1.Authorization{
		"no authorization":           nil,
		"another new threshold":      authorize(func(cer *roster.Ceremony) { cer.NewThreshold = 0 }),
		"another new committee":      authorize(func(cer *roster.Ceremony) { cer.NewCommittee, cer.NewThreshold = committee[:1], 0 }),
		"a reshare of another epoch": authorize(func(cer *roster.Ceremony) { cer.Epoch = 7 }),
		"signed by someone else": func() *mpcv1.Authorization {
			p := authorize(func(*roster.Ceremony) {})
			p.Signatures[0].Key = stranger2.PublicKey()
			return p
		}(),
	} {
		syncWith(cert(1, 1, peer), auth)
		if len(refusals) != 1 {
			t.Errorf("%s: %d refusals, want 1", name, len(refusals))
		}
		if got := shares(); len(got) != 2 || got[0] != "committed@0" || got[1] != "pending@1" {
			t.Fatalf("%s changed the shares: %v", name, got)
		}
	}
	sync(cert(1, 1, peer))
	if len(refusals) != 0 {
		t.Fatalf("a valid certificate was refused: %v", refusals)
	}
	if got := shares(); len(got) != 1 || got[0] != "committed@1" {
		t.Fatalf("after a valid certificate: %v", got)
	}
	if _, err := LoadShare(a.ks, keyID, 0); !errors.Is(err, ErrNoShare) {
		t.Fatalf("epoch 0 still loads: %v", err)
	}
}
