// Package rostertext says roster entries in words, the same for mpcctl and
// the coordinator's console.
//
// It is not part of package roster because a requester's line names its key
// by keyfile.Fingerprint: roster importing keyfile would link the key file
// code (sealing, Argon2) into the party and the coordinator, which verify
// rosters but never read a key file, and a second copy of the fingerprint in
// roster would be one more place for that format to drift.
package rostertext

import (
	"fmt"
	"strings"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
)

// Style is what the callers of Describe word differently.
type Style struct {
	// Grants says a requester's grants in one line: an add_requester
	// entry's text ends with it.
	Grants func(roster.Requester) string
	// MarkReplace ends an add_requester entry for a requester that is
	// active on the state with "; replaces its grants".
	MarkReplace bool
}

// Describe says in one line what an entry does, naming devices and
// requesters from st (any state that knows them: they are never
// forgotten), or "?" for them without one (st nil).
func (y Style) Describe(b roster.Body, st *roster.State) string {
	var s string
	switch b.Kind {
	case roster.KindGenesis, roster.KindSetOperators:
		var names []string
		for _, op := range b.Operators {
			names = append(names, op.Name)
		}
		s = fmt.Sprintf("operators %s; quorum %d", strings.Join(names, ", "), b.Quorum)
		if b.DeviceApproval {
			s += "; active devices may approve new ones"
		}
	case roster.KindAddDevice:
		if b.Device != nil {
			s = fmt.Sprintf("device %s (%s)", b.Device.Name, ShortID(b.Device.ID))
		}
	case roster.KindRevokeDevice:
		name := "?"
		if st != nil {
			if d, ok := st.Device(b.DeviceID); ok {
				name = d.Name
			}
		}
		s = fmt.Sprintf("device %s (%s)", name, ShortID(b.DeviceID))
	case roster.KindAddRequester:
		if r := b.Requester; r != nil {
			s = fmt.Sprintf("requester %s (%s, %s key %s): %s", r.Name, ShortID(r.ID), r.Algorithm, keyfile.Fingerprint(r.PublicKey), y.Grants(*r))
			if y.MarkReplace && st != nil {
				if old, ok := st.Requester(r.ID); ok && old.Active {
					s += "; replaces its grants"
				}
			}
		}
	case roster.KindRevokeRequester:
		name := "?"
		if st != nil {
			if r, ok := st.Requester(b.RequesterID); ok {
				name = r.Name
			}
		}
		s = fmt.Sprintf("requester %s (%s)", name, ShortID(b.RequesterID))
	default:
		s = string(b.Kind)
	}
	if b.Reason != "" {
		s += fmt.Sprintf("; reason: %q", b.Reason)
	}
	return s
}

// ShortID is the first 8 characters of a device's or requester's id, as
// people read it.
func ShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
