package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mpcsign/mpcsign/coordinator/registry/postgres/pgtest"
	"github.com/mpcsign/mpcsign/internal/pairing"
	"github.com/mpcsign/mpcsign/internal/replicas"
)

// signed is one request id's signature as the wallet got it.
type signed struct {
	id     string
	digest []byte
	r, s   []byte
	at     time.Time // when the call that returned it ended
}

// signStream is a wallet signing one digest after another, each with its
// own request id, retrying a failed call with the same id (as a wallet
// does) until it succeeds.
type signStream struct {
	mu     sync.Mutex
	done   []signed
	errors []string
	stop   chan struct{}
	ended  chan struct{}
}

func (c *cluster) startSignStream(t *testing.T, key keyInfo, rs ...*replica) *signStream {
	cl := c.walletClient(t, rs...)
	st := &signStream{stop: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(st.ended)
		for i := 0; ; i++ {
			id := fmt.Sprintf("failover-%d", i)
			digest := sha256.Sum256([]byte(id))
			for {
				select {
				case <-st.stop:
					return
				default:
				}
				resp, err := signOnce(cl, key, id, digest[:], 30*time.Second)
				st.mu.Lock()
				if err != nil {
					st.errors = append(st.errors, id+": "+err.Error())
					st.mu.Unlock()
					time.Sleep(200 * time.Millisecond)
					continue
				}
				st.done = append(st.done, signed{id: id, digest: digest[:], r: resp.GetR(), s: resp.GetS(), at: time.Now()})
				st.mu.Unlock()
				break
			}
		}
	}()
	t.Cleanup(st.end)
	return st
}

func (st *signStream) end() {
	select {
	case <-st.stop:
	default:
		close(st.stop)
	}
	<-st.ended
}

// waitSigned waits until n signatures have come back after since.
func (st *signStream) waitSigned(t *testing.T, n int, since time.Time, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st.mu.Lock()
		got := 0
		for _, d := range st.done {
			if d.at.After(since) {
				got++
			}
		}
		errs := append([]string(nil), st.errors...)
		st.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d signatures within %s, want %d; errors:\n%s", got, timeout, n, strings.Join(errs, "\n"))
		}
		time.Sleep(pollEvery)
	}
}

