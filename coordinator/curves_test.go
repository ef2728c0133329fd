package coordinator_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/crypto/ckd"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// TestEd25519Key: an EdDSA key is made, signs messages (the message itself,
// leading zero bytes included) in one call and in a batch, survives a
// revocation with replacement and a drill under the same public key; every
// signature is checked with crypto/ed25519.
func TestEd25519Key(t *testing.T) {
	c := testkit.New(t, testkit.Options{SignTimeout: 30 * time.Second, JobRetry: 200 * time.Millisecond})
	ctx := context.Background()
	devs := map[string]*testkit.Device{}
	for _, name := range []string{"phone", "laptop", "server", "tablet"} {
		devs[name] = c.AddDevice(t, name, nil) // EdDSA takes no pre-parameters
	}
	resp, err := c.Admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_ED25519, Threshold: 1, Devices: []string{"phone", "laptop", "server"}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	key := resp.GetKey()
	pub := ed25519.PublicKey(key.GetPublicKey())
	if key.GetCurve() != mpcv1.Curve_CURVE_ED25519 || len(pub) != ed25519.PublicKeySize || len(key.GetChainCode()) != 0 {
		t.Fatalf("key %v", key)
	}
	if key.GetAddresses().GetEd25519PublicKey() != hex.EncodeToString(pub) || key.GetAddresses().GetEthereum() != "" {
		t.Fatalf("addresses %v", key.GetAddresses())
	}
	sign := func(msg []byte) *mpcv1.SignResponse {
		t.Helper()
		r, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Message: msg})
		if err != nil {
			t.Fatalf("sign %x: %v", msg, err)
		}
		if !bytes.Equal(r.GetPublicKey(), pub) || r.GetCurve() != mpcv1.Curve_CURVE_ED25519 || !ed25519.Verify(pub, msg, r.GetSignature()) {
			t.Fatalf("signature of %x does not verify under the key", msg)
		}
		return r
	}
	// tss-lib v2.0.2 drops leading zero bytes of the message unless told its length.
	sign([]byte{0, 0, 0, 1, 2, 3})
	sign([]byte{0})
	sign(bytes.Repeat([]byte{0, 0xab}, 5000))

	for _, tc := range []struct {
		name string
		req  *mpcv1.SignRequest
	}{
		{"digest", &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("x")}},
		{"path", &mpcv1.SignRequest{KeyId: key.GetId(), Message: []byte("x"), Path: "m/0"}},
		{"empty", &mpcv1.SignRequest{KeyId: key.GetId()}},
		{"too long", &mpcv1.SignRequest{KeyId: key.GetId(), Message: make([]byte, 64<<10+1)}},
	} {
		if _, err := c.Signer.Sign(ctx, tc.req); code(err) != codes.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", tc.name, err)
		}
	}
	// An Ed25519 key's empty request lacks a message, not a digest.
	_, err = c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId()})
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "message must be 1 to 65536 bytes, got 0") || strings.Contains(msg, "digest") {
		t.Errorf("empty request for an Ed25519 key: %v", err)
	}

	// An Ed25519 key has no derivation: it cannot be made, or marked, derivation-only.
	if _, err := c.Admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_ED25519, Threshold: 1, Devices: []string{"phone", "laptop"}, DerivationOnly: true}); code(err) != codes.InvalidArgument {
		t.Errorf("derivation-only Ed25519 keygen: %v", err)
	}
	if _, err := c.Admin.SetDerivationOnly(ctx, &mpcv1.SetDerivationOnlyRequest{KeyId: key.GetId(), DerivationOnly: true}); code(err) != codes.InvalidArgument {
		t.Errorf("marking an Ed25519 key derivation-only: %v", err)
	}

	// The largest batch (64 messages of 65536 bytes, 4 MiB) fits the
	// transport: a request just over 4 MiB reaches the service, which
	// judges it (65 items: too many; 64 items of 65537 bytes: each too
	// long, refused before any session) instead of the transport refusing
	// it as ResourceExhausted.
	big := func(n, size int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = bytes.Repeat([]byte{byte(i + 1)}, size)
		}
		return out
	}
	if _, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Messages: big(65, 64<<10)}); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "at most 64 items") {
		t.Fatalf("65 messages of 64 KiB: %v", err)
	}
	over, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Messages: big(64, 64<<10+1)})
	if err != nil || len(over.GetResults()) != 64 {
		t.Fatalf("64 messages of 65537 bytes: %v", err)
	}
	for _, res := range over.GetResults() {
		if res.GetErrorCode() != "INVALID_ARGUMENT" || !strings.Contains(res.GetErrorMessage(), "message must be 1 to 65536 bytes, got 65537") {
			t.Fatalf("item %d of 65537 bytes: %v", res.GetIndex(), res)
		}
	}
	// Messages of the largest size sign, in a batch.
	largest := big(2, 64<<10)
	lr, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Messages: largest})
	if err != nil || len(lr.GetResults()) != 2 {
		t.Fatalf("2 messages of 64 KiB: %v", err)
	}
	for i, res := range lr.GetResults() {
		if !ed25519.Verify(pub, largest[i], res.GetSignature().GetSignature()) {
			t.Fatalf("64 KiB message %d: %v", i, res)
		}
	}

	// A batch: results in request order, a bad item fails alone.
	batch := [][]byte{[]byte("first"), {}, {0, 0, 9}}
	br, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Messages: batch})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	if len(br.GetResults()) != len(batch) {
		t.Fatalf("%d results", len(br.GetResults()))
	}
	for i, res := range br.GetResults() {
		if res.GetIndex() != uint32(i) {
			t.Fatalf("result %d has index %d", i, res.GetIndex())
		}
		if i == 1 {
			if res.GetErrorCode() != "INVALID_ARGUMENT" || res.GetSignature() != nil {
				t.Fatalf("empty item: %v", res)
			}
			continue
		}
		if !ed25519.Verify(pub, batch[i], res.GetSignature().GetSignature()) {
			t.Fatalf("batch item %d does not verify: %v", i, res)
		}
	}

	// Idempotency covers messages too.
	r1, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Message: []byte("pay 1"), RequestId: "ed-1"})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Message: []byte("pay 1"), RequestId: "ed-1"})
	if err != nil || !r2.GetReplayed() || !bytes.Equal(r1.GetSignature(), r2.GetSignature()) {
		t.Fatalf("replay: %v %v", r2, err)
	}
	if _, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Message: []byte("pay 2"), RequestId: "ed-1"}); code(err) != codes.AlreadyExists {
		t.Fatalf("reused request id: %v", err)
	}

	// Revoke the server, replacing it with the tablet: same public key.
	if _, err := c.Admin.RevokeDevice(ctx, &mpcv1.RevokeDeviceRequest{Device: "server", ReplaceWith: "tablet"}); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	waitJob(t, c, key.GetId(), mpcv1.ReshareJobState_RESHARE_JOB_STATE_DONE)
	for _, n := range []string{"phone", "laptop", "tablet"} {
		waitEpochs(t, devs[n], key.GetId(), "1:committed")
	}
	c.StopDevice(t, "laptop")
	r := sign([]byte{0, 0, 0, 0, 7})
	s := slices.Sorted(slices.Values(r.GetSigners()))
	if !slices.Equal(s, []string{"phone", "tablet"}) {
		t.Fatalf("signed by %v", s)
	}
	c.RestartDevice(t, "laptop")
	c.WaitOnline(t, "laptop")

	// A drill: its test signature is an Ed25519 signature of the test digest.
	dr, err := c.Admin.DrillKey(ctx, &mpcv1.DrillKeyRequest{KeyId: key.GetId()})
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	rep := dr.GetReport()
	if !rep.GetOk() || !ed25519.Verify(pub, rep.GetTestDigest(), rep.GetTestSignature()) {
		t.Fatalf("drill report %v", rep)
	}
	sign([]byte("after the drill"))
}

