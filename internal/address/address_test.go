package address

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pubOf is the compressed public key of a small private key.
func pubOf(k byte) []byte {
	var b [32]byte
	b[31] = k
	return secp256k1.PrivKeyFromBytes(b[:]).PubKey().SerializeCompressed()
}

func TestKnownAddresses(t *testing.T) {
	g := mustHex(t, "0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798")
	if !bytes.Equal(g, pubOf(1)) {
		t.Fatal("test setup: private key 1 does not give G")
	}
	for _, c := range []struct {
		name     string
		pub      []byte
		ethereum string
		bitcoin  map[string]string
	}{
		{
			// BIP173's example key (the generator G).
			name:     "private key 1",
			pub:      g,
			ethereum: "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf",
			bitcoin: map[string]string{
				"mainnet": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
				"testnet": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
			},
		},
		{name: "private key 2", pub: pubOf(2), ethereum: "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"},
		{name: "private key 3", pub: pubOf(3), ethereum: "0x6813Eb9362372EEF6200f3b1dbC3f819671cBA69"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Ethereum(c.pub)
			if err != nil || got != c.ethereum {
				t.Errorf("Ethereum = %q, %v; want %q", got, err, c.ethereum)
			}
			for net, want := range c.bitcoin {
				got, err := BitcoinP2WPKH(c.pub, net)
				if err != nil || got != want {
					t.Errorf("BitcoinP2WPKH(%s) = %q, %v; want %q", net, got, err, want)
				}
			}
		})
	}
}

// TestEIP55Vectors checks the checksum casing against the examples of the
// EIP-55 specification (all-caps, all-lower and mixed).
func TestEIP55Vectors(t *testing.T) {
	for _, want := range []string{
		"0x52908400098527886E0F7030069857D2E4169EE7",
		"0x8617E340B3D01FA5F11F306F4090FD50E238070D",
		"0xde709f2102306220921060314715629080e2fb77",
		"0x27b1fdb04752bbc536007a920d24acb045561c26",
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
		"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	} {
		if got := eip55(mustHex(t, strings.ToLower(want[2:]))); got != want {
			t.Errorf("eip55 = %s, want %s", got, want)
		}
	}
}

// TestBech32Vectors re-encodes BIP173's valid bech32 strings from their
// human-readable part and data values.
func TestBech32Vectors(t *testing.T) {
	for _, s := range []string{
		"A12UEL5L",
		"a12uel5l",
		"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
		"11" + strings.Repeat("q", 82) + "c8247j",
		"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
		"?1ezyfcl",
	} {
		lower := strings.ToLower(s)
		sep := strings.LastIndexByte(lower, '1')
		hrp, rest := lower[:sep], lower[sep+1:]
		var data []byte
		for _, c := range rest[:len(rest)-6] {
			data = append(data, byte(strings.IndexRune(bech32Charset, c)))
		}
		if got := bech32Encode(hrp, data); got != lower {
			t.Errorf("bech32Encode(%q, ...) = %q, want %q", hrp, got, lower)
		}
	}
}

// TestSegwitVectors checks BIP173's version-0 address examples.
func TestSegwitVectors(t *testing.T) {
	for _, c := range []struct{ addr, script string }{
		{"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
		{"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"},
		{"tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy", "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
	} {
		lower := strings.ToLower(c.addr)
		// The scriptPubKey is OP_0, a push of the program.
		program := mustHex(t, c.script)[2:]
		if got := segwitV0(lower[:2], program); got != lower {
			t.Errorf("segwitV0 = %q, want %q", got, lower)
		}
	}
	if got := hash160(pubOf(1)); !bytes.Equal(got, mustHex(t, "751e76e8199196d454941c45d1b3a323f1433bd6")) {
		t.Errorf("HASH160(G) = %x", got)
	}
}

func TestRefusesBadInput(t *testing.T) {
	g := pubOf(1)
	uncompressed, err := secp256k1.ParsePubKey(g)
	if err != nil {
		t.Fatal(err)
	}
	notOnCurve := append([]byte{0x02}, make([]byte, 32)...)
	notOnCurve[32] = 5 // x = 5: 5^3+7 is not a square mod p
	xTooBig := append([]byte{0x03}, bytes.Repeat([]byte{0xff}, 32)...)
	for _, c := range []struct {
		name string
		pub  []byte
	}{
		{"empty", nil},
		{"short", g[:32]},
		{"long", append(append([]byte(nil), g...), 0)},
		{"uncompressed", uncompressed.SerializeUncompressed()},
		{"prefix 0x04", append([]byte{0x04}, g[1:]...)},
		{"prefix 0x00", append([]byte{0x00}, g[1:]...)},
		{"not on curve", notOnCurve},
		{"x >= p", xTooBig},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, err := Ethereum(c.pub); !errors.Is(err, ErrInvalidPublicKey) || got != "" {
				t.Errorf("Ethereum = %q, %v; want ErrInvalidPublicKey", got, err)
			}
			if got, err := BitcoinP2WPKH(c.pub, "mainnet"); !errors.Is(err, ErrInvalidPublicKey) || got != "" {
				t.Errorf("BitcoinP2WPKH = %q, %v; want ErrInvalidPublicKey", got, err)
			}
		})
	}
	for _, net := range []string{"", "Mainnet", "bc", "regtest", "signet"} {
		if got, err := BitcoinP2WPKH(g, net); !errors.Is(err, ErrUnknownNetwork) || got != "" {
			t.Errorf("BitcoinP2WPKH(%q) = %q, %v; want ErrUnknownNetwork", net, got, err)
		}
	}
}