// TestFailoverDuringSignStream: two coordinator replicas share a
// PostgreSQL database; a wallet given both addresses signs one request
// after another while the active replica is killed with kill -9. The
// standby takes over, the devices move to it, and the wallet's retries
// succeed there; every signature verifies, and no request id ever returns
// two different signatures (each is asked again at the end, and replayed
// as stored). The audit chain verifies across the failover. The time from
// the kill to the first successful Sign is logged (docs/ha.md).
//
// Then PostgreSQL restarts under the new active replica: its readiness
// goes NOT_SERVING, its log says why, and it serves and signs again by
// itself once the database is back.
func TestFailoverDuringSignStream(t *testing.T) {
	c, pg := newPostgresClusterOn(t)
	c.startCoordinator(t)
	a := c.first()
	// b's lease outlasts the database restart below (a replica that cannot
	// renew for a whole lease stops serving).
	b := c.startStandby(t, "coordinator-b", bin("coordinator"), nil, "--lease-ttl", "30s")

	// A pairing code carries both replicas' addresses, the active one's first.
	pr := c.pair(t, "spare")
	code, err := pairing.Parse(pr.Code)
	if err != nil {
		t.Fatal(err)
	}
	if want := replicas.Join([]string{a.addr, b.addr}); code.Address != want {
		t.Fatalf("the pairing code carries %q, want every replica's address %q", code.Address, want)
	}
	names := []string{"phone", "laptop", "server"}
	for _, n := range names {
		c.runParty(t, c.enroll(t, n, false))
	}
	c.waitReady(t, names...)
	key := c.createKey(t, names)

	st := c.startSignStream(t, key, a, b)
	st.waitSigned(t, 3, time.Time{}, 2*time.Minute)
	if err := a.proc.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if !a.proc.wait(10*time.Second) || !a.proc.killed() {
		t.Fatalf("the active replica did not die of SIGKILL")
	}
	c.waitActive(t, b, time.Minute)
	tookOver := time.Now()
	st.waitSigned(t, 3, killed, 2*time.Minute)
	st.end()

	var first time.Time
	for _, d := range st.done {
		if d.at.After(killed) && (first.IsZero() || d.at.Before(first)) {
			first = d.at
		}
	}
	t.Logf("kill -9 of the active replica to the first successful Sign: %s; the standby took over after %s (%d signatures in all, %d failed calls retried)",
		first.Sub(killed).Round(10*time.Millisecond), tookOver.Sub(killed).Round(10*time.Millisecond), len(st.done), len(st.errors))
	seen := map[string]bool{}
	for _, e := range st.errors {
		_, msg, _ := strings.Cut(e, ": ")
		if !seen[msg] {
			seen[msg] = true
			t.Logf("a failed call said: %s", msg)
		}
	}

	// Every signature verifies, and asking each request id again returns
	// the stored signature: one signature per request id.
	cl := c.walletClient(t, a, b)
	for _, d := range st.done {
		resp, err := signOnce(cl, key, d.id, d.digest, time.Minute)
		if err != nil {
			t.Fatalf("request %s again: %v", d.id, err)
		}
		verifySignature(t, key.PublicKey, d.digest, asSignResult(resp))
		if !resp.GetReplayed() || !bytes.Equal(resp.GetR(), d.r) || !bytes.Equal(resp.GetS(), d.s) {
			t.Errorf("request %s: the wallet got r=%x s=%x, asked again it gets r=%x s=%x (replayed %v)",
				d.id, d.r, d.s, resp.GetR(), resp.GetS(), resp.GetReplayed())
		}
	}
	// One audit entry per request id: the entry is written with the stored
	// signature, so a retry on the new replica adds none.
	signs := 0
	for _, e := range c.auditEntries(t) { // verifies the chain, from the new active replica
		if e.Action == "sign" && e.Result == "ok" && strings.Contains(e.Detail, `request "failover-`) {
			signs++
		}
	}
	if signs != len(st.done) {
		t.Errorf("the audit chain records %d signatures with a request id, the wallet got %d", signs, len(st.done))
	}
	t.Run("PostgreSQL restarts", func(t *testing.T) { checkDatabaseRestart(t, c, pg, key, a, b) })
}

// checkDatabaseRestart takes PostgreSQL down under the active replica
// and brings it back.
func checkDatabaseRestart(t *testing.T, c *cluster, pg *pgtest.Server, key keyInfo, rs ...*replica) {
	health := healthpb.NewHealthClient(c.dialGRPC(t, "")) // the active replica's
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("health check: %v", err)
		}
		return resp.GetStatus()
	}
	if st := check(); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("the active replica is %s before the database restarts", st)
	}
	pg.Down()
	if st := check(); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("the active replica is %s with its database down; want NOT_SERVING", st)
	}
	waitLog(t, c.coord, "health: the store does not answer; not serving", 30*time.Second)
	if err := pg.Up(); err != nil {
		t.Fatalf("PostgreSQL did not come back: %v\n%s", err, pg.LogTail())
	}
	deadline := time.Now().Add(time.Minute)
	for check() != healthpb.HealthCheckResponse_SERVING {
		if time.Now().After(deadline) {
			t.Fatal("the active replica did not serve again within a minute of the database's return")
		}
		time.Sleep(pollEvery)
	}
	waitLog(t, c.coord, "health: the store answers again", 30*time.Second)
	digest := sha256.Sum256([]byte("after the database restart"))
	resp, err := signOnce(c.walletClient(t, rs...), key, "after-restart", digest[:], time.Minute)
	if err != nil {
		t.Fatalf("Sign after the database restart: %v", err)
	}
	verifySignature(t, key.PublicKey, digest[:], asSignResult(resp))
	c.auditEntries(t) // verifies the chain
}
