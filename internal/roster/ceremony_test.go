package roster

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// cbase is a base roster with three active devices: phone, laptop, desk.
type cbase struct {
	*base
	deskDev Device
	at      time.Time // when ceremonies are made and verified
}

func newCBase(t testing.TB) *cbase {
	t.Helper()
	c := &cbase{base: newBase(t, false)}
	c.addDevice(t, c.laptopDev)
	_, c.deskDev = device("desk", "desk")
	c.addDevice(t, c.deskDev)
	c.at = c.now.Add(time.Hour)
	return c
}

// ceremony is a valid ceremony of kind: keygen of phone and laptop (t=1), or
// a reshare or drill of key k1 from them to phone, laptop and desk.
func (c *cbase) ceremony(kind CeremonyKind) Ceremony {
	cer := c.st.NewCeremony(kind, 24*time.Hour, c.at)
	cer.Curve = CurveSecp256k1
	cer.Threshold = 1
	cer.Committee = []string{c.phoneDev.ID, c.laptopDev.ID}
	switch kind {
	case CeremonyReshare:
		cer.KeyID, cer.Epoch = "k1", 3
		cer.NewThreshold, cer.NewCommittee = 1, []string{c.phoneDev.ID, c.laptopDev.ID, c.deskDev.ID}
	case CeremonyDrill:
		cer.KeyID, cer.Epoch = "k1", 3
		cer.NewThreshold, cer.NewCommittee = cer.Threshold, cer.Committee
	}
	return cer
}

func authorize(t testing.TB, c Ceremony, signers ...Signer) Authorization {
	t.Helper()
	raw, err := EncodeCeremony(c)
	if err != nil {
		t.Fatal(err)
	}
	a := Authorization{Body: raw}
	for _, s := range signers {
		a.Sign(s)
	}
	return a
}

