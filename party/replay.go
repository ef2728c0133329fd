package party

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/bnb-chain/tss-lib/v2/tss"
	"google.golang.org/protobuf/proto"

	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Session binding the library lacks. tss-lib v2.0.2's messages are not
// bound to their session: a signer's round-1 MtA ciphertext and range proof
// from an earlier signature verify again in a later one. A member that
// replays one (in a fresh envelope it signs for the new session) gets the
// recipient's answer checked by its own library against the ciphertext it
// really uses, which fails and blames the honest recipient (issue: framing
// in signing).
//
// Every honest tss-lib message of keygen and signing carries values fresh to
// its session (commitments, nonces, ciphertexts, shares), so the same
// content from the same sender twice is a replay. A device remembers a
// fingerprint of every such message it received (the sender's device id
// and the content's canonical encoding: the guard refuses unknown fields
// and non-canonical integers, so a replayer cannot re-encode the same
// values) for replayRetention, and refuses a repeat, blaming its sender.
// Reshare messages are not fingerprinted: two of their types (the new
// committee's acknowledgements) carry no content at all.
//
// The coordinator cannot check this device's memory, so such a blame is
// "suspected" there; the signature is then routed around the sender.

// replayRetention is how long a device remembers received content. A
// replay older than that passes this check; the coordinator's evidence
// check still clears the honest members it would frame (coordinator/relay/evidence.go).
const replayRetention = 30 * 24 * time.Hour

// replayReason starts the reason of a failure for replayed content.
const replayReason = "sent protocol content from another session"

const (
	seenPrefix   = "seen/"   // seen/<fingerprint> -> unix time received
	seenAtPrefix = "seenat/" // seenat/<unix day>/<fingerprint> -> "" (for pruning)
)

// replayLog is the device's memory of received protocol content.
type replayLog struct {
	ks *keystore.Store

	mu        sync.Mutex
	live      map[string]bool // fingerprints of running sessions, not yet stored
	lastPrune time.Time
}

func newReplayLog(ks *keystore.Store) *replayLog {
	return &replayLog{ks: ks, live: map[string]bool{}}
}

// fingerprinted reports whether messages of a session kind are fingerprinted.
func fingerprinted(kind mpcv1.SessionKind) bool {
	return kind == mpcv1.SessionKind_SESSION_KIND_KEYGEN || kind == mpcv1.SessionKind_SESSION_KIND_SIGN
}

// contentFingerprint of a parsed message from a device.
func contentFingerprint(from string, parsed tss.ParsedMessage) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(parsed.Content())
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte("mpcsign/v1/seen\x00" + from + "\x00" + parsed.Type() + "\x00"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// check refuses content seen before (in a running session or stored), and
// notes it as seen by a running session.
func (l *replayLog) check(fp string) (replayed bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live[fp] {
		return true, nil
	}
	if _, err := l.ks.Get(seenPrefix + fp); err == nil {
		return true, nil
	} else if !errors.Is(err, keystore.ErrNotFound) {
		return false, err
	}
	l.live[fp] = true
	return false, nil
}

// store keeps a finished session's fingerprints (whatever its outcome),
// and prunes expired ones at most once an hour.
func (l *replayLog) store(fps []string, now time.Time) error {
	if len(fps) == 0 {
		return nil
	}
	day := strconv.FormatInt(now.Unix()/86400, 10)
	err := l.ks.Update(func(tx *keystore.Txn) error {
		for _, fp := range fps {
			if err := tx.Put(seenPrefix+fp, []byte(strconv.FormatInt(now.Unix(), 10))); err != nil {
				return err
			}
			if err := tx.Put(seenAtPrefix+day+"/"+fp, nil); err != nil {
				return err
			}
		}
		return nil
	})
	l.mu.Lock()
	for _, fp := range fps {
		delete(l.live, fp) // stored, or lost with the error below: a replay of it is then missed, never a session refused
	}
	prune := now.Sub(l.lastPrune) > time.Hour
	if prune {
		l.lastPrune = now
	}
	l.mu.Unlock()
	if prune {
		l.prune(now)
	}
	return err
}

// prune forgets fingerprints older than replayRetention, a day at a time.
func (l *replayLog) prune(now time.Time) {
	keys, err := l.ks.List(seenAtPrefix)
	if err != nil {
		return
	}
	oldest := (now.Add(-replayRetention).Unix()) / 86400
	for _, k := range keys {
		rest := k[len(seenAtPrefix):]
		i := 0
		for i < len(rest) && rest[i] != '/' {
			i++
		}
		day, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || day >= oldest || i == len(rest) {
			continue
		}
		_ = l.ks.Delete(seenPrefix + rest[i+1:])
		_ = l.ks.Delete(k)
	}
}

// checkFresh refuses protocol content this device received before, from
// this session or another, and notes it.
func (r *runner) checkFresh(from string, parsed tss.ParsedMessage) error {
	if !fingerprinted(r.s.start.GetKind()) || r.s.deps.replay == nil {
		return nil
	}
	fp, err := contentFingerprint(from, parsed)
	if err != nil {
		return &Failure{Reason: "unencodable protocol message", Culprits: []string{from}, unchecked: true}
	}
	replayed, err := r.s.deps.replay.check(fp)
	if err != nil {
		return err
	}
	if replayed {
		return &Failure{Reason: replayReason + " (" + parsed.Type() + ")", Culprits: []string{from}}
	}
	r.s.seen = append(r.s.seen, fp)
	return nil
}
