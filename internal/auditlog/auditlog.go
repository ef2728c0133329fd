// Package auditlog defines the coordinator's audit entries and the hash
// chain that links them: each entry carries the hash of the one before, so
// an edited, deleted or reordered entry breaks the chain at that entry.
package auditlog

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
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
	return fmt.Sprintf("audit log broken at entry %d (line %d, seq %d): %s", e.Line, e.Line, e.Seq, e.Reason)
}

// Head names one entry of the log by sequence number and hash, as a
// verification reports the last entry it checked ("SEQ:HASH"). An auditor
// who kept a head can check that a later export still holds that entry
// with that hash, so that nothing up to it was cut off or rewritten.
type Head struct {
	Seq  uint64
	Hash string
}

func (h Head) String() string { return fmt.Sprintf("%d:%s", h.Seq, h.Hash) }

// ParseHead reads a head written as "SEQ:HASH".
func ParseHead(s string) (Head, error) {
	seq, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Head{}, fmt.Errorf("%q: want SEQ:HASH, the sequence number and hash of an entry", s)
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil || n == 0 {
		return Head{}, fmt.Errorf("%q: the sequence number must be 1 or more", s)
	}
	if !IsHash(hash) {
		return Head{}, fmt.Errorf("%q: the hash must be 64 lowercase hex digits", s)
	}
	return Head{Seq: n, Hash: hash}, nil
}

// IsHash reports whether s has the form of an entry's hash: 64 lowercase
// hex digits.
func IsHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// HeadError says that an export does not reach the head it was expected
// to hold: entries were cut off its end (or it was exported too short).
type HeadError struct {
	Expect Head
	Last   uint64 // the last sequence number the export holds (0: none)
	Reason string
}

func (e *HeadError) Error() string {
	return fmt.Sprintf("audit log does not hold the expected head %s: %s", e.Expect, e.Reason)
}

// Options say where an export starts and what it must hold.
type Options struct {
	// Since is the sequence number the export must start at; 0 means 1.
	// Prev is the hash of entry Since-1, which the first entry must carry:
	// required when Since is above 1 (it is the head a verification of the
	// earlier part reported); for Since 1 it may be empty or Genesis.
	Since uint64
	Prev  string
	// Expect, when set, is an entry the export must hold with that hash
	// (or, when it is entry Since-1, the hash Prev must be).
	Expect *Head
}

// Result is what a verification checked.
type Result struct {
	Entries     int    // entries checked
	First, Last uint64 // sequence numbers of the first and last (0: none)
	Head        string // hash of the last entry
}

// Verify checks a JSON-lines export of the whole log: it must start at
// entry 1, which chains to Genesis. It returns the number of entries and
// the last hash. See VerifyFrom for what is checked.
func Verify(r io.Reader) (n int, head string, err error) {
	res, err := VerifyFrom(r, Options{})
	return res.Entries, res.Head, err
}

