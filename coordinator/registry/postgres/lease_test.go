package postgres_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres"
	"github.com/mpcsign/mpcsign/internal/auditlog"
)

func replica(t *testing.T, dsn, addr string, ttl time.Duration) *postgres.Replica {
	t.Helper()
	r, err := postgres.OpenReplica(context.Background(), dsn, quiet, postgres.ReplicaOptions{Address: addr, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Store().Close() })
	return r
}

func acquire(t *testing.T, r *postgres.Replica) bool {
	t.Helper()
	ok, err := r.TryAcquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// waitExpired waits until the lease has lapsed.
func waitExpired(t *testing.T, r *postgres.Replica) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := r.Leader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !l.Live {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lease of %s never expired", l.Holder)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestLeaseHasOneHolder(t *testing.T) {
	dsn := newDB(t)
	a := replica(t, dsn, "a.example:7400", 0)
	b := replica(t, dsn, "b.example:7400", 0)
	if err := b.Store().PutKey(registry.Key{ID: "k0"}, nil); !errors.Is(err, registry.ErrFenced) {
		t.Fatalf("a replica that never took the lease wrote: %v", err)
	}
	if !acquire(t, a) {
		t.Fatal("the first replica did not get the free lease")
	}
	if acquire(t, b) {
		t.Fatal("a second replica took a live lease")
	}
	l, err := b.Leader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if l.Address != "a.example:7400" || l.Holder != a.Holder() || !l.Live || l.Token != a.Token() || b.Token() != 0 {
		t.Fatalf("leader %+v; want a's (token %d), b holding none (%d)", l, a.Token(), b.Token())
	}
	if err := a.Store().PutKey(registry.Key{ID: "k1"}, nil); err != nil {
		t.Fatalf("the lease holder could not write: %v", err)
	}
	if err := b.Store().PutKey(registry.Key{ID: "k2"}, nil); !errors.Is(err, registry.ErrFenced) {
		t.Fatalf("a standby wrote: %v", err)
	}
	addrs, err := b.Addresses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(addrs, []string{"a.example:7400", "b.example:7400"}) {
		t.Fatalf("addresses %q; want the active's first, then the standby's", addrs)
	}
}

// TestDeposedReplicaCannotWrite: a replica whose lease lapsed (it paused,
// or lost the database) and was taken by another has every write refused
// by the fencing check, and nothing it tries lands; its renewal says it
// lost the lease.
func TestDeposedReplicaCannotWrite(t *testing.T) {
	dsn := newDB(t)
	a := replica(t, dsn, "a:1", time.Second)
	b := replica(t, dsn, "b:1", time.Second)
	if !acquire(t, a) {
		t.Fatal("a did not get the free lease")
	}
	if err := a.Store().PutKey(registry.Key{ID: "k", Curve: "secp256k1"}, &auditlog.Entry{Action: "key.create"}); err != nil {
		t.Fatal(err)
	}
	waitExpired(t, a) // a stops renewing: paused, or cut off
	if !acquire(t, b) {
		t.Fatal("b did not take the lapsed lease")
	}
	if b.Token() <= a.Token() {
		t.Fatalf("b's token %d is not above a's %d", b.Token(), a.Token())
	}
	st := a.Store()
	writes := map[string]error{
		"PutKey": st.PutKey(registry.Key{ID: "k2"}, nil),
		"UpdateKey": func() error {
			_, err := st.UpdateKey("k", func(k *registry.Key) error { k.Curve = "ed25519"; return nil }, nil)
			return err
		}(),
		"AppendAudit": func() error { _, err := st.AppendAudit(auditlog.Entry{Action: "x"}); return err }(),
		"PutSignResult": func() error {
			_, err := st.PutSignResult("r1", registry.SignRecord{KeyID: "k"}, nil)
			return err
		}(),
		"PutSession":       st.PutSession(registry.SessionRecord{ID: "s1", Started: time.Now()}),
		"CreatePairing":    st.CreatePairing([]byte("p1"), registry.Pairing{Name: "p"}, nil),
		"PutToken":         st.PutToken([]byte("h"), registry.Token{ID: "t"}, nil),
		"PutPendingRoster": st.PutPendingRoster("x", registry.RosterRecord{}),
		"UpdateReshareJob": func() error {
			_, err := st.UpdateReshareJob("k", func(*registry.ReshareJob) error { return nil })
			return err
		}(),
	}
	for name, err := range writes {
		if !errors.Is(err, registry.ErrFenced) {
			t.Errorf("%s by the deposed replica: %v; want ErrFenced", name, err)
		}
	}
	if err := a.Renew(context.Background()); !errors.Is(err, postgres.ErrLeaseLost) {
		t.Fatalf("renewal by the deposed replica: %v; want ErrLeaseLost", err)
	}
	// Nothing the deposed replica tried landed; the new holder writes.
	k, err := b.Store().GetKey("k")
	if err != nil || k.Curve != "secp256k1" {
		t.Fatalf("key k after the deposed replica's update: %+v, %v", k, err)
	}
	for _, id := range []string{"k2"} {
		if _, err := b.Store().GetKey(id); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("key %s written by the deposed replica: %v", id, err)
		}
	}
	if _, err := b.Store().GetSignResult("r1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("sign result written by the deposed replica: %v", err)
	}
	if h, err := b.Store().AuditHeight(); err != nil || h != 1 {
		t.Fatalf("audit height %d, %v; want 1 (the deposed replica's append refused)", h, err)
	}
	if _, err := b.Store().AppendAudit(auditlog.Entry{Action: "y"}); err != nil {
		t.Fatalf("the new holder could not write: %v", err)
	}
}

