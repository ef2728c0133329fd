package blame

import (
	"crypto/ed25519"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	edsigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// This file runs one real EdDSA keygen (3 parties, t=1, no pre-parameters)
// that keeps every party's save data, and then real EdDSA signings by
// subsets of its parties, in process, with relay (sign_harness_test.go)
// recording every message as the coordinator relays it.

var (
	edSignKeygenOnce sync.Once
	edSignKeygenData []eddsakeygen.LocalPartySaveData // by index in testIDs(testParties)
)

// edSignKeys runs the EdDSA keygen once and returns deep copies of the
// save data.
func edSignKeys(tb testing.TB) []eddsakeygen.LocalPartySaveData {
	tb.Helper()
	edSignKeygenOnce.Do(func() {
		start := time.Now()
		ids := testIDs(testParties)
		pc := tss.NewPeerContext(ids)
		out := make(chan tss.Message, 64*testParties)
		end := make(chan *eddsakeygen.LocalPartySaveData, testParties)
		var parties []tss.Party
		for _, id := range ids {
			params := tss.NewParameters(tss.Edwards(), pc, id, testParties, testThreshold)
			parties = append(parties, eddsakeygen.NewLocalParty(params, out, end))
		}
		keys := make([]eddsakeygen.LocalPartySaveData, testParties)
		finished := collectEnd(end, testParties, func(d *eddsakeygen.LocalPartySaveData) {
			if i, err := d.OriginalIndex(); err == nil {
				keys[i] = *d
			}
		})
		anyError := func(e []*tss.Error) bool { return len(e) > 0 }
		if _, errs := relay(tb, parties, out, finished, nil, anyError); len(errs) > 0 {
			tb.Fatalf("EdDSA keygen failed: %v", errs[0])
		}
		edSignKeygenData = keys
		tb.Logf("EdDSA keygen for signing: %v", time.Since(start))
	})
	if edSignKeygenData == nil {
		tb.Fatal("the EdDSA keygen for signing did not finish")
	}
	out := make([]eddsakeygen.LocalPartySaveData, len(edSignKeygenData))
	for i, k := range edSignKeygenData {
		b, err := json.Marshal(k)
		if err == nil {
			err = json.Unmarshal(b, &out[i])
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// edSignRun is one EdDSA signing session as the judge sees it.
type edSignRun struct {
	sign   SignEdDSA
	msgs   []Msg
	errs   []*tss.Error
	signed int // signatures that verify with crypto/ed25519
}

func (r *edSignRun) id(i int) string { return r.sign.Signers[i].Id }

// runEdSign runs one EdDSA signing (opts.path is not used) of a message
// with a leading zero byte, as the service starts it: the key data the
// judge gets went through EdKeyPublic's encoding, as the coordinator keeps
// it.
func runEdSign(tb testing.TB, o signOpts) *edSignRun {
	tb.Helper()
	keys := edSignKeys(tb)
	all := testIDs(testParties)
	var unsorted tss.UnSortedPartyIDs
	for _, p := range o.picks {
		unsorted = append(unsorted, all[p])
	}
	signers := tss.SortPartyIDs(unsorted)
	msg := append([]byte{0}, o.label...)
	r := &edSignRun{sign: SignEdDSA{Key: reportedEdKey(tb, keys[0]), Signers: signers, Threshold: testThreshold, Message: msg}}
	pub := edPublicKey(keys[0].EDDSAPub)
	pc := tss.NewPeerContext(signers)
	out := make(chan tss.Message, 64*len(signers))
	end := make(chan *common.SignatureData, len(signers))
	var parties []tss.Party
	for _, id := range signers {
		params := tss.NewParameters(tss.Edwards(), pc, id, len(signers), testThreshold)
		parties = append(parties, edsigning.NewLocalParty(new(big.Int).SetBytes(msg), params, keys[indexOf(all, id.Id)], out, end, len(msg)))
	}
	finished := collectEnd(end, len(signers), func(sig *common.SignatureData) {
		if ed25519.Verify(pub, msg, sig.Signature) {
			r.signed++
		}
	})
	r.msgs, r.errs = relay(tb, parties, out, finished, o.rewrite, o.stop)
	return r
}

// reportedEdKey is a holder's key data as the coordinator keeps it: its
// EdKeyPublic, encoded and decoded.
func reportedEdKey(tb testing.TB, k eddsakeygen.LocalPartySaveData) eddsakeygen.LocalPartySaveData {
	tb.Helper()
	p, err := PublicOfEdDSA(k)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	back, err := UnmarshalEdKeyPublic(b)
	if err != nil {
		tb.Fatal(err)
	}
	d, err := back.SaveData()
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// edPublicKey is the RFC 8032 encoding of an Ed25519 point: y little-endian,
// the top bit the parity of x.
func edPublicKey(p *crypto.ECPoint) ed25519.PublicKey {
	b := make([]byte, 32)
	p.Y().FillBytes(b)
	for i, k := 0, len(b)-1; i < k; i, k = i+1, k-1 {
		b[i], b[k] = b[k], b[i]
	}
	b[31] |= byte(p.X().Bit(0) << 7)
	return b
}

// victimErrs stops a run at the first error of victim's library.
func victimErrs(victim string) func([]*tss.Error) bool {
	return func(errs []*tss.Error) bool {
		for _, e := range errs {
			if e.Victim() != nil && e.Victim().Id == victim {
				return true
			}
		}
		return false
	}
}
