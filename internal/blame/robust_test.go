package blame

import (
	"math/rand"
	"testing"
)

// TestPanicAttribution: a panic on the accused's bytes is Guilty
// ("malformed"), a panic on other members' values is Undecided.
func TestPanicAttribution(t *testing.T) {
	expect(t, checkAccused("KGRound2Message1", func() Verdict { panic("boom") }), Guilty, "KGRound2Message1: malformed")
	expect(t, announced("sums", func() Verdict { panic("boom") }), Undecided, "sums")
	expect(t, checkAccused("X", clean), Clean, "")
}

// TestBitFlipsECDSA: a random bit flipped in one of the accused's messages
// never leaves it Clean, and never panics.
func TestBitFlipsECDSA(t *testing.T) {
	r := honest(t)
	accuser, accused := r.id(1), r.id(0)
	var mine []int
	for i, m := range r.msgs {
		if m.From == accused && (m.Broadcast || m.To == accuser) {
			mine = append(mine, i)
		}
	}
	rng := rand.New(rand.NewSource(1))
	for n := 0; n < 8; n++ {
		i := mine[rng.Intn(len(mine))]
		msgs := append([]Msg(nil), r.msgs...)
		w := append([]byte(nil), msgs[i].Wire...)
		bit := rng.Intn(8 * len(w))
		w[bit/8] ^= 1 << (bit % 8)
		msgs[i].Wire = w
		v := JudgeKeygen(r.k, msgs, accuser, accused)
		if v.Outcome == Clean {
			t.Errorf("bit %d of %s flipped: Clean", bit, typeOf(r.msgs[i]))
		}
		t.Logf("bit %d of %s flipped: %v", bit, typeOf(r.msgs[i]), v)
	}
}

// FuzzJudgeEdDSA replaces the accused's messages with arbitrary bytes: the
// judge never panics and never calls a changed message Clean unless it
// decodes to the same content.
func FuzzJudgeEdDSA(f *testing.F) {
	r := edHonest(f)
	accuser, accused := r.id(2), r.id(1)
	var mine []int
	for i, m := range r.msgs {
		if m.From == accused && (m.Broadcast || m.To == accuser) {
			mine = append(mine, i)
		}
	}
	for _, i := range mine {
		f.Add(uint8(i), r.msgs[i].Wire)
		f.Add(uint8(i), r.msgs[i].Wire[:len(r.msgs[i].Wire)/2])
	}
	f.Add(uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, which uint8, wire []byte) {
		i := mine[int(which)%len(mine)]
		msgs := append([]Msg(nil), r.msgs...)
		msgs[i].Wire = wire
		v := JudgeKeygen(r.k, msgs, accuser, accused)
		switch v.Outcome {
		case Guilty, Undecided:
		case Clean:
			// Clean is right for the original bytes, or for a copy of
			// another of the accused's messages: that leaves the slot's own
			// message missing, a check the accuser never ran (the
			// coordinator refuses such a copy against its envelope's type
			// before judging, coordinator/evidence.go).
			copied := false
			for _, j := range mine {
				copied = copied || string(wire) == string(r.msgs[j].Wire)
			}
			if !copied && typeOf(msgs[i]) != typeOf(r.msgs[i]) {
				t.Fatalf("changed message of another type is Clean")
			}
		default:
			t.Fatalf("outcome %v", v)
		}
	})
}
