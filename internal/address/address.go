// Package address turns a secp256k1 public key into the addresses wallets
// show for it: an EIP-55 checksummed Ethereum address and a Bitcoin
// pay-to-witness-public-key-hash (P2WPKH, bech32) address.
//
// Public keys are 33-byte compressed SEC1 keys checked to lie on the curve
// (github.com/decred/dcrd/dcrec/secp256k1/v4). No function in this package
// panics, whatever its input.
package address

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/crypto/ripemd160" // deprecated for new designs; Bitcoin's HASH160 is fixed
	"golang.org/x/crypto/sha3"
)

// Sentinel errors. Returned errors wrap one of these (test with errors.Is).
var (
	ErrInvalidPublicKey = errors.New("address: invalid public key")
	ErrUnknownNetwork   = errors.New("address: unknown network")
)

const pubKeyLen = secp256k1.PubKeyBytesLenCompressed

// Bitcoin networks BitcoinP2WPKH accepts, and their bech32 human-readable
// parts (BIP173).
var bitcoinHRP = map[string]string{
	"mainnet": "bc",
	"testnet": "tb",
}

// Ethereum returns the EIP-55 checksummed address ("0x" and 40 hex digits)
// of a 33-byte compressed secp256k1 public key: the last 20 bytes of the
// Keccak-256 hash of the 64-byte uncompressed X || Y.
func Ethereum(pub33 []byte) (string, error) {
	pub, err := parsePubKey(pub33)
	if err != nil {
		return "", err
	}
	h := sha3.NewLegacyKeccak256()
	h.Write(pub.SerializeUncompressed()[1:]) // drop the 0x04 prefix
	sum := h.Sum(nil)
	return eip55(sum[12:]), nil
}

// eip55 writes a 20-byte address in hex, with each letter upper-case when
// the matching nibble of Keccak-256(lower-case hex) is 8 or more.
func eip55(addr []byte) string {
	lower := hex.EncodeToString(addr)
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(lower))
	sum := h.Sum(nil)
	out := []byte(lower)
	for i, c := range out {
		nibble := sum[i/2] >> 4
		if i%2 == 1 {
			nibble = sum[i/2] & 0x0f
		}
		if c >= 'a' && c <= 'f' && nibble >= 8 {
			out[i] = c - 'a' + 'A'
		}
	}
	return "0x" + string(out)
}

// BitcoinP2WPKH returns the bech32 (BIP173) P2WPKH address of a 33-byte
// compressed secp256k1 public key: witness version 0 and the 20-byte
// HASH160 (RIPEMD-160 of SHA-256) of the key. net is "mainnet" (bc1...) or
// "testnet" (tb1..., also used by signet); anything else is an error
// wrapping ErrUnknownNetwork.
func BitcoinP2WPKH(pub33 []byte, net string) (string, error) {
	hrp, ok := bitcoinHRP[net]
	if !ok {
		return "", fmt.Errorf("%w: %q (want mainnet or testnet)", ErrUnknownNetwork, net)
	}
	pub, err := parsePubKey(pub33)
	if err != nil {
		return "", err
	}
	return segwitV0(hrp, hash160(pub.SerializeCompressed())), nil
}

func hash160(b []byte) []byte {
	s := sha256.Sum256(b)
	r := ripemd160.New()
	r.Write(s[:])
	return r.Sum(nil)
}

// parsePubKey accepts exactly a 33-byte compressed SEC1 key on secp256k1.
func parsePubKey(b []byte) (*secp256k1.PublicKey, error) {
	if len(b) != pubKeyLen {
		return nil, fmt.Errorf("%w: want a %d-byte compressed key, got %d bytes", ErrInvalidPublicKey, pubKeyLen, len(b))
	}
	if b[0] != secp256k1.PubKeyFormatCompressedEven && b[0] != secp256k1.PubKeyFormatCompressedOdd {
		return nil, fmt.Errorf("%w: not in compressed form (prefix 0x%02x)", ErrInvalidPublicKey, b[0])
	}
	pub, err := secp256k1.ParsePubKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPublicKey, err)
	}
	return pub, nil
}