// TestDerivedKeys: a secp256k1 key's chain code comes from keygen; signing
// with a path uses the child key that an independent BIP32 derivation
// (tss-lib's ckd) gives; a derivation-only key refuses its root; a batch
// keeps request order; a reshare carries the chain code to a new holder.
func TestDerivedKeys(t *testing.T) {
	relay := &holdRelay{}
	// Eight signing sessions run at once below, on a small machine.
	c := testkit.New(t, testkit.Options{SignTimeout: 2 * time.Minute, Relay: relay.relay})
	ctx := context.Background()
	for i, name := range []string{"phone", "laptop", "server"} {
		c.AddDevice(t, name, testkit.FixtureSets(t, i+1)) // keygen, reshare, derivation-only keygen
	}
	tablet := c.AddDevice(t, "tablet", testkit.FixtureSets(t, 4)[:1])
	key := c.CreateKey(t, 1, "phone", "laptop", "server")
	if len(key.GetChainCode()) != 32 || key.GetAddresses().GetEthereum() == "" || key.GetAddresses().GetBitcoinP2Wpkh() == "" {
		t.Fatalf("key %v", key)
	}

	const path = "m/44/60/0/0/7"
	child := independentChild(t, key, []uint32{44, 60, 0, 0, 7})
	got, err := c.Admin.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: key.GetId(), Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if d := got.GetDerived(); !bytes.Equal(d.GetPublicKey(), child) || d.GetPath() != path || d.GetAddresses().GetEthereum() == key.GetAddresses().GetEthereum() {
		t.Fatalf("derived %v, want public key %x", d, child)
	}
	signPath := func(p string, pub []byte, msg string) {
		t.Helper()
		dg := digest(msg)
		r, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: dg, Path: p})
		if err != nil {
			t.Fatalf("sign with %s: %v", p, err)
		}
		if !bytes.Equal(r.GetPublicKey(), pub) || r.GetPath() != p {
			t.Fatalf("response public key %x path %q, want %x", r.GetPublicKey(), r.GetPath(), pub)
		}
		verify(t, pub, dg, r)
	}
	signPath(path, child, "child payment")
	signAndVerify(t, c, key, "root payment") // not derivation-only yet

	for _, tc := range []struct {
		p    string
		want codes.Code
	}{
		{"m/44'/60/0", codes.InvalidArgument},
		{"m/2147483648", codes.InvalidArgument},
		{"m/x", codes.InvalidArgument},
		{"m", codes.InvalidArgument}, // the root key is not a derived key
	} {
		if _, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("x"), Path: tc.p}); code(err) != tc.want {
			t.Errorf("path %q: got %v, want %v", tc.p, err, tc.want)
		}
	}

	// Batch: request order, a bad item fails alone.
	digests := [][]byte{digest("a"), digest("b")[:31], digest("c")}
	br, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digests: digests, Path: path})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	for i, res := range br.GetResults() {
		if i == 1 {
			if res.GetErrorCode() != "INVALID_ARGUMENT" {
				t.Fatalf("short digest: %v", res)
			}
			continue
		}
		if res.GetIndex() != uint32(i) || res.GetSignature() == nil {
			t.Fatalf("item %d: %v", i, res)
		}
		verify(t, child, digests[i], res.GetSignature())
	}

	// A batch runs its items as concurrent sessions, 8 at a time: while the
	// relay holds every protocol message (no session can finish), eight
	// sessions of one batch of nine have started (run one after another,
	// only one would). The ninth waits for a slot; the key is marked
	// derivation-only meanwhile, and the mark applies to that item although
	// the batch was checked before the mark was set.
	roots := make([][]byte, 9)
	for i := range roots {
		roots[i] = digest("root " + strconv.Itoa(i))
	}
	relay.hold()
	t.Cleanup(relay.release) // on a failure below
	type batchOutcome struct {
		r   *mpcv1.SignResponse
		err error
	}
	outcome := make(chan batchOutcome, 1)
	go func() {
		r, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digests: roots})
		outcome <- batchOutcome{r, err}
	}()
	// A generous bound, under the sign timeout: it only proves the wait does
	// not hang.
	for deadline := time.Now().Add(90 * time.Second); relay.sessions() < 8; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d sessions of the batch ran at once; want 8", relay.sessions())
		}
	}
	// Derivation-only: the root refuses, children sign.
	if _, err := c.Admin.SetDerivationOnly(ctx, &mpcv1.SetDerivationOnlyRequest{KeyId: key.GetId(), DerivationOnly: true}); err != nil {
		t.Fatal(err)
	}
	if n := relay.sessions(); n != 8 {
		t.Fatalf("%d sessions of one batch ran at once; at most 8 may", n)
	}
	relay.release()
	var o batchOutcome
	select {
	case o = <-outcome:
	case <-time.After(4 * time.Minute):
		t.Fatal("the batch did not finish")
	}
	if o.err != nil || len(o.r.GetResults()) != len(roots) {
		t.Fatalf("batch of root digests: %v %v", o.r, o.err)
	}
	signed, refused := 0, 0
	for i, res := range o.r.GetResults() {
		switch {
		case res.GetSignature() != nil:
			signed++
			verify(t, key.GetPublicKey(), roots[i], res.GetSignature())
		case res.GetErrorCode() == "FAILED_PRECONDITION" && strings.Contains(res.GetErrorMessage(), "derivation-only"):
			refused++
		default:
			t.Fatalf("item %d: %v", i, res)
		}
	}
	if signed != 8 || refused != 1 {
		t.Fatalf("%d root signatures and %d refusals; want 8 (started before the mark) and 1 (after it)", signed, refused)
	}
	if _, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("root")}); code(err) != codes.FailedPrecondition {
		t.Fatalf("root signature of a derivation-only key: %v", err)
	}
	if _, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("root"), Path: "m"}); code(err) != codes.InvalidArgument {
		t.Fatalf("root signature of a derivation-only key through path m: %v", err)
	}
	// The same path spelled without "m/" is the same path (request ids replay).
	a, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("spelling"), Path: path, RequestId: "hd-1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("spelling"), Path: "44/60/0/0/7", RequestId: "hd-1"})
	if err != nil || !b.GetReplayed() || !bytes.Equal(a.GetSignatureRsv(), b.GetSignatureRsv()) || b.GetPath() != path {
		t.Fatalf("replay with another spelling of the path: %v %v", b, err)
	}
	// The mark lifted, the root signs again; marked again for the reshare below.
	for _, on := range []bool{false, true} {
		r, err := c.Admin.SetDerivationOnly(ctx, &mpcv1.SetDerivationOnlyRequest{KeyId: key.GetId(), DerivationOnly: on})
		if err != nil || r.GetKey().GetDerivationOnly() != on {
			t.Fatalf("derivation-only %t: %v %v", on, r, err)
		}
		if !on {
			signAndVerify(t, c, key, "root payment after the mark was lifted")
		}
	}

	// A reshare that brings in the tablet: its new share gets the chain code,
	// and the drill-style test signature uses a child key.
	rs, err := c.Admin.ReshareKey(ctx, &mpcv1.ReshareKeyRequest{KeyId: key.GetId(), Devices: []string{"phone", "laptop", "tablet"}, Threshold: u32(1)})
	if err != nil {
		t.Fatalf("reshare: %v", err)
	}
	rep := rs.GetReport()
	if !rep.GetOk() || rep.GetTestPath() != "m/2147483647" {
		t.Fatalf("report %v", rep)
	}
	testChild := independentChild(t, key, []uint32{2147483647})
	if !verifyRSV(t, testChild, rep.GetTestDigest(), rep.GetTestSignature()) {
		t.Fatal("the drill's test signature does not verify under the child key m/2147483647")
	}
	if verifyRSV(t, key.GetPublicKey(), rep.GetTestDigest(), rep.GetTestSignature()) {
		t.Fatal("the drill's test signature verifies under the root key")
	}
	if !bytes.Equal(rs.GetKey().GetChainCode(), key.GetChainCode()) {
		t.Fatal("the chain code changed")
	}
	waitEpochs(t, tablet, key.GetId(), "1:committed")
	c.StopDevice(t, "phone")
	signPath(path, child, "tablet and laptop sign a child payment")

	// A key made derivation-only: its root never signs, its children do.
	cr, err := c.Admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, Devices: []string{"laptop", "server"}, DerivationOnly: true})
	if err != nil {
		t.Fatalf("derivation-only keygen: %v", err)
	}
	dkey := cr.GetKey()
	if !dkey.GetDerivationOnly() || len(dkey.GetChainCode()) != 32 {
		t.Fatalf("key %v", dkey)
	}
	if _, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: dkey.GetId(), Digest: digest("root")}); code(err) != codes.FailedPrecondition {
		t.Fatalf("root signature of a key made derivation-only: %v", err)
	}
	dchild := independentChild(t, dkey, []uint32{0, 1})
	dg := digest("child of a derivation-only key")
	r, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: dkey.GetId(), Digest: dg, Path: "m/0/1"})
	if err != nil || !bytes.Equal(r.GetPublicKey(), dchild) {
		t.Fatalf("child signature of a key made derivation-only: %v %v", r, err)
	}
	verify(t, dchild, dg, r)
}

