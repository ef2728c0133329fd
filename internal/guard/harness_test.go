package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/common"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/preparams"
)

// This file runs real tss-lib protocols in process, with the TEST-ONLY
// pre-parameters, and records every message they send: a 3-party keygen with
// t=1 (set 4), a 2-party signing, and a 3 -> 3 resharing whose new committee
// uses set 3. It runs once per test binary.

// captured is one message as a party sent it.
type captured struct {
	protocol Protocol
	typ      string
	wire     []byte
	from     *tss.PartyID
	bcast    bool
	to       []string // recipient party ids, in delivery order
}

// parse decodes the message the way a receiving party does.
func (m captured) parse() (tss.ParsedMessage, error) {
	return tss.ParseWireMessage(m.wire, m.from, m.bcast)
}

type realRun struct {
	params  map[Protocol]Params
	msgs    map[Protocol][]captured
	keygenP []*preparams.Set                     // pre-parameters of the keygen parties, by index
	newP    []*preparams.Set                     // pre-parameters of the new resharing committee
	keys    map[string]keygen.LocalPartySaveData // keygen results, by party id
}

const (
	runThreshold = 1
	runParties   = 3
	runSigners   = runThreshold + 1
)

var (
	realOnce sync.Once
	realData *realRun
	realErr  error
)

// runs runs the protocols once and returns what they sent.
func runs(tb testing.TB) *realRun {
	tb.Helper()
	realOnce.Do(func() { realData, realErr = runAll() })
	if realErr != nil {
		tb.Fatalf("running the real protocols: %v", realErr)
	}
	return realData
}

func readSets(path string) ([]*preparams.Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return preparams.ReadTestFixtures(f)
}

func runAll() (*realRun, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	oldSets, err := readSets("../../testdata/preparams/TEST-ONLY-set-4.json")
	if err != nil {
		return nil, err
	}
	newSets, err := readSets("../../testdata/preparams/TEST-ONLY-set-3.json")
	if err != nil {
		return nil, err
	}
	if len(oldSets) < runParties || len(newSets) < runParties {
		return nil, fmt.Errorf("want %d fixture sets per file", runParties)
	}
	r := &realRun{
		params: map[Protocol]Params{
			KeygenECDSA:  {Protocol: KeygenECDSA, Threshold: runThreshold, PartyCount: runParties},
			SignECDSA:    {Protocol: SignECDSA, Threshold: runThreshold, PartyCount: runSigners},
			ReshareECDSA: {Protocol: ReshareECDSA, Threshold: runThreshold, PartyCount: runParties, NewThreshold: runThreshold, NewPartyCount: runParties},
		},
		msgs:    map[Protocol][]captured{},
		keygenP: oldSets[:runParties],
		newP:    newSets[:runParties],
	}

	ids := partyIDs("p", 1000, runParties)
	keys, err := runKeygen(ctx, r, ids)
	if err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	r.keys = map[string]keygen.LocalPartySaveData{}
	for i, id := range ids {
		if r.keys[id.Id], err = copyKey(keys[i]); err != nil {
			return nil, err
		}
	}
	if err := runSigning(ctx, r, ids, keys); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	if err := runResharing(ctx, r, ids, keys); err != nil {
		return nil, fmt.Errorf("resharing: %w", err)
	}
	return r, nil
}

func partyIDs(prefix string, base, n int) tss.SortedPartyIDs {
	var ids tss.UnSortedPartyIDs
	for i := 0; i < n; i++ {
		id := fmt.Sprint(prefix, i)
		ids = append(ids, tss.NewPartyID(id, id, big.NewInt(int64(base+i))))
	}
	return tss.SortPartyIDs(ids)
}

// router delivers messages between in-process parties and records them.
type router struct {
	protocol Protocol
	out      chan tss.Message
	errCh    chan *tss.Error
	// recipients returns the parties a message goes to, never its sender.
	recipients func(m tss.Message) []tss.Party
}

func newRouter(p Protocol, parties int) *router {
	return &router{
		protocol: p,
		out:      make(chan tss.Message, 256*parties),
		errCh:    make(chan *tss.Error, 4*parties),
	}
}

// run starts parties and routes until finished is closed.
func (rt *router) run(ctx context.Context, r *realRun, parties []tss.Party, finished <-chan struct{}) error {
	for _, p := range parties {
		go func(p tss.Party) {
			if err := p.Start(); err != nil {
				rt.errCh <- err
			}
		}(p)
	}
	deliver := func(p tss.Party, b []byte, from *tss.PartyID, bc bool) {
		if _, err := p.UpdateFromBytes(b, from, bc); err != nil {
			rt.errCh <- err
		}
	}
	for {
		select {
		case <-finished:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case err := <-rt.errCh:
			return err
		case m := <-rt.out:
			b, routing, err := m.WireBytes()
			if err != nil {
				return err
			}
			c := captured{protocol: rt.protocol, typ: m.Type(), wire: b, from: routing.From, bcast: routing.IsBroadcast}
			for _, p := range rt.recipients(m) {
				c.to = append(c.to, p.PartyID().Id)
				go deliver(p, b, routing.From, routing.IsBroadcast)
			}
			r.msgs[rt.protocol] = append(r.msgs[rt.protocol], c)
		}
	}
}

// byIDs routes broadcasts to every other party and p2p messages to To.
func byIDs(parties []tss.Party) func(m tss.Message) []tss.Party {
	byID := map[string]tss.Party{}
	for _, p := range parties {
		byID[p.PartyID().Id] = p
	}
	return func(m tss.Message) []tss.Party {
		var to []tss.Party
		if m.IsBroadcast() {
			for _, p := range parties {
				if p.PartyID().Id != m.GetFrom().Id {
					to = append(to, p)
				}
			}
			return to
		}
		for _, id := range m.GetTo() {
			if p, ok := byID[id.Id]; ok && id.Id != m.GetFrom().Id {
				to = append(to, p)
			}
		}
		return to
	}
}

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

