package resharing

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func committed(e uint64) Record { return Record{Epoch: e} }
func pending(e uint64) Record   { return Record{Epoch: e, Pending: true} }

// certOf stands for a certificate of epoch e of the test key; Decide only
// reads its key id and epoch (verification is certErr's job).
func certOf(e uint64) *Certificate { return &Certificate{KeyID: testKeyID, Epoch: e} }

// verified is the state "epoch e committed" with its certificate (pass
// certErr nil: it verified).
func verified(e uint64) KeyState {
	return KeyState{KeyID: testKeyID, Committed: e, Certificate: certOf(e)}
}

// bare is the state "epoch e committed" without a certificate (pass
// ErrNoCertificate).
func bare(e uint64) KeyState { return KeyState{KeyID: testKeyID, Committed: e} }

func TestDecide(t *testing.T) {
	t.Parallel()
	badCert := fmt.Errorf("attestation 1: %w", ErrBadSignature)
	cases := []struct {
		name    string
		recs    []Record
		st      KeyState
		certErr error
		promote []uint64
		erase   []uint64
		refused bool // Refused must be set and name st.Committed
	}{
		// forward steps
		{name: "old and new holder: promote and erase on a verified certificate",
			recs: []Record{committed(2), pending(3)}, st: verified(3), promote: []uint64{3}, erase: []uint64{2}},
		{name: "refused without a certificate",
			recs: []Record{committed(2), pending(3)}, st: bare(3), certErr: ErrNoCertificate, refused: true},
		{name: "refused with a certificate that does not verify",
			recs: []Record{committed(2), pending(3)}, st: KeyState{KeyID: testKeyID, Committed: 3, Certificate: certOf(3)}, certErr: badCert, refused: true},
		{name: "refused when certErr is nil but no certificate came",
			recs: []Record{committed(2), pending(3)}, st: KeyState{KeyID: testKeyID, Committed: 3}, refused: true},
		{name: "refused on a replayed certificate of an older epoch",
			recs: []Record{committed(5), pending(6)}, st: KeyState{KeyID: testKeyID, Committed: 9, Certificate: certOf(5)}, refused: true},
		{name: "refused on a certificate of another key",
			recs: []Record{committed(2)}, st: KeyState{KeyID: testKeyID, Committed: 3, Certificate: &Certificate{KeyID: "wallet-8", Epoch: 3}}, refused: true},
		{name: "only an old holder: erases on a certificate, nothing to promote",
			recs: []Record{committed(2)}, st: verified(3), erase: []uint64{2}},
		{name: "only an old holder: refused without a certificate",
			recs: []Record{committed(2)}, st: bare(3), certErr: ErrNoCertificate, refused: true},
		{name: "only a new holder: promotes",
			recs: []Record{pending(3)}, st: verified(3), promote: []uint64{3}},
		{name: "only a new holder: refused without a certificate",
			recs: []Record{pending(3)}, st: bare(3), certErr: ErrNoCertificate, refused: true},
		{name: "forward step also clears abandoned pending below the new epoch",
			recs: []Record{committed(2), pending(3), pending(4)}, st: verified(4), promote: []uint64{4}, erase: []uint64{2, 3}},
		{name: "forward step keeps pending above the new epoch",
			recs: []Record{pending(5), committed(2), pending(3)}, st: verified(3), promote: []uint64{3}, erase: []uint64{2}},
		{name: "forward step over several epochs at once",
			recs: []Record{committed(1)}, st: verified(4), erase: []uint64{1}},
		{name: "repeated records give each epoch once",
			recs: []Record{committed(2), committed(2), pending(3), pending(3)}, st: verified(3), promote: []uint64{3}, erase: []uint64{2}},

		// nothing to do
		{name: "idempotent: the state already applied",
			recs: []Record{committed(3)}, st: verified(3)},
		{name: "keygen epoch without a certificate",
			recs: []Record{committed(0)}, st: bare(0), certErr: ErrNoCertificate},
		{name: "committed above every record, nothing to change: no refusal",
			recs: []Record{pending(6)}, st: bare(4), certErr: ErrNoCertificate},
		{name: "no records at all",
			st: bare(4), certErr: ErrNoCertificate},
		{name: "pending above committed kept",
			recs: []Record{committed(3), pending(4)}, st: bare(3), certErr: ErrNoCertificate},
		{name: "pending above committed kept when the coordinator claims it abandoned",
			recs: []Record{committed(3), pending(4), pending(5)}, st: KeyState{KeyID: testKeyID, Committed: 3}, certErr: ErrNoCertificate},
		{name: "coordinator behind: no change",
			recs: []Record{committed(5)}, st: verified(3)},
		{name: "coordinator behind with a pending attempt in flight: no change",
			recs: []Record{committed(5), pending(6)}, st: bare(2), certErr: ErrNoCertificate},

		// cleaning up below the device's own committed top
		{name: "abandoned pending below own committed erased without a certificate",
			recs: []Record{pending(4), committed(5)}, st: bare(5), certErr: ErrNoCertificate, erase: []uint64{4}},
		{name: "abandoned pending below own committed erased even with a failed certificate",
			recs: []Record{committed(5), pending(3)}, st: KeyState{KeyID: testKeyID, Committed: 5, Certificate: certOf(5)}, certErr: badCert, erase: []uint64{3}},
		{name: "coordinator behind: records below own top still erased, top kept",
			recs: []Record{committed(5), pending(4), committed(2)}, st: bare(3), certErr: ErrNoCertificate, erase: []uint64{2, 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recs := slices.Clone(tc.recs)
			got := Decide(recs, tc.st, tc.certErr)
			if !slices.Equal(recs, tc.recs) {
				t.Fatalf("Decide changed its input: %v", recs)
			}
			if tc.refused {
				if got.Refused == "" || !strings.Contains(got.Refused, "epoch "+strconv.FormatUint(tc.st.Committed, 10)) {
					t.Fatalf("want a refusal naming epoch %d, got %+v", tc.st.Committed, got)
				}
				if !got.None() {
					t.Fatalf("a refusal must do nothing, got %+v", got)
				}
				return
			}
			if got.Refused != "" || !slices.Equal(got.Promote, tc.promote) || !slices.Equal(got.Erase, tc.erase) {
				t.Fatalf("got %+v, want promote %v erase %v", got, tc.promote, tc.erase)
			}
			checkInvariants(t, tc.recs, tc.st, got)

			after := apply(tc.recs, got)
			if again := Decide(after, tc.st, tc.certErr); !again.None() || again.Refused != "" {
				t.Fatalf("not idempotent: records %v after the first step, then %+v", after, again)
			}
		})
	}
}

