package storetest

// The suite's cases about concurrency, odd bytes and a closed store.

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/auditlog"
)

// auditChain: appends from many goroutines make one chain, without a gap
// or a fork, that auditlog.Verify accepts; ListAudit pages through it.
func auditChain(t *testing.T, st registry.Store) {
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.AppendAudit(auditlog.Entry{Action: fmt.Sprintf("action-%d", i), Result: "ok", Time: now}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	if h := height(t, st); h != n {
		t.Fatalf("height %d after %d appends", h, n)
	}
	var lines bytes.Buffer
	var all []auditlog.Entry
	for since := uint64(1); ; {
		page, err := st.ListAudit(since, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 7 {
			t.Fatalf("a page of %d entries, limit 7", len(page))
		}
		all = append(all, page...)
		since = page[len(page)-1].Seq + 1
	}
	for _, e := range all {
		b, err := auditlog.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		lines.Write(append(b, '\n'))
	}
	if got, _, err := auditlog.Verify(&lines); err != nil || got != n {
		t.Fatalf("the chain does not verify: %d entries, %v", got, err)
	}
}

// anyBytes: ids and text are stored as given, whatever their bytes: a
// client's request id may hold a NUL or bytes that are not UTF-8, and text
// a NUL (a JSON \u0000). Text that is not UTF-8 becomes U+FFFD, as JSON
// has it, in every store alike.
func anyBytes(t *testing.T, st registry.Store) {
	const odd = "a\x00b\xff"
	if _, err := st.GetSignResult(odd); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a missing result with an odd request id: %v", err)
	}
	if _, err := st.PutSignResult(odd, registry.SignRecord{KeyID: "k\x00", Path: "m/0"}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := st.GetSignResult(odd); err != nil || got.KeyID != "k\x00" {
		t.Fatalf("result under an odd request id: %+v %v", got, err)
	}
	for _, other := range []string{"a", "a\x00b", "a\x00b\xfe"} {
		if _, err := st.GetSignResult(other); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("request id %q found the result of %q: %v", other, odd, err)
		}
	}
	if _, err := st.GetDevice(odd); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a missing device with an odd id: %v", err)
	}
	if err := st.PutKey(registry.Key{ID: odd, Curve: "x\x00y"}, nil); err != nil {
		t.Fatal(err)
	}
	if k, err := st.GetKey(odd); err != nil || k.Curve != "x\x00y" {
		t.Fatalf("key with an odd id: %+v %v", k, err)
	}
	if err := st.PutSession(registry.SessionRecord{ID: odd, Started: now, Reason: "r\x00"}); err != nil {
		t.Fatal(err)
	}
	if ss, err := st.ListSessionsBefore(nil, 1); err != nil || len(ss) != 1 || ss[0].ID != "a\x00b\ufffd" || ss[0].Reason != "r\x00" {
		t.Fatalf("session with an odd id: %+v %v", ss, err)
	}
	if err := st.PutPendingRoster(odd, registry.RosterRecord{Body: []byte{0}}); err != nil {
		t.Fatal(err)
	}
	if pend, err := st.ListPendingRoster(); err != nil || len(pend) != 1 || !bytes.Equal(pend[odd].Body, []byte{0}) {
		t.Fatalf("pending roster entry with an odd id: %+v %v", pend, err)
	}
	sealed, err := st.AppendAudit(auditlog.Entry{Action: "odd", Detail: "x\x00y\xff", Result: "ok", Time: now})
	if err != nil {
		t.Fatal(err)
	}
	es, err := st.ListAudit(sealed.Seq, 1)
	if err != nil || len(es) != 1 || es[0].Detail != "x\x00y\ufffd" || es[0].Hash != sealed.Hash || auditlog.Sum(es[0]) != es[0].Hash {
		t.Fatalf("audit entry with a NUL: %+v %v", es, err)
	}
}

// concurrentUpdates: updates of one record from many goroutines each see
// the one before (none is lost), also when they create it.
func concurrentUpdates(t *testing.T, st registry.Store) {
	if err := st.PutKey(registry.Key{ID: "k"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePairing([]byte("c"), registry.Pairing{Name: "a", ExpiresAt: now.Add(time.Minute)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnrollDevice([]byte("c"), func(p *registry.Pairing, _ bool, _ func(string) (registry.Device, bool, error)) (*registry.Device, error) {
		p.Used = true
		return &registry.Device{ID: "d", Name: "a"}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var e *auditlog.Entry
			if i%2 == 0 {
				e = entry("key.update") // with and without an audit entry
			}
			if _, err := st.UpdateKey("k", func(k *registry.Key) error { k.Epoch++; return nil }, e); err != nil {
				errs <- fmt.Errorf("update key: %w", err)
			}
			if _, err := st.UpdateDevice("d", func(d *registry.Device) error { d.SAS += "x"; return nil }, nil); err != nil {
				errs <- fmt.Errorf("update device: %w", err)
			}
			if _, err := st.UpdateReshareJob("k", func(j *registry.ReshareJob) error { j.Attempts++; return nil }); err != nil {
				errs <- fmt.Errorf("update job: %w", err)
			}
			if _, err := st.EnrollDevice([]byte("c"), func(p *registry.Pairing, _ bool, _ func(string) (registry.Device, bool, error)) (*registry.Device, error) {
				p.Attempts++
				return nil, nil
			}, nil); err != nil {
				errs <- fmt.Errorf("enrol: %w", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if k, _ := st.GetKey("k"); k.Epoch != n {
		t.Fatalf("key updates lost: epoch %d after %d", k.Epoch, n)
	}
	if d, _ := st.GetDevice("d"); len(d.SAS) != n {
		t.Fatalf("device updates lost: %d of %d", len(d.SAS), n)
	}
	if js, _ := st.ListReshareJobs(); len(js) != 1 || js[0].Attempts != n {
		t.Fatalf("job updates lost: %+v", js)
	}
	if ps, _ := st.ListPairings(); len(ps) != 1 || ps[0].Attempts != n {
		t.Fatalf("pairing code changes lost: %+v", ps)
	}
}

// rosterRace: of appends racing for one height, one wins and the others
// get ErrRosterConflict, whether or not they seal an audit entry (the
// coordinator's do; the store must not depend on it).
func rosterRace(t *testing.T, st registry.Store) {
	if err := st.AppendRoster(registry.RosterRecord{Height: 0, Body: []byte("genesis")}, "", nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, round := range []struct {
		height  uint64
		audited bool
	}{{1, true}, {2, false}} {
		const n = 6
		var wg sync.WaitGroup
		results := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var e *auditlog.Entry
				if round.audited {
					e = entry("roster.append")
				}
				results <- st.AppendRoster(registry.RosterRecord{Height: round.height, Body: []byte{byte(i)}}, "", nil, e)
			}()
		}
		wg.Wait()
		close(results)
		won := 0
		for err := range results {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, registry.ErrRosterConflict):
				t.Fatalf("a racing append (audited %v): %v", round.audited, err)
			}
		}
		if recs, err := st.ListRoster(0); won != 1 || err != nil || len(recs) != int(round.height)+1 {
			t.Fatalf("%d appends at height %d won (audited %v), roster %+v %v", won, round.height, round.audited, recs, err)
		}
	}
}

// pingAfterClose: Ping reports a closed store (the suite closes it again).
func pingAfterClose(t *testing.T, st registry.Store) {
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(); err == nil {
		t.Fatal("a closed store answers Ping")
	}
}
