package storetest

// The suite's cases about paged listings and pruning by time.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator/registry"
)

// pageAll pages through a listing with limit, starting with cursor "",
// and returns what it read; page(cursor, limit) reads one page, and
// cursor names the last item of a page.
func pageAll[T any](t *testing.T, limit int, page func(after string, limit int) ([]T, error), cursor func(T) string) []T {
	t.Helper()
	var all []T
	after := ""
	for range 1000 {
		got, err := page(after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > limit {
			t.Fatalf("a page of %d, limit %d", len(got), limit)
		}
		all = append(all, got...)
		if len(got) < limit {
			return all
		}
		after = cursor(got[len(got)-1])
	}
	t.Fatal("the listing never ends")
	return nil
}

func keyIDs(ks []registry.Key) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.ID)
	}
	return out
}

// pageIDs are ids in an order a bytewise sort must keep: an upper case
// letter, a NUL and a '/' beside their neighbours.
var pageIDs = []string{"k07", "k00", "K9", "k03", "k03\x00", "k03/x", "k10", "k01", "k02", "k04", "k05", "k06", "k08", "k09", "k1"}

// keysPaged: paging through the keys returns each once, in id order, for
// every page size, and no page is larger than its limit.
func keysPaged(t *testing.T, st registry.Store) {
	for _, id := range pageIDs {
		if err := st.PutKey(registry.Key{ID: id, Curve: registry.CurveSecp256k1, CreatedAt: now}, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Sorted(slices.Values(pageIDs))
	for _, limit := range []int{1, 2, 4, len(pageIDs), len(pageIDs) + 1, 100} {
		got := keyIDs(pageAll(t, limit, st.ListKeysAfter, func(k registry.Key) string { return k.ID }))
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: keys %q, want %q", limit, got, want)
		}
	}
	if ks, err := st.ListKeysAfter("k09", 100); err != nil || !slices.Equal(keyIDs(ks), []string{"k1", "k10"}) {
		t.Fatalf("keys after k09: %q %v", keyIDs(ks), err)
	}
	if ks, err := st.ListKeysAfter("", 0); err != nil || len(ks) != 0 {
		t.Fatalf("limit 0: %d keys, %v", len(ks), err)
	}
	if ks, err := st.ListKeysAfter("k10", 5); err != nil || len(ks) != 0 {
		t.Fatalf("after the last: %q %v", keyIDs(ks), err)
	}
}

// devicesPaged: the same for devices.
func devicesPaged(t *testing.T, st registry.Store) {
	for i, id := range pageIDs {
		code := []byte(fmt.Sprintf("code-%d", i))
		if err := st.CreatePairing(code, registry.Pairing{Name: "n" + id, ExpiresAt: now.Add(time.Minute)}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := st.EnrollDevice(code, func(p *registry.Pairing, _ bool, _ func(string) (registry.Device, bool, error)) (*registry.Device, error) {
			p.Used = true
			return &registry.Device{ID: id, Name: p.Name, Status: registry.DeviceActive}, nil
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Sorted(slices.Values(pageIDs))
	for _, limit := range []int{1, 3, len(pageIDs), 50} {
		var got []string
		for _, d := range pageAll(t, limit, st.ListDevicesAfter, func(d registry.Device) string { return d.ID }) {
			got = append(got, d.ID)
			if d.Name != "n"+d.ID {
				t.Fatalf("device %q has the name %q", d.ID, d.Name)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: devices %q, want %q", limit, got, want)
		}
	}
}

// keysAddedBetweenPages: keys written between two pages do not break the
// listing: every key there from the start comes once, in order; one added
// after the cursor comes in its place, one added before it does not.
func keysAddedBetweenPages(t *testing.T, st registry.Store) {
	for i := range 10 {
		if err := st.PutKey(registry.Key{ID: fmt.Sprintf("k%02d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	first, err := st.ListKeysAfter("", 3)
	if err != nil || !slices.Equal(keyIDs(first), []string{"k00", "k01", "k02"}) {
		t.Fatalf("first page: %q %v", keyIDs(first), err)
	}
	for _, id := range []string{"k01a", "k05a", "k99"} {
		if err := st.PutKey(registry.Key{ID: id}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// An update of a key already listed moves nothing.
	if _, err := st.UpdateKey("k00", func(k *registry.Key) error { k.Epoch = 9; return nil }, nil); err != nil {
		t.Fatal(err)
	}
	rest := pageAll(t, 3, func(after string, limit int) ([]registry.Key, error) {
		if after == "" {
			after = "k02"
		}
		return st.ListKeysAfter(after, limit)
	}, func(k registry.Key) string { return k.ID })
	got := append(keyIDs(first), keyIDs(rest)...)
	want := []string{"k00", "k01", "k02", "k03", "k04", "k05", "k05a", "k06", "k07", "k08", "k09", "k99"}
	if !slices.Equal(got, want) {
		t.Fatalf("keys %q, want %q", got, want)
	}
}

func sessionIDs(rs []registry.SessionRecord) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// pageSessions pages through the sessions with limit from cursor (nil:
// the newest).
func pageSessions(t *testing.T, st registry.Store, cursor *registry.SessionCursor, limit int) []registry.SessionRecord {
	t.Helper()
	var all []registry.SessionRecord
	for range 1000 {
		got, err := st.ListSessionsBefore(cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > limit {
			t.Fatalf("a page of %d, limit %d", len(got), limit)
		}
		all = append(all, got...)
		if len(got) < limit {
			return all
		}
		last := got[len(got)-1]
		cursor = &registry.SessionCursor{Started: last.Started, ID: last.ID}
	}
	t.Fatal("the listing never ends")
	return nil
}

// sessionsPaged: sessions page newest first by (start, id), each once,
// also several with one start time, and sessions added between pages do
// not break the listing (a newer one is not in it, an older one is).
func sessionsPaged(t *testing.T, st registry.Store) {
	put := func(id string, second int) {
		t.Helper()
		if err := st.PutSession(registry.SessionRecord{ID: id, Kind: "sign", Started: now.Add(time.Duration(second) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	// Three sessions share second 5; the ids break the tie.
	for i, id := range []string{"s1", "s2", "s3", "s5b", "s5a", "s5c", "s6", "s7", "s8", "s9"} {
		second := i + 1
		if strings.HasPrefix(id, "s5") {
			second = 5
		}
		put(id, second)
	}
	want := []string{"s9", "s8", "s7", "s6", "s5c", "s5b", "s5a", "s3", "s2", "s1"}
	for _, limit := range []int{1, 2, 3, 10, 11} {
		if got := sessionIDs(pageSessions(t, st, nil, limit)); !slices.Equal(got, want) {
			t.Fatalf("limit %d: sessions %q, want %q", limit, got, want)
		}
	}
	first, err := st.ListSessionsBefore(nil, 4)
	if err != nil || !slices.Equal(sessionIDs(first), want[:4]) {
		t.Fatalf("first page: %q %v", sessionIDs(first), err)
	}
	put("s10", 10) // newer than the listing's start: not in it
	put("s0", 0)   // older: comes at the end
	last := first[len(first)-1]
	rest := pageSessions(t, st, &registry.SessionCursor{Started: last.Started, ID: last.ID}, 4)
	got := append(sessionIDs(first), sessionIDs(rest)...)
	if want := append(slices.Clone(want), "s0"); !slices.Equal(got, want) {
		t.Fatalf("sessions %q, want %q", got, want)
	}
}

// pruneSignResults: a prune deletes the results made before its time and
// keeps the others, in batches larger than one transaction's; a request id
// pruned is free again.
func pruneSignResults(t *testing.T, st registry.Store) {
	const old = 2*registry.PruneBatch + 7
	for i := range old {
		if _, err := st.PutSignResult(fmt.Sprintf("old-%d", i), registry.SignRecord{KeyID: "k", R: []byte{1}, At: now.Add(-time.Duration(i+1) * time.Second)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := st.PutSignResult(fmt.Sprintf("new-%d", i), registry.SignRecord{KeyID: "k", R: []byte{2}, At: now.Add(time.Duration(i) * time.Second)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.PruneSignResults(now); err != nil || n != old {
		t.Fatalf("pruned %d, want %d: %v", n, old, err)
	}
	for _, id := range []string{"old-0", "old-500", fmt.Sprintf("old-%d", old-1)} {
		if _, err := st.GetSignResult(id); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("%s was kept: %v", id, err)
		}
	}
	for i := range 3 { // at now or later: kept
		if r, err := st.GetSignResult(fmt.Sprintf("new-%d", i)); err != nil || r.R[0] != 2 {
			t.Fatalf("new-%d: %+v %v", i, r, err)
		}
	}
	if n, err := st.PruneSignResults(now); err != nil || n != 0 {
		t.Fatalf("a second prune deleted %d: %v", n, err)
	}
	// A pruned request id takes a new result; the prune after it sees the
	// new one's time, not the old one's.
	if r, err := st.PutSignResult("old-0", registry.SignRecord{KeyID: "k", R: []byte{3}, At: now.Add(time.Hour)}, nil); err != nil || r.R[0] != 3 {
		t.Fatalf("a pruned request id: %+v %v", r, err)
	}
	if n, err := st.PruneSignResults(now.Add(time.Minute)); err != nil || n != 3 {
		t.Fatalf("pruned %d, want the 3 new ones: %v", n, err)
	}
	if r, err := st.GetSignResult("old-0"); err != nil || r.R[0] != 3 {
		t.Fatalf("the result made after the prune's time: %+v %v", r, err)
	}
}

// pruneSessions: a prune deletes the sessions that started before its
// time; the listing shows the others.
func pruneSessions(t *testing.T, st registry.Store) {
	const old = registry.PruneBatch + 3
	for i := range old {
		if err := st.PutSession(registry.SessionRecord{ID: fmt.Sprintf("old-%d", i), Started: now.Add(-time.Duration(i+1) * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b"} {
		if err := st.PutSession(registry.SessionRecord{ID: id, Started: now}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.PruneSessions(now); err != nil || n != old {
		t.Fatalf("pruned %d, want %d: %v", n, old, err)
	}
	if got := sessionIDs(pageSessions(t, st, nil, 10)); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("sessions left: %q", got)
	}
	if n, err := st.PruneSessions(now); err != nil || n != 0 {
		t.Fatalf("a second prune deleted %d: %v", n, err)
	}
}