// checkInvariants checks what must hold of any accepted decision.
func checkInvariants(t *testing.T, recs []Record, st KeyState, got Actions) {
	t.Helper()
	top, hasTop := topCommitted(recs)
	for _, e := range got.Erase {
		if hasTop && e >= top && st.Committed <= top {
			t.Errorf("erased epoch %d at or above the device's top %d", e, top)
		}
	}
	for _, r := range recs {
		if r.Pending && r.Epoch > st.Committed && (!hasTop || r.Epoch > top) && slices.Contains(got.Erase, r.Epoch) {
			t.Errorf("touched pending(%d) above the committed epoch %d", r.Epoch, st.Committed)
		}
	}
	for _, e := range got.Promote {
		if e != st.Committed {
			t.Errorf("promoted epoch %d, not the committed %d", e, st.Committed)
		}
	}
}

// apply is what the keystore does with the actions.
func apply(recs []Record, act Actions) []Record {
	var out []Record
	for _, r := range recs {
		if slices.Contains(act.Erase, r.Epoch) {
			continue
		}
		if slices.Contains(act.Promote, r.Epoch) {
			r.Pending = false
		}
		out = append(out, r)
	}
	return out
}

// TestVerifyThenDecide runs both halves on a real certificate: what the
// coordinator collects, what an old and a new holder do with it.
func TestVerifyThenDecide(t *testing.T) {
	t.Parallel()
	f := newFixture(CurveSecp256k1, 3, 1)
	c := f.cert(t)
	raw, err := EncodeCertificate(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		tamper      bool
		recs        []Record
		promote     []uint64
		erase       []uint64
		wantRefused bool
	}{
		{name: "old holder", recs: []Record{committed(2)}, erase: []uint64{2}},
		{name: "new holder", recs: []Record{pending(3)}, promote: []uint64{3}},
		{name: "old holder, tampered certificate", tamper: true, recs: []Record{committed(2)}, wantRefused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := slices.Clone(raw)
			if tc.tamper {
				dec, err := DecodeCertificate(b)
				if err != nil {
					t.Fatal(err)
				}
				dec.Attestations = dec.Attestations[:2]
				if b, err = EncodeCertificate(dec); err != nil {
					t.Fatal(err)
				}
			}
			got, err := DecodeCertificate(b)
			if err != nil {
				t.Fatal(err)
			}
			_, certErr := got.Verify(f.keyID, f.curve, f.pub, f.dir)
			act := Decide(tc.recs, KeyState{KeyID: f.keyID, Committed: f.epoch, Certificate: got}, certErr)
			if (act.Refused != "") != tc.wantRefused || !slices.Equal(act.Promote, tc.promote) || !slices.Equal(act.Erase, tc.erase) {
				t.Fatalf("got %+v (certErr %v)", act, certErr)
			}
		})
	}
}
