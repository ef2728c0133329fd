package signreq

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Version is the body format version.
const Version = 1

// Limits.
const (
	MaxBodySize  = 16 << 10
	MaxItems     = 64
	MaxRequestID = 128
	// MaxLifetime is the furthest ahead a request may expire: minutes, not
	// days, so that a leaked signed request is soon worthless.
	MaxLifetime = 15 * time.Minute
	// ClockSkew is how far a device's clock may be from the requester's.
	ClockSkew = time.Minute
	// DefaultLifetime is what Sign gives a request when asked for none.
	DefaultLifetime = 5 * time.Minute
	// MaxSignatureSize bounds a signature (a P-256 DER signature is <= 72).
	MaxSignatureSize = 128
)

// Item kinds.
const (
	KindDigest  = "digest"
	KindMessage = "message"
)

const hashDomain = "mpcsign/v1/sign-request\x00"

// Errors; each names one refused check. Match them with errors.Is.
var (
	ErrMissing          = errors.New("the request is not signed by a requester key")
	ErrMalformed        = errors.New("the signed request is malformed")
	ErrUnknownRequester = errors.New("the requester is not on the roster")
	ErrRevokedRequester = errors.New("the requester was revoked")
	ErrBadSignature     = errors.New("the requester's signature does not verify")
	ErrExpired          = errors.New("the signed request has expired")
	ErrTooLong          = errors.New("the signed request expires too far ahead")
	ErrMismatch         = errors.New("the session does not match the signed request")
	ErrNotAllowed       = errors.New("the requester is not allowed this")
)

// Body is a request's signed content.
type Body struct {
	Version   int      `json:"v"`
	Requester string   `json:"requester"`
	KeyID     string   `json:"key_id"`
	Kind      string   `json:"kind"`
	Items     []string `json:"items"`
	Path      string   `json:"path,omitempty"`
	RequestID string   `json:"request_id"`
	Expires   int64    `json:"expires"`
	Nonce     string   `json:"nonce"`
}

// Encode is the canonical encoding of a checked body.
func Encode(b Body) ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(raw) > MaxBodySize {
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrMalformed, len(raw), MaxBodySize)
	}
	return raw, nil
}

// Decode decodes a body and checks that raw is exactly its canonical
// encoding and that its fields are well formed.
func Decode(raw []byte) (Body, error) {
	if len(raw) > MaxBodySize {
		return Body{}, fmt.Errorf("%w: %d bytes, over %d", ErrMalformed, len(raw), MaxBodySize)
	}
	var b Body
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return Body{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Body{}, fmt.Errorf("%w: data after the JSON value", ErrMalformed)
	}
	again, err := Encode(b)
	if err != nil {
		return Body{}, err
	}
	if !bytes.Equal(raw, again) {
		return Body{}, fmt.Errorf("%w: not the canonical encoding", ErrMalformed)
	}
	return b, nil
}

func (b Body) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	if b.Version != Version {
		return bad("version %d, want %d", b.Version, Version)
	}
	if !isHex(b.Requester, 32) {
		return bad("requester is not a 32-digit lowercase hex id")
	}
	if !validKeyID(b.KeyID) {
		return bad("key id %.64q is not allowed", b.KeyID)
	}
	if b.Kind != KindDigest && b.Kind != KindMessage {
		return bad("kind %.16q is not %q or %q", b.Kind, KindDigest, KindMessage)
	}
	if len(b.Items) == 0 || len(b.Items) > MaxItems {
		return bad("%d items, want 1 to %d", len(b.Items), MaxItems)
	}
	for i, it := range b.Items {
		if !isHex(it, 64) {
			return bad("item %d is not 64 lowercase hex digits", i)
		}
	}
	if b.Path != "" {
		steps, err := hd.ParsePath(b.Path)
		if err != nil || hd.FormatPath(steps) != b.Path || len(steps) == 0 {
			return bad("path %.64q is not a non-hardened path in canonical form (m/44/60/0/0/7)", b.Path)
		}
	}
	if !validRequestID(b.RequestID) {
		return bad("request id must be 1 to %d bytes of printable UTF-8", MaxRequestID)
	}
	if b.Expires <= 0 {
		return bad("expires %d is not a time", b.Expires)
	}
	if !isHex(b.Nonce, 32) {
		return bad("nonce is not 32 lowercase hex digits")
	}
	return nil
}

