package party

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// The device's copy of the roster. A device enrolled with a pairing code
// that carries the roster's genesis hash pins it (Config.RosterGenesis) and
// from then on believes only what the operators signed:
//   - every entry the coordinator sends is verified from the pinned genesis
//     (signatures, quorum, chain); a chain that forks from or is shorter than
//     the one this device verified is refused, reported to the coordinator
//     (so it lands on the audit trail) and changes nothing;
//   - verified entries are written to the keystore before they are used, so
//     the highest verified head survives a restart;
//   - a session is joined only when this device and every participant are
//     active on the verified roster with the identity keys it lists.
//
// A device enrolled before its institution had a roster pins none and
// trusts the coordinator for membership, as before (README: "Adopting the
// roster").

// rosterPrefix holds the verified entries, by height.
const rosterPrefix = "roster/"

func rosterRecordKey(h uint64) string { return fmt.Sprintf("%s%020d", rosterPrefix, h) }

// rosterView is the verified roster (nil until the first update arrives).
type rosterView struct {
	mu    sync.Mutex
	state *roster.State
}

// ErrRosterRefused wraps every roster-based refusal of a session.
var ErrRosterRefused = errors.New("refused by this device's verified roster")

// pinnedGenesis is the genesis the device pinned (zero: none).
func (a *Agent) pinnedGenesis() (roster.Hash, bool) {
	if a.cfg.RosterGenesis == "" {
		return roster.Hash{}, false
	}
	h, err := roster.ParseHash(a.cfg.RosterGenesis)
	return h, err == nil
}

// loadRoster verifies the entries stored in the keystore from the pinned
// genesis. Stored entries that no longer verify mean the keystore was
// tampered with.
func loadRoster(ks *keystore.Store, genesis roster.Hash) (*roster.State, error) {
	keys, err := ks.List(rosterPrefix)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	slices.Sort(keys)
	entries := make([]roster.Entry, 0, len(keys))
	for i, k := range keys {
		if k != rosterRecordKey(uint64(i)) {
			return nil, fmt.Errorf("party: roster record %s out of sequence: %w", k, keystore.ErrTampered)
		}
		b, err := ks.Get(k)
		if err != nil {
			return nil, err
		}
		var e mpcv1.RosterEntry
		if err := proto.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("party: roster record %s: %w", k, keystore.ErrTampered)
		}
		entries = append(entries, roster.EntryFromProto(&e))
	}
	st, err := roster.Verify(genesis, entries)
	if err != nil {
		return nil, fmt.Errorf("party: the stored roster does not verify (%v): %w", err, keystore.ErrTampered)
	}
	return st, nil
}

// rosterEntries is how many entries this device has verified (for Hello).
func (a *Agent) rosterEntries() uint64 {
	a.roster.mu.Lock()
	defer a.roster.mu.Unlock()
	if a.roster.state == nil {
		return 0
	}
	return a.roster.state.Height() + 1
}

// RosterHead is the device's verified roster head, for 'party status'.
type RosterHead struct {
	Genesis string `json:"genesis"`
	Height  uint64 `json:"height"`
	Head    string `json:"head"`
	// Verified is false until the first roster update arrived.
	Verified bool `json:"verified"`
}

// Roster returns the verified roster head (ok false: no roster pinned).
func (a *Agent) Roster() (RosterHead, bool) {
	if a.cfg.RosterGenesis == "" {
		return RosterHead{}, false
	}
	a.roster.mu.Lock()
	defer a.roster.mu.Unlock()
	h := RosterHead{Genesis: a.cfg.RosterGenesis}
	if st := a.roster.state; st != nil {
		h.Height, h.Head, h.Verified = st.Height(), st.Head().String(), true
	}
	return h, true
}

