package coordinator_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// dialHealth connects without a token, on a connection of the test's own
// (the cluster's Close closes the connections it made itself first).
func dialHealth(t *testing.T, c *testkit.Cluster) (healthpb.HealthClient, *grpc.ClientConn) {
	t.Helper()
	tlsCfg, err := tlspin.ClientConfig(c.Server.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(c.Addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn), conn
}

func checkStatus(t *testing.T, hc healthpb.HealthClient, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("Check(%q): %v", service, err)
	}
	if resp.GetStatus() != want {
		t.Fatalf("Check(%q) = %v, want %v", service, resp.GetStatus(), want)
	}
}

func TestHealthServingThenShutdown(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	hc, conn := dialHealth(t, c)
	ctx := context.Background()

	for _, svc := range []string{"", "mpc.v1.SignerService", "mpc.v1.AdminService", "mpc.v1.PartyLinkService"} {
		checkStatus(t, hc, svc, healthpb.HealthCheckResponse_SERVING)
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"}); code(err) != codes.NotFound {
		t.Fatalf("unknown service: want NotFound, got %v", err)
	}
	// The health service is public; the rest still needs a token.
	if _, err := mpcv1.NewAdminServiceClient(conn).ListDevices(ctx, &mpcv1.ListDevicesRequest{}); code(err) != codes.Unauthenticated {
		t.Fatalf("ListDevices without a token: want Unauthenticated, got %v", err)
	}

	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := hc.Watch(wctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := w.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch update: %v %v, want SERVING", resp, err)
	}

	closed := make(chan struct{})
	go func() { defer close(closed); c.Close() }()
	if resp, err := w.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch update once shutdown began: %v %v, want NOT_SERVING", resp, err)
	}
	// The coordinator ends the stream itself rather than let it hold up the
	// graceful stop until the hard stop.
	_, err = w.Recv()
	if code(err) != codes.Unavailable || !strings.Contains(err.Error(), coordinator.ErrShuttingDown.Error()) {
		t.Fatalf("Watch after shutdown began: want Unavailable %q, got %v", coordinator.ErrShuttingDown, err)
	}
	<-closed

	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); code(err) != codes.Unavailable {
		t.Fatalf("Check after shutdown: want Unavailable, got %v", err)
	}
}

func TestHealthReflectsStore(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	hc, _ := dialHealth(t, c)
	checkStatus(t, hc, "", healthpb.HealthCheckResponse_SERVING)
	// A store that no longer answers makes the readiness check fail while
	// the listener still serves.
	if err := c.Server.Close(); err != nil {
		t.Fatal(err)
	}
	checkStatus(t, hc, "", healthpb.HealthCheckResponse_NOT_SERVING)
	checkStatus(t, hc, "mpc.v1.SignerService", healthpb.HealthCheckResponse_NOT_SERVING)
}

func TestStorePing(t *testing.T) {
	st, err := coordinator.OpenBadgerStore(filepath.Join(t.TempDir(), "store"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(); err == nil {
		t.Fatal("Ping on a closed store succeeded")
	}
}

// TestHealthWatchReflectsStore checks that watchers, not only Check, see
// the store fail: the periodic probe flips every name to NOT_SERVING
// without anyone calling Check.
func TestHealthWatchReflectsStore(t *testing.T) {
	srv, err := coordinator.New(coordinator.Options{
		DataDir: filepath.Join(t.TempDir(), "coordinator"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		HealthProbeInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	hc, ctx, closeStore := serveForHealth(t, srv)

	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second) // a bound against hanging, not a speed test
	defer wcancel()
	var watches []healthpb.Health_WatchClient
	for _, svc := range []string{"", "mpc.v1.SignerService", "mpc.v1.PartyLinkService"} {
		w, err := hc.Watch(wctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		// NOT_SERVING may come first, before the listener is marked serving.
		for {
			resp, err := w.Recv()
			if err != nil {
				t.Fatalf("Watch(%q): %v", svc, err)
			}
			if resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				break
			}
		}
		watches = append(watches, w)
	}
	if err := closeStore(); err != nil { // the store stops answering; the listener still serves
		t.Fatal(err)
	}
	for i, w := range watches {
		resp, err := w.Recv()
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("watch %d after the store closed: %v %v, want NOT_SERVING", i, resp, err)
		}
	}
}

// serveForHealth serves srv on a loopback listener until the test ends, and
// returns a health client on a connection of the test's own, the serving
// context, and closeStore, which closes srv (its store stops answering while
// the listener still serves); the cleanup closes srv if the test did not.
func serveForHealth(t *testing.T, srv *coordinator.Server) (healthpb.HealthClient, context.Context, func() error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()
	closed := false
	t.Cleanup(func() {
		cancel()
		<-served
		if !closed {
			srv.Close()
		}
	})
	tlsCfg, err := tlspin.ClientConfig(srv.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn), ctx, func() error { closed = true; return srv.Close() }
}
