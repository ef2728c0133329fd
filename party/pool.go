package party

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/keystore"
)

const (
	poolPrefix = "preparams/"
	usedPrefix = "preparams-used/"
)

// ErrPreparamsUsed reports an attempt to add a set that was used before.
var ErrPreparamsUsed = errors.New("party: pre-parameter set was used before")

// ErrTestFixture reports a TEST-ONLY pre-parameter set offered to a pool
// that does not accept them (every pool but a test's: AcceptTestFixtures).
var ErrTestFixture = errors.New("party: a TEST-ONLY pre-parameter set (its primes are public): refused outside tests")

// Pool is the persisted pool of pre-parameter sets. Each set is taken once,
// removed in the same atomic write that records it as used, and never handed
// out again.
type Pool struct {
	ks       *keystore.Store
	log      *slog.Logger
	target   int
	generate func(context.Context) (*preparams.Set, error)

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	takeMu  sync.Mutex
	// fixtures: this pool takes the repository's TEST-ONLY sets (tests,
	// and test builds' --insecure-test-preparams only).
	fixtures atomic.Bool
	// fixturesOnly: Fill generates nothing (FixturesOnly).
	fixturesOnly atomic.Bool
}

// AcceptTestFixtures lets this pool take the repository's TEST-ONLY
// pre-parameter sets. TEST ONLY: their primes are public, so a key made
// with one is open to anyone; only tests and binaries built with -tags
// testfixtures call it. Every other pool refuses them, and drops any it
// finds in the keystore (left there by a test build).
func (p *Pool) AcceptTestFixtures() { p.fixtures.Store(true) }

// FixturesOnly turns generation off: the pool holds the TEST-ONLY sets it
// is given and nothing else. Every test and test build that feeds a pool
// fixtures calls it (ImportTestFixtures does), so that a test which needs
// more sets than it gave fails on the pool's wait, with a line in the log,
// instead of a core spending tens of seconds on safe primes beside the
// protocols under test.
func (p *Pool) FixturesOnly() { p.fixturesOnly.Store(true) }

// NewPool makes a pool over ks that Fill keeps at target sets.
func NewPool(ks *keystore.Store, target int, log *slog.Logger, generate func(context.Context) (*preparams.Set, error)) *Pool {
	if generate == nil {
		generate = func(ctx context.Context) (*preparams.Set, error) { return preparams.Generate(ctx, 0) }
	}
	return &Pool{ks: ks, log: log, target: target, generate: generate, changed: make(chan struct{})}
}

// Target is the number of sets Fill aims for.
func (p *Pool) Target() int { return p.target }

// Ready counts the sets in the pool.
func (p *Pool) Ready() int {
	keys, err := p.ks.List(poolPrefix)
	if err != nil {
		return 0
	}
	return len(keys)
}

