package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/ripemd160" // deprecated for new designs; Bitcoin's HASH160 is fixed
	"golang.org/x/crypto/sha3"
)

// mustHex decodes a hex field of n bytes (any length when n is 0).
func mustHex(t testing.TB, field, s string, n int) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("%s %q is not hex: %v", field, s, err)
	}
	if n > 0 && len(b) != n {
		t.Fatalf("%s is %d bytes, want %d", field, len(b), n)
	}
	return b
}

// verifySignature checks a signature with decred's secp256k1 only, never
// with the service's own code: DER parses and verifies, r and s match the
// DER, s is low, r||s||v is consistent and v recovers the public key.
func verifySignature(t testing.TB, pubHex string, digest []byte, sig signResult) {
	t.Helper()
	pubBytes := mustHex(t, "public key", pubHex, 33)
	pub, err := secp256k1.ParsePubKey(pubBytes)
	if err != nil {
		t.Fatalf("public key does not parse: %v", err)
	}
	if sig.PublicKey != pubHex {
		t.Errorf("signature carries public key %s, want %s", sig.PublicKey, pubHex)
	}
	r := mustHex(t, "r", sig.R, 32)
	s := mustHex(t, "s", sig.S, 32)
	rsv := mustHex(t, "signature_rsv", sig.RSV, 65)

	der, err := ecdsa.ParseDERSignature(mustHex(t, "signature_der", sig.DER, 0))
	if err != nil {
		t.Fatalf("DER signature does not parse: %v", err)
	}
	if !der.Verify(digest, pub) {
		t.Errorf("DER signature does not verify against the public key")
	}
	other := sha256.Sum256(digest)
	if der.Verify(other[:], pub) {
		t.Errorf("DER signature also verifies a different digest")
	}
	derR, derS := der.R(), der.S()
	if rb := derR.Bytes(); !bytes.Equal(rb[:], r) {
		t.Errorf("r %x differs from the DER's r %x", r, rb)
	}
	if sb := derS.Bytes(); !bytes.Equal(sb[:], s) {
		t.Errorf("s %x differs from the DER's s %x", s, sb)
	}

	n := secp256k1.S256().N
	half := new(big.Int).Rsh(n, 1)
	rInt, sInt := new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)
	if rInt.Sign() == 0 || rInt.Cmp(n) >= 0 {
		t.Errorf("r out of range: %x", r)
	}
	if sInt.Sign() == 0 || sInt.Cmp(half) > 0 {
		t.Errorf("s is not low-S (0 < s <= N/2): %x", s)
	}

	if !bytes.Equal(rsv[:32], r) || !bytes.Equal(rsv[32:64], s) || uint32(rsv[64]) != sig.V {
		t.Errorf("r||s||v %x does not match r %x, s %x, v %d", rsv, r, s, sig.V)
	}
	if sig.V > 1 {
		t.Fatalf("recovery id v = %d, want 0 or 1", sig.V)
	}
	compact := append([]byte{27 + 4 + byte(sig.V)}, append(r, s...)...)
	rec, compressed, err := ecdsa.RecoverCompact(compact, digest)
	if err != nil {
		t.Fatalf("RecoverCompact: %v", err)
	}
	if !compressed || !rec.IsEqual(pub) {
		t.Errorf("v = %d recovers %x, want %x", sig.V, rec.SerializeCompressed(), pubBytes)
	}
}

// bip32Child derives a public child key (non-hardened steps) with a BIP32
// implementation of its own, independent of the service's internal/hd.
func bip32Child(t testing.TB, pub, chainCode []byte, path ...uint32) []byte {
	t.Helper()
	for _, i := range path {
		mac := hmac.New(sha512.New, chainCode)
		mac.Write(pub)
		mac.Write(binary.BigEndian.AppendUint32(nil, i))
		sum := mac.Sum(nil)
		var il secp256k1.ModNScalar
		if overflow := il.SetByteSlice(sum[:32]); overflow {
			t.Fatalf("BIP32 step %d: IL out of range", i)
		}
		parent, err := secp256k1.ParsePubKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		var p, tweak, child secp256k1.JacobianPoint
		parent.AsJacobian(&p)
		secp256k1.ScalarBaseMultNonConst(&il, &tweak)
		secp256k1.AddNonConst(&p, &tweak, &child)
		child.ToAffine()
		pub = secp256k1.NewPublicKey(&child.X, &child.Y).SerializeCompressed()
		chainCode = sum[32:]
	}
	return pub
}

