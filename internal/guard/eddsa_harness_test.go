package guard

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/crypto"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	eddsaresharing "github.com/bnb-chain/tss-lib/v2/eddsa/resharing"
	eddsasigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// This file runs the real EdDSA protocols of tss-lib v2.0.2 in process and
// records every message they send: a 3-party keygen with t=1, a 2-party
// signing, a resharing from those 3 parties (t=1) to 4 new ones (t=2), and a
// 3-party signing with the new shares. Both signatures are over a message
// that starts with zero bytes, with its length as fullBytesLen. EdDSA needs
// no pre-parameters, so this takes well under a second of work. It runs
// once per test binary.

const (
	edNewThreshold = 2
	edNewParties   = 4
)

// edRealRun is what the EdDSA runs sent and produced.
type edRealRun struct {
	*realRun // params and messages of KeygenEdDSA, SignEdDSA and ReshareEdDSA

	// after is the signing with the new committee, under afterParams.
	after       []captured
	afterParams Params

	ids, newIDs     tss.SortedPartyIDs
	keys, newKeys   []eddsakeygen.LocalPartySaveData // by index in ids, newIDs
	msg             []byte                           // the signed message
	sig, sigAfter   *common.SignatureData
	pub             ed25519.PublicKey // the key's public key, RFC 8032 encoding
	signIDs         tss.SortedPartyIDs
	keyByID         map[string]eddsakeygen.LocalPartySaveData // old and new shares, by party id
	signAfterIDs    tss.SortedPartyIDs
	resharedPubKeys [][]byte // the public key each new party saved
}

var (
	edOnce sync.Once
	edData *edRealRun
	edErr  error
)

func edRuns(tb testing.TB) *edRealRun {
	tb.Helper()
	edOnce.Do(func() { edData, edErr = runAllEdDSA() })
	if edErr != nil {
		tb.Fatalf("running the real EdDSA protocols: %v", edErr)
	}
	return edData
}

func runAllEdDSA() (*edRealRun, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := &edRealRun{
		realRun: &realRun{
			params: map[Protocol]Params{
				KeygenEdDSA:  {Protocol: KeygenEdDSA, Threshold: runThreshold, PartyCount: runParties},
				SignEdDSA:    {Protocol: SignEdDSA, Threshold: runThreshold, PartyCount: runSigners},
				ReshareEdDSA: {Protocol: ReshareEdDSA, Threshold: runThreshold, PartyCount: runParties, NewThreshold: edNewThreshold, NewPartyCount: edNewParties},
			},
			msgs: map[Protocol][]captured{},
		},
		afterParams: Params{Protocol: SignEdDSA, Threshold: edNewThreshold, PartyCount: edNewThreshold + 1},
		keyByID:     map[string]eddsakeygen.LocalPartySaveData{},
		// The message starts with zero bytes: without fullBytesLen, v2.0.2
		// would sign m.Bytes(), the message without them.
		msg: append([]byte{0, 0, 0}, "guard eddsa test message"...),
	}
	r.ids = partyIDs("e", 3000, runParties)
	var err error
	if r.keys, err = runEdKeygen(ctx, r.realRun, r.ids); err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	if r.pub, err = edPublicKey(r.keys[0].EDDSAPub); err != nil {
		return nil, err
	}
	for i, id := range r.ids {
		r.keyByID[id.Id] = r.keys[i]
	}
	r.signIDs = tss.SortPartyIDs(r.ids[:runSigners].ToUnSorted())
	if r.sig, err = runEdSigning(ctx, r.realRun, SignEdDSA, r.signIDs, r.keys, runThreshold, r.msg); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	r.newIDs = partyIDs("f", 4000, edNewParties)
	if err := runEdResharing(ctx, r); err != nil {
		return nil, fmt.Errorf("resharing: %w", err)
	}
	for i, id := range r.newIDs {
		r.keyByID[id.Id] = r.newKeys[i]
	}
	after := &realRun{msgs: map[Protocol][]captured{}}
	r.signAfterIDs = tss.SortPartyIDs(r.newIDs[:edNewThreshold+1].ToUnSorted())
	if r.sigAfter, err = runEdSigning(ctx, after, SignEdDSA, r.signAfterIDs, r.newKeys, edNewThreshold, r.msg); err != nil {
		return nil, fmt.Errorf("signing with the new committee: %w", err)
	}
	r.after = after.msgs[SignEdDSA]
	return r, nil
}

func runEdKeygen(ctx context.Context, r *realRun, ids tss.SortedPartyIDs) ([]eddsakeygen.LocalPartySaveData, error) {
	pc := tss.NewPeerContext(ids)
	rt := newRouter(KeygenEdDSA, len(ids))
	end := make(chan *eddsakeygen.LocalPartySaveData, len(ids))
	var parties []tss.Party
	for _, id := range ids {
		parties = append(parties, eddsakeygen.NewLocalParty(tss.NewParameters(tss.Edwards(), pc, id, len(ids), runThreshold), rt.out, end))
	}
	rt.recipients = byIDs(parties)
	keys := make([]eddsakeygen.LocalPartySaveData, len(ids))
	var idxErr error
	finished := collect(len(ids), end, func(d *eddsakeygen.LocalPartySaveData) {
		i, err := d.OriginalIndex()
		if err != nil {
			idxErr = err
			return
		}
		keys[i] = *d
	})
	if err := rt.run(ctx, r, parties, finished); err != nil {
		return nil, err
	}
	return keys, idxErr
}

