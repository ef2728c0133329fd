package backup

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	h := testHeader()
	h.CreatedAt = time.Date(2026, 1, 2, 4, 4, 5, 999, time.FixedZone("CET", 3600)) // stored as UTC seconds
	file, m, err := Seal(h, testShare)
	if err != nil {
		t.Fatal(err)
	}
	words := m.Words()
	if len(words) != WordCount {
		t.Fatalf("%d words", len(words))
	}
	// The person types the words back, in upper case, one line.
	typed, err := ParseWords("  " + strings.ToUpper(strings.Join(words, "  ")) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	got, pt, err := Open(file, typed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pt, testShare) {
		t.Fatalf("plaintext %q", pt)
	}
	want := testHeader()
	want.Version = FormatVersion
	if !headerEqual(got, want) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("header %+v, want %+v", got, want)
	}
	rh, err := ReadHeader(file)
	if err != nil || !headerEqual(rh, want) {
		t.Fatalf("ReadHeader = %+v, %v", rh, err)
	}
	// The file names what it is in clear, and holds no plaintext.
	if !bytes.HasPrefix(file, []byte("mpcsign-share-backup v1\n{")) || !bytes.Contains(file, []byte(`"epoch":3`)) ||
		bytes.Contains(file, []byte("not a real share")) {
		t.Fatalf("file:\n%s", file)
	}
	// A second export of the same share gets another key.
	file2, m2, err := Seal(h, testShare)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Equal(m) || bytes.Equal(file, file2) {
		t.Fatal("two exports share a key or a file")
	}
}

