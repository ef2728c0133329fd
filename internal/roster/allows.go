package roster

import (
	"errors"
	"fmt"
	"slices"
)

// ErrNotAllowed reports a session that its ceremony does not authorize.
var ErrNotAllowed = errors.New("roster: the session is not the one the operators signed")

// Session is what a keygen or reshare session asks devices to do, for
// matching against the ceremony it carries (a device checks it before it
// joins; the coordinator checks it before it starts, for a clear error).
type Session struct {
	// Keygen: Committee is every member. Reshare: KeyID, Epoch (the
	// committed epoch being reshared), Committee (the old holders taking
	// part) and the new threshold and committee.
	Keygen       bool
	KeyID        string
	Curve        string
	Epoch        uint64
	Threshold    int
	Committee    []string
	NewThreshold int
	NewCommittee []string
}

// Allows checks that c authorizes s. A keygen must match exactly; a reshare
// or drill must name the key, its epoch, both thresholds and the new
// committee exactly, and every old holder taking part must be one the
// operators named (a revocation's plan names every remaining holder, and
// the coordinator may run it with those online). A standing drill names no
// epoch: it allows a drill of the key at any epoch within its window.
func (c Ceremony) Allows(s Session) error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrNotAllowed, what) }
	if c.Curve != s.Curve {
		return bad("curve")
	}
	if s.Keygen {
		switch {
		case c.Kind != CeremonyKeygen:
			return bad("kind (not a keygen)")
		case c.Threshold != s.Threshold:
			return bad("threshold")
		case !sameSet(c.Committee, s.Committee):
			return bad("committee")
		}
		return nil
	}
	switch {
	case c.Kind != CeremonyReshare && c.Kind != CeremonyDrill:
		return bad("kind (not a reshare or drill)")
	case c.KeyID != s.KeyID:
		return bad("key")
	case c.Epoch != s.Epoch && !c.Standing:
		return bad("epoch (the key moved on since it was signed)")
	case c.Threshold != s.Threshold:
		return bad("threshold")
	case c.NewThreshold != s.NewThreshold:
		return bad("new threshold")
	case !sameSet(c.NewCommittee, s.NewCommittee):
		return bad("new committee")
	}
	for _, id := range s.Committee {
		if !slices.Contains(c.Committee, id) {
			return bad("old committee")
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
