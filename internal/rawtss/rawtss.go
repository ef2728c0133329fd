// Package rawtss runs tss-lib's ECDSA keygen and signing between parties in
// one process, routing messages directly. It is the baseline the service's
// benchmark compares itself against; it is not used by the product.
package rawtss

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/preparams"
)

// Key is the result of an in-process keygen.
type Key struct {
	IDs       tss.SortedPartyIDs
	Data      []keygen.LocalPartySaveData
	Threshold int
}

func partyIDs(n int) tss.SortedPartyIDs {
	var ids tss.UnSortedPartyIDs
	for i := 0; i < n; i++ {
		ids = append(ids, tss.NewPartyID(fmt.Sprint("p", i), fmt.Sprint("p", i), big.NewInt(int64(1000+i))))
	}
	return tss.SortPartyIDs(ids)
}

// run routes messages between parties until finished is closed.
func run(ctx context.Context, parties []tss.Party, out chan tss.Message, finished <-chan struct{}, errCh chan *tss.Error) error {
	byID := map[string]tss.Party{}
	for _, p := range parties {
		byID[p.PartyID().Id] = p
		go func(p tss.Party) {
			if err := p.Start(); err != nil {
				errCh <- err
			}
		}(p)
	}
	deliver := func(p tss.Party, b []byte, from *tss.PartyID, bc bool) {
		if _, err := p.UpdateFromBytes(b, from, bc); err != nil {
			errCh <- err
		}
	}
	for {
		select {
		case <-finished:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errCh:
			return err
		case m := <-out:
			b, r, err := m.WireBytes()
			if err != nil {
				return err
			}
			if r.IsBroadcast {
				for _, p := range parties {
					if p.PartyID().Id != r.From.Id {
						go deliver(p, b, r.From, true)
					}
				}
			} else {
				for _, to := range r.To {
					go deliver(byID[to.Id], b, r.From, false)
				}
			}
		}
	}
}

// collect receives n values from end, then closes the returned channel.
func collect[T any](n int, end <-chan T, each func(T)) <-chan struct{} {
	finished := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			each(<-end)
		}
		close(finished)
	}()
	return finished
}

// Keygen runs a keygen between len(sets) parties with threshold t.
func Keygen(ctx context.Context, t int, sets []*preparams.Set) (*Key, error) {
	ids := partyIDs(len(sets))
	pc := tss.NewPeerContext(ids)
	out := make(chan tss.Message, 64*len(ids))
	end := make(chan *keygen.LocalPartySaveData, len(ids))
	errCh := make(chan *tss.Error, len(ids))
	var parties []tss.Party
	for i, id := range ids {
		parties = append(parties, keygen.NewLocalParty(tss.NewParameters(tss.S256(), pc, id, len(ids), t), out, end, sets[i].Local()))
	}
	key := &Key{IDs: ids, Data: make([]keygen.LocalPartySaveData, len(ids)), Threshold: t}
	var idxErr error
	finished := collect(len(ids), end, func(d *keygen.LocalPartySaveData) {
		idx, err := d.OriginalIndex()
		if err != nil {
			idxErr = err
			return
		}
		key.Data[idx] = *d
	})
	if err := run(ctx, parties, out, finished, errCh); err != nil {
		return nil, err
	}
	if idxErr != nil {
		return nil, idxErr
	}
	return key, nil
}

// Sign signs a 32-byte digest with the first t+1 parties.
func (k *Key) Sign(ctx context.Context, digest []byte) (*common.SignatureData, error) {
	if len(digest) != 32 {
		return nil, errors.New("rawtss: digest must be 32 bytes")
	}
	n := k.Threshold + 1
	ids := tss.SortPartyIDs(k.IDs[:n].ToUnSorted())
	pc := tss.NewPeerContext(ids)
	out := make(chan tss.Message, 64*n)
	end := make(chan *common.SignatureData, n)
	errCh := make(chan *tss.Error, n)
	m := new(big.Int).SetBytes(digest)
	var parties []tss.Party
	for i, id := range ids {
		parties = append(parties, signing.NewLocalParty(m, tss.NewParameters(tss.S256(), pc, id, n, k.Threshold), k.Data[i], out, end, 32))
	}
	var sig *common.SignatureData
	finished := collect(n, end, func(s *common.SignatureData) { sig = s })
	if err := run(ctx, parties, out, finished, errCh); err != nil {
		return nil, err
	}
	return sig, nil
}
