package backup

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

var keyCheckDomain = []byte("mpcsign/v1/backup-key-check\x00")

// Seal encrypts plaintext (the share record) under a fresh random key and
// returns the backup file and the key as 24 words. Show the words once, then
// have the person re-enter a few (ChallengePositions, CheckChallenge) before
// the export counts as done. h.Version 0 means FormatVersion; CreatedAt is
// stored in UTC, truncated to the second. Seal opens the file it made before
// returning it. The caller should wipe plaintext and the Mnemonic when done.
func Seal(h Header, plaintext []byte) (file []byte, words Mnemonic, err error) {
	return seal(rand.Reader, h, plaintext)
}

// seal is Seal with the randomness (key, then nonce) read from r.
func seal(r io.Reader, h Header, plaintext []byte) ([]byte, Mnemonic, error) {
	if h.Version == 0 {
		h.Version = FormatVersion
	}
	if h.Version != FormatVersion {
		return nil, Mnemonic{}, fmt.Errorf("%w: cannot write version %d", ErrUnsupportedVersion, h.Version)
	}
	h.CreatedAt = h.CreatedAt.UTC().Truncate(time.Second)
	if err := h.validate(); err != nil {
		return nil, Mnemonic{}, fmt.Errorf("backup: cannot seal: %w", err)
	}
	if len(plaintext) == 0 || len(plaintext) > MaxPlaintextSize {
		return nil, Mnemonic{}, fmt.Errorf("backup: cannot seal %d bytes (want 1 to %d)", len(plaintext), MaxPlaintextSize)
	}
	key := new([KeySize]byte)
	defer clear(key[:])
	nonce := make([]byte, nonceSize)
	if _, err := io.ReadFull(r, key[:]); err != nil {
		return nil, Mnemonic{}, fmt.Errorf("backup: random key: %w", err)
	}
	if _, err := io.ReadFull(r, nonce); err != nil {
		return nil, Mnemonic{}, fmt.Errorf("backup: random nonce: %w", err)
	}
	hdr, err := encodeHeader(h, nonce, keyCheck(key[:]))
	if err != nil {
		return nil, Mnemonic{}, fmt.Errorf("backup: cannot seal: %w", err)
	}
	var out bytes.Buffer
	out.Grow(len(magicPrefix) + 8 + len(hdr) + base64.StdEncoding.EncodedLen(len(plaintext)+tagSize))
	fmt.Fprintf(&out, "%s%d\n", magicPrefix, FormatVersion)
	out.Write(hdr)
	ad := bytes.Clone(out.Bytes())
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, Mnemonic{}, err
	}
	ct := aead.Seal(nil, nonce, plaintext, ad)
	out.WriteByte('\n')
	out.WriteString(base64.StdEncoding.EncodeToString(ct))
	out.WriteByte('\n')

	m := mnemonicFromKey(key)
	// Check the file before the person writes the words down for it.
	_, pt, err := Open(out.Bytes(), m)
	if err != nil {
		m.Wipe()
		return nil, Mnemonic{}, fmt.Errorf("backup: the new backup does not open: %w", err)
	}
	same := bytes.Equal(pt, plaintext)
	clear(pt)
	if !same {
		m.Wipe()
		return nil, Mnemonic{}, errors.New("backup: the new backup does not open to the share")
	}
	return out.Bytes(), m, nil
}

// Open checks the words against the file and decrypts it. It returns the
// authenticated header and the plaintext (which the caller should wipe when
// done). Wrong words give a *WordsError (errors.Is ErrWrongWords) that names
// a single wrong word or two swapped words when that explains the mismatch;
// a changed or damaged file gives ErrTampered. It never panics.
func Open(b []byte, words Mnemonic) (Header, []byte, error) {
	f, err := parse(b)
	if err != nil {
		return Header{}, nil, err
	}
	if words.IsZero() {
		return Header{}, nil, &WordsError{Problem: WrongCount}
	}
	buf := words.pack()
	defer clear(buf[:])
	if !checksumOK(&buf) || !checkMatches(buf[:KeySize], f.keyCheck) {
		return Header{}, nil, locate(words, f.keyCheck)
	}
	aead, err := chacha20poly1305.NewX(buf[:KeySize])
	if err != nil {
		return Header{}, nil, err
	}
	pt, err := aead.Open(nil, f.nonce, f.ciphertext, f.ad)
	if err != nil {
		return Header{}, nil, fmt.Errorf("%w: the words are right but the content does not authenticate", ErrTampered)
	}
	return f.header, pt, nil
}

func keyCheck(key []byte) []byte {
	h := sha256.New()
	h.Write(keyCheckDomain)
	h.Write(key)
	return h.Sum(nil)[:checkSize]
}

func checkMatches(key, want []byte) bool {
	got := keyCheck(key)
	defer clear(got)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// locate explains why words do not open a file: it tries every single-word
// substitution and every swap of two words, and reports the one that gives a
// key with a valid checksum and the file's key check. With a 128-bit check,
// a match is the file's key (short of a SHA-256 collision), so the answer is
// exact; about 49,000 candidates cost a few tens of milliseconds.
func locate(words Mnemonic, check []byte) *WordsError {
	m := Mnemonic{ix: new([WordCount]uint16)}
	defer m.Wipe()
	*m.ix = *words.ix
	try := func() bool {
		buf := m.pack()
		defer clear(buf[:])
		return checksumOK(&buf) && checkMatches(buf[:KeySize], check)
	}
	for i := range WordCount {
		orig := m.ix[i]
		for w := range uint16(2048) {
			if w == orig {
				continue
			}
			m.ix[i] = w
			if try() {
				return &WordsError{Problem: WrongWord, Positions: []int{i + 1}}
			}
		}
		m.ix[i] = orig
	}
	for i := range WordCount {
		for j := i + 1; j < WordCount; j++ {
			if m.ix[i] == m.ix[j] {
				continue
			}
			m.ix[i], m.ix[j] = m.ix[j], m.ix[i]
			ok := try()
			m.ix[i], m.ix[j] = m.ix[j], m.ix[i]
			if ok {
				return &WordsError{Problem: SwappedWords, Positions: []int{i + 1, j + 1}}
			}
		}
	}
	return &WordsError{Problem: NotThisFile}
}
