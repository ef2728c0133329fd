package coordinator

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// failingStore is a real store whose Ping can be made to fail, as a disk
// that stops answering and comes back would.
type failingStore struct {
	Store
	down atomic.Bool
}

func (f *failingStore) Ping() error {
	if f.down.Load() {
		return errors.New("the disk does not answer")
	}
	return f.Store.Ping()
}

// TestHealthProbeFlipsAndRecovers checks the periodic probe alone (the
// embedded server's status, no Check) goes NOT_SERVING when the store fails
// and SERVING again when it answers.
func TestHealthProbeFlipsAndRecovers(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := OpenBadgerStore(filepath.Join(t.TempDir(), "store"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fs := &failingStore{Store: st}
	h := newHealthService(fs, log)
	h.serving()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.probeStore(ctx, 10*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-done })

	waitStatus := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second) // against hanging only
		for _, svc := range []string{"", mpcv1.SignerService_ServiceDesc.ServiceName} {
			for {
				resp, err := h.Server.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
				if err != nil {
					t.Fatal(err)
				}
				if resp.GetStatus() == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("status of %q is %v, want %v", svc, resp.GetStatus(), want)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	waitStatus(healthpb.HealthCheckResponse_SERVING)
	fs.down.Store(true)
	waitStatus(healthpb.HealthCheckResponse_NOT_SERVING)
	fs.down.Store(false)
	waitStatus(healthpb.HealthCheckResponse_SERVING)
	// Once shutdown began, a store that answers does not bring it back.
	h.shutdown()
	h.storeState(errors.New("down"))
	h.storeState(nil)
	if resp, _ := h.Server.Check(ctx, &healthpb.HealthCheckRequest{}); resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("after shutdown: %v, want NOT_SERVING", resp.GetStatus())
	}
}
