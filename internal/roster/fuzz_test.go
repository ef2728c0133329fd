package roster

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeBody feeds arbitrary bytes to DecodeBody, the decoder of what
// the coordinator serves. It must never panic, and whatever it accepts must
// be the canonical encoding of what it decoded (EncodeBody gives the input
// back). Check on a real roster must not panic on it either.
func FuzzDecodeBody(f *testing.F) {
	c := newCBase(f)
	// An active requester, so that seeds that re-add or revoke it pass Check.
	wallet := edRequester("fuzz", "wallet", "k1", "k2")
	wallet.Paths, wallet.MaxPerHour = []string{"m/44/60", "m/0"}, 10
	c.addRequester(f, wallet)
	for _, e := range c.entries {
		f.Add(e.Body)
	}
	regrant := wallet
	regrant.Keys, regrant.Paths, regrant.MaxPerHour = []string{AllKeysGrant}, nil, 0
	kms := p256Requester(f, "fuzz", "kms@example.com", AllKeysGrant)
	for _, q := range []Requester{regrant, kms} {
		b := c.next(KindAddRequester)
		b.Requester = &q
		f.Add(entry(f, b).Body)
	}
	revoke := c.next(KindRevokeRequester)
	revoke.RequesterID, revoke.Reason = wallet.ID, "leaked"
	f.Add(entry(f, revoke).Body)
	body := c.next(KindSetOperators)
	body.Operators, body.Quorum, body.Reason = operators(c.ops), 2, "rotate <keys> & \u2028"
	f.Add(entry(f, body).Body)
	f.Add([]byte(`{"v":1,"height":1,"time":1,"kind":"add_device","device":null}`))
	f.Add([]byte(`{"v":1,"height":1,"time":1,"kind":"x","V":2}`))
	f.Add([]byte(`{"v":1,"height":18446744073709551615,"time":-1,"kind":""}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBody(data)
		if err == nil {
			again, err := EncodeBody(b)
			if err != nil {
				t.Fatalf("decoded %q but cannot encode it: %v", data, err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("not canonical:\n in  %q\n out %q", data, again)
			}
		}
		e := Entry{Body: data}
		e.Sign(c.ops[0])
		e.Sign(c.ops[1])
		st := c.st.Clone()
		if _, err := st.Check(e); err == nil {
			if err := st.Apply(e); err != nil || st.Head() != e.Hash() {
				t.Fatalf("Check accepted what Apply refused: %v", err)
			}
		}
		_, _ = Open(e)
		_, _, _ = c.st.Signers(e)
	})
}

// FuzzDecodeCeremony is FuzzDecodeBody for authorizations.
func FuzzDecodeCeremony(f *testing.F) {
	c := newCBase(f)
	for _, kind := range []CeremonyKind{CeremonyKeygen, CeremonyReshare, CeremonyDrill} {
		raw, err := EncodeCeremony(c.ceremony(kind))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"v":1,"genesis":"","roster_height":0,"kind":"","curve":"","threshold":0,"committee":null,"not_before":0,"not_after":0,"nonce":""}`))
	f.Add([]byte(`{"v":1,"committee":[]}`))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cer, err := DecodeCeremony(data)
		if err == nil {
			again, err := EncodeCeremony(cer)
			if err != nil {
				t.Fatalf("decoded %q but cannot encode it: %v", data, err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("not canonical:\n in  %q\n out %q", data, again)
			}
		}
		a := Authorization{Body: data}
		a.Sign(c.ops[0])
		a.Sign(c.ops[1])
		_, _ = c.st.VerifyCeremony(a, c.at)
		_, _ = c.st.VerifyCeremony(a, time.Unix(cer.NotBefore, 0))
	})
}
