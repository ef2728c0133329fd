package identity

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/tss"
)

func TestMarshalRoundTrip(t *testing.T) {
	id, err := New()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(id.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.PublicKey(), id.PublicKey()) || !bytes.Equal(back.EncryptionPublicKey(), id.EncryptionPublicKey()) {
		t.Fatal("round trip changed the keys")
	}
	msg := []byte("hello")
	if !Verify(id.PublicKey(), msg, back.Sign(msg)) {
		t.Fatal("restored key signs differently")
	}
	for _, bad := range [][]byte{nil, make([]byte, 63), make([]byte, 65)} {
		if _, err := Unmarshal(bad); err == nil {
			t.Fatalf("Unmarshal accepted %d bytes", len(bad))
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	id, _ := New()
	other, _ := New()
	msg := []byte("m")
	sig := id.Sign(msg)
	cases := map[string]bool{
		"good":          Verify(id.PublicKey(), msg, sig),
		"other key":     !Verify(other.PublicKey(), msg, sig),
		"other message": !Verify(id.PublicKey(), []byte("n"), sig),
		"short sig":     !Verify(id.PublicKey(), msg, sig[:10]),
		"short key":     !Verify(id.PublicKey()[:5], msg, sig),
	}
	for name, ok := range cases {
		if !ok {
			t.Errorf("%s: wrong verdict", name)
		}
	}
}

func TestRedacted(t *testing.T) {
	id, _ := New()
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "id", id)
	for _, s := range []string{fmt.Sprint(id), fmt.Sprintf("%v %s %+v", id, id, id), sb.String()} {
		if !strings.Contains(s, "REDACTED") || strings.Contains(s, fmt.Sprintf("%x", id.Marshal()[:8])) {
			t.Fatalf("identity printed as %q", s)
		}
	}
}

func TestPartyKeyAndIDs(t *testing.T) {
	q := tss.S256().Params().N
	a, _ := New()
	b, _ := New()
	ka, kb := PartyKey(a.PublicKey(), 0, q), PartyKey(b.PublicKey(), 0, q)
	if ka.Sign() <= 0 || ka.Cmp(q) >= 0 || ka.Cmp(kb) == 0 {
		t.Fatalf("party keys out of range or equal: %v %v", ka, kb)
	}
	if PartyKey(a.PublicKey(), 0, q).Cmp(ka) != 0 {
		t.Fatal("party key not deterministic")
	}
	// A device in both committees of a reshare needs distinct ids per epoch.
	if PartyKey(a.PublicKey(), 1, q).Cmp(ka) == 0 || PartyKey(a.PublicKey(), 1, q).Cmp(PartyKey(a.PublicKey(), 2, q)) == 0 {
		t.Fatal("party keys of two epochs are equal")
	}
	// A tiny modulus forces the zero case: the derivation must still give a non-zero key.
	for i := 0; i < 50; i++ {
		k := PartyKey([]byte{byte(i)}, uint64(i), big.NewInt(2))
		if k.Sign() == 0 {
			t.Fatal("party key is zero")
		}
	}
	if DeviceID(a.PublicKey()) == DeviceID(b.PublicKey()) || len(DeviceID(a.PublicKey())) != 32 {
		t.Fatal("device ids collide or have the wrong length")
	}
	if KeyID([]byte{1}) == KeyID([]byte{2}) || !strings.HasPrefix(KeyID([]byte{1}), "k") {
		t.Fatal("key ids")
	}
}

func TestTranscriptsAreUnambiguous(t *testing.T) {
	// Length prefixes keep ("ab","c") and ("a","bc") apart.
	if bytes.Equal(transcript("x", []byte("ab"), []byte("c")), transcript("x", []byte("a"), []byte("bc"))) {
		t.Fatal("transcript is ambiguous")
	}
	n := bytes.Repeat([]byte{7}, 32)
	if bytes.Equal(ConnectTranscript(n, "dev", "fp1"), ConnectTranscript(n, "dev", "fp2")) {
		t.Fatal("connect transcript ignores the pinned fingerprint")
	}
	if bytes.Equal(EnrollTranscript(n, n, n), ConnectTranscript(n, string(n), string(n))) {
		t.Fatal("enrol and connect transcripts collide")
	}
}
