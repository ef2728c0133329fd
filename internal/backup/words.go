package backup

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"unicode"

	"github.com/tyler-smith/go-bip39/wordlists"
)

const (
	// WordCount is the number of recovery words: 256 bits of key and 8 bits
	// of checksum, 11 bits per word.
	WordCount = 24
	// KeySize is the size of the backup key in bytes.
	KeySize = 32

	redacted = "REDACTED"
	// maxWordsInput bounds the text ParseWords reads.
	maxWordsInput = 4 << 10
	// maxWordLen bounds one typed word (the longest BIP39 word has 8 letters).
	maxWordLen = 32
)

var errSecretMarshal = errors.New("backup: refusing to marshal a secret")

// list is a private copy of the BIP39 English word list (the dependency's
// list is a mutable package variable), with its reverse indexes. BIP39
// English words are unique in their first four letters.
type list struct {
	words  [2048]string
	index  map[string]uint16
	prefix map[string]uint16 // first four letters of words of four or more letters
}

var english = sync.OnceValue(func() *list {
	if len(wordlists.English) != 2048 {
		panic("backup: BIP39 English word list does not have 2048 words") // build-time invariant
	}
	l := &list{index: make(map[string]uint16, 2048), prefix: make(map[string]uint16, 2048)}
	for i, w := range wordlists.English {
		l.words[i] = w
		l.index[w] = uint16(i)
		if len(w) >= 4 {
			l.prefix[w[:4]] = uint16(i)
		}
	}
	return l
})

// lookup finds a normalised (lower-case) word, or a prefix of four or more
// letters of exactly one word.
func (l *list) lookup(w string) (uint16, bool) {
	if i, ok := l.index[w]; ok {
		return i, true
	}
	if len(w) < 4 || len(w) > maxWordLen {
		return 0, false
	}
	i, ok := l.prefix[w[:4]]
	if ok && strings.HasPrefix(l.words[i], w) {
		return i, true
	}
	return 0, false
}

// Mnemonic is the 24 recovery words of a backup. It prints as REDACTED under
// fmt (every verb) and log/slog. Copies share one buffer: Wipe on one clears
// them all.
type Mnemonic struct{ ix *[WordCount]uint16 }

// ParseWords reads recovery words typed or pasted as one string: words are
// separated by white space or commas, case does not matter, and a word may
// be shortened to its first four (or more) letters. It checks the count and
// that every word is in the BIP39 English list (the checksum is checked by
// KeyFromWords and Open). Errors are *WordsError.
func ParseWords(s string) (Mnemonic, error) {
	sep := func(r rune) bool { return r == ',' || unicode.IsSpace(r) }
	if len(s) > maxWordsInput {
		n := 0
		for range strings.FieldsFuncSeq(s, sep) {
			n++
		}
		if n == WordCount {
			n = -1 // the words may be right; the text around them is not
		}
		return Mnemonic{}, &WordsError{Problem: WrongCount, Count: n}
	}
	return ParseWordList(strings.FieldsFunc(s, sep))
}

// ParseWordList is ParseWords for words entered one by one.
func ParseWordList(words []string) (Mnemonic, error) {
	if len(words) != WordCount {
		return Mnemonic{}, &WordsError{Problem: WrongCount, Count: len(words)}
	}
	l := english()
	m := Mnemonic{ix: new([WordCount]uint16)}
	var unknown []int
	for i, w := range words {
		idx, ok := l.lookup(normalise(w))
		if !ok {
			unknown = append(unknown, i+1)
			continue
		}
		m.ix[i] = idx
	}
	if len(unknown) > 0 {
		m.Wipe()
		return Mnemonic{}, &WordsError{Problem: UnknownWord, Positions: unknown}
	}
	return m, nil
}

func normalise(w string) string {
	w = strings.TrimSpace(w)
	if len(w) > maxWordLen {
		return ""
	}
	return strings.ToLower(w)
}

// Words returns the words in order, to show them to the person once. It
// returns nil for a zero or wiped Mnemonic.
func (m Mnemonic) Words() []string {
	if m.ix == nil {
		return nil
	}
	l := english()
	out := make([]string, WordCount)
	for i, v := range m.ix {
		out[i] = l.words[v]
	}
	return out
}

