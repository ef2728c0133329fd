package blame

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/mpcsign/mpcsign/internal/hd"
)

// This file runs one real ECDSA keygen (3 parties, t=1, TEST-ONLY fixture
// sets 0-2 of TEST-ONLY-set-5.json) that keeps every party's save data, and
// then real signings by subsets of its parties, in process, recording every
// message as the coordinator relays it (Msg: a broadcast once, a
// point-to-point message with its recipient).

var (
	signKeygenOnce sync.Once
	signKeygenData []keygen.LocalPartySaveData // by index in testIDs(testParties)
)

// signKeys runs the keygen once and returns deep copies of the save data.
func signKeys(tb testing.TB) []keygen.LocalPartySaveData {
	tb.Helper()
	signKeygenOnce.Do(func() {
		start := time.Now()
		sets := readFixtures(tb)
		ids := testIDs(testParties)
		pc := tss.NewPeerContext(ids)
		out := make(chan tss.Message, 64*testParties)
		end := make(chan *keygen.LocalPartySaveData, testParties)
		var parties []tss.Party
		for i, id := range ids {
			params := tss.NewParameters(tss.S256(), pc, id, testParties, testThreshold)
			parties = append(parties, keygen.NewLocalParty(params, out, end, sets[i].Local()))
		}
		keys := make([]keygen.LocalPartySaveData, testParties)
		finished := collectEnd(end, testParties, func(d *keygen.LocalPartySaveData) {
			if i, err := d.OriginalIndex(); err == nil {
				keys[i] = *d
			}
		})
		anyError := func(e []*tss.Error) bool { return len(e) > 0 }
		if _, errs := relay(tb, parties, out, finished, nil, anyError); len(errs) > 0 {
			tb.Fatalf("keygen failed: %v", errs[0])
		}
		signKeygenData = keys
		tb.Logf("ECDSA keygen for signing: %v", time.Since(start))
	})
	if signKeygenData == nil {
		tb.Fatal("the keygen for signing did not finish")
	}
	out := make([]keygen.LocalPartySaveData, len(signKeygenData))
	for i, k := range signKeygenData {
		out[i] = deepCopy(tb, k)
	}
	return out
}

