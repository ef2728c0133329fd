package party

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/keystore"
)

var testKDF = keystore.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

func openStore(t *testing.T, dir string) *keystore.Store {
	t.Helper()
	ks, err := keystore.Open(dir, keystore.NewPassphrase([]byte("pw")), keystore.Options{KDF: testKDF})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func fixtureSets(t *testing.T) []*preparams.Set {
	t.Helper()
	f, err := os.Open("../testdata/preparams/TEST-ONLY-set-4.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sets, err := preparams.ReadTestFixtures(f)
	if err != nil {
		t.Fatal(err)
	}
	return sets
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestPoolTakesEachSetOnce(t *testing.T) {
	dir := t.TempDir()
	ks := openStore(t, dir)
	sets := fixtureSets(t)
	pool := NewPool(ks, 2, quiet, nil)
	pool.AcceptTestFixtures()
	for _, s := range sets[:2] {
		if err := pool.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if pool.Ready() != 2 {
		t.Fatalf("ready %d", pool.Ready())
	}
	got, err := pool.Take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Add(got); !errors.Is(err, ErrPreparamsUsed) {
		t.Fatalf("re-adding a used set: %v", err)
	}
	// The pool survives a restart, and so does the record of used sets.
	ks.Close()
	ks = openStore(t, dir)
	defer ks.Close()
	pool = NewPool(ks, 2, quiet, nil)
	pool.AcceptTestFixtures()
	if pool.Ready() != 1 {
		t.Fatalf("after restart ready %d, want 1", pool.Ready())
	}
	if err := pool.Add(got); !errors.Is(err, ErrPreparamsUsed) {
		t.Fatalf("re-adding a used set after restart: %v", err)
	}
	second, err := pool.Take(context.Background())
	if err != nil || second.ID() == got.ID() {
		t.Fatalf("second take: %v (same set: %v)", err, second != nil && second.ID() == got.ID())
	}
}

func TestPoolTakeWaitsAndTimesOut(t *testing.T) {
	ks := openStore(t, t.TempDir())
	defer ks.Close()
	pool := NewPool(ks, 1, quiet, nil)
	pool.AcceptTestFixtures()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := pool.Take(ctx); err == nil {
		t.Fatal("Take on an empty pool returned without a set")
	}
	got := make(chan *preparams.Set, 1)
	go func() {
		s, _ := pool.Take(context.Background())
		got <- s
	}()
	time.Sleep(50 * time.Millisecond)
	want := fixtureSets(t)[2]
	if err := pool.Add(want); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s == nil || s.ID() != want.ID() {
			t.Fatal("waiting Take got the wrong set")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiting Take did not wake up")
	}
}

func TestPoolFillUsesGenerator(t *testing.T) {
	ks := openStore(t, t.TempDir())
	defer ks.Close()
	sets := fixtureSets(t)
	calls := 0
	gen := func(ctx context.Context) (*preparams.Set, error) {
		calls++
		if calls > len(sets) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return sets[calls-1], nil
	}
	pool := NewPool(ks, 2, quiet, gen)
	pool.AcceptTestFixtures()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pool.Fill(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for pool.Ready() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pool.Ready() != 2 {
		t.Fatalf("Fill reached %d sets, want 2", pool.Ready())
	}
	if _, err := pool.Take(context.Background()); err != nil {
		t.Fatal(err)
	}
	for pool.Ready() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if pool.Ready() != 2 || calls < 3 {
		t.Fatalf("Fill did not refill after a take: ready %d, generated %d", pool.Ready(), calls)
	}
}

// A pool fed fixtures only (FixturesOnly: every test and test build) never
// calls its generator, however far below its target it falls: a test that
// needs more sets waits on Take instead of searching for safe primes.
func TestPoolFixturesOnlyNeverGenerates(t *testing.T) {
	ks := openStore(t, t.TempDir())
	defer ks.Close()
	var calls atomic.Int32
	gen := func(ctx context.Context) (*preparams.Set, error) {
		calls.Add(1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	pool := NewPool(ks, 2, quiet, gen)
	pool.AcceptTestFixtures()
	pool.FixturesOnly()
	if err := pool.Add(fixtureSets(t)[0]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pool.Fill(ctx); close(done) }()
	if _, err := pool.Take(context.Background()); err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer stop()
	if s, err := pool.Take(short); err == nil {
		t.Fatalf("Take from an empty fixtures-only pool returned set %s", s.ID())
	}
	cancel()
	<-done
	if n := calls.Load(); n != 0 {
		t.Fatalf("a fixtures-only pool called its generator %d times", n)
	}
}

// A set a session took but sent nothing from goes back to the pool, as good
// as new: it can be taken again, and is not marked used.
func TestPoolTakesBackAnUnusedSet(t *testing.T) {
	ks := openStore(t, t.TempDir())
	defer ks.Close()
	pool := NewPool(ks, 1, quiet, nil)
	pool.AcceptTestFixtures()
	set := fixtureSets(t)[0]
	if err := pool.Add(set); err != nil {
		t.Fatal(err)
	}
	got, err := pool.Take(context.Background())
	if err != nil || pool.Ready() != 0 {
		t.Fatalf("take: %v, ready %d", err, pool.Ready())
	}
	if err := pool.Return(got); err != nil {
		t.Fatal(err)
	}
	if pool.Ready() != 1 {
		t.Fatalf("ready %d after the return, want 1", pool.Ready())
	}
	again, err := pool.Take(context.Background())
	if err != nil || again.ID() != set.ID() {
		t.Fatalf("take again: %v", err)
	}
	// Taken and not returned: used for good.
	if err := pool.Add(again); !errors.Is(err, ErrPreparamsUsed) {
		t.Fatalf("re-adding a taken set: %v", err)
	}
}

// A product pool (one that never accepted TEST-ONLY sets) refuses them, and
// discards for good any it finds in the keystore, left there by a test
// build that ran on the same data directory.
func TestPoolRefusesTestFixtures(t *testing.T) {
	dir := t.TempDir()
	ks := openStore(t, dir)
	sets := fixtureSets(t)
	product := NewPool(ks, 1, quiet, nil)
	if err := product.Add(sets[0]); !errors.Is(err, ErrTestFixture) {
		t.Fatalf("a product pool took a TEST-ONLY set: %v", err)
	}
	// A test build's pool on the same keystore leaves one behind.
	testBuild := NewPool(ks, 1, quiet, nil)
	testBuild.AcceptTestFixtures()
	if err := testBuild.Add(sets[0]); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	product = NewPool(ks, 1, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if s, err := product.Take(ctx); s != nil || err == nil {
		t.Fatalf("a product pool handed out a TEST-ONLY set: %v %v", s, err)
	}
	if product.Ready() != 0 || !strings.Contains(logs.String(), "discarded a TEST-ONLY pre-parameter set") {
		t.Fatalf("the TEST-ONLY set was not discarded (ready %d): %s", product.Ready(), logs.String())
	}
	// Discarded for good: even a test build cannot bring it back.
	if err := testBuild.Add(sets[0]); !errors.Is(err, ErrPreparamsUsed) {
		t.Fatalf("the discarded set came back: %v", err)
	}
}
