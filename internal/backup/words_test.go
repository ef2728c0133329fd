package backup

import (
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tyler-smith/go-bip39"

	"github.com/mpcsign/mpcsign/internal/guard"
)

// Vectors from the BIP39 reference test vectors (Trezor), 256-bit entropy.
var bip39Vectors = []struct{ entropy, mnemonic string }{
	{"0000000000000000000000000000000000000000000000000000000000000000", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art"},
	{"7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f", "legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth title"},
	{"8080808080808080808080808080808080808080808080808080808080808080", "letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic bless"},
	{"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote"},
	{"3e141609b97933b66a060dcddc71fad1d91677db872031e85f4c015c5e7e8982", "dignity pass list indicate nasty swamp pool script soccer toe leaf photo multiply desk host tomato cradle drill spread actor shine dismiss champion exotic"},
	{"2c85efc7f24ee4573d2b81a6ec66cee209b2dcbd09d8eddc51e0215b0b68e416", "clutch control vehicle tonight unusual clog visa ice plunge glimpse recipe series open hour vintage deposit universe tip job dress radar refuse motion taste"},
	{"15da872c95a13dd738fbf50e427583ad61f18fd99f628c417a61cf8343c90419", "beyond stage sleep clip because twist token leaf atom beauty genius food business side grid unable middle armed observe pair crouch tonight away coconut"},
}

func TestBIP39Vectors(t *testing.T) {
	t.Parallel()
	for _, v := range bip39Vectors {
		ent, err := hex.DecodeString(v.entropy)
		if err != nil {
			t.Fatal(err)
		}
		m := mnemonicFromKey((*[KeySize]byte)(ent))
		if got := strings.Join(m.Words(), " "); got != v.mnemonic {
			t.Errorf("entropy %s: got %q", v.entropy, got)
		}
		parsed, err := ParseWords(v.mnemonic)
		if err != nil {
			t.Fatalf("%s: %v", v.mnemonic, err)
		}
		k, err := KeyFromWords(parsed)
		if err != nil || hex.EncodeToString(k.k[:]) != v.entropy {
			t.Errorf("%s: key %v", v.mnemonic, err)
		}
	}
}

// TestAgreesWithGoBIP39 checks the encoding against the pinned go-bip39
// (NewMnemonic and EntropyFromMnemonic) on random keys.
func TestAgreesWithGoBIP39(t *testing.T) {
	t.Parallel()
	r := rand.NewChaCha8([32]byte{9})
	for range 200 {
		var key [KeySize]byte
		_, _ = r.Read(key[:])
		want, err := bip39.NewMnemonic(key[:])
		if err != nil {
			t.Fatal(err)
		}
		m := mnemonicFromKey(&key)
		if got := strings.Join(m.Words(), " "); got != want {
			t.Fatalf("got %q, go-bip39 %q", got, want)
		}
		ent, err := bip39.EntropyFromMnemonic(want)
		if err != nil {
			t.Fatal(err)
		}
		k, err := KeyFromWords(m)
		if err != nil || hex.EncodeToString(k.k[:]) != hex.EncodeToString(ent) {
			t.Fatalf("KeyFromWords disagrees: %v", err)
		}
	}
}

func TestParseWords(t *testing.T) {
	t.Parallel()
	const canonical = "dignity pass list indicate nasty swamp pool script soccer toe leaf photo multiply desk host tomato cradle drill spread actor shine dismiss champion exotic"
	tests := []struct {
		name, in string
		want     WordsProblem // 0: parses to canonical
		pos      []int
	}{
		{"canonical", canonical, 0, nil},
		{"case and spaces", "\t DIGNITY  Pass\nlist\r\n" + strings.Join(strings.Fields(canonical)[3:], "   ") + "\n", 0, nil},
		{"commas", strings.ReplaceAll(canonical, " ", ", "), 0, nil},
		{"four-letter abbreviations", "dign pass list indi nast swam pool scri socc toe leaf phot mult desk host toma crad dril spre acto shin dism cham exot", 0, nil},
		{"longer abbreviations", "digni pass list indica nasty swamp pool script soccer toe leaf photo multip desk host tomato cradle drill spread actor shine dismiss champ exotic", 0, nil},
		{"23 words", strings.Join(strings.Fields(canonical)[1:], " "), WrongCount, nil},
		{"25 words", canonical + " exotic", WrongCount, nil},
		{"empty", "   ", WrongCount, nil},
		{"typo", strings.Replace(canonical, "swamp", "swmap", 1), UnknownWord, []int{6}},
		{"three-letter prefix", strings.Replace(canonical, "dignity", "dig", 1), UnknownWord, []int{1}},
		{"prefix of two words? no: too short", strings.Replace(canonical, "actor", "ac", 1), UnknownWord, []int{20}},
		{"two unknown", strings.Replace(strings.Replace(canonical, "pass", "pasz", 1), "exotic", "exotik", 1), UnknownWord, []int{2, 24}},
		{"non-ascii", strings.Replace(canonical, "toe", "tοe", 1), UnknownWord, []int{10}},
		{"huge", strings.Repeat("a ", maxWordsInput), WrongCount, nil},
		{"huge but 24 words", canonical + strings.Repeat(" ", maxWordsInput), WrongCount, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseWords(tt.in)
			if tt.want == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Join(m.Words(), " "); got != canonical {
					t.Fatalf("got %q", got)
				}
				return
			}
			wordsErr(t, err, tt.want, tt.pos...)
			if !m.IsZero() {
				t.Fatal("words returned with an error")
			}
		})
	}
}

func TestWordCountMessages(t *testing.T) {
	t.Parallel()
	_, err := ParseWords("abandon abandon")
	if err == nil || err.Error() != "backup: 2 words entered; the recovery words of a backup are 24 words" {
		t.Fatalf("%v", err)
	}
	_, err = ParseWords(strings.Repeat("abandon ", 24) + strings.Repeat(" ", maxWordsInput))
	if err == nil || !strings.Contains(err.Error(), "too much text") {
		t.Fatalf("%v", err)
	}
}

func TestWordList(t *testing.T) {
	t.Parallel()
	l := english()
	if l.words[0] != "abandon" || l.words[2047] != "zoo" || len(l.index) != 2048 {
		t.Fatal("unexpected word list")
	}
	// Abbreviations rely on every word being unique in its first 4 letters.
	if n := len(l.prefix); n != countLongWords(l) {
		t.Fatalf("%d distinct 4-letter prefixes", n)
	}
	if maxHolders < guard.MaxParties {
		t.Fatalf("maxHolders %d < guard.MaxParties %d", maxHolders, guard.MaxParties)
	}
}

func countLongWords(l *list) int {
	n := 0
	for _, w := range l.words {
		if len(w) >= 4 {
			n++
		}
	}
	return n
}

func TestMnemonicWipe(t *testing.T) {
	t.Parallel()
	m := parseWords(t, strings.Fields(bip39Vectors[4].mnemonic))
	cp := m
	k, err := KeyFromWords(m)
	if err != nil {
		t.Fatal(err)
	}
	k2 := k
	buf := k.k
	m.Wipe()
	k.Wipe()
	if !m.IsZero() || !k.IsZero() {
		t.Fatal("not emptied")
	}
	// Copies share the buffer, which is zeroed.
	if *cp.ix != [WordCount]uint16{} || *buf != [KeySize]byte{} || *k2.k != [KeySize]byte{} {
		t.Fatal("not wiped")
	}
}