// holdRelay passes protocol messages through or, while holding, keeps them
// (in order) and counts the sessions they belong to.
type holdRelay struct {
	mu      sync.Mutex
	holding bool
	held    []func()
	seen    map[string]bool
}

func (r *holdRelay) relay(_ string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.holding {
		deliver(m)
		return
	}
	m = proto.Clone(m).(*mpcv1.SessionMessage)
	r.seen[string(m.GetSessionId())] = true
	r.held = append(r.held, func() { deliver(m) })
}

func (r *holdRelay) hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holding, r.seen = true, map[string]bool{}
}

// sessions counts the sessions whose messages were held.
func (r *holdRelay) sessions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// release delivers the held messages in order, then passes messages through.
func (r *holdRelay) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.held {
		f()
	}
	r.held, r.holding = nil, false
}

// independentChild derives a child public key with tss-lib's own BIP32 code,
// not the service's.
func independentChild(t *testing.T, key *mpcv1.Key, path []uint32) []byte {
	t.Helper()
	pub, err := secp256k1.ParsePubKey(key.GetPublicKey())
	if err != nil {
		t.Fatal(err)
	}
	ec := tss.S256()
	parent := &ckd.ExtendedKey{PublicKey: ecdsa.PublicKey{Curve: ec, X: pub.X(), Y: pub.Y()}, ChainCode: key.GetChainCode(), ParentFP: []byte{0, 0, 0, 0}}
	_, ext, err := ckd.DeriveChildKeyFromHierarchy(path, parent, ec.Params().N, ec)
	if err != nil {
		t.Fatal(err)
	}
	var x, y secp256k1.FieldVal
	x.SetByteSlice(ext.X.Bytes())
	y.SetByteSlice(ext.Y.Bytes())
	return secp256k1.NewPublicKey(&x, &y).SerializeCompressed()
}

// verifyRSV checks r || s || v under pub with decred's secp256k1.
func verifyRSV(t *testing.T, pub, digest, rsv []byte) bool {
	t.Helper()
	if len(rsv) != 65 {
		t.Fatalf("signature of %d bytes", len(rsv))
	}
	p, err := secp256k1.ParsePubKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	var r, s secp256k1.ModNScalar
	r.SetByteSlice(rsv[:32])
	s.SetByteSlice(rsv[32:64])
	return decredecdsa.NewSignature(&r, &s).Verify(digest, p)
}
