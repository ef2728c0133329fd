package blame

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	"github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/mpcsign/mpcsign/internal/partyid"
	"github.com/mpcsign/mpcsign/internal/preparams"
)

// This file runs real tss-lib keygens in process, on an in-memory network
// that records every message as the coordinator relays it (a broadcast once,
// with To ""; a point-to-point message with its recipient). ECDSA parties use
// the TEST-ONLY pre-parameter fixtures (testdata/preparams/TEST-ONLY-set-5.json,
// seven sets): sets 0-2 for the parties, set 3 for the framing attack.

const (
	testThreshold = 1
	testParties   = 3
)

func readFixtures(tb testing.TB) []*preparams.Set {
	tb.Helper()
	f, err := os.Open("../../testdata/preparams/TEST-ONLY-set-5.json")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sets, err := preparams.ReadTestFixtures(f)
	if err != nil {
		tb.Fatal(err)
	}
	if len(sets) < testParties+1 {
		tb.Fatalf("want %d fixture sets, have %d", testParties+1, len(sets))
	}
	return sets
}

// testIDs builds the party ids as the service does: partyid.New of
// each device's identity key, epoch 0, sorted.
func testIDs(n int) tss.SortedPartyIDs {
	var ids tss.UnSortedPartyIDs
	for i := 0; i < n; i++ {
		ids = append(ids, partyid.New(fmt.Sprintf("device-%d", i), []byte(fmt.Sprintf("identity key of device %d", i)), 0))
	}
	return tss.SortPartyIDs(ids)
}

// run is what one keygen sent, and what the parties reported.
type run struct {
	k        Keygen
	msgs     []Msg
	original map[int][]byte // index in msgs -> the wire before rewrite changed it
	errs     []*tss.Error
	finished int
}

func (r *run) id(i int) string { return r.k.Parties[i].Id }

// network options: rewrite may replace a message's wire before it is
// delivered and recorded; stop ends the run early (for runs that cannot
// finish).
type network struct {
	rewrite func(from string, msg tss.Message, wire []byte) []byte
	stop    func(r *run) bool
}

