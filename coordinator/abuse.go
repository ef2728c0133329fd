package coordinator

import (
	"sync"
	"time"
)

// Abuse control: a device blamed for maxStrikes signing aborts of one key in
// a row is paused for that key (never picked as a signer) for pauseFor, so a
// misbehaving device cannot make every signature pay for a failed attempt.
// A session it completes clears its strikes. The count is kept in memory: a
// restart forgives.
const (
	maxStrikes = 3
	pauseFor   = 10 * time.Minute
)

type strikes struct {
	mu sync.Mutex
	m  map[string]*strike // by key id + "/" + device id
}

type strike struct {
	n           int
	pausedUntil time.Time
}

// blame counts one abort blamed on device; it reports whether the device is
// paused by it (only on the strike that pauses it).
func (s *strikes) blame(keyID, device string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*strike{}
	}
	st := s.m[keyID+"/"+device]
	if st == nil {
		st = &strike{}
		s.m[keyID+"/"+device] = st
	}
	st.n++
	if st.n >= maxStrikes && !now.Before(st.pausedUntil) {
		st.pausedUntil, st.n = now.Add(pauseFor), 0
		return true
	}
	return false
}

// clear forgets a device's strikes for a key after a session it completed.
func (s *strikes) clear(keyID, device string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, keyID+"/"+device)
}

// paused reports until when device is paused for key, if it is.
func (s *strikes) paused(keyID, device string, now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.m[keyID+"/"+device]; st != nil && now.Before(st.pausedUntil) {
		return st.pausedUntil, true
	}
	return time.Time{}, false
}
