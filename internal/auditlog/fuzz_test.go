package auditlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary bytes to Verify, the decoder of an audit export
// ('mpcctl audit verify FILE' reads files from anywhere). It must never
// panic; when it accepts the input, every entry must hash to its own hash
// and chain to the one before, and re-encoding the decoded entries must
// give back the input byte for byte (its canonical form) and verify to the
// same head (round trip). A chain sealed from the fuzzed
// bytes as entry fields must verify too.
func FuzzVerify(f *testing.F) {
	var seed bytes.Buffer
	var prev *Entry
	for i := range 3 {
		e := Seal(Entry{Time: time.Unix(int64(1000+i), 0).UTC(), Action: "sign", KeyID: "k1", Result: "ok", Devices: []string{"phone", "laptop"}}, prev)
		b, _ := Marshal(e)
		seed.Write(append(b, '\n'))
		prev = &e
	}
	f.Add(seed.Bytes())
	f.Add([]byte("{not json\n"))
	f.Add([]byte("{}\n\n{}\n"))
	f.Add([]byte(`{"seq":18446744073709551615,"prev":"","hash":""}` + "\n"))
	f.Add(bytes.Repeat([]byte("x"), 70000))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, head, err := Verify(bytes.NewReader(data))
		var broken *BrokenError
		if errors.As(err, &broken) && (broken.Line < 1 || broken.Line > n) {
			t.Fatalf("broken at entry %d of %d", broken.Line, n)
		}
		if err == nil {
			var again bytes.Buffer
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			count := 0
			var last *Entry
			for sc.Scan() {
				if len(sc.Bytes()) == 0 {
					continue
				}
				var e Entry
				if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
					t.Fatalf("accepted line %d does not decode: %v", count+1, err)
				}
				if Sum(e) != e.Hash || (last != nil && (e.Prev != last.Hash || e.Seq != last.Seq+1)) {
					t.Fatalf("accepted entry %d does not hold: %+v", count+1, e)
				}
				b, err := Marshal(e)
				if err != nil {
					t.Fatal(err)
				}
				again.Write(append(b, '\n'))
				count++
				last = &e
			}
			if count != n || (last == nil && head != "") || (last != nil && head != last.Hash) {
				t.Fatalf("Verify counted %d entries with head %q; the input has %d", n, head, count)
			}
			if in := append(bytes.TrimSuffix(data, []byte("\n")), '\n'); n > 0 && !bytes.Equal(in, again.Bytes()) {
				t.Fatalf("accepted input is not the entries' encoding:\n%q\n%q", data, again.Bytes())
			}
			n2, head2, err := Verify(&again)
			if err != nil || n2 != n || head2 != head {
				t.Fatalf("re-encoded entries: %d %q %v, want %d %q", n2, head2, err, n, head)
			}
		}

		// The fuzzed bytes as the fields of a sealed chain.
		s := string(data)
		a := Seal(Entry{Time: time.Unix(int64(len(data)), 0).UTC(), Action: s, Detail: s, Devices: []string{s}, Culprits: []string{s}, Result: "failed"}, nil)
		b := Seal(Entry{Action: "sign", KeyID: s, Result: "ok"}, &a)
		var chain bytes.Buffer
		for _, e := range []Entry{a, b} {
			line, err := Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			chain.Write(append(line, '\n'))
		}
		if chain.Len() > 1<<20 {
			return // longer than one line may be
		}
		if n, head, err := Verify(&chain); err != nil || n != 2 || head != b.Hash {
			t.Fatalf("a sealed chain of fuzzed fields: %d %q %v", n, head, err)
		}
	})
}