// runKeygen runs a 3-party keygen with t=1 (ECDSA with fixture sets, or
// EdDSA) until every party finished or net.stop says so.
func runKeygen(tb testing.TB, eddsa bool, sets []*preparams.Set, net network) *run {
	tb.Helper()
	ids := testIDs(testParties)
	r := &run{k: Keygen{EdDSA: eddsa, Threshold: testThreshold, Parties: ids}, original: map[int][]byte{}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := make(chan tss.Message, 64*testParties)
	errCh := make(chan *tss.Error, 16*testParties)
	done := make(chan struct{}, testParties)
	pc := tss.NewPeerContext(ids)
	ec := tss.S256()
	if eddsa {
		ec = tss.Edwards()
	}
	var parties []tss.Party
	for i, id := range ids {
		params := tss.NewParameters(ec, pc, id, testParties, testThreshold)
		if eddsa {
			end := make(chan *eddsakeygen.LocalPartySaveData, 1)
			parties = append(parties, eddsakeygen.NewLocalParty(params, out, end))
			go forward(ctx, end, done)
		} else {
			end := make(chan *keygen.LocalPartySaveData, 1)
			parties = append(parties, keygen.NewLocalParty(params, out, end, sets[i].Local()))
			go forward(ctx, end, done)
		}
	}
	for _, p := range parties {
		go func(p tss.Party) {
			if err := p.Start(); err != nil {
				errCh <- err
			}
		}(p)
	}
	for r.finished < testParties && (net.stop == nil || !net.stop(r)) {
		select {
		case <-ctx.Done():
			tb.Fatalf("keygen did not finish: %d messages, %d finished, errors %v", len(r.msgs), r.finished, r.errs)
		case err := <-errCh:
			r.errs = append(r.errs, err)
		case <-done:
			r.finished++
		case m := <-out:
			r.route(tb, m, parties, net.rewrite, errCh)
		}
	}
	return r
}

func forward[T any](ctx context.Context, end <-chan T, done chan<- struct{}) {
	select {
	case <-end:
		done <- struct{}{}
	case <-ctx.Done():
	}
}

// route records m and delivers it to its recipients.
func (r *run) route(tb testing.TB, m tss.Message, parties []tss.Party, rewrite func(string, tss.Message, []byte) []byte, errCh chan<- *tss.Error) {
	wire, routing, err := m.WireBytes()
	if err != nil {
		tb.Fatal(err)
	}
	from := routing.From.Id
	if rewrite != nil {
		if w := rewrite(from, m, wire); w != nil {
			r.original[len(r.msgs)] = wire
			wire = w
		}
	}
	deliver := func(p tss.Party) {
		go func() {
			if _, err := p.UpdateFromBytes(wire, routing.From, routing.IsBroadcast); err != nil {
				errCh <- err
			}
		}()
	}
	if routing.IsBroadcast {
		r.msgs = append(r.msgs, Msg{From: from, Broadcast: true, Wire: wire})
		for _, p := range parties {
			if p.PartyID().Id != from {
				deliver(p)
			}
		}
		return
	}
	for _, to := range routing.To {
		r.msgs = append(r.msgs, Msg{From: from, To: to.Id, Wire: wire})
		for _, p := range parties {
			if p.PartyID().Id == to.Id {
				deliver(p)
			}
		}
	}
}

// typeOf is the short type name of a recorded message ("" if it does not
// parse).
func typeOf(m Msg) string {
	var a anypb.Any
	if err := proto.Unmarshal(m.Wire, &a); err != nil {
		return ""
	}
	return short(string(a.MessageName()))
}

// find returns the index of the message of type typ from `from` (to `to`
// for a point-to-point one).
func find(tb testing.TB, msgs []Msg, from, to, typ string) int {
	tb.Helper()
	for i, m := range msgs {
		if m.From == from && m.To == to && typeOf(m) == typ {
			return i
		}
	}
	tb.Fatalf("no %s from %s to %q", typ, from, to)
	return -1
}

// content decodes a recorded message.
func content(tb testing.TB, m Msg) proto.Message {
	tb.Helper()
	var a anypb.Any
	if err := proto.Unmarshal(m.Wire, &a); err != nil {
		tb.Fatal(err)
	}
	c, err := a.UnmarshalNew()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// encode is the wire of content, as tss-lib's WireBytes makes it.
func encode(tb testing.TB, c proto.Message) []byte {
	tb.Helper()
	a, err := anypb.New(c)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := proto.Marshal(a)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// tampered returns a copy of msgs in which message i's content is changed
// by mutate.
func tampered[T proto.Message](tb testing.TB, msgs []Msg, i int, mutate func(T)) []Msg {
	tb.Helper()
	c, ok := content(tb, msgs[i]).(T)
	if !ok {
		tb.Fatalf("message %d has another type", i)
	}
	mutate(c)
	out := append([]Msg(nil), msgs...)
	out[i].Wire = encode(tb, c)
	return out
}

// without returns a copy of msgs without message i.
func without(msgs []Msg, i int) []Msg {
	out := append([]Msg(nil), msgs[:i]...)
	return append(out, msgs[i+1:]...)
}

// bump returns b+1 as bytes (mod m when m is not nil).
func bump(b []byte, m *big.Int) []byte {
	v := new(big.Int).Add(new(big.Int).SetBytes(b), big.NewInt(1))
	if m != nil {
		v.Mod(v, m)
	}
	return v.Bytes()
}

func expect(tb testing.TB, v Verdict, want Outcome, reason string) {
	tb.Helper()
	if v.Outcome != want || !strings.Contains(v.Reason, reason) {
		tb.Fatalf("verdict %v, want %v with a reason containing %q", v, want, reason)
	}
}