// IsZero reports whether m holds no words (zero value or wiped).
func (m Mnemonic) IsZero() bool { return m.ix == nil }

// Equal reports whether m and o are the same words, in constant time.
func (m Mnemonic) Equal(o Mnemonic) bool {
	if m.ix == nil || o.ix == nil {
		return m.ix == nil && o.ix == nil
	}
	v := 0
	for i := range m.ix {
		v |= int(m.ix[i] ^ o.ix[i])
	}
	return subtle.ConstantTimeEq(int32(v), 0) == 1
}

// Wipe zeroes the words (shared by every copy of m) and empties m.
func (m *Mnemonic) Wipe() {
	if m.ix != nil {
		clear(m.ix[:])
	}
	m.ix = nil
}

func (Mnemonic) String() string               { return redacted }
func (Mnemonic) GoString() string             { return "backup.Mnemonic(" + redacted + ")" }
func (Mnemonic) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, redacted) }
func (Mnemonic) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Mnemonic) MarshalText() ([]byte, error) { return nil, errSecretMarshal }

// pack returns the 264 bits of the words: the key and its checksum byte.
func (m Mnemonic) pack() (out [KeySize + 1]byte) {
	var acc uint32
	var n uint
	j := 0
	for _, v := range m.ix {
		acc = acc<<11 | uint32(v&0x7ff)
		n += 11
		for n >= 8 {
			n -= 8
			out[j] = byte(acc >> n)
			j++
		}
	}
	return out
}

// mnemonicFromKey encodes a key with its BIP39 checksum.
func mnemonicFromKey(key *[KeySize]byte) Mnemonic {
	var buf [KeySize + 1]byte
	defer clear(buf[:])
	copy(buf[:], key[:])
	sum := sha256.Sum256(key[:])
	buf[KeySize] = sum[0]
	clear(sum[:])
	m := Mnemonic{ix: new([WordCount]uint16)}
	var acc uint32
	var n uint
	i := 0
	for _, b := range buf {
		acc = acc<<8 | uint32(b)
		n += 8
		if n >= 11 {
			n -= 11
			m.ix[i] = uint16(acc>>n) & 0x7ff
			i++
		}
	}
	return m
}

// checksumOK reports whether the last byte is the BIP39 checksum of the key.
func checksumOK(b *[KeySize + 1]byte) bool {
	sum := sha256.Sum256(b[:KeySize])
	ok := sum[0] == b[KeySize]
	clear(sum[:])
	return ok
}

// Key is a backup key. It prints as REDACTED under fmt and log/slog.
type Key struct{ k *[KeySize]byte }

// KeyFromWords checks the words' BIP39 checksum and returns the key they
// encode. A checksum failure is a *WordsError with Problem BadChecksum: the
// checksum cannot tell which word is wrong. Open does better, as the file
// lets it find a single wrong word or a swap.
func KeyFromWords(m Mnemonic) (Key, error) {
	if m.ix == nil {
		return Key{}, &WordsError{Problem: WrongCount}
	}
	buf := m.pack()
	defer clear(buf[:])
	if !checksumOK(&buf) {
		return Key{}, &WordsError{Problem: BadChecksum}
	}
	k := Key{k: new([KeySize]byte)}
	copy(k.k[:], buf[:KeySize])
	return k, nil
}

// IsZero reports whether k holds no key (zero value or wiped).
func (k Key) IsZero() bool { return k.k == nil }

// Equal reports whether k and o are the same key, in constant time.
func (k Key) Equal(o Key) bool {
	if k.k == nil || o.k == nil {
		return k.k == nil && o.k == nil
	}
	return subtle.ConstantTimeCompare(k.k[:], o.k[:]) == 1
}

// Wipe zeroes the key (shared by every copy of k) and empties k.
func (k *Key) Wipe() {
	if k.k != nil {
		clear(k.k[:])
	}
	k.k = nil
}

func (Key) String() string               { return redacted }
func (Key) GoString() string             { return "backup.Key(" + redacted + ")" }
func (Key) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, redacted) }
func (Key) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Key) MarshalText() ([]byte, error) { return nil, errSecretMarshal }