func TestOpenAcceptsLineEndingVariants(t *testing.T) {
	t.Parallel()
	file, m := sealed(t, 1)
	for name, f := range map[string][]byte{
		"crlf":             bytes.ReplaceAll(file, []byte("\n"), []byte("\r\n")),
		"no final newline": bytes.TrimSuffix(file, []byte("\n")),
	} {
		_, pt, err := Open(f, m)
		if err != nil || !bytes.Equal(pt, testShare) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTampered(t *testing.T) {
	t.Parallel()
	file, m := sealed(t, 2)
	lines := strings.SplitN(string(file), "\n", 3)
	ct, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(lines[2], "\n"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(ct)
	flipped[len(flipped)/2] ^= 1
	withContent := func(b []byte) []byte {
		return []byte(lines[0] + "\n" + lines[1] + "\n" + base64.StdEncoding.EncodeToString(b) + "\n")
	}
	tests := []struct {
		name string
		file []byte
		// readOK: ReadHeader accepts it (the change is only caught by Open).
		readOK bool
		want   error
	}{
		{"ciphertext bit", withContent(flipped), true, ErrTampered},
		{"ciphertext truncated", withContent(ct[:len(ct)-1]), true, ErrTampered},
		{"tag only", withContent(ct[len(ct)-tagSize:]), false, ErrTampered},
		{"epoch", editHeader(t, file, func(s string) string { return strings.Replace(s, `"epoch":3`, `"epoch":4`, 1) }), true, ErrTampered},
		{"key id", editHeader(t, file, func(s string) string { return strings.Replace(s, "k0123456789abcdef0123", "k0123456789abcdef0124", 1) }), true, ErrTampered},
		{"device id", editHeader(t, file, func(s string) string { return strings.Replace(s, `"device_id":"dev-b"`, `"device_id":"dev-a"`, 1) }), true, ErrTampered},
		{"json spacing", editHeader(t, file, func(s string) string { return strings.Replace(s, `,"epoch"`, `, "epoch"`, 1) }), true, ErrTampered},
		{"nonce", editHeader(t, file, func(s string) string { return flipHex(s, `"nonce":"`) }), true, ErrTampered},
		{"public key", editHeader(t, file, func(s string) string { return flipHex(s, `"public_key":"02`) }), true, ErrTampered},
		{"short nonce", editHeader(t, file, func(s string) string { return strings.Replace(s, `"nonce":"`, `"nonce":"00`, 1) }), false, ErrTampered},
		{"unknown field", editHeader(t, file, func(s string) string { return strings.Replace(s, `{`, `{"x":1,`, 1) }), false, ErrTampered},
		{"cipher", editHeader(t, file, func(s string) string { return strings.Replace(s, cipherName, "aes256gcm", 1) }), false, ErrTampered},
		{"device not a holder", editHeader(t, file, func(s string) string { return strings.Replace(s, `"device_id":"dev-b"`, `"device_id":"dev-x"`, 1) }), false, ErrTampered},
		{"threshold", editHeader(t, file, func(s string) string { return strings.Replace(s, `"threshold":1`, `"threshold":3`, 1) }), false, ErrTampered},
		{"extra line", append(bytes.Clone(file), "more\n"...), false, ErrTampered},
		{"missing content", []byte(lines[0] + "\n" + lines[1] + "\n"), false, ErrTampered},
		{"content over two lines", []byte(lines[0] + "\n" + lines[1] + "\n" + lines[2][:40] + "\n" + lines[2][40:]), false, ErrTampered},
		{"carriage return inside content", []byte(lines[0] + "\n" + lines[1] + "\n" + lines[2][:40] + "\r" + lines[2][40:]), false, ErrTampered},
		{"bad version line", []byte("mpcsign-share-backup v01\n" + lines[1] + "\n" + lines[2]), false, ErrTampered},
		{"too large", append(bytes.Clone(file), bytes.Repeat([]byte("A"), MaxFileSize)...), false, ErrTampered},
		{"newer version", []byte("mpcsign-share-backup v2\n" + lines[1] + "\n" + lines[2]), false, ErrUnsupportedVersion},
		{"not a backup", []byte("-----BEGIN AGE ENCRYPTED FILE-----\n"), false, ErrNotBackup},
		{"empty", nil, false, ErrNotBackup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rerr := ReadHeader(tt.file)
			if tt.readOK != (rerr == nil) {
				t.Fatalf("ReadHeader: %v", rerr)
			}
			if rerr != nil && !errors.Is(rerr, tt.want) {
				t.Fatalf("ReadHeader: %v, want %v", rerr, tt.want)
			}
			h, pt, err := Open(tt.file, m)
			if !errors.Is(err, tt.want) || pt != nil || h.KeyID != "" {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
			if errors.Is(err, ErrWrongWords) {
				t.Fatalf("Open blames the words: %v", err)
			}
		})
	}
}

// flipHex changes the hex digit right after the first marker in s.
func flipHex(s, marker string) string {
	i := strings.Index(s, marker) + len(marker)
	c := byte('0')
	if s[i] == '0' {
		c = '1'
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestWrongWords(t *testing.T) {
	t.Parallel()
	file, m := sealed(t, 3)
	words := m.Words()
	l := english()
	with := func(edit func(w []string)) Mnemonic {
		w := append([]string(nil), words...)
		edit(w)
		return parseWords(t, w)
	}
	// substitute finds, for word i, a different word whose mnemonic passes
	// the checksum (pass) or fails it.
	substitute := func(i int, pass bool) Mnemonic {
		for _, cand := range l.words {
			if cand == words[i] {
				continue
			}
			c := with(func(w []string) { w[i] = cand })
			if _, err := KeyFromWords(c); (err == nil) == pass {
				return c
			}
		}
		t.Fatalf("no substitution for word %d with checksum pass=%v", i+1, pass)
		return Mnemonic{}
	}
	_, otherWords := sealed(t, 4)

	t.Run("one word, checksum fails", func(t *testing.T) {
		c := substitute(6, false)
		_, err := KeyFromWords(c)
		wordsErr(t, err, BadChecksum)
		_, pt, err := Open(file, c)
		wordsErr(t, err, WrongWord, 7)
		if pt != nil {
			t.Fatal("plaintext returned")
		}
	})
	t.Run("one word, checksum passes", func(t *testing.T) {
		// The 8-bit checksum lets 1 in 256 wrong words through; the file's
		// key check still catches it and finds the word.
		c := substitute(12, true)
		if _, err := KeyFromWords(c); err != nil {
			t.Fatal(err)
		}
		_, _, err := Open(file, c)
		wordsErr(t, err, WrongWord, 13)
	})
	t.Run("last word", func(t *testing.T) {
		_, _, err := Open(file, substitute(23, false))
		wordsErr(t, err, WrongWord, 24)
	})
	t.Run("adjacent swap", func(t *testing.T) {
		if words[7] == words[8] {
			t.Fatal("test key has equal words 8 and 9")
		}
		_, _, err := Open(file, with(func(w []string) { w[7], w[8] = w[8], w[7] }))
		wordsErr(t, err, SwappedWords, 8, 9)
	})
	t.Run("distant swap", func(t *testing.T) {
		_, _, err := Open(file, with(func(w []string) { w[2], w[19] = w[19], w[2] }))
		wordsErr(t, err, SwappedWords, 3, 20)
	})
	t.Run("two wrong words", func(t *testing.T) {
		_, _, err := Open(file, with(func(w []string) { w[0], w[1] = l.words[0], l.words[1] }))
		wordsErr(t, err, NotThisFile)
	})
	t.Run("reversed", func(t *testing.T) {
		_, _, err := Open(file, with(func(w []string) {
			for i, j := 0, len(w)-1; i < j; i, j = i+1, j-1 {
				w[i], w[j] = w[j], w[i]
			}
		}))
		wordsErr(t, err, NotThisFile)
	})
	t.Run("another backup's words", func(t *testing.T) {
		if _, err := KeyFromWords(otherWords); err != nil {
			t.Fatal(err)
		}
		_, _, err := Open(file, otherWords)
		wordsErr(t, err, NotThisFile)
	})
	t.Run("no words", func(t *testing.T) {
		_, _, err := Open(file, Mnemonic{})
		wordsErr(t, err, WrongCount)
	})
	t.Run("unknown word", func(t *testing.T) {
		w := append([]string(nil), words...)
		w[6] = "foo"
		_, err := ParseWords(strings.Join(w, " "))
		wordsErr(t, err, UnknownWord, 7)
		if !strings.Contains(err.Error(), "word 7 is not in the BIP39 English word list") || strings.Contains(err.Error(), "foo") {
			t.Fatalf("message %q", err)
		}
	})
}

func TestSealRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(h *Header)
		pt   []byte
		want error
	}{
		{"empty share", func(*Header) {}, nil, nil},
		{"huge share", func(*Header) {}, make([]byte, MaxPlaintextSize+1), nil},
		{"future version", func(h *Header) { h.Version = 2 }, testShare, ErrUnsupportedVersion},
		{"no key id", func(h *Header) { h.KeyID = "" }, testShare, nil},
		{"key id with space", func(h *Header) { h.KeyID = "k 1" }, testShare, nil},
		{"long pubkey", func(h *Header) { h.PublicKey = append(h.PublicKey, 0) }, testShare, nil},
		{"uncompressed prefix", func(h *Header) { h.PublicKey[0] = 4 }, testShare, nil},
		{"device not holder", func(h *Header) { h.DeviceID = "dev-x" }, testShare, nil},
		{"repeated holder", func(h *Header) { h.Holders[2] = "dev-a" }, testShare, nil},
		{"threshold 0", func(h *Header) { h.Threshold = 0 }, testShare, nil},
		{"threshold n", func(h *Header) { h.Threshold = 3 }, testShare, nil},
		{"no time", func(h *Header) { h.CreatedAt = time.Time{} }, testShare, nil},
		{"too many holders", func(h *Header) {
			for i := range maxHolders {
				h.Holders = append(h.Holders, "d"+strings.Repeat("x", i+1))
			}
		}, testShare, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := testHeader()
			tt.edit(&h)
			file, m, err := Seal(h, tt.pt)
			if err == nil || file != nil || !m.IsZero() {
				t.Fatal("sealed")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("%v, want %v", err, tt.want)
			}
		})
	}
}

func TestLargestShareFits(t *testing.T) {
	t.Parallel()
	h := testHeader()
	h.Holders = h.Holders[:0]
	for i := range maxHolders {
		h.Holders = append(h.Holders, strings.Repeat(string(rune('a'+i%26)), maxIDLen-3)+string(rune('a'+i/26))+"-x")
	}
	h.DeviceID = h.Holders[5]
	h.KeyID = strings.Repeat("k", maxIDLen)
	file, m, err := Seal(h, bytes.Repeat([]byte{0xff}, MaxPlaintextSize))
	if err != nil {
		t.Fatal(err)
	}
	if len(file) > MaxFileSize {
		t.Fatalf("file of %d bytes", len(file))
	}
	if _, _, err := Open(file, m); err != nil {
		t.Fatal(err)
	}
}
