package coordinator_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// relaySeedEnv replays a chaos relay run: its seed is printed at the start.
const relaySeedEnv = "MPCSIGN_RELAY_SEED"

// chaosMode is what the relay does to messages, each with a probability.
type chaosMode struct {
	delay, duplicate, drop float64
	maxDelay               time.Duration
	// dropFrom and dropRound: every message of that round from that device
	// is dropped too, so that a drop run drops something whatever the draws.
	dropFrom  string
	dropRound uint32
}

// chaosRelay stands between the coordinator and each recipient. It draws
// each message's fate from the run's seed and the message's place in the
// run (the session, in the order the relay first saw it; sender and
// recipient names; type; sequence number), not from the order in which
// messages happen to arrive, so a seed replays the same drops, duplicates
// and delays (the interleaving they make still depends on timing).
type chaosRelay struct {
	seed    uint64
	mu      sync.Mutex
	mode    chaosMode
	names   map[string]string // device id -> name
	session map[string]int    // session id -> index
	stats   chaosStats
	dropped map[string]bool // names of senders and recipients of dropped messages
	arrived map[string]int  // per recipient: messages that reached the relay
	last    map[string]int  // per recipient: arrival number of the last delivered
	pending sync.WaitGroup  // delayed deliveries still to come
}

type chaosStats struct{ messages, delayed, duplicated, dropped, reordered int }

func newChaosRelay(t *testing.T) *chaosRelay {
	seed := rand.Uint64()
	if s := os.Getenv(relaySeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q is not a seed", relaySeedEnv, s)
		}
		seed = v
	}
	// Printed at once (not only with the test's log), so that a run killed
	// by a timeout can be replayed too.
	fmt.Fprintf(os.Stderr, "chaos relay: seed %d (replay: %s=%d)\n", seed, relaySeedEnv, seed)
	t.Logf("chaos relay seed %d (replay: %s=%d)", seed, relaySeedEnv, seed)
	return &chaosRelay{seed: seed, names: map[string]string{}, session: map[string]int{}}
}

func (r *chaosRelay) name(id, name string) {
	r.mu.Lock()
	r.names[id] = name
	r.mu.Unlock()
}

// set changes the mode for the messages that arrive from now on and clears
// the statistics.
func (r *chaosRelay) set(m chaosMode) {
	r.mu.Lock()
	r.mode = m
	r.stats = chaosStats{}
	r.dropped = map[string]bool{}
	r.arrived, r.last = map[string]int{}, map[string]int{}
	r.mu.Unlock()
}

func (r *chaosRelay) snapshot() (chaosStats, map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats, r.dropped
}

// fate is the message's own random source.
func (r *chaosRelay) fate(session int, from, to, typ string, seq uint64) *rand.Rand {
	h := sha256.New()
	var b [8]byte
	for _, v := range []uint64{r.seed, uint64(session), seq} {
		binary.BigEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	for _, s := range []string{from, to, typ} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])))
}

func (r *chaosRelay) relay(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sid := string(m.GetSessionId())
	if _, ok := r.session[sid]; !ok {
		r.session[sid] = len(r.session)
	}
	from, toName := r.names[m.GetFrom()], r.names[to]
	rng := r.fate(r.session[sid], from, toName, m.GetType(), m.GetSeq())
	mode := r.mode
	r.stats.messages++
	r.arrived[to]++
	n := r.arrived[to]
	if rng.Float64() < mode.drop || (mode.dropRound != 0 && from == mode.dropFrom && m.GetRound() == mode.dropRound) {
		r.stats.dropped++
		r.dropped[from], r.dropped[toName] = true, true
		return
	}
	copies := 1
	if rng.Float64() < mode.duplicate {
		copies = 2
		r.stats.duplicated++
	}
	for range copies {
		if rng.Float64() >= mode.delay || mode.maxDelay <= 0 {
			r.deliverLocked(to, n, m, deliver)
			continue
		}
		r.stats.delayed++
		r.pending.Add(1)
		time.AfterFunc(time.Duration(rng.Int64N(int64(mode.maxDelay))), func() {
			defer r.pending.Done()
			r.mu.Lock()
			defer r.mu.Unlock()
			r.deliverLocked(to, n, m, deliver)
		})
	}
}

