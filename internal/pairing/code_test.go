package pairing

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func sample() Code {
	var c Code
	rand.Read(c.ID[:])
	rand.Read(c.Secret[:])
	rand.Read(c.Fingerprint[:])
	c.Address = "127.0.0.1:7400"
	return c
}

func TestRoundTrip(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:7400", "[::1]:443", "coordinator.example.com:7400"} {
		c := sample()
		c.Address = addr
		got, err := Parse(c.String())
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if got != c {
			t.Fatalf("round trip changed the code: %+v != %+v", got, c)
		}
		if got.FingerprintHex() == "" || len(got.FingerprintHex()) != 64 {
			t.Fatalf("fingerprint hex %q", got.FingerprintHex())
		}
	}
}

// A code made while the coordinator has a roster pins its genesis hash; a
// version 2 code without one is refused, so a genesis cannot be stripped by
// flipping the version byte alone.
func TestRosterGenesisRoundTrip(t *testing.T) {
	c := sample()
	rand.Read(c.Genesis[:])
	s := c.String()
	got, err := Parse(s)
	if err != nil || got != c || !got.HasGenesis() {
		t.Fatalf("Parse = %+v, %v; want %+v", got, err, c)
	}
	if sample().HasGenesis() {
		t.Fatal("a code without a genesis claims one")
	}
	zero := c
	zero.Genesis = [32]byte{}
	// Re-encode zero as version 2 with an all-zero genesis by hand.
	v2 := append([]byte{2}, zero.ID[:]...)
	v2 = append(v2, zero.Secret[:]...)
	v2 = append(v2, zero.Fingerprint[:]...)
	v2 = append(v2, make([]byte, 32)...)
	v2 = append(v2, zero.Address...)
	if _, err := Parse("mpc1-" + base64.RawURLEncoding.EncodeToString(v2)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a version 2 code with a zero genesis: %v, want ErrMalformed", err)
	}
}

func TestParseRejects(t *testing.T) {
	good := sample().String()
	cases := map[string]string{
		"empty":         "",
		"no prefix":     strings.TrimPrefix(good, "mpc1-"),
		"other prefix":  "mpc2-" + strings.TrimPrefix(good, "mpc1-"),
		"bad base64":    "mpc1-!!!!",
		"truncated":     good[:len(good)-30],
		"no address":    Code{}.String(),
		"space in addr": (Code{Address: "a b:1"}).String(),
		"slash in addr": (Code{Address: "http://x"}).String(),
		"too long":      "mpc1-" + strings.Repeat("A", 2000),
		"wrong version": "mpc1-" + "Aw" + strings.TrimPrefix(good, "mpc1-")[2:],
		"v2 too short":  "mpc1-" + "Ag" + strings.TrimPrefix(good, "mpc1-")[2:],
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = %v, want ErrMalformed", in, err)
			}
		})
	}
}

func TestSecretHashIsDomainSeparated(t *testing.T) {
	s := []byte("0123456789abcdef")
	h := SecretHash(s)
	if bytes.Equal(h, SecretHash([]byte("0123456789abcdeg"))) || len(h) != 32 {
		t.Fatal("secret hash does not depend on the secret")
	}
	if bytes.Contains(h, s) {
		t.Fatal("hash contains the secret")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample().String())
	withGenesis := sample()
	withGenesis.Genesis[0] = 1
	f.Add(withGenesis.String())
	f.Add("mpc1-")
	f.Add("mpc1-AQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(c.String())
		if err != nil || again != c {
			t.Fatalf("re-encoding a parsed code changed it: %v", err)
		}
	})
}

func TestSAS(t *testing.T) {
	secret, pub, enc := []byte("0123456789abcdef"), bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	a := SAS(secret, pub, enc)
	if len(a) != 7 || a[3] != '-' || a != SAS(secret, pub, enc) {
		t.Fatalf("SAS %q", a)
	}
	other := bytes.Repeat([]byte{3}, 32)
	if SAS(secret, other, enc) == a && SAS(secret, pub, other) == a {
		t.Fatal("SAS does not depend on the device keys")
	}
	seen := map[string]bool{}
	for i := 0; i < 64; i++ {
		seen[SAS(secret, bytes.Repeat([]byte{byte(i)}, 32), enc)] = true
	}
	if len(seen) < 60 {
		t.Fatalf("SAS values collide too often: %d distinct of 64", len(seen))
	}
}

// An operator-made code (version 3) round-trips with its flag; its MAC is
// bound to the keys it enrols and to the secret, and AuthKey is not the
// hash the coordinator keeps of a coordinator-made code.
func TestOperatorMadeCode(t *testing.T) {
	c := sample()
	rand.Read(c.Genesis[:])
	c.OperatorMade = true
	got, err := Parse(c.String())
	if err != nil || got != c || !got.OperatorMade {
		t.Fatalf("Parse = %+v, %v", got, err)
	}
	c.OperatorMade = false
	if got, _ := Parse(c.String()); got.OperatorMade {
		t.Fatal("a version 2 code reads as operator-made")
	}
	id, enc := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	k := AuthKey(c.Secret[:])
	mac := EnrollMAC(k, id, enc)
	if bytes.Equal(k, SecretHash(c.Secret[:])) {
		t.Fatal("AuthKey equals SecretHash")
	}
	for name, other := range map[string][]byte{
		"other identity key":   EnrollMAC(k, enc, enc),
		"other encryption key": EnrollMAC(k, id, id),
		"other secret":         EnrollMAC(AuthKey(append([]byte{c.Secret[0] ^ 1}, c.Secret[1:]...)), id, enc),
	} {
		if bytes.Equal(mac, other) {
			t.Errorf("%s gives the same MAC", name)
		}
	}
}
