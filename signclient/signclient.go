package signclient

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signreq"
)

// Client signs Sign requests with a requester key and sends them to the
// coordinator. It is safe for concurrent use if its key is.
type Client struct {
	rpc mpcv1.SignerServiceClient
	key crypto.Signer
	id  string
	now func() time.Time
}

// New makes a client. conn is a gRPC connection to the coordinator, with
// its TLS and signer token (Dial makes one); key is the requester key (an
// Ed25519 or ECDSA P-256 crypto.Signer, for example from a cloud KMS or an
// HSM, or LoadKeyFile's).
func New(conn grpc.ClientConnInterface, key crypto.Signer) (*Client, error) {
	if conn == nil {
		return nil, errors.New("signclient: no connection to the coordinator")
	}
	if key == nil {
		return nil, errors.New("signclient: no requester key")
	}
	_, _, id, err := signreq.KeyOf(key.Public())
	if err != nil {
		return nil, err
	}
	return &Client{rpc: mpcv1.NewSignerServiceClient(conn), key: key, id: id, now: time.Now}, nil
}

// RequesterID is the requester's id on the roster (roster.RequesterID of
// its public key), as 'mpcctl requesters list' shows it.
func (c *Client) RequesterID() string { return c.id }

// Request is what to sign. Give exactly one of Digests (a secp256k1 key:
// 32-byte digests) and Messages (an Ed25519 key: the messages themselves,
// 1 to 65536 bytes each). One item is a single signature; several (up to
// 64) are a batch.
type Request struct {
	KeyID    string
	Digests  [][]byte
	Messages [][]byte
	// Path is a BIP32 path of non-hardened steps ("m/44/60/0/0/7"; secp256k1
	// keys only), or "" to sign with the key itself. It is sent in its
	// canonical form.
	Path string
	// RequestID is the idempotency key (1 to 128 bytes of printable UTF-8):
	// a retry with the same id and content returns the first signature.
	// Default: a random id.
	RequestID string
	// Lifetime is how long the signed request stays valid. Default
	// signreq.DefaultLifetime; at most signreq.MaxLifetime.
	Lifetime time.Duration
}

// NewSignRequest builds the Sign call for r and signs it with key, with
// the expiry counted from now. It does not send it. The call shares r's
// byte slices.
func NewSignRequest(key crypto.Signer, r Request, now time.Time) (*mpcv1.SignRequest, error) {
	if key == nil {
		return nil, errors.New("signclient: no requester key")
	}
	if r.KeyID == "" {
		return nil, errors.New("signclient: no KeyID")
	}
	kind, items := signreq.KindDigest, r.Digests
	switch {
	case len(r.Digests) > 0 && len(r.Messages) > 0:
		return nil, errors.New("signclient: give Digests (secp256k1 keys) or Messages (Ed25519 keys), not both")
	case len(r.Digests) == 0 && len(r.Messages) == 0:
		return nil, errors.New("signclient: nothing to sign: give Digests (secp256k1 keys) or Messages (Ed25519 keys)")
	case len(r.Messages) > 0:
		kind, items = signreq.KindMessage, r.Messages
	}
	if len(items) > signreq.MaxItems {
		return nil, fmt.Errorf("signclient: %d items: a request signs at most %d", len(items), signreq.MaxItems)
	}
	body := signreq.Body{Version: signreq.Version, KeyID: r.KeyID, Kind: kind, RequestID: r.RequestID, Nonce: signreq.NewNonce()}
	for i, b := range items {
		if kind == signreq.KindDigest && len(b) != 32 {
			return nil, fmt.Errorf("signclient: digest %d is %d bytes, want 32", i, len(b))
		}
		if kind == signreq.KindMessage && (len(b) == 0 || len(b) > sigfmt.MaxMessage) {
			return nil, fmt.Errorf("signclient: message %d is %d bytes, want 1 to %d", i, len(b), sigfmt.MaxMessage)
		}
		body.Items = append(body.Items, signreq.ItemOf(kind, b))
	}
	path, err := canonicalPath(r.Path)
	if err != nil {
		return nil, err
	}
	body.Path = path
	if body.RequestID == "" {
		body.RequestID = signreq.NewNonce()
	}
	life := r.Lifetime
	switch {
	case life == 0:
		life = signreq.DefaultLifetime
	case life < 0:
		return nil, fmt.Errorf("signclient: Lifetime %s is negative", life)
	case life > signreq.MaxLifetime:
		return nil, fmt.Errorf("signclient: Lifetime %s: %w (at most %s)", life, signreq.ErrTooLong, signreq.MaxLifetime)
	}
	// Rounded down to the second: never more than life ahead.
	body.Expires = now.Add(life).Unix()
	signed, err := signreq.Sign(key, body)
	if err != nil {
		return nil, err
	}
	req := &mpcv1.SignRequest{KeyId: r.KeyID, Path: path, RequestId: body.RequestID, Signed: signed}
	switch {
	case kind == signreq.KindDigest && len(items) == 1:
		req.Digest = items[0]
	case kind == signreq.KindDigest:
		req.Digests = items
	case len(items) == 1:
		req.Message = items[0]
	default:
		req.Messages = items
	}
	return req, nil
}

// canonicalPath is the form of a derivation path that a signed request
// carries ("m/44/60/0/0/7"), or "" for none. "m" (the root key) is
// refused: sign without a path instead.
func canonicalPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	steps, err := hd.ParsePath(p)
	if err != nil {
		return "", fmt.Errorf("signclient: Path: %w", err)
	}
	if len(steps) == 0 {
		return "", fmt.Errorf("signclient: Path %q names the root key: leave Path empty to sign with the key itself", p)
	}
	return hd.FormatPath(steps), nil
}

// Sign signs r with the client's requester key and sends it. For a batch
// (several items) the response has one result per item, in order
// (SignResponse.Results), each a signature or its error.
func (c *Client) Sign(ctx context.Context, r Request) (*mpcv1.SignResponse, error) {
	req, err := NewSignRequest(c.key, r, c.now())
	if err != nil {
		return nil, err
	}
	return c.rpc.Sign(ctx, req, grpc.MaxCallSendMsgSize(sigfmt.MaxSignRequest))
}

// SignDigest signs one 32-byte digest with a secp256k1 key, at the BIP32
// path (or "" for the key itself). The response has r, s, v, the 65-byte
// r || s || v form and DER.
func (c *Client) SignDigest(ctx context.Context, keyID string, digest []byte, path string) (*mpcv1.SignResponse, error) {
	return c.Sign(ctx, Request{KeyID: keyID, Digests: [][]byte{digest}, Path: path})
}

// SignMessage signs one message with an Ed25519 key; the response's
// Signature is the 64-byte RFC 8032 signature.
func (c *Client) SignMessage(ctx context.Context, keyID string, message []byte) (*mpcv1.SignResponse, error) {
	return c.Sign(ctx, Request{KeyID: keyID, Messages: [][]byte{message}})
}
