package roster

import (
	"fmt"
	"time"
)

// DeviceState is a device and where it stands.
type DeviceState struct {
	Device
	Active    bool
	AddedAt   uint64 // height of its add_device entry
	RevokedAt uint64 // height of its revoke_device entry; 0 while active
}

// State is a verified roster: the hashes of its entries and the membership
// they add up to. It only changes by Apply and Extend, which verify first.
// A State is not safe for concurrent use; Clone it to share.
type State struct {
	hashes    []Hash // hashes[h] is the hash of the entry at height h
	lastTime  int64
	operators []Operator
	quorum    int
	approval  bool
	devices   map[string]*DeviceState
	order     []string // device ids in the order they were added

	requesters map[string]*RequesterState
	reqOrder   []string // requester ids in the order they were first added
}

// Open verifies a genesis entry completely (encoding, fields, and signatures
// by at least Quorum of its own operators) and returns the roster at height 0.
func Open(genesis Entry) (*State, error) {
	b, t, err := checkGenesis(genesis)
	if err != nil {
		return nil, err
	}
	if len(t.operators) < b.Quorum {
		return nil, quorumError(len(t.operators), b.Quorum)
	}
	return &State{
		hashes:    []Hash{genesis.Hash()},
		lastTime:  b.Time,
		operators: cloneOperators(b.Operators),
		quorum:    b.Quorum,
		approval:  b.DeviceApproval,
		devices:   map[string]*DeviceState{},
	}, nil
}

// GenesisSigners is Signers for a genesis entry that is still being signed:
// the names of its operators who signed it, and its quorum. ErrQuorum is not
// an error here.
func GenesisSigners(genesis Entry) (names []string, need int, err error) {
	b, t, err := checkGenesis(genesis)
	if err != nil {
		return nil, 0, err
	}
	return t.names(), b.Quorum, nil
}

func checkGenesis(e Entry) (Body, tally, error) {
	b, err := DecodeBody(e.Body)
	if err != nil {
		return Body{}, tally{}, err
	}
	if b.Kind != KindGenesis {
		return Body{}, tally{}, fmt.Errorf("%w: the first entry is %s, not genesis", ErrRule, b.Kind)
	}
	if err := checkShape(b); err != nil {
		return Body{}, tally{}, err
	}
	t, err := verifySignatures(e.Signatures, SigningMessage(e.Hash()), b.Operators, nil)
	return b, t, err
}

// Verify verifies a whole chain against the pinned genesis hash: entries[0]
// must hash to pinned, and every later entry must Apply.
func Verify(pinned Hash, entries []Entry) (*State, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: no entries", ErrMalformed)
	}
	if got := entries[0].Hash(); got != pinned {
		return nil, fmt.Errorf("%w: genesis %s, pinned %s", ErrGenesisMismatch, got, pinned)
	}
	s, err := Open(entries[0])
	if err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	for i, e := range entries[1:] {
		if err := s.Apply(e); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
	}
	return s, nil
}

// Clone is a deep copy.
func (s *State) Clone() *State {
	c := *s
	c.hashes = append([]Hash(nil), s.hashes...)
	c.operators = cloneOperators(s.operators)
	c.order = append([]string(nil), s.order...)
	c.devices = make(map[string]*DeviceState, len(s.devices))
	for id, d := range s.devices {
		dc := *d
		dc.Device = cloneDevice(d.Device)
		c.devices[id] = &dc
	}
	c.reqOrder = append([]string(nil), s.reqOrder...)
	c.requesters = make(map[string]*RequesterState, len(s.requesters))
	for id, r := range s.requesters {
		rc := copyRequester(r)
		c.requesters[id] = &rc
	}
	return &c
}

// GenesisHash is the hash of the genesis entry, the one devices pin.
func (s *State) GenesisHash() Hash {
	if len(s.hashes) == 0 {
		return Hash{}
	}
	return s.hashes[0]
}

// Height is the height of the last entry (0 after genesis alone).
func (s *State) Height() uint64 {
	if len(s.hashes) == 0 {
		return 0
	}
	return uint64(len(s.hashes) - 1)
}

// Head is the hash of the last entry.
func (s *State) Head() Hash {
	if len(s.hashes) == 0 {
		return Hash{}
	}
	return s.hashes[len(s.hashes)-1]
}

// HashAt is the hash of the entry at height h; false beyond the head.
func (s *State) HashAt(h uint64) (Hash, bool) {
	if h >= uint64(len(s.hashes)) {
		return Hash{}, false
	}
	return s.hashes[h], true
}

// Operators is a copy of the current operator set.
func (s *State) Operators() []Operator { return cloneOperators(s.operators) }

// Quorum is how many current operators must sign an entry or authorization.
func (s *State) Quorum() int { return s.quorum }

// DeviceApproval reports whether an active device may approve an
// add_device entry instead of the operators (fixed by genesis).
func (s *State) DeviceApproval() bool { return s.approval }

// Device is a device that was ever added, active or revoked.
func (s *State) Device(id string) (DeviceState, bool) {
	d, ok := s.devices[id]
	if !ok {
		return DeviceState{}, false
	}
	return copyState(d), true
}

// Devices is every device ever added, in the order they were added.
func (s *State) Devices() []DeviceState {
	out := make([]DeviceState, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, copyState(s.devices[id]))
	}
	return out
}

// Active reports whether the device is on the roster and not revoked.
func (s *State) Active(id string) bool {
	d, ok := s.devices[id]
	return ok && d.Active
}

// ActiveByName is the active device of that name.
func (s *State) ActiveByName(name string) (DeviceState, bool) {
	for _, id := range s.order {
		if d := s.devices[id]; d.Active && d.Name == name {
			return copyState(d), true
		}
	}
	return DeviceState{}, false
}

func copyState(d *DeviceState) DeviceState {
	c := *d
	c.Device = cloneDevice(d.Device)
	return c
}

// Next is the body of the next entry, with the chain fields filled in:
// the version, the next height, the head as Prev, and now as Time (or the
// last entry's time, if now is before it).
func (s *State) Next(kind Kind, now time.Time) Body {
	t := now.Unix()
	if t < s.lastTime {
		t = s.lastTime
	}
	return Body{Version: Version, Height: s.Height() + 1, Prev: s.Head().String(), Time: t, Kind: kind}
}

// CheckHead compares what a device remembered (height and head hash) with
// this verified state, which must be at least as long: ErrRollback if the
// state is shorter, ErrFork if it has another entry at that height.
func (s *State) CheckHead(height uint64, head Hash) error {
	if height > s.Height() || len(s.hashes) == 0 {
		return fmt.Errorf("%w: seen height %d, this chain ends at %d", ErrRollback, height, s.Height())
	}
	if got, _ := s.HashAt(height); got != head {
		return fmt.Errorf("%w: at height %d: seen %s, this chain has %s", ErrFork, height, head, got)
	}
	return nil
}