// applyRoster verifies and stores the entries of an update. On any failure
// nothing changes; the error says which check failed.
func (a *Agent) applyRoster(u *mpcv1.RosterUpdate) error {
	genesis, ok := a.pinnedGenesis()
	if !ok {
		return nil // no roster pinned: nothing to verify against
	}
	a.roster.mu.Lock()
	defer a.roster.mu.Unlock()
	cur := a.roster.state
	have := uint64(0)
	if cur != nil {
		have = cur.Height() + 1
	}
	if u.GetHeight()+1 < have {
		return fmt.Errorf("%w: the coordinator's roster ends at height %d, this device verified up to %d", roster.ErrRollback, u.GetHeight(), have-1)
	}
	first := u.GetFirstHeight()
	if first > have {
		return fmt.Errorf("%w: the update starts at height %d, this device has verified %d entries", roster.ErrChain, first, have)
	}
	entries := make([]roster.Entry, len(u.GetEntries()))
	for i, p := range u.GetEntries() {
		entries[i] = roster.EntryFromProto(p)
	}
	// Entries this device already has must be the same ones.
	for len(entries) > 0 && first < have {
		if h, _ := cur.HashAt(first); h != entries[0].Hash() {
			return fmt.Errorf("%w at height %d", roster.ErrFork, first)
		}
		entries, first = entries[1:], first+1
	}
	if len(entries) == 0 {
		return nil
	}
	var next *roster.State
	if cur == nil {
		st, err := roster.Verify(genesis, entries)
		if err != nil {
			return err
		}
		next = st
	} else {
		next = cur.Clone()
		if err := next.Extend(entries); err != nil {
			return err
		}
	}
	// Persist, then use: a restart must not forget a verified head (a
	// rollback would then go unnoticed).
	err := a.ks.Update(func(tx *keystore.Txn) error {
		for i, e := range entries {
			b, err := proto.Marshal(roster.EntryProto(e))
			if err != nil {
				return err
			}
			if err := tx.Put(rosterRecordKey(first+uint64(i)), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("party: store the roster: %w", err)
	}
	a.roster.state = next
	return nil
}

// rosterUpdate applies an update from the link, reporting a refusal.
func (l *partyLink) rosterUpdate(u *mpcv1.RosterUpdate) {
	a := l.agent
	if err := a.applyRoster(u); err != nil {
		a.log.Error("refused the coordinator's roster; keeping the verified one", "err", err)
		l.send(&mpcv1.ConnectRequest{Msg: &mpcv1.ConnectRequest_Refusal{Refusal: &mpcv1.Refusal{What: "roster", Reason: err.Error()}}})
		return
	}
	if h, ok := a.Roster(); ok && h.Verified {
		a.log.Debug("roster verified", "height", h.Height, "head", h.Head)
	}
}

// checkMembers refuses a session unless this device and every participant
// are active on the verified roster, with the identity keys it lists, and
// every committee member takes part. Devices without a pinned roster accept
// the coordinator's word, as before.
func (a *Agent) checkMembers(st *mpcv1.SessionStart) error {
	if a.cfg.RosterGenesis == "" {
		return nil
	}
	a.roster.mu.Lock()
	rs := a.roster.state
	a.roster.mu.Unlock()
	if rs == nil {
		return fmt.Errorf("%w: this device has not received its roster yet", ErrRosterRefused)
	}
	if !rs.Active(a.cfg.DeviceID) {
		return fmt.Errorf("%w: this device is not active on it (not approved yet, or revoked)", ErrRosterRefused)
	}
	ids := map[string]bool{}
	for _, p := range st.GetParticipants() {
		d, ok := rs.Device(p.GetDeviceId())
		switch {
		case !ok:
			return fmt.Errorf("%w: participant %s is not on it", ErrRosterRefused, short(p.GetDeviceId()))
		case !d.Active:
			return fmt.Errorf("%w: participant %s (%s) is revoked", ErrRosterRefused, d.Name, short(d.ID))
		case string(d.IdentityKey) != string(p.GetIdentityPublicKey()):
			return fmt.Errorf("%w: participant %s (%s) comes with another identity key than the roster's", ErrRosterRefused, d.Name, short(d.ID))
		}
		ids[p.GetDeviceId()] = true
	}
	for _, id := range slices.Concat(st.GetOldCommittee(), st.GetNewCommittee()) {
		if !ids[id] {
			return fmt.Errorf("%w: committee member %s is not among the participants", ErrRosterRefused, short(id))
		}
	}
	return nil
}

func short(id string) string {
	id = strings.ToValidUTF8(id, "?")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ErrRosterPinned reports an attempt to pin another genesis over one the
// device already pins: a device never changes roster.
var ErrRosterPinned = errors.New("party: this device already pins another roster genesis; a device never changes roster (pair it again in a new data directory)")

// PinRoster makes a device enrolled before its institution had a roster pin
// the roster's genesis, which its operator read out of band ('mpcctl roster
// show' on an operator's machine). The agent must not be running. Pinning
// the same genesis again changes nothing.
func PinRoster(ks *keystore.Store, genesis string) (Config, error) {
	h, err := roster.ParseHash(genesis)
	if err != nil {
		return Config{}, fmt.Errorf("party: the genesis must be 64 hex digits: %w", err)
	}
	c, err := LoadConfig(ks)
	if err != nil {
		return c, err
	}
	switch c.RosterGenesis {
	case h.String():
		return c, nil
	case "":
	default:
		return c, ErrRosterPinned
	}
	c.RosterGenesis = h.String()
	return c, saveConfig(ks, c)
}
