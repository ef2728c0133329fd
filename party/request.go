package party

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signreq"
)

// A device that pins a roster signs only what a registered requester (a
// wallet backend's key, on the roster) asked for: every signing session
// carries the requester's signed request, passed through unchanged by the
// coordinator, and the device checks it once per session, before its
// policy (package signreq says what is checked). The policy then applies to
// the authenticated requester, and a signature counts against the limits
// when the device approves it, not when the session ends: a coordinator
// that withholds the last round's echo (and assembles the signature from
// the broadcast shares itself) cannot dodge a limit.

const (
	// requestPrefix: request ids seen, per requester, with their body hash
	// (a request id used again with other content is a replay).
	requestPrefix = "requests/"
	// countedPrefix: request items already counted against the limits (a
	// retried session of the same item is not counted twice).
	countedPrefix = "counted/"
	// signedByPrefix: approved signatures per requester (signedPrefix has
	// them per key).
	signedByPrefix = "signedby/"
)

// requestAuth is a verified signed request, for one item of it.
type requestAuth struct {
	body      signreq.Body
	hash      [32]byte // signreq.ContentHash
	requester roster.RequesterState
	item      int
}

// requestRecord is what a device remembers of a request id.
type requestRecord struct {
	Hash    string `json:"hash"`
	Expires int64  `json:"expires"`
}

func requestKey(requester, requestID string) string {
	h := sha256.Sum256([]byte(requestID))
	return requestPrefix + requester + "/" + hex.EncodeToString(h[:16])
}

func countedKey(hash [32]byte, item int) string {
	return fmt.Sprintf("%s%x/%d", countedPrefix, hash, item)
}

// authenticate verifies a session's signed request against the device's
// roster and the session (key, path, item), and refuses a replay; it
// returns the refusal reason, or the verified request. Called under
// decideMu.
func (a *Agent) authenticate(req SignRequest, now time.Time) (*requestAuth, string) {
	a.roster.mu.Lock()
	st := a.roster.state
	var (
		b   signreq.Body
		r   roster.RequesterState
		err error
	)
	if st == nil {
		err = errors.New("this device has not received its roster yet")
	} else {
		b, r, err = signreq.Verify(st, req.Signed)
	}
	a.roster.mu.Unlock()
	if err == nil {
		err = signreq.Check(b, r.Requester, signreq.Session{
			KeyID: req.KeyID, Path: req.Path, Item: req.Item,
			Data: req.data(), Message: len(req.Message) > 0,
		}, now)
	}
	if err != nil {
		if errors.Is(err, signreq.ErrMissing) {
			return nil, "this device signs only requests signed by a requester key on the roster, and this one is not signed (see 'mpcctl requesters create')"
		}
		return nil, "signed request refused: " + err.Error()
	}
	auth := &requestAuth{body: b, hash: signreq.ContentHash(b), requester: r, item: req.Item}
	raw, err := a.ks.Get(requestKey(r.ID, b.RequestID))
	switch {
	case errors.Is(err, keystore.ErrNotFound):
	case err != nil:
		return nil, "could not read this device's request log"
	default:
		var rec requestRecord
		if json.Unmarshal(raw, &rec) != nil {
			return nil, "this device's request log is damaged"
		}
		if rec.Hash != hex.EncodeToString(auth.hash[:]) {
			return nil, fmt.Sprintf("signed request refused: requester %s already used request id %s for another request (a replay)", r.Name, b.RequestID)
		}
	}
	return auth, ""
}

// data is what the session signs: the digest, or the Ed25519 message.
func (r SignRequest) data() []byte {
	if len(r.Message) > 0 {
		return r.Message
	}
	return r.Digest
}

// countKey names what one approval counts against the limits, so that a
// retried session of the same item is not counted twice: the signed
// request's content and item, or (without a signed request) the key, path
// and digest or message. Signing the same thing again gives nobody
// anything new, so it need not count again.
func countKey(req SignRequest, auth *requestAuth) string {
	if auth != nil {
		return countedKey(auth.hash, auth.item)
	}
	h := sha256.New()
	h.Write([]byte("mpcsign/v1/unsigned-item\x00" + req.KeyID + "\x00" + req.Path + "\x00"))
	h.Write(req.data())
	return fmt.Sprintf("%sunsigned/%x", countedPrefix, h.Sum(nil))
}

// counted reports whether the item was approved (and counted) before.
func (a *Agent) counted(req SignRequest, auth *requestAuth) bool {
	_, err := a.ks.Get(countKey(req, auth))
	return err == nil
}

