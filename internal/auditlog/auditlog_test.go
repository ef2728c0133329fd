package auditlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func chain(n int) []Entry {
	var out []Entry
	var prev *Entry
	for i := 0; i < n; i++ {
		e := Seal(Entry{Time: time.Unix(int64(1000+i), 0).UTC(), Action: "sign", KeyID: "k1", Result: "ok", Devices: []string{"phone", "laptop"}}, prev)
		out = append(out, e)
		prev = &out[len(out)-1]
	}
	return out
}

func export(t *testing.T, es []Entry) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	for _, e := range es {
		line, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	return &b
}

func TestVerify(t *testing.T) {
	good := chain(6)
	n, head, err := Verify(export(t, good))
	if err != nil || n != 6 || head != good[5].Hash {
		t.Fatalf("intact chain: n=%d head=%s err=%v", n, head, err)
	}
	// An export that starts mid-log (--since) verifies only from where it
	// is said to start: see TestVerifyStart.

	cases := map[string]struct {
		mutate   func([]Entry) []Entry
		wantLine int
	}{
		"edited entry": {func(es []Entry) []Entry { es[2].Result = "failed"; return es }, 3},
		"edited and rehashed": {func(es []Entry) []Entry {
			es[2].Devices = []string{"mallory"}
			es[2].Hash = Sum(es[2])
			return es
		}, 4},
		"deleted entry":       {func(es []Entry) []Entry { return append(es[:2], es[3:]...) }, 3},
		"reordered":           {func(es []Entry) []Entry { es[3], es[4] = es[4], es[3]; return es }, 4},
		"first entry deleted": {func(es []Entry) []Entry { return es[1:] }, 1},
		"first three deleted": {func(es []Entry) []Entry { return es[3:] }, 1},
		"first entry forged": {func(es []Entry) []Entry {
			es[0].Prev = strings.Repeat("1", 64)
			es[0].Hash = Sum(es[0])
			return es
		}, 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			es := tc.mutate(append([]Entry(nil), chain(6)...))
			_, _, err := Verify(export(t, es))
			var b *BrokenError
			if !errors.As(err, &b) || b.Line != tc.wantLine {
				t.Fatalf("want the chain broken at entry %d, got %v", tc.wantLine, err)
			}
		})
	}
	if _, _, err := Verify(strings.NewReader("{not json\n")); err == nil {
		t.Fatal("garbage verified")
	}
}

// lines is an export as its lines, without newlines.
func lines(t *testing.T, es []Entry) []string {
	t.Helper()
	return strings.Split(strings.TrimSuffix(export(t, es).String(), "\n"), "\n")
}

