package roster

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
)

// Limits and constants of the format.
const (
	// Version is the only body and ceremony version this package knows.
	Version = 1
	// MaxBodySize bounds an encoded entry body.
	MaxBodySize = 64 << 10
	// MaxCeremonySize bounds an encoded ceremony.
	MaxCeremonySize = 64 << 10
	// MaxOperators bounds an operator set.
	MaxOperators = 32
	// MaxReason bounds a Reason, in bytes.
	MaxReason = 256

	entryDomain        = "mpcsign/v1/roster-entry\x00"
	entrySignDomain    = "mpcsign/v1/roster-sign\x00"
	ceremonyDomain     = "mpcsign/v1/ceremony\x00"
	ceremonySignDomain = "mpcsign/v1/ceremony-sign\x00"
	nonceHexLen        = 32
)

// Hash is a SHA-256 entry (or authorization) hash.
type Hash [32]byte

// String is the lowercase hex of the hash.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses 64 hex digits (either case).
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return Hash{}, fmt.Errorf("%w: a hash is %d hex digits, not %d", ErrMalformed, 2*len(h), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, fmt.Errorf("%w: hash is not hex", ErrMalformed)
	}
	return h, nil
}

// IsZero reports whether h is the zero hash.
func (h Hash) IsZero() bool { return h == Hash{} }

// Signature is one signer's Ed25519 signature over SigningMessage(hash).
type Signature struct {
	Key []byte
	Sig []byte
}

// Signer is an operator's or device's Ed25519 key.
type Signer interface {
	PublicKey() ed25519.PublicKey
	Sign(msg []byte) []byte
}

// EncodeBody is the canonical encoding of a body: encoding/json of the
// struct. It refuses a body whose Version is not 1, whose text is not valid
// UTF-8 or whose encoding exceeds MaxBodySize: DecodeBody would not take its
// output back. Every other rule is checked by State.Check.
func EncodeBody(b Body) ([]byte, error) {
	if b.Version != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, b.Version, Version)
	}
	texts := []string{b.Prev, string(b.Kind), b.Nonce, b.DeviceID, b.Reason}
	for _, op := range b.Operators {
		texts = append(texts, op.Name)
	}
	if b.Device != nil {
		texts = append(texts, b.Device.ID, b.Device.Name)
	}
	texts = append(texts, b.RequesterID)
	if r := b.Requester; r != nil {
		texts = append(texts, r.ID, r.Name, r.Algorithm)
		texts = append(texts, r.Keys...)
		texts = append(texts, r.Paths...)
	}
	return encodeCanonical(b, MaxBodySize, texts)
}

// DecodeBody decodes a body and checks that raw is exactly its canonical
// encoding: at most MaxBodySize bytes, one JSON object with no unknown,
// duplicate or case-variant field names, no whitespace, fields in struct
// order, and EncodeBody of the result equal to raw.
func DecodeBody(raw []byte) (Body, error) {
	var b Body
	if err := decodeCanonical(raw, MaxBodySize, &b, EncodeBody); err != nil {
		return Body{}, err
	}
	return b, nil
}

// Hash is SHA-256("mpcsign/v1/roster-entry\x00" || Body).
func (e Entry) Hash() Hash { return domainHash(entryDomain, e.Body) }

// SigningMessage is what an entry's signers sign:
// "mpcsign/v1/roster-sign\x00" || hash.
func SigningMessage(h Hash) []byte { return append([]byte(entrySignDomain), h[:]...) }

// Sign adds s's signature over SigningMessage(e.Hash()), replacing an earlier
// one by the same key, and keeps Signatures sorted by key.
func (e *Entry) Sign(s Signer) {
	e.Signatures = addSignature(e.Signatures, s, SigningMessage(e.Hash()))
}

func domainHash(domain string, body []byte) Hash {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write(body)
	var out Hash
	h.Sum(out[:0])
	return out
}

// addSignature returns a new slice: the caller's may be shared.
func addSignature(sigs []Signature, s Signer, msg []byte) []Signature {
	pub := bytes.Clone([]byte(s.PublicKey()))
	out := make([]Signature, 0, len(sigs)+1)
	for _, sig := range sigs {
		if !bytes.Equal(sig.Key, pub) {
			out = append(out, sig)
		}
	}
	out = append(out, Signature{Key: pub, Sig: s.Sign(msg)})
	slices.SortStableFunc(out, func(a, b Signature) int { return bytes.Compare(a.Key, b.Key) })
	return out
}

// newNonce is 16 random bytes as 32 lowercase hex digits.
func newNonce() string {
	var b [nonceHexLen / 2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return hex.EncodeToString(b[:])
}

func validNonce(s string) bool {
	if len(s) != nonceHexLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func encodeCanonical(v any, limit int, texts []string) ([]byte, error) {
	for _, s := range texts {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("%w: text is not valid UTF-8", ErrMalformed)
		}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(raw) > limit {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrMalformed, len(raw), limit)
	}
	return raw, nil
}

// decodeCanonical decodes raw into v and requires encode(*v) to give raw back.
func decodeCanonical[T any](raw []byte, limit int, v *T, encode func(T) ([]byte, error)) error {
	if len(raw) > limit {
		return fmt.Errorf("%w: %d bytes, over the limit of %d", ErrMalformed, len(raw), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON value", ErrMalformed)
	}
	again, err := encode(*v)
	if err != nil {
		return err
	}
	if !bytes.Equal(raw, again) {
		return fmt.Errorf("%w: not the canonical encoding", ErrMalformed)
	}
	return nil
}
