package coordinator_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres/pgtest"
)

// syncBuffer is a log sink the test reads while the coordinator writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A coordinator on PostgreSQL goes NOT_SERVING, saying why in its log, while
// the database is down, and serves again by itself once it is back.
func TestHealthFollowsPostgreSQLRestart(t *testing.T) {
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	db, err := pg.CreateDB()
	if err != nil {
		t.Fatalf("%v\n%s", err, pg.LogTail())
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	st, err := postgres.Open(context.Background(), pg.URL(db), log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := coordinator.New(coordinator.Options{DataDir: filepath.Join(t.TempDir(), "coordinator"), Logger: log, Store: st,
		HealthProbeInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hc, _, _ := serveForHealth(t, srv)
	// waitStatus polls Check; the bound is against hanging, not a speed goal.
	waitStatus := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{Service: "mpc.v1.SignerService"})
			ccancel()
			if err == nil && resp.GetStatus() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health stayed %v (%v), want %v\nlog:\n%s", resp.GetStatus(), err, want, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitStatus(healthpb.HealthCheckResponse_SERVING)

	pg.Down()
	waitStatus(healthpb.HealthCheckResponse_NOT_SERVING)
	if !strings.Contains(logs.String(), "health: the store does not answer; not serving") {
		t.Fatalf("no reason in the log for NOT_SERVING:\n%s", logs.String())
	}
	if err := pg.Up(); err != nil {
		t.Fatal(err)
	}
	waitStatus(healthpb.HealthCheckResponse_SERVING)
	if !strings.Contains(logs.String(), "health: the store answers again") {
		t.Fatalf("the recovery is not in the log:\n%s", logs.String())
	}
	if err := st.Ping(); err != nil {
		t.Fatalf("the store after the restart: %v", err)
	}
}