// reordered is line with its keys in alphabetical order.
func reordered(t *testing.T, line string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func joined(ls []string) *strings.Reader { return strings.NewReader(strings.Join(ls, "\n") + "\n") }

// TestVerifyCanonical: every line must be exactly the log's encoding of the
// entry it decodes to. Go takes the last of keys that differ in case only,
// so a line can show one action to a reader (or jq) and hash as another.
func TestVerifyCanonical(t *testing.T) {
	good := chain(5)
	revoke := Seal(Entry{Time: time.Unix(2000, 0).UTC(), Action: "device.revoke", Devices: []string{"phone"}, Result: "ok", Detail: "\ufffd"}, &good[4])
	es := append(append([]Entry(nil), good...), revoke, Seal(Entry{Time: time.Unix(2001, 0).UTC(), Action: "sign", Result: "ok"}, &revoke))
	ls := lines(t, es)
	if res, err := VerifyFrom(joined(ls), Options{}); err != nil || res.Entries != 7 {
		t.Fatalf("the export as written: %+v %v", res, err)
	}
	if _, _, err := Verify(strings.NewReader(strings.Join(ls, "\n"))); err != nil {
		t.Fatalf("without the last newline: %v", err)
	}
	const at = 5 // revoke's line, 0-based
	cases := map[string]string{
		"case-variant duplicate key": strings.TrimSuffix(strings.Replace(ls[at], `"action":"device.revoke"`, `"action":"forged"`, 1), "}") + `,"Action":"device.revoke"}`,
		"duplicate key":              strings.TrimSuffix(ls[at], "}") + `,"result":"ok"}`,
		"unknown key":                strings.TrimSuffix(ls[at], "}") + `,"note":"approved by the board"}`,
		"invalid UTF-8 for U+FFFD":   strings.Replace(ls[at], "\ufffd", "\xff", 1),
		"escaped letter":             strings.Replace(ls[at], `"device.revoke"`, `"device.\u0072evoke"`, 1),
		"spacing":                    strings.Replace(ls[at], `,"result"`, `, "result"`, 1),
		"keys reordered":             reordered(t, ls[at]),
		"carriage return":            ls[at] + "\r",
		"empty line":                 "",
	}
	for name, line := range cases {
		t.Run(name, func(t *testing.T) {
			bad := append([]string(nil), ls...)
			bad[at] = line
			if name == "empty line" {
				bad = append(bad[:at], append([]string{""}, ls[at:]...)...)
			}
			_, _, err := Verify(joined(bad))
			var b *BrokenError
			if !errors.As(err, &b) || b.Line != at+1 {
				t.Fatalf("want line %d refused, got %v", at+1, err)
			}
			if name != "empty line" && !strings.Contains(err.Error(), "not in the log's canonical form") {
				t.Fatalf("want the line named as not canonical: %v", err)
			}
		})
	}
	// The forged line: what Go reads is the sealed entry, what a reader
	// reads is another action.
	forged := cases["case-variant duplicate key"]
	var e Entry
	if err := json.Unmarshal([]byte(forged), &e); err != nil || e.Action != "device.revoke" || Sum(e) != e.Hash || !strings.Contains(forged, `"action":"forged"`) {
		t.Fatalf("the forged line does not forge: %v %+v\n%s", err, e, forged)
	}
	_, _, err := Verify(joined(append(append(append([]string(nil), ls[:at]...), forged), ls[at+1:]...)))
	if err == nil || !strings.Contains(err.Error(), "entry 6 (line 6, seq 6): not in the log's canonical form: from byte") || !strings.Contains(err.Error(), `reads "forged`) {
		t.Fatalf("forged line: %v", err)
	}
}

// TestVerifyStart: an export must start at entry 1 (the genesis), unless
// it is said where it starts and what hash the entry before it has.
func TestVerifyStart(t *testing.T) {
	good := chain(6)
	if res, err := VerifyFrom(export(t, good), Options{}); err != nil || res != (Result{Entries: 6, First: 1, Last: 6, Head: good[5].Hash}) {
		t.Fatalf("whole log: %+v %v", res, err)
	}
	var b *BrokenError
	if _, _, err := Verify(export(t, good[3:])); !errors.As(err, &b) || b.Line != 1 || b.Seq != 4 || !strings.Contains(b.Reason, "starts at seq 4, not at the log's first entry") {
		t.Fatalf("an export missing entries 1-3 verified: %v", err)
	}
	partial := Options{Since: 4, Prev: good[2].Hash}
	if res, err := VerifyFrom(export(t, good[3:]), partial); err != nil || res != (Result{Entries: 3, First: 4, Last: 6, Head: good[5].Hash}) {
		t.Fatalf("partial export from seq 4: %+v %v", res, err)
	}
	if _, err := VerifyFrom(export(t, good), Options{Since: 1, Prev: Genesis}); err != nil {
		t.Fatalf("since 1 with the genesis: %v", err)
	}
	for name, tc := range map[string]struct {
		o    Options
		from int
		want string
	}{
		"entry 4 deleted too":  {partial, 4, "starts at seq 5, not at seq 4 as given"},
		"another prev":         {Options{Since: 4, Prev: good[1].Hash}, 3, "does not chain to the hash given for entry 3"},
		"no prev":              {Options{Since: 4}, 3, "needs the hash of entry 3"},
		"prev not a hash":      {Options{Since: 4, Prev: "abc"}, 3, "needs the hash of entry 3"},
		"since 1, not genesis": {Options{Since: 1, Prev: good[0].Hash}, 0, "the entry before seq 1 is the genesis"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := VerifyFrom(export(t, good[tc.from:]), tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

// TestVerifyExpectHead: a head kept from an earlier verification catches
// an export cut short before it, and a log rewritten (and resealed from the
// genesis) up to it.
func TestVerifyExpectHead(t *testing.T) {
	good := chain(6)
	for _, i := range []int{0, 3, 5} {
		h := Head{Seq: good[i].Seq, Hash: good[i].Hash}
		if _, err := VerifyFrom(export(t, good), Options{Expect: &h}); err != nil {
			t.Fatalf("expected head %s: %v", h, err)
		}
	}
	kept := Head{Seq: 4, Hash: good[3].Hash}
	// Cut off the end.
	var he *HeadError
	if _, err := VerifyFrom(export(t, good[:3]), Options{Expect: &kept}); !errors.As(err, &he) || he.Last != 3 || !strings.Contains(err.Error(), "ends at seq 3") {
		t.Fatalf("export cut to 3 entries: %v", err)
	}
	if _, err := VerifyFrom(export(t, nil), Options{Expect: &kept}); !errors.As(err, &he) || !strings.Contains(err.Error(), "holds no entries") {
		t.Fatalf("empty export: %v", err)
	}
	// Rewritten: entry 2 edited and every entry resealed from the genesis.
	rewritten := make([]Entry, 0, 6)
	for i, e := range good {
		if i == 1 {
			e.Result = "failed"
		}
		var prev *Entry
		if i > 0 {
			prev = &rewritten[i-1]
		}
		rewritten = append(rewritten, Seal(e, prev))
	}
	if _, _, err := Verify(export(t, rewritten)); err != nil {
		t.Fatalf("a resealed log verifies on its own: %v", err)
	}
	var b *BrokenError
	if _, err := VerifyFrom(export(t, rewritten), Options{Expect: &kept}); !errors.As(err, &b) || b.Line != 4 || !strings.Contains(b.Reason, "not the expected head's") {
		t.Fatalf("a resealed log with a kept head: %v", err)
	}
	// A partial export: the kept head may be the entry before it.
	if _, err := VerifyFrom(export(t, good[4:]), Options{Since: 5, Prev: good[3].Hash, Expect: &kept}); err != nil {
		t.Fatalf("export after the kept head: %v", err)
	}
	if _, err := VerifyFrom(export(t, good[4:]), Options{Since: 5, Prev: good[2].Hash, Expect: &kept}); !errors.As(err, &he) {
		t.Fatalf("export after the kept head, from another hash: %v", err)
	}
	if _, err := VerifyFrom(export(t, good[5:]), Options{Since: 6, Prev: good[4].Hash, Expect: &kept}); !errors.As(err, &he) || !strings.Contains(err.Error(), "starts at seq 6, after it") {
		t.Fatalf("export from after the kept head: %v", err)
	}
	for _, s := range []string{"", "4", "0:" + good[0].Hash, "x:" + good[0].Hash, "4:" + strings.ToUpper(good[3].Hash), "4:abc"} {
		if _, err := ParseHead(s); err == nil {
			t.Errorf("ParseHead(%q) took it", s)
		}
	}
	if h, err := ParseHead(kept.String()); err != nil || h != kept {
		t.Fatalf("ParseHead(%s): %v %v", kept, h, err)
	}
}