func TestVerifyCeremony(t *testing.T) {
	type tcase struct {
		name  string
		build func(t *testing.T, c *cbase) Authorization
		want  error
	}
	edit := func(name string, kind CeremonyKind, f func(c *cbase, cer *Ceremony), want error) tcase {
		return tcase{name, func(t *testing.T, c *cbase) Authorization {
			cer := c.ceremony(kind)
			f(c, &cer)
			return authorize(t, cer, c.ops[0], c.ops[1])
		}, want}
	}
	none := func(*cbase, *Ceremony) {}
	tests := []tcase{
		edit("keygen", CeremonyKeygen, none, nil),
		edit("keygen with a key id", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.KeyID = "treasury-1"; cer.Curve = CurveEd25519 }, nil),
		edit("reshare", CeremonyReshare, none, nil),
		edit("drill", CeremonyDrill, none, nil),
		{"signed by all operators", func(t *testing.T, c *cbase) Authorization {
			return authorize(t, c.ceremony(CeremonyKeygen), c.ops[2], c.ops[1], c.ops[0])
		}, nil},
		edit("expired", CeremonyKeygen, func(c *cbase, cer *Ceremony) { cer.NotAfter = c.at.Unix() - 1 }, ErrExpired),
		edit("not yet valid", CeremonyKeygen, func(c *cbase, cer *Ceremony) { cer.NotBefore = c.at.Unix() + 1 }, ErrExpired),
		edit("wrong genesis", CeremonyKeygen, func(c *cbase, cer *Ceremony) {
			other, _ := NewGenesis(operators(c.ops), 2, false, t0) // the same operators, another roster
			cer.Genesis = other.Hash().String()
		}, ErrWrongGenesis),
		edit("genesis in upper case", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.Genesis = strings.ToUpper(cer.Genesis) }, ErrWrongGenesis),
		edit("height beyond the state", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.RosterHeight++ }, ErrChain),
		edit("earlier height", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.RosterHeight = 1 }, nil),
		{"unknown signer", func(t *testing.T, c *cbase) Authorization {
			return authorize(t, c.ceremony(CeremonyKeygen), c.ops[0], c.ops[1], newKey("stranger"))
		}, ErrUnknownSigner},
		{"device signer", func(t *testing.T, c *cbase) Authorization {
			return authorize(t, c.ceremony(CeremonyKeygen), c.ops[0], c.phone)
		}, ErrUnknownSigner},
		{"quorum not met", func(t *testing.T, c *cbase) Authorization {
			return authorize(t, c.ceremony(CeremonyKeygen), c.ops[1])
		}, ErrQuorum},
		{"bad signature", func(t *testing.T, c *cbase) Authorization {
			a := authorize(t, c.ceremony(CeremonyKeygen), c.ops[0], c.ops[1])
			a.Signatures[0].Sig = bytes.Clone(a.Signatures[0].Sig)
			a.Signatures[0].Sig[0] ^= 1
			return a
		}, ErrBadSignature},
		{"signature in the roster-entry domain", func(t *testing.T, c *cbase) Authorization {
			a := authorize(t, c.ceremony(CeremonyKeygen), c.ops[0])
			a.Signatures = append(a.Signatures, Signature{Key: c.ops[1].PublicKey(), Sig: c.ops[1].Sign(SigningMessage(a.Hash()))})
			return a
		}, ErrBadSignature},
		{"signer removed from the operators", func(t *testing.T, c *cbase) Authorization {
			a := authorize(t, c.ceremony(CeremonyKeygen), c.ops[0], c.ops[2])
			body := c.next(KindSetOperators)
			body.Operators, body.Quorum = operators(c.ops[:2]), 2
			c.apply(t, body, c.ops[0], c.ops[1])
			return a
		}, ErrUnknownSigner},
		{"member revoked after signing", func(t *testing.T, c *cbase) Authorization {
			a := authorize(t, c.ceremony(CeremonyReshare), c.ops[0], c.ops[1])
			c.revoke(t, c.phoneDev.ID)
			return a
		}, ErrNotActive},
		edit("revoked member", CeremonyKeygen, func(c *cbase, cer *Ceremony) { cer.Committee[1] = c.tabletDev.ID }, ErrNotActive),
		edit("member never added", CeremonyKeygen, func(c *cbase, cer *Ceremony) { _, d := device("ghost", "ghost"); cer.Committee[1] = d.ID }, ErrNotActive),
		edit("revoked member of the new committee", CeremonyReshare, func(c *cbase, cer *Ceremony) { cer.NewCommittee[2] = c.tabletDev.ID }, ErrNotActive),
		edit("member twice", CeremonyKeygen, func(c *cbase, cer *Ceremony) { cer.Committee = []string{c.phoneDev.ID, c.phoneDev.ID} }, ErrRule),
		edit("threshold of the whole committee", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.Threshold = 2 }, ErrRule),
		edit("negative threshold", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.Threshold = -1 }, ErrRule),
		edit("new threshold of the whole new committee", CeremonyReshare, func(_ *cbase, cer *Ceremony) { cer.NewThreshold = 3 }, ErrRule),
		edit("empty committee", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.Committee, cer.Threshold = nil, 0 }, ErrRule),
		edit("reshare without a new committee", CeremonyReshare, func(_ *cbase, cer *Ceremony) { cer.NewCommittee, cer.NewThreshold = nil, 0 }, ErrRule),
		edit("drill to another committee", CeremonyDrill, func(c *cbase, cer *Ceremony) {
			cer.NewCommittee = []string{c.phoneDev.ID, c.deskDev.ID}
		}, ErrRule),
		edit("drill to another threshold", CeremonyDrill, func(c *cbase, cer *Ceremony) {
			cer.Committee = append(cer.Committee, c.deskDev.ID)
			cer.NewCommittee, cer.NewThreshold = cer.Committee, 2
		}, ErrRule),
		edit("reshare without key id", CeremonyReshare, func(_ *cbase, cer *Ceremony) { cer.KeyID = "" }, ErrRule),
		edit("drill without key id", CeremonyDrill, func(_ *cbase, cer *Ceremony) { cer.KeyID = "" }, ErrRule),
		edit("bad key id", CeremonyReshare, func(_ *cbase, cer *Ceremony) { cer.KeyID = "k 1" }, ErrRule),
		edit("unknown curve", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.Curve = "p256" }, ErrRule),
		edit("window too long", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.NotAfter = cer.NotBefore + 401*86400 }, ErrRule),
		edit("empty window", CeremonyKeygen, func(c *cbase, cer *Ceremony) { cer.NotBefore, cer.NotAfter = c.at.Unix(), c.at.Unix() }, ErrRule),
		edit("reason too long", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.Reason = strings.Repeat("x", MaxReason+1) }, ErrRule),
		edit("keygen with a new committee", CeremonyKeygen, func(c *cbase, cer *Ceremony) { cer.NewCommittee = cer.Committee }, ErrMalformed),
		edit("keygen with an epoch", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.Epoch = 1 }, ErrMalformed),
		edit("unknown kind", "refresh", none, ErrMalformed),
		edit("bad nonce", CeremonyKeygen, func(_ *cbase, cer *Ceremony) { cer.Nonce = cer.Nonce[:30] }, ErrMalformed),
		{"non-canonical encoding", func(t *testing.T, c *cbase) Authorization {
			a := authorize(t, c.ceremony(CeremonyKeygen))
			a.Body = append([]byte(" "), a.Body...)
			a.Sign(c.ops[0])
			a.Sign(c.ops[1])
			return a
		}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCBase(t)
			a := tc.build(t, c)
			got, err := c.st.VerifyCeremony(a, c.at)
			wantErr(t, err, tc.want)
			if err == nil {
				want, _ := DecodeCeremony(a.Body)
				if got.Nonce != want.Nonce || got.Kind != want.Kind {
					t.Fatalf("returned %+v", got)
				}
			}
		})
	}
}