// TestReleasedLeaseIsTakenAtOnce: a replica that stops cleanly releases
// the lease, and a standby takes it without waiting for it to expire.
func TestReleasedLeaseIsTakenAtOnce(t *testing.T) {
	dsn := newDB(t)
	a := replica(t, dsn, "a:1", time.Hour)
	b := replica(t, dsn, "b:1", time.Hour)
	if !acquire(t, a) {
		t.Fatal("a did not get the free lease")
	}
	ctx, cancel := context.WithCancel(context.Background())
	held := make(chan error, 1)
	go func() { held <- a.Hold(ctx) }()
	cancel()
	if err := <-held; err != nil {
		t.Fatalf("Hold on a clean stop: %v", err)
	}
	if acquire(t, b) {
		t.Fatal("b took the lease a still holds (Hold ended, but a has not released it)")
	}
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !acquire(t, b) {
		t.Fatal("b did not take the released lease at once")
	}
	if _, err := a.Store().AppendAudit(auditlog.Entry{Action: "x"}); !errors.Is(err, registry.ErrFenced) {
		t.Fatalf("a wrote after releasing the lease: %v", err)
	}
}

// TestTakeoverWaitsForWritesInFlight: a write transaction of the lease
// holder that passed its fencing check and then waits (here on a key row
// another session locked) lands before the next term: the takeover waits
// for it (the share lock on the lease row), so no write of an old term
// commits in a new one.
func TestTakeoverWaitsForWritesInFlight(t *testing.T) {
	dsn := newDB(t)
	a := replica(t, dsn, "a:1", time.Second)
	b := replica(t, dsn, "b:1", time.Second)
	if !acquire(t, a) {
		t.Fatal("a did not get the lease")
	}
	if err := a.Store().PutKey(registry.Key{ID: "k", Curve: "secp256k1"}, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	x, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close(ctx)
	xtx, err := x.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xtx.Exec(ctx, "SELECT 1 FROM keys WHERE id = $1 FOR UPDATE", []byte("k")); err != nil {
		t.Fatal(err)
	}
	aErr := make(chan error, 1)
	go func() {
		_, err := a.Store().UpdateKey("k", func(k *registry.Key) error { k.Curve = "ed25519"; return nil }, &auditlog.Entry{Action: "a.write"})
		aErr <- err
	}()
	// a's write is past its fencing check, waiting for the key's row.
	waitFor(t, dsn, "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'")
	waitExpired(t, a)
	// b tries the lapsed lease again and again (each try gives up after a
	// TTL); it must not get it before x lets a's write finish.
	var released atomic.Bool
	tookEarly := make(chan bool, 1)
	go func() {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			if ok, _ := b.TryAcquire(ctx); ok {
				tookEarly <- !released.Load()
				return
			}
		}
		t.Error("b never took the lapsed lease")
		tookEarly <- false
	}()
	time.Sleep(2500 * time.Millisecond) // a few of b's tries
	released.Store(true)
	if err := xtx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-aErr; err != nil {
		t.Fatalf("a's write in flight: %v", err)
	}
	if <-tookEarly {
		t.Fatal("b took the lease while a's write transaction, past its fencing check, was in flight")
	}
	if h, err := b.Store().AuditHeight(); err != nil || h != 1 {
		t.Fatalf("audit height %d, %v: a's write landed in its own term, before b's", h, err)
	}
}