func deepCopy(tb testing.TB, k keygen.LocalPartySaveData) keygen.LocalPartySaveData {
	tb.Helper()
	var c keygen.LocalPartySaveData
	b, err := json.Marshal(k)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// publicOnly keeps the public fields of a holder's save data: no share, no
// Paillier secret, no pre-parameters, no ShareID.
func publicOnly(k keygen.LocalPartySaveData) keygen.LocalPartySaveData {
	d := keygen.NewLocalPartySaveData(len(k.Ks))
	copy(d.Ks, k.Ks)
	copy(d.NTildej, k.NTildej)
	copy(d.H1j, k.H1j)
	copy(d.H2j, k.H2j)
	copy(d.BigXj, k.BigXj)
	for i, pk := range k.PaillierPKs {
		d.PaillierPKs[i] = &paillier.PublicKey{N: pk.N}
	}
	d.ECDSAPub = k.ECDSAPub
	return d
}

// collectEnd calls each for n results of end, then closes the returned
// channel.
func collectEnd[T any](end <-chan T, n int, each func(T)) <-chan struct{} {
	finished := make(chan struct{})
	go func() {
		for range n {
			each(<-end)
		}
		close(finished)
	}()
	return finished
}

// rewriteFunc may replace a message's wire before it is delivered and
// recorded (nil keeps it).
type rewriteFunc func(from, to string, content proto.Message) []byte

// relay starts the parties and routes their messages, recording them, until
// finished is closed or stop (if not nil) holds for the errors so far.
func relay(tb testing.TB, parties []tss.Party, out <-chan tss.Message, finished <-chan struct{},
	rewrite rewriteFunc, stop func([]*tss.Error) bool) ([]Msg, []*tss.Error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errCh := make(chan *tss.Error, 64*len(parties))
	byID := map[string]tss.Party{}
	for _, p := range parties {
		byID[p.PartyID().Id] = p
		go func(p tss.Party) {
			if err := p.Start(); err != nil {
				errCh <- err
			}
		}(p)
	}
	var msgs []Msg
	var errs []*tss.Error
	deliver := func(p tss.Party, wire []byte, from *tss.PartyID, bcast bool) {
		go func() {
			if _, err := p.UpdateFromBytes(wire, from, bcast); err != nil {
				errCh <- err
			}
		}()
	}
	for stop == nil || !stop(errs) {
		select {
		case <-finished:
			return msgs, errs
		case <-ctx.Done():
			tb.Fatalf("protocol did not finish: %d messages, errors %v", len(msgs), errs)
		case err := <-errCh:
			errs = append(errs, err)
		case m := <-out:
			wire, routing, err := m.WireBytes()
			if err != nil {
				tb.Fatal(err)
			}
			from := routing.From
			rewritten := func(to string) []byte {
				if rewrite != nil {
					if w := rewrite(from.Id, to, m.(tss.ParsedMessage).Content()); w != nil {
						return w
					}
				}
				return wire
			}
			if routing.IsBroadcast {
				w := rewritten("")
				msgs = append(msgs, Msg{From: from.Id, Broadcast: true, Wire: w})
				for id, p := range byID {
					if id != from.Id {
						deliver(p, w, from, true)
					}
				}
				continue
			}
			for _, to := range routing.To {
				w := rewritten(to.Id)
				msgs = append(msgs, Msg{From: from.Id, To: to.Id, Wire: w})
				deliver(byID[to.Id], w, from, false)
			}
		}
	}
	return msgs, errs
}

// signRun is one signing session as the judge sees it.
type signRun struct {
	sign   Sign
	msgs   []Msg
	errs   []*tss.Error
	signed int
}

func (r *signRun) id(i int) string { return r.sign.Signers[i].Id }

// signOpts configure a signing run: the keygen parties that sign (indices in
// testIDs), a derivation path, the digest's label, a rewrite of the
// point-to-point messages and a stop condition.
type signOpts struct {
	picks   []int
	path    string
	label   string
	rewrite rewriteFunc
	stop    func([]*tss.Error) bool
}

// runSign runs one signing with the keygen's save data.
func runSign(tb testing.TB, o signOpts) *signRun {
	tb.Helper()
	keys := signKeys(tb)
	all := testIDs(testParties)
	var unsorted tss.UnSortedPartyIDs
	for _, p := range o.picks {
		unsorted = append(unsorted, all[p])
	}
	signers := tss.SortPartyIDs(unsorted)
	r := &signRun{sign: Sign{Key: publicOnly(keys[0]), Signers: signers, Threshold: testThreshold}}
	pub := rootKey(keys[0])
	if o.path != "" {
		r.sign.Delta, pub = derivePath(tb, pub, o.path)
		// The curve of ChildPub is not read: the library is given tss.S256().
		r.sign.ChildPub = pub.ToECDSA()
	}
	digest := sha256.Sum256([]byte(o.label))
	m := new(big.Int).SetBytes(digest[:])
	pc := tss.NewPeerContext(signers)
	out := make(chan tss.Message, 64*len(signers))
	end := make(chan *common.SignatureData, len(signers))
	var parties []tss.Party
	for _, id := range signers {
		key := keys[indexOf(all, id.Id)]
		if r.sign.Delta != nil {
			ks := []keygen.LocalPartySaveData{key}
			if err := signing.UpdatePublicKeyAndAdjustBigXj(r.sign.Delta, ks, r.sign.ChildPub, tss.S256()); err != nil {
				tb.Fatal(err)
			}
			key = ks[0]
		}
		params := tss.NewParameters(tss.S256(), pc, id, len(signers), testThreshold)
		parties = append(parties, signing.NewLocalPartyWithKDD(m, params, key, r.sign.Delta, out, end, 32))
	}
	finished := collectEnd(end, len(signers), func(sig *common.SignatureData) {
		var sr, ss secp256k1.ModNScalar
		sr.SetByteSlice(sig.R)
		ss.SetByteSlice(sig.S)
		if secpecdsa.NewSignature(&sr, &ss).Verify(digest[:], pub) {
			r.signed++
		}
	})
	r.msgs, r.errs = relay(tb, parties, out, finished, o.rewrite, o.stop)
	return r
}

func indexOf(ids tss.SortedPartyIDs, id string) int {
	for i, p := range ids {
		if p.Id == id {
			return i
		}
	}
	return -1
}

// rootKey is the key's public key.
func rootKey(k keygen.LocalPartySaveData) *secp256k1.PublicKey {
	var x, y secp256k1.FieldVal
	x.SetByteSlice(k.ECDSAPub.X().Bytes())
	y.SetByteSlice(k.ECDSAPub.Y().Bytes())
	return secp256k1.NewPublicKey(&x, &y)
}

// derivePath derives the child key at path as the service does (hd.Derive
// on the compressed public key, with a fixed test chain code).
func derivePath(tb testing.TB, root *secp256k1.PublicKey, path string) (*big.Int, *secp256k1.PublicKey) {
	tb.Helper()
	steps, err := hd.ParsePath(path)
	if err != nil {
		tb.Fatal(err)
	}
	chainCode := sha256.Sum256([]byte("TEST-ONLY chain code"))
	d, err := hd.Derive(root.SerializeCompressed(), chainCode[:], steps)
	if err != nil {
		tb.Fatal(err)
	}
	child, err := secp256k1.ParsePubKey(d.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return d.Delta, child
}

// blamedBy reports whether the library of victim reported an error naming
// culprit.
func blamedBy(errs []*tss.Error, victim, culprit string) bool {
	for _, e := range errs {
		if e.Victim() == nil || e.Victim().Id != victim {
			continue
		}
		for _, c := range e.Culprits() {
			if c != nil && c.Id == culprit {
				return true
			}
		}
	}
	return false
}
