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
	// An export that starts mid-log (--since) verifies from its first entry.
	if n, _, err := Verify(export(t, good[3:])); err != nil || n != 3 {
		t.Fatalf("partial export: %d %v", n, err)
	}

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
		"deleted entry": {func(es []Entry) []Entry { return append(es[:2], es[3:]...) }, 3},
		"reordered":     {func(es []Entry) []Entry { es[3], es[4] = es[4], es[3]; return es }, 4},
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
