package roster

import "fmt"

// Check verifies that e extends the state: its encoding, its fields, the
// rules of its kind, and its signatures. It returns the decoded body and
// changes nothing.
func (s *State) Check(e Entry) (Body, error) {
	b, t, err := s.check(e)
	if err != nil {
		return Body{}, err
	}
	if len(t.operators) < s.quorum && len(t.devices) == 0 {
		return Body{}, quorumError(len(t.operators), s.quorum)
	}
	return b, nil
}

// Apply checks e and appends it.
func (s *State) Apply(e Entry) error {
	b, err := s.Check(e)
	if err != nil {
		return err
	}
	s.apply(b, e.Hash())
	return nil
}

// Extend applies entries in order, all or none: on an error the state is
// unchanged.
func (s *State) Extend(entries []Entry) error {
	c := s.Clone()
	for _, e := range entries {
		if err := c.Apply(e); err != nil {
			return fmt.Errorf("entry at height %d: %w", c.Height()+1, err)
		}
	}
	*s = *c
	return nil
}

// Signers is, for an entry that is still being signed, the names of the
// operators (and "device:<name>" for approving devices) whose valid
// signatures it carries, and how many operator signatures the quorum needs.
// The entry must pass Check but for the quorum; ErrQuorum is not an error.
func (s *State) Signers(e Entry) (names []string, need int, err error) {
	_, t, err := s.check(e)
	if err != nil {
		return nil, 0, err
	}
	return t.names(), s.quorum, nil
}

// check is Check without the quorum.
func (s *State) check(e Entry) (Body, tally, error) {
	if len(s.hashes) == 0 {
		return Body{}, tally{}, fmt.Errorf("%w: the state has no genesis", ErrChain)
	}
	b, err := DecodeBody(e.Body)
	if err != nil {
		return Body{}, tally{}, err
	}
	if err := checkShape(b); err != nil {
		return Body{}, tally{}, err
	}
	if want := s.Height() + 1; b.Height != want {
		return Body{}, tally{}, fmt.Errorf("%w: height %d, want %d", ErrChain, b.Height, want)
	}
	if want := s.Head().String(); b.Prev != want {
		return Body{}, tally{}, fmt.Errorf("%w: previous hash %.64q, want %s", ErrChain, b.Prev, want)
	}
	if b.Time < s.lastTime {
		return Body{}, tally{}, fmt.Errorf("%w: time %d is before the previous entry's %d", ErrRule, b.Time, s.lastTime)
	}
	var approvers map[string]string
	switch b.Kind {
	case KindAddDevice:
		d := b.Device
		if _, ok := s.devices[d.ID]; ok {
			return Body{}, tally{}, fmt.Errorf("%w: device %s was on the roster before", ErrRule, d.ID)
		}
		if other, ok := s.ActiveByName(d.Name); ok {
			return Body{}, tally{}, fmt.Errorf("%w: name %q is used by active device %s", ErrRule, d.Name, other.ID)
		}
		if s.approval {
			approvers = s.activeKeys()
		}
	case KindRevokeDevice:
		if !s.Active(b.DeviceID) {
			return Body{}, tally{}, fmt.Errorf("%w: %w: %.64q", ErrRule, ErrNotActive, b.DeviceID)
		}
	case KindAddRequester:
		if err := s.checkAddRequester(b.Requester); err != nil {
			return Body{}, tally{}, err
		}
	case KindRevokeRequester:
		if r, ok := s.requesters[b.RequesterID]; !ok || !r.Active {
			return Body{}, tally{}, fmt.Errorf("%w: requester %.64q is not active on the roster", ErrRule, b.RequesterID)
		}
	}
	t, err := verifySignatures(e.Signatures, SigningMessage(e.Hash()), s.operators, approvers)
	if err != nil {
		return Body{}, tally{}, err
	}
	return b, t, nil
}

// activeKeys maps the identity key of every active device to its name.
func (s *State) activeKeys() map[string]string {
	m := make(map[string]string)
	for _, d := range s.devices {
		if d.Active {
			m[string(d.IdentityKey)] = d.Name
		}
	}
	return m
}

// apply appends a checked entry.
func (s *State) apply(b Body, h Hash) {
	s.hashes = append(s.hashes, h)
	s.lastTime = b.Time
	switch b.Kind {
	case KindAddDevice:
		d := &DeviceState{Device: cloneDevice(*b.Device), Active: true, AddedAt: b.Height}
		if s.devices == nil {
			s.devices = map[string]*DeviceState{}
		}
		s.devices[d.ID] = d
		s.order = append(s.order, d.ID)
	case KindRevokeDevice:
		d := s.devices[b.DeviceID]
		d.Active, d.RevokedAt = false, b.Height
	case KindSetOperators:
		s.operators = cloneOperators(b.Operators)
		s.quorum = b.Quorum
	case KindAddRequester, KindRevokeRequester:
		s.applyRequester(b)
	}
}
