package testkit

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/hd"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signreq"
)

// Requester is a wallet backend's key on the roster.
type Requester struct {
	Name string
	Key  crypto.Signer
	ID   string
}

// AddRequester registers a new Ed25519 requester key, signed by op, with
// the grants of g (its ID, Algorithm and PublicKey are filled in; no Keys
// means all keys). The first one added becomes the cluster's Requester,
// which Sign uses.
func (c *Cluster) AddRequester(t testing.TB, op *Operator, name string, g roster.Requester) *Requester {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.RegisterRequester(t, op, name, priv, g)
}

// RegisterRequester registers an existing key (Ed25519 or P-256) as a
// requester, signed by op, with the grants of g.
func (c *Cluster) RegisterRequester(t testing.TB, op *Operator, name string, key crypto.Signer, g roster.Requester) *Requester {
	t.Helper()
	alg, pub, id, err := signreq.KeyOf(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	g.ID, g.Name, g.Algorithm, g.PublicKey = id, name, alg, pub
	if len(g.Keys) == 0 {
		g.Keys = []string{roster.AllKeysGrant}
	}
	b := c.Roster(t).Next(roster.KindAddRequester, time.Now())
	b.Requester = &g
	c.SubmitRoster(t, signed(t, op, b))
	r := &Requester{Name: name, Key: key, ID: id}
	if c.Requester == nil {
		c.Requester = r
	}
	return r
}

// Signed returns a copy of req with the requester's signature over it
// (request id: req's, or a fresh one; expiry: in five minutes).
func (r *Requester) Signed(t testing.TB, req *mpcv1.SignRequest) *mpcv1.SignRequest {
	t.Helper()
	out, err := r.SignedAt(req, time.Now().Add(signreq.DefaultLifetime))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SignedAt is Signed with a given expiry.
func (r *Requester) SignedAt(req *mpcv1.SignRequest, expires time.Time) (*mpcv1.SignRequest, error) {
	b := signreq.Body{Version: signreq.Version, KeyID: req.GetKeyId(), RequestID: req.GetRequestId(), Expires: expires.Unix(), Nonce: signreq.NewNonce()}
	if b.RequestID == "" {
		b.RequestID = "test-" + signreq.NewNonce()
	}
	if p := req.GetPath(); p != "" {
		if steps, err := hd.ParsePath(p); err == nil {
			b.Path = hd.FormatPath(steps)
		}
	}
	b.Kind = signreq.KindDigest
	data := req.GetDigests()
	switch {
	case len(req.GetDigest()) > 0:
		data = [][]byte{req.GetDigest()}
	case len(req.GetMessage()) > 0:
		b.Kind, data = signreq.KindMessage, [][]byte{req.GetMessage()}
	case len(req.GetMessages()) > 0:
		b.Kind, data = signreq.KindMessage, req.GetMessages()
	}
	for _, d := range data {
		b.Items = append(b.Items, signreq.ItemOf(b.Kind, d))
	}
	sr, err := signreq.Sign(r.Key, b)
	if err != nil {
		return nil, err
	}
	out := &mpcv1.SignRequest{KeyId: req.GetKeyId(), Digest: req.GetDigest(), Digests: req.GetDigests(), Message: req.GetMessage(), Messages: req.GetMessages(),
		Path: req.GetPath(), RequestId: b.RequestID, Signed: sr}
	return out, nil
}

// Sign sends req through the signer API, signed by the cluster's Requester
// when one was added (a roster needs it), else as it is.
func (c *Cluster) Sign(ctx context.Context, t testing.TB, req *mpcv1.SignRequest) (*mpcv1.SignResponse, error) {
	t.Helper()
	if c.Requester != nil && req.GetSigned() == nil {
		req = c.Requester.Signed(t, req)
	}
	return c.Signer.Sign(ctx, req)
}
