package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/mpcsign/mpcsign/internal/identity"
)

// EchoType is the envelope type of the broadcast echo.
const EchoType = "mpcsign.v1.Echo"

// Tracker enforces first-write-wins per (sender, type) and remembers every
// broadcast for the echo.
type Tracker struct {
	seen       map[string][]byte // sender/type -> payload hash
	broadcasts map[string]EchoEntry
}

// EchoEntry is one broadcast as a participant saw it, with its signature so
// that any other participant can check it.
type EchoEntry struct {
	From        string `json:"from"`
	Type        string `json:"type"`
	Round       uint32 `json:"round"`
	Seq         uint64 `json:"seq"`
	PayloadHash []byte `json:"payload_hash"`
	Signature   []byte `json:"signature"`
}

// NewTracker makes an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{seen: map[string][]byte{}, broadcasts: map[string]EchoEntry{}}
}

func trackKey(from, typ string) string { return from + "\x00" + typ }

// Observe records a verified envelope (incoming, or this device's own). An
// identical repeat returns ErrDuplicate; a different message for the same
// sender and type is equivocation and blames the sender.
func (t *Tracker) Observe(e Envelope) error {
	k := trackKey(e.From, e.Type)
	h := hashPayload(e.Payload)
	if prev, ok := t.seen[k]; ok {
		if bytes.Equal(prev, h) {
			return ErrDuplicate
		}
		return &Blame{e.From, fmt.Sprintf("sent two different %s messages", e.Type)}
	}
	t.seen[k] = h
	if e.Broadcast && e.Type != EchoType {
		t.broadcasts[k] = EchoEntry{From: e.From, Type: e.Type, Round: e.Round, Seq: e.Seq, PayloadHash: h, Signature: e.Signature}
	}
	return nil
}

// EchoPayload is what this device broadcasts once its protocol finished:
// every broadcast it accepted, in a canonical order.
func (t *Tracker) EchoPayload() ([]byte, error) {
	entries := make([]EchoEntry, 0, len(t.broadcasts))
	for _, e := range t.broadcasts {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool {
		return trackKey(entries[i].From, entries[i].Type) < trackKey(entries[j].From, entries[j].Type)
	})
	return json.Marshal(entries)
}

// CheckEcho compares another member's echo with what this device saw. A
// broadcast seen differently, validly signed both ways, proves its sender
// equivocated; an echo that does not match the signatures blames the echoer.
func (s *Session) CheckEcho(t *Tracker, echoer string, payload []byte) error {
	var entries []EchoEntry
	if len(payload) > MaxPayload || json.Unmarshal(payload, &entries) != nil || len(entries) > 4096 {
		return &Blame{echoer, "malformed echo"}
	}
	theirs := map[string]EchoEntry{}
	for _, e := range entries {
		k := trackKey(e.From, e.Type)
		if _, dup := theirs[k]; dup {
			return &Blame{echoer, "echo lists a broadcast twice"}
		}
		m, ok := s.members[e.From]
		if !ok {
			return &Blame{echoer, "echo names a non-member"}
		}
		h := Header{SessionID: s.ID, From: e.From, Broadcast: true, Round: e.Round, Type: e.Type, Seq: e.Seq}
		if len(e.PayloadHash) != 32 || !identity.Verify(m.identityKey, signedBytes(h, e.PayloadHash), e.Signature) {
			return &Blame{echoer, "echo carries a broadcast its sender did not sign"}
		}
		theirs[k] = e
	}
	for k, mine := range t.broadcasts {
		other, ok := theirs[k]
		if !ok {
			return &Blame{echoer, fmt.Sprintf("echo lacks the %s broadcast of %s", mine.Type, mine.From)}
		}
		if !bytes.Equal(other.PayloadHash, mine.PayloadHash) {
			return &Blame{mine.From, fmt.Sprintf("sent different %s broadcasts to different members", mine.Type)}
		}
	}
	if len(theirs) != len(t.broadcasts) {
		return &Blame{echoer, "echo lists broadcasts this device never received"}
	}
	return nil
}