// Hash is SHA-256("mpcsign/v1/sign-request\x00" || body).
func Hash(body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(hashDomain))
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ContentHash identifies what a request asks for: its requester, key, kind,
// items, path and request id, without its expiry and nonce. A request id
// used again with the same content (a retry, even one signed afresh) is the
// same request; with other content it is a replay.
func ContentHash(b Body) [32]byte {
	b.Expires, b.Nonce = 0, ""
	raw, _ := json.Marshal(b) // a Body always marshals
	return sha256.Sum256(append([]byte("mpcsign/v1/sign-request-content\x00"), raw...))
}

// ItemOf is the body item of a digest (secp256k1) or a message (Ed25519).
func ItemOf(kind string, b []byte) string {
	if kind == KindMessage {
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	return hex.EncodeToString(b)
}

// KeyOf is the roster algorithm, public key bytes and requester id of a
// signer's public key: Ed25519, or ECDSA on P-256.
func KeyOf(pub crypto.PublicKey) (algorithm string, key []byte, id string, err error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		algorithm, key = roster.AlgEd25519, bytes.Clone(k)
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() || k.X == nil || k.Y == nil {
			return "", nil, "", errors.New("signreq: an ECDSA requester key must be a point on P-256")
		}
		if key, err = k.Bytes(); err != nil {
			return "", nil, "", fmt.Errorf("signreq: requester key: %w", err)
		}
		algorithm = roster.AlgP256
	default:
		return "", nil, "", fmt.Errorf("signreq: a requester key is Ed25519 or ECDSA P-256, not %T", pub)
	}
	if err := roster.ParseRequesterKey(algorithm, key); err != nil {
		return "", nil, "", err
	}
	return algorithm, key, roster.RequesterID(algorithm, key), nil
}

// NewNonce is 16 random bytes in lowercase hex.
func NewNonce() string {
	var n [16]byte
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(n[:])
}

// Sign encodes b (its Requester is set from the signer's key) and signs it.
func Sign(signer crypto.Signer, b Body) (*mpcv1.SignedRequest, error) {
	alg, _, id, err := KeyOf(signer.Public())
	if err != nil {
		return nil, err
	}
	b.Requester = id
	raw, err := Encode(b)
	if err != nil {
		return nil, err
	}
	h := Hash(raw)
	var sig []byte
	if alg == roster.AlgEd25519 {
		sig, err = signer.Sign(rand.Reader, h[:], crypto.Hash(0))
	} else {
		sig, err = signer.Sign(rand.Reader, h[:], crypto.SHA256)
	}
	if err != nil {
		return nil, fmt.Errorf("signreq: the requester key did not sign: %w", err)
	}
	return &mpcv1.SignedRequest{Body: raw, Signature: sig}, nil
}

// Verify decodes a signed request and verifies its signature by an active
// requester of st. It does not look at the time or the session (Check).
func Verify(st *roster.State, sr *mpcv1.SignedRequest) (Body, roster.RequesterState, error) {
	if sr == nil || len(sr.GetBody()) == 0 {
		return Body{}, roster.RequesterState{}, ErrMissing
	}
	b, err := Decode(sr.GetBody())
	if err != nil {
		return Body{}, roster.RequesterState{}, err
	}
	r, ok := st.Requester(b.Requester)
	if !ok {
		return Body{}, roster.RequesterState{}, fmt.Errorf("%w: %s", ErrUnknownRequester, b.Requester)
	}
	if !r.Active {
		return Body{}, roster.RequesterState{}, fmt.Errorf("%w: %s (%s) at roster height %d", ErrRevokedRequester, r.Name, r.ID, r.RevokedAt)
	}
	if err := VerifySignature(r.Requester, sr.GetBody(), sr.GetSignature()); err != nil {
		return Body{}, roster.RequesterState{}, err
	}
	return b, r, nil
}

