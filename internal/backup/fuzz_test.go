package backup

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func fuzzSeeds(f *testing.F) [][]byte {
	file, _ := sealed(f, 0x42)
	lines := strings.SplitN(string(file), "\n", 3)
	return [][]byte{
		file,
		bytes.ReplaceAll(file, []byte("\n"), []byte("\r\n")),
		[]byte("mpcsign-share-backup v2\n" + lines[1] + "\n" + lines[2]),
		[]byte(lines[0] + "\n" + lines[1] + "\n"),
		[]byte(lines[0] + "\n{}\nAAAA\n"),
		[]byte("mpcsign-share-backup v"),
		[]byte("hello"),
	}
}

// checkErr fails unless err is one of the file errors.
func checkErr(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrNotBackup) && !errors.Is(err, ErrTampered) && !errors.Is(err, ErrUnsupportedVersion) && !errors.Is(err, ErrWrongWords) {
		t.Fatalf("unexpected error %v", err)
	}
}

// FuzzReadHeader: ReadHeader never panics, returns only the file errors, and
// a header it accepts is valid and survives re-encoding.
func FuzzReadHeader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pf, err := parse(b)
		h, herr := ReadHeader(b)
		if (err == nil) != (herr == nil) {
			t.Fatalf("parse %v, ReadHeader %v", err, herr)
		}
		if err != nil {
			checkErr(t, err)
			if errors.Is(err, ErrWrongWords) {
				t.Fatal("ReadHeader blamed words")
			}
			return
		}
		if err := h.validate(); err != nil {
			t.Fatalf("accepted invalid header: %v", err)
		}
		if len(b) > MaxFileSize || len(pf.ciphertext) <= tagSize || len(pf.nonce) != nonceSize || len(pf.keyCheck) != checkSize {
			t.Fatal("accepted out-of-bounds file")
		}
		line, err := encodeHeader(h, pf.nonce, pf.keyCheck)
		if err != nil {
			t.Fatal(err)
		}
		var again file
		if err := again.decodeHeader(line); err != nil || !headerEqual(again.header, h) {
			t.Fatalf("re-encoded header: %v", err)
		}
	})
}

// FuzzOpen: Open with the right words never panics, and whatever variant of
// the file it accepts opens to exactly the original header and share.
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	_, m := sealed(f, 0x42)
	want := testHeader()
	want.Version = FormatVersion
	f.Fuzz(func(t *testing.T, b []byte) {
		h, pt, err := Open(b, m)
		if err != nil {
			checkErr(t, err)
			if pt != nil {
				t.Fatal("plaintext with an error")
			}
			return
		}
		if !headerEqual(h, want) || !bytes.Equal(pt, testShare) {
			t.Fatalf("opened to something else: %+v %q", h, pt)
		}
	})
}

// FuzzParseWords: ParseWords never panics, and words it accepts parse again
// to the same words.
func FuzzParseWords(f *testing.F) {
	f.Add(katWords)
	f.Add(strings.ToUpper(katWords))
	f.Add("hero, cact, skir")
	f.Add(strings.Repeat("zoo ", 23) + "vote")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseWords(s)
		if err != nil {
			var we *WordsError
			if !errors.As(err, &we) || !m.IsZero() || we.Error() == "" {
				t.Fatalf("error %v", err)
			}
			return
		}
		again, err := ParseWords(strings.Join(m.Words(), " "))
		if err != nil || !again.Equal(m) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
