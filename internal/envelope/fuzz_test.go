package envelope

import (
	"bytes"
	"testing"
)

// FuzzOpen feeds arbitrary envelopes to a member: Open must never panic, and
// it must accept nothing that its sender did not seal.
func FuzzOpen(f *testing.F) {
	f.Add([]byte("payload"), "KGRound1Message", uint32(1), uint64(1), true, []byte{})
	f.Add(bytes.Repeat([]byte{1}, 40), "KGRound2Message1", uint32(2), uint64(2), false, bytes.Repeat([]byte{2}, 64))
	f.Fuzz(func(t *testing.T, payload []byte, typ string, round uint32, seq uint64, broadcast bool, sig []byte) {
		_, ms := setupForFuzz(t)
		a, b := ms[0], ms[1]
		e := Envelope{Header: Header{SessionID: b.s.ID, From: a.dev, Broadcast: broadcast, Round: round, Type: typ, Seq: seq}, Payload: payload, Signature: sig}
		if !broadcast {
			e.To = b.dev
		}
		if _, err := b.s.Open(e); err == nil {
			t.Fatal("opened an envelope its sender never sealed")
		}
		// A genuine envelope with the fuzzed payload round-trips.
		env, err := a.s.Seal(a.id, Header{To: b.dev, Broadcast: broadcast, Round: round, Type: typ, Seq: seq}, payload)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.s.Open(env)
		if len(payload) <= MaxPayload && (err != nil || !bytes.Equal(got, payload)) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzAgree feeds arbitrary joins: Agree must never panic nor accept a join
// that was not signed by its member.
func FuzzAgree(f *testing.F) {
	f.Add([]byte("c"), []byte("e"), []byte("s"))
	f.Fuzz(func(t *testing.T, contribution, eph, sig []byte) {
		p, ms := setupForFuzz(t)
		joins := []Join{ms[0].join, {DeviceID: ms[1].dev, Contribution: contribution, EphemeralKey: eph, Signature: sig}}
		if _, err := Agree(p, ms[0].join, ms[0].eph, joins); err == nil {
			t.Fatal("accepted a forged join")
		}
	})
}

var fuzzSetup struct {
	p  Params
	ms []*member
}

// setupForFuzz reuses one pair of members across fuzz iterations.
func setupForFuzz(t *testing.T) (Params, []*member) {
	if fuzzSetup.ms == nil {
		fuzzSetup.p, fuzzSetup.ms = setup(t, 2)
	}
	return fuzzSetup.p, fuzzSetup.ms
}