// recordApproval writes, with the decision, what the approval counts: the
// signature against the key's (and the requester's) hourly limits, once per
// item, and the signed request's id with its content (for replays).
func (a *Agent) recordApproval(tx *keystore.Txn, req SignRequest, auth *requestAuth, now time.Time) error {
	exp := now.Add(2 * time.Hour).Unix()
	if auth != nil {
		exp = auth.body.Expires + int64((signreq.ClockSkew + time.Hour).Seconds())
	}
	rec, err := json.Marshal(requestRecord{Hash: hex.EncodeToString(auth.hashOrZero()), Expires: exp})
	if err != nil {
		return err
	}
	if a.counted(req, auth) {
		// A retry of an approved item: not counted again, but remembered
		// (with the request id) for as long as this retry is valid, so that
		// the id cannot come back with other content before then.
		if auth == nil {
			return nil
		}
		for _, k := range []string{countKey(req, auth), requestKey(auth.requester.ID, auth.body.RequestID)} {
			if err := a.extendRecord(tx, k, rec, exp); err != nil {
				return err
			}
		}
		return nil
	}
	ns := now.UnixNano()
	puts := [][2]string{
		{countKey(req, auth), string(rec)},
		{fmt.Sprintf("%s%s/%020d-%d", signedPrefix, req.KeyID, ns, a.recordSeq.Add(1)), "\x01"},
	}
	if auth != nil {
		puts = append(puts,
			[2]string{requestKey(auth.requester.ID, auth.body.RequestID), string(rec)},
			[2]string{fmt.Sprintf("%s%s/%020d-%d", signedByPrefix, auth.requester.ID, ns, a.recordSeq.Add(1)), "\x01"})
	}
	for _, kv := range puts {
		if err := tx.Put(kv[0], []byte(kv[1])); err != nil {
			return err
		}
	}
	return nil
}

// extendRecord rewrites a request record with rec when rec expires later.
func (a *Agent) extendRecord(tx *keystore.Txn, key string, rec []byte, exp int64) error {
	raw, err := tx.Get(key)
	if err == nil {
		var old requestRecord
		if json.Unmarshal(raw, &old) == nil && old.Expires >= exp {
			return nil
		}
	} else if !errors.Is(err, keystore.ErrNotFound) {
		return err
	}
	return tx.Put(key, rec)
}

func (r *requestAuth) hashOrZero() []byte {
	if r == nil {
		return nil
	}
	return r.hash[:]
}

// pruneRequests forgets request ids and counted items whose requests
// expired (a request past its expiry is refused anyway), and counts older
// than an hour. It runs at most once a minute.
func (a *Agent) pruneRequests(now time.Time) {
	if now.Sub(a.lastPrune) < time.Minute {
		return
	}
	a.lastPrune = now
	for _, prefix := range []string{requestPrefix, countedPrefix} {
		keys, err := a.ks.List(prefix)
		if err != nil {
			return
		}
		for _, k := range keys {
			raw, err := a.ks.Get(k)
			if err != nil {
				continue
			}
			var rec requestRecord
			if json.Unmarshal(raw, &rec) == nil && rec.Expires < now.Unix() {
				_ = a.ks.Delete(k)
			}
		}
	}
	for _, prefix := range []string{signedPrefix, signedByPrefix} {
		keys, err := a.ks.List(prefix)
		if err != nil {
			return
		}
		for _, k := range keys {
			if ns, ok := countTime(k); ok && now.Sub(time.Unix(0, ns)) > 2*time.Hour {
				_ = a.ks.Delete(k)
			}
		}
	}
}

// countTime reads the time of a signed/ or signedby/ record.
func countTime(k string) (int64, bool) {
	i := strings.LastIndexByte(k, '/')
	if i < 0 {
		return 0, false
	}
	var ns int64
	_, err := fmt.Sscanf(k[i+1:], "%d", &ns)
	return ns, err == nil
}

// countSince counts the records under prefix+id+"/" since a time.
func (a *Agent) countSince(prefix, id string, since time.Time) (int, error) {
	keys, err := a.ks.List(prefix + id + "/")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if ns, ok := countTime(k); ok && time.Unix(0, ns).After(since) {
			n++
		}
	}
	return n, nil
}

// maxClaimedRequester bounds the requester name a coordinator reports (an
// API token's name), which a device without a roster records.
const maxClaimedRequester = 64

// claimedRequester is the requester the coordinator names, bounded.
func claimedRequester(st *mpcv1.SessionStart) string {
	claimed := strings.ToValidUTF8(st.GetRequester(), "?")
	if len(claimed) > maxClaimedRequester {
		claimed = strings.ToValidUTF8(claimed[:maxClaimedRequester], "") + "..."
	}
	return claimed
}

// sessionRequest is the SignRequest of a signing session.
func sessionRequest(st *mpcv1.SessionStart) *SignRequest {
	return &SignRequest{KeyID: st.GetKeyId(), Digest: st.GetDigest(), Message: st.GetMessage(), Path: st.GetDerivationPath(),
		Requester: claimedRequester(st), Signed: st.GetRequest(), Item: int(st.GetRequestItem())}
}

// signedUntil is when a session's signed request stops being valid (its
// expiry plus the clock skew allowed): an approved session must be done by
// then, however long the coordinator made its deadline. ok is false for a
// session without a signed request.
func signedUntil(st *mpcv1.SessionStart) (time.Time, bool) {
	if st.GetRequest() == nil {
		return time.Time{}, false
	}
	b, err := signreq.Decode(st.GetRequest().GetBody())
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(b.Expires, 0).Add(signreq.ClockSkew), true
}
