// Package auditlog defines the coordinator's audit entries and the hash
// chain that links them: each entry carries the hash of the one before, so
// an edited, deleted or reordered entry breaks the chain at that entry.
package auditlog

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Genesis is the "previous hash" of the first entry.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Entry is one audited action.
type Entry struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`          // e.g. device.enroll, key.create, sign
	Actor    string    `json:"actor,omitempty"` // API token id, or device id
	KeyID    string    `json:"key_id,omitempty"`
	Devices  []string  `json:"devices,omitempty"`
	Result   string    `json:"result"` // ok or failed
	Detail   string    `json:"detail,omitempty"`
	Culprits []string  `json:"culprits,omitempty"`
	Prev     string    `json:"prev"`
	Hash     string    `json:"hash"`
}

// Sum is the entry's hash: SHA-256 over its JSON encoding with Hash empty.
func Sum(e Entry) string {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Seal fills in Seq, Prev and Hash to append e after prev (nil: first entry).
// Text that is not valid UTF-8 is replaced first, byte by byte, with U+FFFD,
// as its JSON encoding would be: the entry sealed is the one an export
// carries, so that its hash still holds when the export is read back.
func Seal(e Entry, prev *Entry) Entry {
	e = validUTF8(e)
	e.Seq, e.Prev = 1, Genesis
	if prev != nil {
		e.Seq, e.Prev = prev.Seq+1, prev.Hash
	}
	e.Hash = Sum(e)
	return e
}

func validUTF8(e Entry) Entry {
	e.Action, e.Actor, e.KeyID, e.Result, e.Detail = validText(e.Action), validText(e.Actor), validText(e.KeyID), validText(e.Result), validText(e.Detail)
	e.Devices, e.Culprits = validTexts(e.Devices), validTexts(e.Culprits)
	return e
}

func validText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s { // an invalid byte ranges as one utf8.RuneError
		b.WriteRune(r)
	}
	return b.String()
}

func validTexts(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = validText(s)
	}
	return out
}

// BrokenError names the first entry at which the chain does not hold.
type BrokenError struct {
	Line   int    // 1-based line (entry) number in the export
	Seq    uint64 // the entry's own sequence number, as written
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit log broken at entry %d (seq %d): %s", e.Line, e.Seq, e.Reason)
}

// Verify checks a JSON-lines export. The first entry may continue an earlier
// part of the log (an export --since): its Prev is then taken on trust. It
// returns the number of entries and the last hash.
func Verify(r io.Reader) (n int, head string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var prev *Entry
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		n++
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return n, head, &BrokenError{Line: n, Reason: "not a valid entry: " + err.Error()}
		}
		switch {
		case Sum(e) != e.Hash:
			return n, head, &BrokenError{Line: n, Seq: e.Seq, Reason: "the entry's contents do not match its hash (edited)"}
		case prev != nil && e.Seq != prev.Seq+1:
			return n, head, &BrokenError{Line: n, Seq: e.Seq, Reason: fmt.Sprintf("sequence jumps from %d to %d (entries deleted or reordered)", prev.Seq, e.Seq)}
		case prev != nil && e.Prev != prev.Hash:
			return n, head, &BrokenError{Line: n, Seq: e.Seq, Reason: "does not chain to the entry before it (deleted, inserted or reordered)"}
		case prev == nil && e.Seq == 1 && e.Prev != Genesis:
			return n, head, &BrokenError{Line: n, Seq: e.Seq, Reason: "the first entry does not start the chain"}
		}
		p := e
		prev, head = &p, e.Hash
	}
	if err := sc.Err(); err != nil {
		return n, head, err
	}
	return n, head, nil
}

// Marshal encodes an entry as one export line (without the newline).
func Marshal(e Entry) ([]byte, error) { return json.Marshal(e) }