// ethereumAddress computes the EIP-55 address of a compressed secp256k1
// public key here, independently of the service's internal/address: the
// last 20 bytes of Keccak-256 of X || Y, each hex letter upper case when
// the matching nibble of Keccak-256 of the lower-case hex is 8 or more.
func ethereumAddress(t testing.TB, pub33 []byte) string {
	t.Helper()
	pub, err := secp256k1.ParsePubKey(pub33)
	if err != nil {
		t.Fatalf("public key does not parse: %v", err)
	}
	h := sha3.NewLegacyKeccak256()
	h.Write(pub.SerializeUncompressed()[1:])
	lower := hex.EncodeToString(h.Sum(nil)[12:])
	h = sha3.NewLegacyKeccak256()
	h.Write([]byte(lower))
	sum := h.Sum(nil)
	out := []byte(lower)
	for i, c := range out {
		if nibble := sum[i/2] >> (4 * (1 - i%2)) & 0xf; c >= 'a' && nibble >= 8 {
			out[i] = c - 'a' + 'A'
		}
	}
	return "0x" + string(out)
}

// hash160 is RIPEMD160(SHA256(b)), a P2WPKH witness program.
func hash160(b []byte) []byte {
	s := sha256.Sum256(b)
	r := ripemd160.New()
	r.Write(s[:])
	return r.Sum(nil)
}

// decodeSegwit decodes a bech32 (BIP173) segwit address here, independently
// of the service's internal/address, and returns its human-readable part,
// witness version and witness program.
func decodeSegwit(t testing.TB, addr string) (hrp string, version byte, program []byte) {
	t.Helper()
	const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	if strings.ToLower(addr) != addr && strings.ToUpper(addr) != addr {
		t.Fatalf("%s mixes cases", addr)
	}
	addr = strings.ToLower(addr)
	sep := strings.LastIndexByte(addr, '1')
	if sep < 1 || len(addr)-sep-1 < 7 {
		t.Fatalf("%s is not bech32", addr)
	}
	hrp = addr[:sep]
	var values []byte // the checksum covers the expanded hrp and the data
	for _, c := range []byte(hrp) {
		values = append(values, c>>5)
	}
	values = append(values, 0)
	for _, c := range []byte(hrp) {
		values = append(values, c&31)
	}
	var data []byte
	for _, c := range []byte(addr[sep+1:]) {
		v := strings.IndexByte(charset, c)
		if v < 0 {
			t.Fatalf("%s: %q is not a bech32 character", addr, c)
		}
		data = append(data, byte(v))
	}
	chk := uint32(1)
	for _, v := range append(values, data...) {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i, g := range []uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3} {
			if top>>i&1 == 1 {
				chk ^= g
			}
		}
	}
	if chk != 1 { // bech32, as witness version 0 uses
		t.Fatalf("%s: bad bech32 checksum", addr)
	}
	data = data[:len(data)-6]
	version = data[0]
	acc, bits := 0, 0
	for _, v := range data[1:] { // 5-bit groups to bytes, no padding kept
		acc, bits = acc<<5|int(v), bits+5
		if bits >= 8 {
			bits -= 8
			program = append(program, byte(acc>>bits))
		}
	}
	if bits >= 5 || acc&(1<<bits-1) != 0 {
		t.Fatalf("%s: bad padding", addr)
	}
	return hrp, version, program
}

// checkAddresses requires a secp256k1 key's addresses to be the ones
// computed here from its public key: Ethereum (EIP-55) and Bitcoin mainnet
// P2WPKH (witness version 0, program HASH160 of the compressed key).
func checkAddresses(t testing.TB, what string, pub33 []byte, addrs map[string]string) {
	t.Helper()
	if want := ethereumAddress(t, pub33); addrs["ethereum"] != want {
		t.Errorf("%s: ethereum address %q, want %q", what, addrs["ethereum"], want)
	}
	hrp, version, program := decodeSegwit(t, addrs["bitcoin_p2wpkh"])
	if want := hash160(pub33); hrp != "bc" || version != 0 || !bytes.Equal(program, want) {
		t.Errorf("%s: bitcoin address %q has hrp %q, version %d, program %x; want bc, 0, %x", what, addrs["bitcoin_p2wpkh"], hrp, version, program, want)
	}
}

// TestAddressHelpers checks the independent address code above against
// published vectors: the key of private key 1 (the generator) has Ethereum
// address 0x7E5F...5Bdf, and BIP173's P2WPKH example is that key's HASH160.
func TestAddressHelpers(t *testing.T) {
	g := mustHex(t, "generator", "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", 33)
	if got := ethereumAddress(t, g); got != "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf" {
		t.Errorf("ethereum address of the generator: %s", got)
	}
	hrp, version, program := decodeSegwit(t, "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4")
	want := mustHex(t, "program", "751e76e8199196d454941c45d1b3a323f1433bd6", 20)
	if hrp != "bc" || version != 0 || !bytes.Equal(program, want) || !bytes.Equal(hash160(g), want) {
		t.Errorf("BIP173 vector: hrp %q version %d program %x, hash160 %x", hrp, version, program, hash160(g))
	}
	checkAddresses(t, "generator", g, map[string]string{"ethereum": "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf", "bitcoin_p2wpkh": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"})
}