// waitFor waits until the count sql returns is positive.
func waitFor(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed 0", sql)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFenceChecksTheHolder: should the database lose a takeover (a
// failover to a lagging standby, a restore), the next one reuses its
// fencing token; the fence and the renewal check the holder too, so the
// replica whose takeover was lost writes nothing in the other's term.
func TestFenceChecksTheHolder(t *testing.T) {
	dsn := newDB(t)
	a := replica(t, dsn, "a:1", time.Second)
	b := replica(t, dsn, "b:1", time.Second)
	c := replica(t, dsn, "c:1", time.Second)
	if !acquire(t, a) {
		t.Fatal("a did not get the free lease")
	}
	waitExpired(t, a)
	if !acquire(t, b) {
		t.Fatal("b did not take the lapsed lease")
	}
	run(t, dsn, "UPDATE leader_lease SET token = 1, holder = 'a', address = 'a:1', expires_at = '-infinity'") // b's takeover lost
	if !acquire(t, c) || c.Token() != b.Token() {
		t.Fatalf("c took token %d; the test wants b's %d reused", c.Token(), b.Token())
	}
	if err := b.Renew(context.Background()); !errors.Is(err, postgres.ErrLeaseLost) {
		t.Errorf("b renewed c's lease (same token, another holder): %v", err)
	}
	if err := b.Store().PutKey(registry.Key{ID: "from-b"}, nil); !errors.Is(err, registry.ErrFenced) {
		t.Errorf("b wrote in c's term: %v", err)
	}
	if err := c.Store().PutKey(registry.Key{ID: "from-c"}, nil); err != nil {
		t.Errorf("c, the holder: %v", err)
	}
}

// TestLeaseLapsesWithoutTheDatabase: a holder that cannot renew for a whole
// TTL (cut off from the database) stops holding by its own clock
// (ErrLeaseLapsed, an ErrLeaseLost): it must stop serving the devices it
// still reaches, since another replica may have taken the lease.
func TestLeaseLapsesWithoutTheDatabase(t *testing.T) {
	dsn := newDB(t)
	a := replica(t, dsn, "a:1", time.Second)
	if !acquire(t, a) {
		t.Fatal("a did not get the free lease")
	}
	// Cut a off: every renewal waits on a lock another session holds.
	ctx := context.Background()
	x, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close(ctx)
	xtx, err := x.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer xtx.Rollback(ctx)
	if _, err := xtx.Exec(ctx, "LOCK TABLE leader_lease IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() { held <- a.Hold(ctx) }()
	select {
	case err := <-held:
		if !errors.Is(err, postgres.ErrLeaseLapsed) || !errors.Is(err, postgres.ErrLeaseLost) {
			t.Fatalf("Hold cut off from the database: %v; want ErrLeaseLapsed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Hold went on holding a lease it could not renew for 30 TTLs")
	}
}

// TestOpenRefusesAReplicatedDatabase: a store opened alone (unfenced) is
// refused on a database whose lease a replica has taken.
func TestOpenRefusesAReplicatedDatabase(t *testing.T) {
	dsn := newDB(t)
	open(t, dsn).Close() // no replica yet: fine
	if !acquire(t, replica(t, dsn, "a:1", 0)) {
		t.Fatal("a did not get the free lease")
	}
	if st, err := postgres.Open(context.Background(), dsn, quiet); err == nil || !strings.Contains(err.Error(), "OpenReplica") {
		if st != nil {
			st.Close()
		}
		t.Fatalf("Open beside a replica: %v; want a refusal saying to open it as a replica", err)
	}
}
