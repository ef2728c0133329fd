package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tyler-smith/go-bip39"
	"golang.org/x/crypto/chacha20poly1305"
)

// katWords open testdata/v1.backup, a version-1 file that every later
// version of this package must still read.
const katWords = "hero cactus skirt other expire apart sunset invest vehicle room girl draw pool fossil borrow garbage story stable track company right trend start eyebrow"

func readKAT(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/v1.backup")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKnownAnswer(t *testing.T) {
	t.Parallel()
	file := readKAT(t)
	m, err := ParseWords(katWords)
	if err != nil {
		t.Fatal(err)
	}
	h, pt, err := Open(file, m)
	if err != nil {
		t.Fatal(err)
	}
	want := testHeader()
	want.Version = 1
	if !headerEqual(h, want) || !bytes.Equal(pt, testShare) {
		t.Fatalf("header %+v, plaintext %q", h, pt)
	}
	// The encoder still writes the same bytes from the same randomness.
	again, m2 := sealed(t, 0x42)
	if !bytes.Equal(again, file) || !m2.Equal(m) {
		t.Fatalf("Seal output changed:\n%s", again)
	}
}

// TestFormatAsDocumented opens the known-answer file with go-bip39 and
// x/crypto alone, following the package documentation.
func TestFormatAsDocumented(t *testing.T) {
	t.Parallel()
	lines := strings.Split(string(readKAT(t)), "\n")
	if len(lines) != 4 || lines[0] != "mpcsign-share-backup v1" || lines[3] != "" {
		t.Fatalf("%d lines", len(lines))
	}
	key, err := bip39.EntropyFromMnemonic(katWords)
	if err != nil || len(key) != 32 {
		t.Fatal(err)
	}
	h := readHeaderFields(t, lines[1])
	check := sha256.Sum256(append([]byte("mpcsign/v1/backup-key-check\x00"), key...))
	if h["key_check"] != hex.EncodeToString(check[:16]) || h["cipher"] != "xchacha20poly1305" {
		t.Fatalf("key_check %v", h["key_check"])
	}
	nonce, _ := hex.DecodeString(h["nonce"].(string))
	ct, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := aead.Open(nil, nonce, ct, []byte(lines[0]+"\n"+lines[1]))
	if err != nil || !bytes.Equal(pt, testShare) {
		t.Fatalf("open: %v", err)
	}
}

func readHeaderFields(t *testing.T, line string) map[string]any {
	t.Helper()
	var h map[string]any
	if err := json.Unmarshal([]byte(line), &h); err != nil {
		t.Fatal(err)
	}
	return h
}
