package coordinator

import (
	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signreq"
)

// Signed Sign requests. Once the institution has a roster, every Sign call
// carries its requester's signature over the call's exact content (package
// signreq), and every signing device verifies it against its own roster:
// the coordinator only passes it through. It checks the same things first
// so that a caller hears what is wrong without a session being started,
// but nothing depends on those checks: a compromised coordinator that skips
// them still gets no signature (e2e: TestCompromisedCoordinatorSignRequests).

// errUnsignedRequest is the answer to an unsigned Sign call under a roster.
var errUnsignedRequest = &clientError{codes.FailedPrecondition, "this institution has a roster: every Sign request must be signed by a requester key registered on it " +
	"(mpcctl requesters create; then mpcctl sign --requester-key, or the Go package signclient)"}

// signedRequest is a Sign call's signed request, decoded.
type signedRequest struct {
	proto *mpcv1.SignedRequest
	body  signreq.Body
	// name is the requester's roster name ("" when the coordinator has no
	// roster to look it up in).
	name string
}

// idempotencyKey is the store key of a request id: per requester, since
// each requester chooses its own ids.
func (r *signedRequest) idempotencyKey() string {
	return "requester/" + r.body.Requester + "/" + r.body.RequestID
}

// checkSigned checks a Sign call's signed request against the call and,
// with a roster, against it. It returns nil for an unsigned call without a
// roster.
func (s *Server) checkSigned(k Key, req *mpcv1.SignRequest, items []signItem) (*signedRequest, error) {
	s.roster.mu.Lock()
	var st *roster.State
	if s.roster.state != nil {
		st = s.roster.state.Clone()
	}
	s.roster.mu.Unlock()
	skip := compromisedSkipRequestChecks()
	if req.GetSigned() == nil {
		if st != nil && !skip {
			return nil, errUnsignedRequest
		}
		return nil, nil
	}
	b, err := signreq.Decode(req.GetSigned().GetBody())
	if err != nil {
		return nil, invalidArg("signed request: %v", err)
	}
	sr := &signedRequest{proto: req.GetSigned(), body: b}
	if skip {
		return sr, nil
	}
	if err := matchSigned(k, req, items, b); err != nil {
		return nil, err
	}
	if st == nil {
		return sr, nil // no roster: the devices trust the coordinator anyway
	}
	_, r, err := signreq.Verify(st, req.GetSigned())
	if err == nil {
		for i, it := range items {
			data := it.digest
			if it.message != nil {
				data = it.message
			}
			if err = signreq.Check(b, r.Requester, signreq.Session{KeyID: k.ID, Path: it.path, Item: i, Data: data, Message: it.message != nil}, s.opts.Now()); err != nil {
				break
			}
		}
	}
	if err != nil {
		return nil, &clientError{codes.PermissionDenied, "signed request refused: " + err.Error()}
	}
	sr.name = r.Name
	return sr, nil
}

// matchSigned checks that the call asks for what the requester signed.
func matchSigned(k Key, req *mpcv1.SignRequest, items []signItem, b signreq.Body) error {
	mismatch := func(format string, a ...any) error {
		return invalidArg("the signed request does not match the call: "+format, a...)
	}
	if b.KeyID != k.ID {
		return mismatch("it is for key %s, the call for %s", b.KeyID, k.ID)
	}
	kind := signreq.KindDigest
	if k.IsEd25519() {
		kind = signreq.KindMessage
	}
	if b.Kind != kind {
		return mismatch("it signs a %s, key %s signs a %s", b.Kind, k.ID, kind)
	}
	if len(b.Items) != len(items) {
		return mismatch("it has %d items, the call %d", len(b.Items), len(items))
	}
	for i, it := range items {
		data := it.digest
		if it.message != nil {
			data = it.message
		}
		if b.Items[i] != signreq.ItemOf(kind, data) {
			return mismatch("item %d is not the %s the requester signed", i, kind)
		}
	}
	if len(items) > 0 && b.Path != items[0].path {
		return mismatch("its path is %q, the call's %q", b.Path, items[0].path)
	}
	if id := req.GetRequestId(); id != "" && id != b.RequestID {
		return mismatch("its request id is %q, the call's %q", b.RequestID, id)
	}
	return nil
}

// withSigned attaches the signed request to each item (the item index is
// the session's request_item).
func withSigned(items []signItem, sr *signedRequest) {
	if sr == nil {
		return
	}
	for i := range items {
		items[i].signed, items[i].item = sr.proto, uint32(i)
	}
}