// VerifyFrom checks a JSON-lines export that starts where o says: each line
// must be exactly the log's encoding of one entry (Marshal: no other keys,
// spacing, escapes or duplicates, a plain newline after it, no empty
// lines); each entry must hash to its own hash and chain to the one before
// it, the first to o.Prev at seq o.Since; and the export must hold o.Expect.
// It cannot tell that entries were cut off the end unless o.Expect says
// how far the log reached.
func VerifyFrom(r io.Reader, o Options) (res Result, err error) {
	since, prevHash := max(o.Since, 1), o.Prev
	switch {
	case since == 1 && prevHash == "":
		prevHash = Genesis
	case since == 1 && prevHash != Genesis:
		return res, fmt.Errorf("the entry before seq 1 is the genesis: its hash is %s, not %s", Genesis, prevHash)
	case !IsHash(prevHash):
		return res, fmt.Errorf("an export that starts at seq %d needs the hash of entry %d (64 lowercase hex digits), not %q", since, since-1, prevHash)
	}
	if x := o.Expect; x != nil {
		switch {
		case x.Seq == 0 || !IsHash(x.Hash):
			return res, fmt.Errorf("expected head %s: want a sequence number of 1 or more and a hash of 64 lowercase hex digits", x)
		case x.Seq < since-1:
			return res, &HeadError{Expect: *x, Reason: fmt.Sprintf("the export starts at seq %d, after it; export from seq %d or earlier", since, x.Seq)}
		case x.Seq == since-1 && x.Hash != prevHash:
			return res, &HeadError{Expect: *x, Reason: fmt.Sprintf("the hash given for entry %d, where the export starts after it, is %s", x.Seq, prevHash)}
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(scanLines)
	var prev *Entry
	for sc.Scan() {
		line := sc.Bytes()
		res.Entries++
		n := res.Entries
		if len(line) == 0 {
			return res, &BrokenError{Line: n, Reason: "an empty line: an export has one entry on every line"}
		}
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return res, &BrokenError{Line: n, Reason: "not a valid entry: " + err.Error()}
		}
		if why := canonical(line, e); why != "" {
			return res, &BrokenError{Line: n, Seq: e.Seq, Reason: "not in the log's canonical form: " + why}
		}
		switch {
		case Sum(e) != e.Hash:
			return res, &BrokenError{Line: n, Seq: e.Seq, Reason: "the entry's contents do not match its hash (edited)"}
		case prev != nil && e.Seq != prev.Seq+1:
			return res, &BrokenError{Line: n, Seq: e.Seq, Reason: fmt.Sprintf("sequence jumps from %d to %d (entries deleted or reordered)", prev.Seq, e.Seq)}
		case prev != nil && e.Prev != prev.Hash:
			return res, &BrokenError{Line: n, Seq: e.Seq, Reason: "does not chain to the entry before it (deleted, inserted or reordered)"}
		case prev == nil && e.Seq != since && since == 1:
			return res, &BrokenError{Line: n, Seq: e.Seq, Reason: fmt.Sprintf("the export starts at seq %d, not at the log's first entry (seq 1): the entries before it are missing, or it is a partial export (check it with where it starts)", e.Seq)}
		case prev == nil && e.Seq != since:
			return res, &BrokenError{Line: n, Seq: e.Seq, Reason: fmt.Sprintf("the export starts at seq %d, not at seq %d as given", e.Seq, since)}
		case prev == nil && e.Prev != prevHash && since == 1:
			return res, &BrokenError{Line: n, Seq: e.Seq, Reason: "the first entry does not start the chain"}
		case prev == nil && e.Prev != prevHash:
			return res, &BrokenError{Line: n, Seq: e.Seq, Reason: fmt.Sprintf("does not chain to the hash given for entry %d (%s)", since-1, prevHash)}
		case o.Expect != nil && e.Seq == o.Expect.Seq && e.Hash != o.Expect.Hash:
			return res, &BrokenError{Line: n, Seq: e.Seq, Reason: fmt.Sprintf("its hash is %s, not the expected head's %s: the log up to this entry was rewritten", e.Hash, o.Expect.Hash)}
		}
		p := e
		prev, res.Head, res.Last = &p, e.Hash, e.Seq
		if res.First == 0 {
			res.First = e.Seq
		}
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	if x := o.Expect; x != nil && x.Seq >= since && res.Last < x.Seq {
		why := "the export holds no entries"
		if res.Entries > 0 {
			why = fmt.Sprintf("the export ends at seq %d: entries were cut off its end", res.Last)
		}
		return res, &HeadError{Expect: *x, Last: res.Last, Reason: why}
	}
	return res, nil
}

// canonical says how line differs from the log's encoding of e ("": it
// does not). The hash covers the entry as decoded, so any other spelling
// of it (a key twice or in other case, whose last value Go takes while
// other readers take the first; an unknown key; invalid UTF-8) would
// verify while showing a reader something else.
func canonical(line []byte, e Entry) string {
	want, err := Marshal(e)
	if err != nil {
		return "the entry cannot be encoded: " + err.Error()
	}
	if bytes.Equal(line, want) {
		return ""
	}
	i := 0
	for i < len(line) && i < len(want) && line[i] == want[i] {
		i++
	}
	if i == len(want) && string(line[i:]) == "\r" {
		return "the line ends in a carriage return"
	}
	clip := func(b []byte) string {
		b = b[i:]
		if len(b) > 32 {
			b = b[:32]
		}
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("from byte %d the line reads %s where the encoding of the entry as decoded reads %s", i+1, clip(line), clip(want))
}

// scanLines splits an export into lines at each newline, as written, with
// nothing dropped (bufio.ScanLines drops a carriage return before it); the
// last line needs no newline.
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// Marshal encodes an entry as one export line (without the newline).
func Marshal(e Entry) ([]byte, error) { return json.Marshal(e) }
