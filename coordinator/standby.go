package coordinator

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/internal/replicas"
	"github.com/mpcsign/mpcsign/internal/tlspin"
)

// StandbyOptions configure the server of a standby replica.
type StandbyOptions struct {
	// DataDir holds the TLS certificate, shared by every replica (copied
	// from the first one's data directory), so that devices and clients
	// pinning it reach whichever replica is active.
	DataDir string
	Logger  *slog.Logger
	// Active is the address of the active replica ("" when none holds a
	// live lease); an error when the database does not answer.
	Active func(ctx context.Context) (string, error)
}

// Standby is what a replica that does not hold the leader lease serves: the
// health service, NOT_SERVING for the coordinator and each of its APIs (a
// load balancer's health check and clients' health-checked balancing skip
// it), and for every other call an Unavailable status that names the active
// replica's address in its details (replicas.ActiveAddress reads it).
// It holds no session, link or record: it takes over by stopping, and the
// process then serves as the active coordinator on the same address.
type Standby struct {
	opts   StandbyOptions
	log    *slog.Logger
	grpc   *grpc.Server
	health *health.Server
	certs  *certs
	// stopWatch ends the certificate watch (Stop).
	stopWatch context.CancelFunc
}

// NewStandby loads the replica's certificate (creating one on a first start,
// which the operator then replaces with the shared one) and returns the
// standby server.
func NewStandby(opts StandbyOptions) (*Standby, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, err
	}
	if _, _, err := tlspin.LoadOrCreate(opts.DataDir, []string{"127.0.0.1", "::1", "localhost"}); err != nil {
		return nil, err
	}
	c, err := newCerts(opts.DataDir, time.Now, opts.Logger)
	if err != nil {
		return nil, err
	}
	s := &Standby{opts: opts, log: opts.Logger, health: health.NewServer(), certs: c, stopWatch: func() {}}
	for _, name := range healthServices {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	s.grpc = grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{GetCertificate: c.certificate, MinVersion: tls.VersionTLS13})),
		grpc.UnknownServiceHandler(s.refuse),
	)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	return s, nil
}

// Serve serves on lis until Stop. It reads the certificate files again
// every 10 seconds, as the active coordinator does, so that a rotation's
// next certificate copied into the data directory is served at its time.
func (s *Standby) Serve(lis net.Listener) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopWatch = cancel
	watched := make(chan struct{})
	go func() { defer close(watched); s.certs.watch(ctx, 10*time.Second) }()
	defer func() { cancel(); <-watched }()
	return s.grpc.Serve(lis)
}

// Stop closes the listener and every connection at once: their clients
// reconnect, to this process once it is active or to the active replica.
func (s *Standby) Stop() {
	s.health.Shutdown()
	s.grpc.Stop()
}

// refuse answers every call but the health service's.
func (s *Standby) refuse(_ any, stream grpc.ServerStream) error {
	ctx, cancel := context.WithTimeout(stream.Context(), 2*time.Second)
	defer cancel()
	addr, err := s.opts.Active(ctx)
	method, _ := grpc.MethodFromServerStream(stream)
	if err != nil {
		s.log.Warn("standby: could not read who is active", "method", method, "err", err)
		return status.Error(codes.Unavailable, "this coordinator replica is a standby and cannot reach the database to tell which replica is active; retry in a few seconds")
	}
	return standbyStatus(addr).Err()
}

// standbyStatus is the status a standby answers with: Unavailable, with
// the active replica's address (when one is live) in its details.
func standbyStatus(active string) *status.Status {
	msg := "this coordinator replica is a standby and no replica is active yet (one takes over within seconds); retry"
	if active != "" {
		msg = fmt.Sprintf("this coordinator replica is a standby; the active one is at %s: retry there (a client given every replica's address moves by itself)", active)
	}
	return replicas.WithActiveAddress(status.New(codes.Unavailable, msg), active)
}
