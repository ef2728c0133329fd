package resharing

import (
	"fmt"
	"slices"
)

// Record is one of the device's records (shares) of a key.
type Record struct {
	Epoch   uint64
	Pending bool // pending (written by a new holder before the commit) vs committed
}

// KeyState is what the coordinator says about a key.
type KeyState struct {
	KeyID     string
	Committed uint64 // the epoch that signs
	// Certificate of Committed; nil for an epoch made by keygen (0) or when
	// the coordinator sends none.
	Certificate *Certificate
}

// Actions is what the device does to its records of the key, in one atomic
// step.
type Actions struct {
	Promote []uint64 // pending records to mark committed
	Erase   []uint64 // records (committed or pending) to delete
	// Refused is non-empty when the state asked for a change that its proof
	// does not support; nothing is then done.
	Refused string
}

// None reports whether the actions change nothing.
func (a Actions) None() bool { return len(a.Promote) == 0 && len(a.Erase) == 0 }

// Decide is the device's apply step of a key state, as a pure decision over
// its records of the key st.KeyID. certErr is the result of verifying
// st.Certificate with Certificate.Verify (nil: verified; ErrNoCertificate
// when st.Certificate is nil). The rules are in the package documentation;
// in short: a step forward needs a verified certificate of exactly that
// epoch; cleaning up below the device's own committed top needs none;
// pending records above both are never touched. Promote and Erase come out
// ascending, without repeats.
func Decide(recs []Record, st KeyState, certErr error) Actions {
	top, hasTop := topCommitted(recs)
	if hasTop && st.Committed <= top {
		// Nothing moves forward. Everything below the device's own
		// committed top is dead: that record was committed on a verified
		// certificate (or by keygen), which only exists once its epoch was
		// stored by every new holder and signed.
		return Actions{Erase: epochs(recs, func(r Record) bool { return r.Epoch < top })}
	}

	// A step forward (or a first committed epoch): promote pending(Committed),
	// erase everything below it; pending records above it stay. (A record at
	// st.Committed is pending here: every committed record is below it.)
	act := Actions{
		Promote: epochs(recs, func(r Record) bool { return r.Epoch == st.Committed }),
		Erase:   epochs(recs, func(r Record) bool { return r.Epoch < st.Committed }),
	}
	if act.None() {
		return Actions{}
	}
	if why := proofProblem(st, certErr); why != "" {
		return Actions{Refused: why}
	}
	return act
}

// proofProblem says why st's certificate does not prove epoch st.Committed
// of st.KeyID, or returns "" when it does.
func proofProblem(st KeyState, certErr error) string {
	switch c := st.Certificate; {
	case c == nil:
		return fmt.Sprintf("epoch %d of key %s is said to be committed without a commit certificate", st.Committed, st.KeyID)
	case certErr != nil:
		return fmt.Sprintf("epoch %d of key %s is said to be committed without a verified certificate: %v", st.Committed, st.KeyID, certErr)
	case c.KeyID != st.KeyID || c.Epoch != st.Committed:
		// A genuine certificate of another key or epoch (a replay) proves
		// nothing about this one.
		return fmt.Sprintf("epoch %d of key %s is said to be committed with the certificate of epoch %d of key %s", st.Committed, st.KeyID, c.Epoch, c.KeyID)
	}
	return ""
}

// topCommitted returns the highest committed epoch among recs.
func topCommitted(recs []Record) (uint64, bool) {
	var top uint64
	found := false
	for _, r := range recs {
		if !r.Pending && (!found || r.Epoch > top) {
			top, found = r.Epoch, true
		}
	}
	return top, found
}

// epochs returns the epochs of the records keep selects, ascending and
// distinct; nil when none.
func epochs(recs []Record, keep func(Record) bool) []uint64 {
	var out []uint64
	for _, r := range recs {
		if keep(r) {
			out = append(out, r.Epoch)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
