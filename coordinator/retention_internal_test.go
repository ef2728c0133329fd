package coordinator

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Retention options: 0 is the default, negative is forever, and sign
// results are kept at least a day.
func TestRetentionOptions(t *testing.T) {
	opts, err := Options{DataDir: "x"}.withDefaults()
	if err != nil || opts.RetainSignResults != 30*24*time.Hour || opts.RetainSessions != 90*24*time.Hour || opts.PruneInterval != time.Hour {
		t.Fatalf("defaults: %v %v %v: %v", opts.RetainSignResults, opts.RetainSessions, opts.PruneInterval, err)
	}
	if opts, err := (Options{DataDir: "x", RetainSignResults: -1, RetainSessions: -1}).withDefaults(); err != nil || opts.RetainSignResults != -1 || opts.RetainSessions != -1 {
		t.Fatalf("forever: %v %v: %v", opts.RetainSignResults, opts.RetainSessions, err)
	}
	_, err = Options{DataDir: "x", RetainSignResults: 23 * time.Hour}.withDefaults()
	if err == nil || !strings.Contains(err.Error(), "sign results are kept at least 24h0m0s") {
		t.Fatalf("23h: %v", err)
	}
}

// syncBuffer is a log destination the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// The pruning job logs what it deleted at info level; a store that fails
// is logged and does not stop it (it tries again at the next tick), nor
// does a retention of forever prune anything.
func TestRetentionJobLogsAndSurvivesStoreErrors(t *testing.T) {
	s := listServer(t)
	var logs syncBuffer
	s.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var err error
	if s.opts, err = (Options{DataDir: "x", Now: func() time.Time { return now }}).withDefaults(); err != nil {
		t.Fatal(err)
	}
	for i, age := range []time.Duration{40 * 24 * time.Hour, 29 * 24 * time.Hour} {
		if _, err := s.store.PutSignResult(string(rune('a'+i)), SignRecord{KeyID: "k", At: now.Add(-age)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i, age := range []time.Duration{100 * 24 * time.Hour, 95 * 24 * time.Hour, 89 * 24 * time.Hour} {
		if err := s.store.PutSession(SessionRecord{ID: string(rune('a' + i)), Started: now.Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	kept := s.opts
	s.opts.RetainSignResults, s.opts.RetainSessions = -1, -1
	if n, m, err := s.PruneRecords(now); err != nil || n != 0 || m != 0 {
		t.Fatalf("retention forever pruned %d, %d: %v", n, m, err)
	}
	s.opts = kept

	// One run of the loop (its context is already done: it prunes once
	// and returns).
	done, cancel := context.WithCancel(context.Background())
	cancel()
	s.runRetention(done)
	if line := logs.String(); !strings.Contains(line, `level=INFO msg="pruned records past their retention" sign_results=1 sessions=2`) {
		t.Fatalf("the prune's log: %s", line)
	}
	if _, err := s.store.GetSignResult("b"); err != nil {
		t.Fatalf("a result within its retention was pruned: %v", err)
	}

	// A store that fails: logged, the job goes on.
	s.store.Close()
	s.pruneOnce()
	if line := logs.String(); !strings.Contains(line, `level=WARN msg="could not prune records past their retention; trying again later"`) ||
		!strings.Contains(line, "next_try_in=1h0m0s") {
		t.Fatalf("a failing store's log: %s", line)
	}
}