func runKeygen(ctx context.Context, r *realRun, ids tss.SortedPartyIDs) ([]keygen.LocalPartySaveData, error) {
	pc := tss.NewPeerContext(ids)
	rt := newRouter(KeygenECDSA, len(ids))
	end := make(chan *keygen.LocalPartySaveData, len(ids))
	var parties []tss.Party
	for i, id := range ids {
		params := tss.NewParameters(tss.S256(), pc, id, len(ids), runThreshold)
		parties = append(parties, keygen.NewLocalParty(params, rt.out, end, r.keygenP[i].Local()))
	}
	rt.recipients = byIDs(parties)
	keys := make([]keygen.LocalPartySaveData, len(ids))
	var idxErr error
	finished := collect(len(ids), end, func(d *keygen.LocalPartySaveData) {
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

func runSigning(ctx context.Context, r *realRun, ids tss.SortedPartyIDs, keys []keygen.LocalPartySaveData) error {
	signIDs := tss.SortPartyIDs(ids[:runSigners].ToUnSorted())
	pc := tss.NewPeerContext(signIDs)
	rt := newRouter(SignECDSA, len(signIDs))
	end := make(chan *common.SignatureData, len(signIDs))
	digest := new(big.Int).SetBytes([]byte("guard test digest, 32 bytes long"))
	var parties []tss.Party
	for i, id := range signIDs {
		params := tss.NewParameters(tss.S256(), pc, id, len(signIDs), runThreshold)
		key, err := copyKey(keys[i])
		if err != nil {
			return err
		}
		parties = append(parties, signing.NewLocalParty(digest, params, key, rt.out, end, 32))
	}
	rt.recipients = byIDs(parties)
	finished := collect(len(signIDs), end, func(*common.SignatureData) {})
	return rt.run(ctx, r, parties, finished)
}

// copyKey deep-copies key data: resharing zeroes the old share in place.
func copyKey(k keygen.LocalPartySaveData) (keygen.LocalPartySaveData, error) {
	var out keygen.LocalPartySaveData
	b, err := json.Marshal(k)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(b, &out)
	return out, err
}

// reshareRecipients routes resharing messages by their To list and the
// committee flags (ECDSA and EdDSA resharing route the same way).
func reshareRecipients(olds, news []tss.Party) func(m tss.Message) []tss.Party {
	oldByID, newByID := map[string]tss.Party{}, map[string]tss.Party{}
	for _, p := range olds {
		oldByID[p.PartyID().Id] = p
	}
	for _, p := range news {
		newByID[p.PartyID().Id] = p
	}
	return func(m tss.Message) []tss.Party {
		var to []tss.Party
		for _, id := range m.GetTo() {
			if id.Id == m.GetFrom().Id {
				continue
			}
			switch {
			case m.IsToOldCommittee():
				if p, ok := oldByID[id.Id]; ok {
					to = append(to, p)
				}
			case m.IsToOldAndNewCommittees():
				if p, ok := oldByID[id.Id]; ok {
					to = append(to, p)
				} else if p, ok := newByID[id.Id]; ok {
					to = append(to, p)
				}
			default:
				if p, ok := newByID[id.Id]; ok {
					to = append(to, p)
				}
			}
		}
		return to
	}
}

func runResharing(ctx context.Context, r *realRun, oldIDs tss.SortedPartyIDs, keys []keygen.LocalPartySaveData) error {
	newIDs := partyIDs("n", 2000, runParties)
	oldCtx, newCtx := tss.NewPeerContext(oldIDs), tss.NewPeerContext(newIDs)
	rt := newRouter(ReshareECDSA, len(oldIDs)+len(newIDs))
	end := make(chan *keygen.LocalPartySaveData, len(oldIDs)+len(newIDs))
	var olds, news, all []tss.Party
	for i, id := range oldIDs {
		params := tss.NewReSharingParameters(tss.S256(), oldCtx, newCtx, id, len(oldIDs), runThreshold, len(newIDs), runThreshold)
		key, err := copyKey(keys[i])
		if err != nil {
			return err
		}
		olds = append(olds, resharing.NewLocalParty(params, key, rt.out, end))
	}
	for i, id := range newIDs {
		params := tss.NewReSharingParameters(tss.S256(), oldCtx, newCtx, id, len(oldIDs), runThreshold, len(newIDs), runThreshold)
		save := keygen.NewLocalPartySaveData(len(newIDs))
		save.LocalPreParams = r.newP[i].Local()
		news = append(news, resharing.NewLocalParty(params, save, rt.out, end))
	}
	// New parties first, so they wait for the old committee's messages.
	all = append(append(all, news...), olds...)
	rt.recipients = reshareRecipients(olds, news)
	var pub []byte
	var pubErr error
	finished := collect(len(all), end, func(d *keygen.LocalPartySaveData) {
		if d.Xi == nil || d.ECDSAPub == nil {
			return // an old party, done
		}
		b := append(d.ECDSAPub.X().Bytes(), d.ECDSAPub.Y().Bytes()...)
		if pub != nil && string(pub) != string(b) {
			pubErr = fmt.Errorf("new parties disagree on the public key")
		}
		pub = b
	})
	if err := rt.run(ctx, r, all, finished); err != nil {
		return err
	}
	if pubErr != nil {
		return pubErr
	}
	want := append(keys[0].ECDSAPub.X().Bytes(), keys[0].ECDSAPub.Y().Bytes()...)
	if string(pub) != string(want) {
		return fmt.Errorf("resharing changed the public key")
	}
	return nil
}
