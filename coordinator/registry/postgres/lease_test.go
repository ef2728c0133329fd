package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

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
			_, err := st.PutSignResult("r1", registry.SignRecord{KeyID: "k"})
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
