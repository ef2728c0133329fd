package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/internal/rawtss"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
)

// fixturePlan gives each party its own TEST-ONLY fixture file and the raw
// baseline sets from files no party uses: no set serves two parties.
type fixturePlan struct {
	party []string
	raw   []*preparams.Set
}

var fixtureNameRE = regexp.MustCompile(`^TEST-ONLY-set-(\d+)\.json$`)

func planFixtures(cfg loadConfig) (fixturePlan, error) {
	var plan fixturePlan
	entries, err := os.ReadDir(cfg.fixtures)
	if err != nil {
		return plan, fmt.Errorf("TEST-ONLY pre-parameter fixtures: %w (run mpcload from the repository's root, where testdata/preparams is)", err)
	}
	type file struct {
		path string
		n    int
		sets []*preparams.Set
	}
	var files []file
	for _, e := range entries {
		m := fixtureNameRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		path := filepath.Join(cfg.fixtures, e.Name())
		f, err := os.Open(path)
		if err != nil {
			return plan, err
		}
		sets, err := preparams.ReadTestFixtures(f)
		f.Close()
		if err != nil {
			return plan, fmt.Errorf("%s: %w", path, err)
		}
		files = append(files, file{path, n, sets})
	}
	// The biggest files go to the parties: each takes a set per key.
	slices.SortFunc(files, func(a, b file) int { return cmp.Or(cmp.Compare(len(b.sets), len(a.sets)), cmp.Compare(a.n, b.n)) })
	if len(files) < cfg.parties {
		return plan, fmt.Errorf("%s holds %d fixture files: one per party, so at most %d parties", cfg.fixtures, len(files), len(files))
	}
	for _, f := range files[:cfg.parties] {
		// One set must stay in each pool: a device with an empty pool starts
		// generating safe primes, which would compete with the measurement.
		if len(f.sets) < cfg.keys+1 {
			return plan, fmt.Errorf("fixture file %s has %d sets: with %d parties at most %d keys", f.path, len(f.sets), cfg.parties, len(f.sets)-1)
		}
		plan.party = append(plan.party, f.path)
	}
	if cfg.rawDuration > 0 {
		for _, f := range files[cfg.parties:] {
			plan.raw = append(plan.raw, f.sets...)
		}
		if len(plan.raw) < cfg.parties {
			return plan, fmt.Errorf("the raw baseline needs %d fixture sets that no party uses; %s has %d left (fewer parties, or --raw-duration 0)", cfg.parties, cfg.fixtures, len(plan.raw))
		}
		plan.raw = plan.raw[:cfg.parties]
	}
	return plan, nil
}

// rawKeyResult is a key made by raw tss-lib parties in this process.
type rawKeyResult struct {
	key *rawtss.Key
	pub []byte
	err error
}

// rawKeygen makes a key of the load's shape with raw tss-lib parties.
func rawKeygen(ctx context.Context, threshold int, sets []*preparams.Set) rawKeyResult {
	kctx, cancel := context.WithTimeout(ctx, loadKeyTimeout)
	defer cancel()
	key, err := rawtss.Keygen(kctx, threshold, sets)
	if err != nil {
		return rawKeyResult{err: err}
	}
	pub, err := sigfmt.CompressPoint(key.Data[0].ECDSAPub.X(), key.Data[0].ECDSAPub.Y())
	return rawKeyResult{key: key, pub: pub, err: err}
}

// rawSign signs with the raw key from cfg.clients concurrent signers for
// cfg.rawDuration, checking every signature.
func rawSign(ctx context.Context, rk rawKeyResult, cfg loadConfig) (*rawRun, error) {
	key, pub := rk.key, rk.pub
	var mu sync.Mutex
	var lats []time.Duration
	wrong := 0
	var firstErr error
	start := time.Now()
	stopAt := start.Add(cfg.rawDuration)
	var wg sync.WaitGroup
	for w := range cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(stopAt) && ctx.Err() == nil; n++ {
				var b [16]byte
				binary.BigEndian.PutUint64(b[:8], uint64(w))
				binary.BigEndian.PutUint64(b[8:], uint64(n))
				d := sha256.Sum256(b[:])
				sctx, cancel := context.WithTimeout(ctx, loadCallTimeout)
				t0 := time.Now()
				sig, err := key.Sign(sctx, d[:])
				lat := time.Since(t0)
				cancel()
				if err == nil {
					_, err = sigfmt.FinishECDSA(pub, d[:], sig.GetR(), sig.GetS())
				}
				mu.Lock()
				if err != nil {
					wrong++
					firstErr = cmp.Or(firstErr, err)
				} else {
					lats = append(lats, lat)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil && len(lats) == 0 {
		return nil, firstErr
	}
	return &rawRun{lats: lats, wrong: wrong, elapsed: elapsed}, ctx.Err()
}

// rawRun is one run of the raw baseline.
type rawRun struct {
	lats    []time.Duration
	wrong   int
	elapsed time.Duration
}

func (r *rawRun) perSecond() float64 { return float64(len(r.lats)) / r.elapsed.Seconds() }

// rawStats are the figures of the raw runs together.
func rawStats(runs ...*rawRun) *loadStats {
	var all rawRun
	for _, r := range runs {
		all.lats = append(all.lats, r.lats...)
		all.wrong += r.wrong
		all.elapsed += r.elapsed
	}
	s := latencyStats(all.lats)
	s.Calls, s.OK, s.Wrong, s.ElapsedMS = len(all.lats)+all.wrong, len(all.lats), all.wrong, ms(all.elapsed)
	s.PerSecond = all.perSecond()
	return &s
}