// VerifySignature checks sig over body by the requester's key.
func VerifySignature(r roster.Requester, body, sig []byte) error {
	if len(sig) > MaxSignatureSize {
		return fmt.Errorf("%w: %d bytes", ErrBadSignature, len(sig))
	}
	h := Hash(body)
	switch r.Algorithm {
	case roster.AlgEd25519:
		if len(r.PublicKey) == ed25519.PublicKeySize && ed25519.Verify(ed25519.PublicKey(r.PublicKey), h[:], sig) {
			return nil
		}
	case roster.AlgP256:
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), r.PublicKey)
		if err == nil && ecdsa.VerifyASN1(pub, h[:], sig) {
			return nil
		}
	}
	return fmt.Errorf("%w (requester %s)", ErrBadSignature, r.Name)
}

// Session is what a signing session asks of one item of a request.
type Session struct {
	KeyID string
	Path  string // canonical, "" for the root key
	Item  int
	// Data is the session's digest (secp256k1) or message (Ed25519).
	Data    []byte
	Message bool
}

// Check checks a verified body against a session, the requester's grants
// and the clock.
func Check(b Body, r roster.Requester, s Session, now time.Time) error {
	if b.Requester != r.ID {
		return fmt.Errorf("%w: the request is by requester %s, checked against %s", ErrMismatch, b.Requester, r.ID)
	}
	if b.KeyID != s.KeyID {
		return fmt.Errorf("%w: the request is for key %s, the session for %s", ErrMismatch, b.KeyID, s.KeyID)
	}
	if b.Path != s.Path {
		return fmt.Errorf("%w: the request's path is %s, the session's %s", ErrMismatch, pathText(b.Path), pathText(s.Path))
	}
	kind := KindDigest
	if s.Message {
		kind = KindMessage
	}
	if b.Kind != kind {
		return fmt.Errorf("%w: the request signs a %s, the session a %s", ErrMismatch, b.Kind, kind)
	}
	if s.Item < 0 || s.Item >= len(b.Items) {
		return fmt.Errorf("%w: item %d of a request of %d", ErrMismatch, s.Item, len(b.Items))
	}
	if b.Items[s.Item] != ItemOf(kind, s.Data) {
		return fmt.Errorf("%w: the session's %s is not the one the requester signed", ErrMismatch, kind)
	}
	if !r.AllowsKey(b.KeyID) {
		return fmt.Errorf("%w: requester %s may not sign with key %s", ErrNotAllowed, r.Name, b.KeyID)
	}
	if !r.AllowsPath(b.Path) {
		p := b.Path
		if p == "" {
			p = "the root key (no path)"
		}
		return fmt.Errorf("%w: requester %s may not sign with %s", ErrNotAllowed, r.Name, p)
	}
	return CheckTime(b, now)
}

// CheckTime checks the request's expiry against a clock.
func CheckTime(b Body, now time.Time) error {
	exp := time.Unix(b.Expires, 0)
	if now.After(exp.Add(ClockSkew)) {
		return fmt.Errorf("%w at %s (now %s): sign it again", ErrExpired, exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if exp.After(now.Add(MaxLifetime + ClockSkew)) {
		return fmt.Errorf("%w: at %s, more than %s from now", ErrTooLong, exp.UTC().Format(time.RFC3339), MaxLifetime)
	}
	return nil
}

func pathText(p string) string {
	if p == "" {
		return "none (the root key)"
	}
	return p
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validKeyID: 1 to 128 of A-Z a-z 0-9 . _ : - (the project's key id rule).
func validKeyID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > MaxRequestID || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
