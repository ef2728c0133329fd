package hd

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto/ckd"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// extKey is a decoded BIP32 serialized extended key (xpub or xprv).
type extKey struct {
	depth     byte
	childNum  uint32
	chainCode []byte
	key       []byte // 33 bytes: compressed public key, or 0x00 || private key
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// decodeXKey decodes a base58check extended key, independently of the
// package and of tss-lib.
func decodeXKey(t *testing.T, s string) extKey {
	t.Helper()
	n := new(big.Int)
	for _, c := range s {
		d := strings.IndexRune(base58Alphabet, c)
		if d < 0 {
			t.Fatalf("bad base58 character %q in %s", c, s)
		}
		n.Mul(n, big.NewInt(58)).Add(n, big.NewInt(int64(d)))
	}
	raw := n.Bytes() // xpub/xprv versions start with a non-zero byte
	if len(raw) != 82 {
		t.Fatalf("%s decodes to %d bytes, want 82", s, len(raw))
	}
	payload, check := raw[:78], raw[78:]
	h1 := sha256.Sum256(payload)
	h2 := sha256.Sum256(h1[:])
	if !bytes.Equal(h2[:4], check) {
		t.Fatalf("%s: bad checksum", s)
	}
	return extKey{
		depth:     payload[4],
		childNum:  binary.BigEndian.Uint32(payload[9:13]),
		chainCode: payload[13:45],
		key:       payload[45:78],
	}
}

// The public-derivation steps of the BIP32 test vectors: each derives
// child from parent's xpub by path and must give child's xpub.
var bip32Vectors = []struct {
	name          string
	parent, child string
	path          []uint32
}{
	{
		name:   "vector 1 m/0H -> m/0H/1",
		parent: "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
		child:  "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
		path:   []uint32{1},
	},
	{
		name:   "vector 1 m/0H/1/2H -> m/0H/1/2H/2",
		parent: "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
		child:  "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
		path:   []uint32{2},
	},
	{
		name:   "vector 1 m/0H/1/2H/2 -> m/0H/1/2H/2/1000000000",
		parent: "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
		child:  "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
		path:   []uint32{1000000000},
	},
	{
		name:   "vector 1 m/0H/1/2H -> m/0H/1/2H/2/1000000000 (two steps)",
		parent: "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
		child:  "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
		path:   []uint32{2, 1000000000},
	},
	{
		name:   "vector 2 m -> m/0",
		parent: "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
		child:  "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
		path:   []uint32{0},
	},
	{
		name:   "vector 2 m/0/2147483647H -> m/0/2147483647H/1",
		parent: "xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a",
		child:  "xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon",
		path:   []uint32{1},
	},
	{
		name:   "vector 2 m/0/2147483647H/1/2147483646H -> m/0/2147483647H/1/2147483646H/2",
		parent: "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
		child:  "xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt",
		path:   []uint32{2},
	},
}

func TestBIP32Vectors(t *testing.T) {
	for _, v := range bip32Vectors {
		t.Run(v.name, func(t *testing.T) {
			parent, child := decodeXKey(t, v.parent), decodeXKey(t, v.child)
			if int(child.depth) != int(parent.depth)+len(v.path) || child.childNum != v.path[len(v.path)-1] {
				t.Fatalf("vector inconsistent: depth %d->%d, child number %d, path %v", parent.depth, child.depth, child.childNum, v.path)
			}
			got, err := Derive(parent.key, parent.chainCode, v.path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.PublicKey, child.key) {
				t.Errorf("public key %x, want %x", got.PublicKey, child.key)
			}
			if !bytes.Equal(got.ChainCode, child.chainCode) {
				t.Errorf("chain code %x, want %x", got.ChainCode, child.chainCode)
			}
			checkDelta(t, parent.key, got)
		})
	}
}

// TestBIP32VectorDeltaIsPrivateKeyDifference checks Delta against the
// private keys of vector 1: child private key - parent private key.
func TestBIP32VectorDeltaIsPrivateKeyDifference(t *testing.T) {
	parentPub := decodeXKey(t, "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5")
	parentPriv := decodeXKey(t, "xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM")
	childPriv := decodeXKey(t, "xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76")
	if parentPriv.key[0] != 0 || childPriv.key[0] != 0 {
		t.Fatal("xprv key data does not start with 0x00")
	}
	got, err := Derive(parentPub.key, parentPub.chainCode, []uint32{2, 1000000000})
	if err != nil {
		t.Fatal(err)
	}
	n := secp256k1.Params().N
	want := new(big.Int).Sub(new(big.Int).SetBytes(childPriv.key[1:]), new(big.Int).SetBytes(parentPriv.key[1:]))
	want.Mod(want, n)
	if got.Delta.Cmp(want) != 0 {
		t.Fatalf("Delta %x, child - parent private key %x", got.Delta, want)
	}
}

// checkDelta checks Delta*G + root == child and 0 <= Delta < n.
func checkDelta(t *testing.T, root []byte, d Derived) {
	t.Helper()
	if d.Delta.Sign() < 0 || d.Delta.Cmp(secp256k1.Params().N) >= 0 {
		t.Fatalf("Delta %x out of [0, n)", d.Delta)
	}
	rootKey, err := secp256k1.ParsePubKey(root)
	if err != nil {
		t.Fatal(err)
	}
	var s secp256k1.ModNScalar
	s.SetByteSlice(d.Delta.Bytes())
	var dG, rootJ, sum secp256k1.JacobianPoint
	secp256k1.ScalarBaseMultNonConst(&s, &dG)
	rootKey.AsJacobian(&rootJ)
	secp256k1.AddNonConst(&dG, &rootJ, &sum)
	sum.ToAffine()
	if got := secp256k1.NewPublicKey(&sum.X, &sum.Y).SerializeCompressed(); !bytes.Equal(got, d.PublicKey) {
		t.Fatalf("Delta*G + root = %x, child = %x", got, d.PublicKey)
	}
}

// TestMatchesTSSLib derives random paths from random keys with the package
// and with tss-lib's ckd.DeriveChildKeyFromHierarchy (what tss-lib's own
// signing tests use): same Delta, same child key, same chain code.
func TestMatchesTSSLib(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for iter := 0; iter < 40; iter++ {
		priv, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		pub := priv.PubKey()
		code := make([]byte, 32)
		if _, err := rand.Read(code); err != nil {
			t.Fatal(err)
		}
		path := make([]uint32, rng.IntN(7))
		for i := range path {
			switch rng.IntN(3) {
			case 0:
				path[i] = uint32(rng.IntN(10))
			case 1:
				path[i] = HardenedStart - 1 - uint32(rng.IntN(10))
			default:
				path[i] = rng.Uint32N(HardenedStart)
			}
		}

		got, err := Derive(pub.SerializeCompressed(), code, path)
		if err != nil {
			t.Fatalf("%s: %v", FormatPath(path), err)
		}
		checkDelta(t, pub.SerializeCompressed(), got)

		// The child private key is root + Delta.
		var childPriv secp256k1.ModNScalar
		childPriv.SetByteSlice(got.Delta.Bytes())
		childPriv.Add(&priv.Key)
		if want := secp256k1.NewPrivateKey(&childPriv).PubKey().SerializeCompressed(); !bytes.Equal(want, got.PublicKey) {
			t.Fatalf("%s: (root private + Delta)*G = %x, child = %x", FormatPath(path), want, got.PublicKey)
		}

		ec := tss.S256()
		root := &ckd.ExtendedKey{
			PublicKey: ecdsa.PublicKey{Curve: ec, X: pub.X(), Y: pub.Y()},
			ChainCode: code,
			ParentFP:  []byte{0, 0, 0, 0},
			Version:   []byte{0x04, 0x88, 0xb2, 0x1e},
		}
		delta, child, err := ckd.DeriveChildKeyFromHierarchy(path, root, ec.Params().N, ec)
		if err != nil {
			t.Fatalf("%s: tss-lib: %v", FormatPath(path), err)
		}
		if delta.Cmp(got.Delta) != 0 {
			t.Fatalf("%s: Delta %x, tss-lib %x", FormatPath(path), got.Delta, delta)
		}
		var fx, fy secp256k1.FieldVal
		fx.SetByteSlice(child.X.Bytes())
		fy.SetByteSlice(child.Y.Bytes())
		if want := secp256k1.NewPublicKey(&fx, &fy).SerializeCompressed(); !bytes.Equal(want, got.PublicKey) {
			t.Fatalf("%s: child %x, tss-lib %x", FormatPath(path), got.PublicKey, want)
		}
		if !bytes.Equal(child.ChainCode, got.ChainCode) {
			t.Fatalf("%s: chain code %x, tss-lib %x", FormatPath(path), got.ChainCode, child.ChainCode)
		}
	}
}

func TestDeriveEmptyPathIsRoot(t *testing.T) {
	v := decodeXKey(t, bip32Vectors[4].parent)
	got, err := Derive(v.key, v.chainCode, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Delta.Sign() != 0 || !bytes.Equal(got.PublicKey, v.key) || !bytes.Equal(got.ChainCode, v.chainCode) {
		t.Fatalf("empty path gave Delta %x, key %x, chain code %x", got.Delta, got.PublicKey, got.ChainCode)
	}
	// The result does not alias the inputs.
	got.PublicKey[1] ^= 1
	got.ChainCode[0] ^= 1
	if w := decodeXKey(t, bip32Vectors[4].parent); !bytes.Equal(w.key, v.key) || !bytes.Equal(w.chainCode, v.chainCode) {
		t.Fatal("result aliases the input")
	}
}

func TestDeriveRefusesBadInput(t *testing.T) {
	v := decodeXKey(t, bip32Vectors[4].parent)
	uncompressed := func() []byte {
		k, err := secp256k1.ParsePubKey(v.key)
		if err != nil {
			t.Fatal(err)
		}
		return k.SerializeUncompressed()
	}()
	notOnCurve := append([]byte{0x02}, bytes.Repeat([]byte{0}, 31)...)
	notOnCurve = append(notOnCurve, 5) // x = 5: 125+7 = 132 is not a square mod p
	xTooBig := append([]byte{0x02}, bytes.Repeat([]byte{0xff}, 32)...)
	long := make([]uint32, MaxDepth+1)

	for _, c := range []struct {
		name      string
		pub, code []byte
		path      []uint32
		want      error
	}{
		{"empty key", nil, v.chainCode, nil, ErrInvalidKey},
		{"uncompressed key", uncompressed, v.chainCode, nil, ErrInvalidKey},
		{"bad prefix", append([]byte{0x04}, v.key[1:]...), v.chainCode, nil, ErrInvalidKey},
		{"x not on curve", notOnCurve, v.chainCode, nil, ErrInvalidKey},
		{"x >= p", xTooBig, v.chainCode, nil, ErrInvalidKey},
		{"short chain code", v.key, v.chainCode[:31], nil, ErrInvalidKey},
		{"long chain code", v.key, append(append([]byte(nil), v.chainCode...), 0), nil, ErrInvalidKey},
		{"hardened step", v.key, v.chainCode, []uint32{0, HardenedStart}, ErrHardened},
		{"max uint32 step", v.key, v.chainCode, []uint32{^uint32(0)}, ErrHardened},
		{"too deep", v.key, v.chainCode, long, ErrInvalidPath},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Derive(c.pub, c.code, c.path)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if got.Delta != nil || got.PublicKey != nil || got.ChainCode != nil {
				t.Fatalf("non-zero result with error: %+v", got)
			}
		})
	}

	// MaxDepth steps are allowed.
	if _, err := Derive(v.key, v.chainCode, long[:MaxDepth]); err != nil {
		t.Fatalf("%d steps: %v", MaxDepth, err)
	}
}

func TestChainCodeFromSession(t *testing.T) {
	// Known answer, computed independently:
	// printf 'mpcsign/v1/bip32-chain-code\x00\x01\x02' | sha256sum
	want, _ := hex.DecodeString("b8e57da2ddcdc414c9f808374bf6569e1e0f9c40cbe4360020225b7502e38af9")
	if got := ChainCodeFromSession([]byte{0, 1, 2}); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	if bytes.Equal(ChainCodeFromSession([]byte{1}), ChainCodeFromSession([]byte{2})) {
		t.Fatal("different sessions give the same chain code")
	}
	if got := ChainCodeFromSession(nil); len(got) != ChainCodeLen {
		t.Fatalf("length %d", len(got))
	}
}