// runEdSigning signs msg with the parties signIDs, whose key data is in keys
// at the index of their OriginalIndex.
func runEdSigning(ctx context.Context, r *realRun, proto Protocol, signIDs tss.SortedPartyIDs, keys []eddsakeygen.LocalPartySaveData, threshold int, msg []byte) (*common.SignatureData, error) {
	pc := tss.NewPeerContext(signIDs)
	rt := newRouter(proto, len(signIDs))
	end := make(chan *common.SignatureData, len(signIDs))
	m := new(big.Int).SetBytes(msg)
	var parties []tss.Party
	for _, id := range signIDs {
		key, err := edKeyOf(keys, id)
		if err != nil {
			return nil, err
		}
		params := tss.NewParameters(tss.Edwards(), pc, id, len(signIDs), threshold)
		parties = append(parties, eddsasigning.NewLocalParty(m, params, key, rt.out, end, len(msg)))
	}
	rt.recipients = byIDs(parties)
	var sigs []*common.SignatureData
	finished := collect(len(signIDs), end, func(d *common.SignatureData) { sigs = append(sigs, d) })
	if err := rt.run(ctx, r, parties, finished); err != nil {
		return nil, err
	}
	for _, s := range sigs[1:] {
		if !bytes.Equal(s.Signature, sigs[0].Signature) {
			return nil, fmt.Errorf("signers disagree on the signature")
		}
	}
	return sigs[0], nil
}

// edKeyOf finds the key data of party id (by its share id) and deep-copies it.
func edKeyOf(keys []eddsakeygen.LocalPartySaveData, id *tss.PartyID) (eddsakeygen.LocalPartySaveData, error) {
	for _, k := range keys {
		if k.ShareID != nil && k.ShareID.Cmp(id.KeyInt()) == 0 {
			return copyEdKey(k)
		}
	}
	return eddsakeygen.LocalPartySaveData{}, fmt.Errorf("no key data for %s", id.Id)
}

// copyEdKey deep-copies key data: resharing zeroes the old share in place.
func copyEdKey(k eddsakeygen.LocalPartySaveData) (eddsakeygen.LocalPartySaveData, error) {
	var out eddsakeygen.LocalPartySaveData
	b, err := json.Marshal(k)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(b, &out)
	return out, err
}

func runEdResharing(ctx context.Context, r *edRealRun) error {
	oldCtx, newCtx := tss.NewPeerContext(r.ids), tss.NewPeerContext(r.newIDs)
	rt := newRouter(ReshareEdDSA, len(r.ids)+len(r.newIDs))
	end := make(chan *eddsakeygen.LocalPartySaveData, len(r.ids)+len(r.newIDs))
	params := func(id *tss.PartyID) *tss.ReSharingParameters {
		return tss.NewReSharingParameters(tss.Edwards(), oldCtx, newCtx, id, len(r.ids), runThreshold, len(r.newIDs), edNewThreshold)
	}
	var olds, news []tss.Party
	for _, id := range r.ids {
		key, err := edKeyOf(r.keys, id)
		if err != nil {
			return err
		}
		olds = append(olds, eddsaresharing.NewLocalParty(params(id), key, rt.out, end))
	}
	for _, id := range r.newIDs {
		news = append(news, eddsaresharing.NewLocalParty(params(id), eddsakeygen.NewLocalPartySaveData(len(r.newIDs)), rt.out, end))
	}
	rt.recipients = reshareRecipients(olds, news)
	r.newKeys = make([]eddsakeygen.LocalPartySaveData, len(r.newIDs))
	var idxErr error
	finished := collect(len(olds)+len(news), end, func(d *eddsakeygen.LocalPartySaveData) {
		if d.Xi == nil {
			return // an old party, done
		}
		i, err := d.OriginalIndex()
		if err != nil {
			idxErr = err
			return
		}
		r.newKeys[i] = *d
		pub, err := edPublicKey(d.EDDSAPub)
		if err != nil {
			idxErr = err
			return
		}
		r.resharedPubKeys = append(r.resharedPubKeys, pub)
	})
	// New parties first, so they wait for the old committee's messages.
	if err := rt.run(ctx, r.realRun, append(news, olds...), finished); err != nil {
		return err
	}
	return idxErr
}

// edPublicKey encodes a public key as RFC 8032 does: y little-endian, with
// the low bit of x in the top bit.
func edPublicKey(p *crypto.ECPoint) (ed25519.PublicKey, error) {
	if p == nil {
		return nil, fmt.Errorf("no public key")
	}
	var b [32]byte
	p.Y().FillBytes(b[:])
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	if p.X().Bit(0) == 1 {
		b[31] |= 0x80
	}
	return ed25519.PublicKey(b[:]), nil
}