// deliverLocked hands a message on and counts it as reordered when one that
// reached the relay after it was delivered first.
func (r *chaosRelay) deliverLocked(to string, n int, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage)) {
	if n < r.last[to] {
		r.stats.reordered++
	}
	r.last[to] = max(r.last[to], n)
	deliver(m)
}

// TestChaosRelay runs keygen and signing through a relay that delays,
// duplicates and reorders messages at random (they must succeed), then
// signing through one that also drops them (it must end with a typed error
// within its deadline that names devices the session waited for), then a
// clean signature.
func TestChaosRelay(t *testing.T) {
	r := newChaosRelay(t)
	const signTimeout = 10 * time.Second
	c := testkit.New(t, testkit.Options{SignTimeout: signTimeout, Relay: r.relay})
	t.Cleanup(r.pending.Wait) // runs before the cluster closes
	ctx := context.Background()
	names := []string{"a", "b"}
	for i, n := range names {
		d := c.AddDevice(t, n, testkit.FixtureSets(t, i+1)[:1])
		r.name(d.Agent.Config().DeviceID, n)
	}
	sign := func(t *testing.T, key *mpcv1.Key, label string) {
		t.Helper()
		dg := digest(label)
		resp, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: dg})
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		verify(t, key.GetPublicKey(), dg, resp)
	}

	noisy := chaosMode{delay: 0.5, duplicate: 0.3, maxDelay: 40 * time.Millisecond}
	var key *mpcv1.Key
	ok := t.Run("delays, duplicates and reorders: keygen and signing succeed", func(t *testing.T) {
		r.set(noisy)
		key = c.CreateKey(t, 1, names...) // 2-of-2: no other subset can hide a failure
		for i := range 2 {
			sign(t, key, fmt.Sprint("through the noisy relay ", i))
		}
		st, _ := r.snapshot()
		t.Logf("relay: %+v", st)
		if st.delayed == 0 || st.duplicated == 0 || st.dropped != 0 {
			t.Errorf("the relay delayed %d and duplicated %d of %d messages, dropped %d: want some delayed and duplicated, none dropped", st.delayed, st.duplicated, st.messages, st.dropped)
		}
	})
	if !ok {
		return
	}

	t.Run("drops: the session ends with a typed error naming whom it waited for", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(r.seed, 1))
		drops := noisy
		drops.drop = 0.1
		drops.dropFrom, drops.dropRound = names[rng.IntN(len(names))], uint32(1+rng.IntN(9))
		r.set(drops)
		began := time.Now()
		_, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("through a dropping relay")})
		took := time.Since(began)
		st, involved := r.snapshot()
		t.Logf("relay: %+v; every message of round %d from %s dropped; the call took %s: %v", st, drops.dropRound, drops.dropFrom, took.Round(time.Millisecond), err)
		if code(err) != codes.Aborted || !strings.Contains(err.Error(), "sign session failed") {
			t.Fatalf("want an aborted signing session, got %v", err)
		}
		_, list, found := strings.Cut(err.Error(), "blamed: ")
		if !found {
			t.Fatalf("the error names no device: %v", err)
		}
		for _, n := range strings.Split(list, ", ") {
			if !slices.Contains(names, n) || !involved[n] {
				t.Errorf("the error blames %q, which no dropped message was from or to (involved: %v)", n, involved)
			}
		}
		// The deadline is the coordinator's: the devices give up a second
		// before it and report whom they waited for.
		if took > signTimeout+5*time.Second {
			t.Errorf("the session ended after %s; its deadline was %s", took, signTimeout)
		}
	})

	t.Run("the next clean session succeeds", func(t *testing.T) {
		r.pending.Wait() // late copies of the failed session's messages are out of the way
		r.set(chaosMode{})
		sign(t, key, "after the drops")
	})
}