func TestNewCeremony(t *testing.T) {
	c := newCBase(t)
	a := c.st.NewCeremony(CeremonyKeygen, time.Hour, c.at)
	b := c.st.NewCeremony(CeremonyKeygen, time.Hour, c.at)
	if a.Version != 1 || a.Genesis != c.st.GenesisHash().String() || a.RosterHeight != c.st.Height() || a.Kind != CeremonyKeygen ||
		a.NotBefore != c.at.Unix()-60 || a.NotAfter != c.at.Add(time.Hour).Unix() || !validNonce(a.Nonce) || a.Nonce == b.Nonce {
		t.Fatalf("%+v", a)
	}
	// Still valid a minute early (clock skew), not after validFor.
	a.Curve, a.Committee = CurveEd25519, []string{c.phoneDev.ID}
	auth := authorize(t, a, c.ops[0], c.ops[1])
	auth.Sign(c.ops[0]) // signing twice replaces
	if len(auth.Signatures) != 2 {
		t.Fatalf("%d signatures", len(auth.Signatures))
	}
	for _, tc := range []struct {
		at   time.Time
		want error
	}{
		{c.at.Add(-time.Minute), nil},
		{c.at.Add(time.Hour), nil},
		{c.at.Add(-time.Minute - time.Second), ErrExpired},
		{c.at.Add(time.Hour + time.Second), ErrExpired},
	} {
		_, err := c.st.VerifyCeremony(auth, tc.at)
		wantErr(t, err, tc.want)
	}
}

func TestDecodeCeremonyIsCanonical(t *testing.T) {
	c := newCBase(t)
	raw, err := EncodeCeremony(c.ceremony(CeremonyReshare))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeCeremony(raw); err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for name, bad := range map[string]string{
		"whitespace":      strings.Replace(s, `"v":1`, `"v": 1`, 1),
		"unknown field":   strings.Replace(s, `"v":1`, `"v":1,"admin":true`, 1),
		"duplicate key":   strings.Replace(s, `"threshold":1`, `"threshold":0,"threshold":1`, 1),
		"upper-case name": strings.Replace(s, `"curve"`, `"Curve"`, 1),
		"trailing data":   s + "0",
		"version 2":       strings.Replace(s, `"v":1`, `"v":2`, 1),
		"oversize":        s[:len(s)-1] + `,"reason":"` + strings.Repeat("x", MaxCeremonySize) + `"}`,
	} {
		if bad == s {
			t.Fatalf("%s: unchanged", name)
		}
		if _, err := DecodeCeremony([]byte(bad)); !errorsIsMalformed(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