// Changed returns a channel closed at the next change of the pool.
func (p *Pool) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *Pool) notify() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Add stores a set unless it was used before (or is a TEST-ONLY set and
// the pool does not accept them).
func (p *Pool) Add(s *preparams.Set) error {
	if preparams.IsTestFixture(s) && !p.fixtures.Load() {
		return ErrTestFixture
	}
	b, err := s.Marshal()
	if err != nil {
		return err
	}
	defer clear(b)
	err = p.ks.Update(func(tx *keystore.Txn) error {
		if _, err := tx.Get(usedPrefix + s.ID()); err == nil {
			return ErrPreparamsUsed
		} else if !errors.Is(err, keystore.ErrNotFound) {
			return err
		}
		return tx.Put(poolPrefix+s.ID(), b)
	})
	if err == nil {
		p.notify()
	}
	return err
}

// Take removes one set from the pool, waiting for one up to ctx's deadline.
func (p *Pool) Take(ctx context.Context) (*preparams.Set, error) {
	for {
		changed := p.Changed()
		s, err := p.takeOne()
		if err != nil || s != nil {
			return s, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("party: no pre-parameters ready yet (pool still filling): %w", ctx.Err())
		case <-changed:
		}
	}
}

// Return puts back a set that Take gave to a session which ended before
// this device sent anything: nothing derived from it left the device, so it
// is as good as new (the used mark goes with it).
func (p *Pool) Return(s *preparams.Set) error {
	b, err := s.Marshal()
	if err != nil {
		return err
	}
	defer clear(b)
	err = p.ks.Update(func(tx *keystore.Txn) error {
		if err := tx.Delete(usedPrefix + s.ID()); err != nil {
			return err
		}
		return tx.Put(poolPrefix+s.ID(), b)
	})
	if err == nil {
		p.notify()
	}
	return err
}

func (p *Pool) takeOne() (*preparams.Set, error) {
	p.takeMu.Lock() // two keygens on one device never reach for the same set
	defer p.takeMu.Unlock()
	keys, err := p.ks.List(poolPrefix)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	var set *preparams.Set
	var dropped bool
	err = p.ks.Update(func(tx *keystore.Txn) error {
		set, dropped = nil, false
		b, err := tx.Get(keys[0])
		if err != nil {
			return err
		}
		defer clear(b)
		set, err = preparams.Unmarshal(b)
		if err != nil {
			return fmt.Errorf("party: pool record %s: %w", keys[0], err)
		}
		if err := tx.Delete(keys[0]); err != nil {
			return err
		}
		dropped = preparams.IsTestFixture(set) && !p.fixtures.Load()
		return tx.Put(usedPrefix+set.ID(), []byte{1})
	})
	if err != nil {
		return nil, err
	}
	p.notify()
	if dropped {
		// Taken out for good (and marked used, so it never comes back): the
		// caller's Take goes on with the next set, or a fresh one.
		p.log.Error("discarded a TEST-ONLY pre-parameter set found in this device's pool (left by a test build): its primes are public and a product build never uses one")
		return nil, nil
	}
	// The session that took it logs it, with its id.
	return set, nil
}

// Fill generates sets in the background until the pool holds target sets,
// and again whenever one is taken. It returns when ctx ends.
func (p *Pool) Fill(ctx context.Context) {
	for ctx.Err() == nil {
		changed := p.Changed()
		if ready := p.Ready(); ready < p.target && p.fixturesOnly.Load() {
			if ready == 0 {
				p.log.Info("TEST ONLY: out of fixture pre-parameter sets, and none are generated (fixtures only)")
			}
		} else if ready < p.target {
			p.log.Info("generating pre-parameters (Paillier safe primes); this takes a while", "ready", ready, "target", p.target)
			start := time.Now()
			s, err := p.generate(ctx)
			if err != nil {
				if ctx.Err() == nil {
					p.log.Warn("pre-parameter generation failed; retrying", "err", err)
					time.Sleep(time.Second)
				}
				continue
			}
			if err := p.Add(s); err != nil {
				p.log.Warn("could not store pre-parameters", "err", err)
				continue
			}
			p.log.Info("pre-parameters ready", "ready", p.Ready(), "target", p.target, "took", time.Since(start).Round(time.Millisecond))
			continue
		}
		select {
		case <-ctx.Done():
		case <-changed:
		}
	}
}

// ImportTestFixtures adds the TEST-ONLY pre-parameter sets of a fixture file
// (testdata/preparams) to the agent's pool, which from then on generates
// none (FixturesOnly), and returns how many were new.
// Only tests and the demo's own test use it: those sets are public.
func ImportTestFixtures(a *Agent, path string) (int, error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	sets, err := preparams.ReadTestFixtures(fh)
	if err != nil {
		return 0, err
	}
	a.Pool().AcceptTestFixtures()
	a.Pool().FixturesOnly()
	added := 0
	for _, s := range sets {
		if err := a.Pool().Add(s); err == nil {
			added++
		} else if !errors.Is(err, ErrPreparamsUsed) {
			return added, err
		}
	}
	return added, nil
}
