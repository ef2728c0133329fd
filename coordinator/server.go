// Package coordinator is the gRPC server that routes keygen and signing
// sessions between device parties. It holds no share material: it relays
// protocol messages, keeps device and key metadata, and checks results.
package coordinator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/coordinator/relay"
	"github.com/mpcsign/mpcsign/internal/coordclient"
	"github.com/mpcsign/mpcsign/internal/sigfmt"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Options configures a Server. Zero values mean the defaults.
type Options struct {
	// DataDir holds the TLS certificate, the token files and (without
	// Store) the Badger store.
	DataDir string
	// Store keeps the coordinator's records; nil opens the Badger store in
	// DataDir. The coordinator closes it.
	Store registry.Store
	// Advertise is the address written into pairing codes; default: the listener's address.
	Advertise string
	// Replicas, for a coordinator that is one of several replicas sharing
	// a database, lists every replica's address, the active one's first:
	// pairing codes carry them all (nil: Advertise alone).
	Replicas func(ctx context.Context) ([]string, error)
	Logger   *slog.Logger
	Now      func() time.Time
	// PairingTTL is how long a pairing code is valid (default 5 minutes).
	PairingTTL time.Duration
	// SignTimeout and KeygenTimeout bound one session (defaults 60 s and 10 min).
	SignTimeout   time.Duration
	KeygenTimeout time.Duration
	// DrainTimeout bounds how long a shutdown waits for running sessions
	// (default 30 s).
	DrainTimeout time.Duration
	// AutoApprove activates enrolled devices at once, without the operator
	// comparing short authentication strings (unattended labs only).
	AutoApprove bool
	// Relay, when set, stands between the coordinator and each recipient of
	// a protocol message. For fault-injection tests only.
	Relay RelayFunc
	// CrashAt, when set, is called at each CrashPoint of a reshare and at
	// each round boundary of a session (RoundCrashPoint); crash tests kill
	// the process there. The product leaves it nil.
	CrashAt func(CrashPoint)
	// JobRetry is how long a background reshare waits before it tries again
	// after a failure (default 15 s); a device connecting wakes it sooner.
	JobRetry time.Duration
	// Metrics, when set, receives the coordinator's Prometheus metrics
	// (docs/metrics.md). Pass a dedicated registry; nil records none.
	Metrics prometheus.Registerer
	// CertCheckInterval is how often the certificate files are read again,
	// so that 'coordinator cert rotate' takes effect without a restart
	// (default 10 s).
	CertCheckInterval time.Duration
	// HealthProbeInterval is how often the store is pinged so that health
	// Watch streams see it fail and recover (default 5 s).
	HealthProbeInterval time.Duration
	// ReconnectGrace is how long after it starts serving the coordinator
	// waits for a key's holders to connect before it refuses a Sign for
	// want of them: after a failover the devices are still reconnecting
	// (0: no wait; a replica that takes over sets it).
	ReconnectGrace time.Duration
	// RetainSignResults is how long a signature is kept for replays of its
	// request id (default 30 days; at least 24 hours; negative: forever).
	// A retry with a request id whose result was pruned is signed anew.
	RetainSignResults time.Duration
	// RetainSessions is how long session records are kept, from their
	// start (default 90 days; negative: forever).
	RetainSessions time.Duration
	// PruneInterval is how often records past their retention are deleted
	// while the coordinator serves (default 1 hour; also once at start).
	PruneInterval time.Duration
}

// Files are the paths the coordinator writes on first start.
type Files struct {
	Cert, Key, AdminToken, SignerToken, ClientConfig string
}

// Server is a coordinator.
type Server struct {
	mpcv1.UnimplementedSignerServiceServer
	mpcv1.UnimplementedAdminServiceServer
	mpcv1.UnimplementedPartyLinkServiceServer

	opts        Options
	log         *slog.Logger
	store       Store
	cert        tls.Certificate // served at start; GetCertificate is the one served now
	fingerprint string          // of cert; Fingerprint() is the one served now
	certs       *certs          // the certificates, switched by a rotation
	files       Files
	firstStart  bool
	links       *relay.Links
	sessions    *relay.Sessions
	inflight    keyedMutex
	gates       keyGates
	strikes     strikes
	// syncMu makes "commit or abandon a reshare, then push KeySync" and
	// "snapshot KeySync, then register a new link" exclusive, so no device
	// connecting in between misses a commit.
	syncMu   sync.Mutex
	jobs     *reshareJobs
	draining atomic.Bool
	// revocationsDue asks the job worker to run resumeRevocations: a
	// recorded revocation failed to queue its reshare jobs.
	revocationsDue atomic.Bool
	auditMu        sync.Mutex
	roster         rosterBook
	grpc           *grpc.Server
	metrics        *metrics
	health         *healthService
	// abort ends a drain at once (Abort): a replica that lost the leader
	// lease cannot finish its sessions, whose writes are refused.
	abort     chan struct{}
	abortOnce sync.Once
	// servingSince is when Serve started (Unix nanoseconds; 0: not yet).
	servingSince atomic.Int64
	// replicaList is the replicas' addresses last told to devices.
	replicaList replicaList
}

// New opens (or, on first start, initialises) the coordinator in opts.DataDir.
func New(opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, abort: make(chan struct{}), replicaList: replicaList{changed: make(chan struct{})}}
	m, err := newMetrics(opts.Metrics)
	if err != nil {
		return nil, fmt.Errorf("coordinator: register metrics: %w", err)
	}
	s.metrics = m
	s.files = Files{
		Cert:         filepath.Join(opts.DataDir, "tls.crt"),
		Key:          filepath.Join(opts.DataDir, "tls.key"),
		AdminToken:   filepath.Join(opts.DataDir, "admin.token"),
		SignerToken:  filepath.Join(opts.DataDir, "signer.token"),
		ClientConfig: filepath.Join(opts.DataDir, coordclient.ConfigFile),
	}
	if err := s.openCerts(); err != nil {
		return nil, err
	}
	if err := s.openStore(); err != nil {
		return nil, err
	}
	s.links = relay.NewLinks()
	s.sessions = relay.NewSessions(relay.Config{Log: s.log, Links: s.links, Store: s.store, Now: opts.Now, Relay: opts.Relay,
		Metrics: relayMetrics{s.metrics}, Crash: opts.CrashAt})
	if err := s.recoverReshares(); err != nil {
		s.store.Close()
		return nil, fmt.Errorf("coordinator: recover reshares: %w", err)
	}
	s.jobs = newReshareJobs(s)
	if err := s.resumeRevocations(context.Background()); err != nil {
		s.store.Close()
		return nil, fmt.Errorf("coordinator: queue the reshare jobs of recorded revocations: %w", err)
	}
	return s, nil
}

// withDefaults fills the options left zero and checks the rest.
func (opts Options) withDefaults() (Options, error) {
	if opts.DataDir == "" {
		return opts, errors.New("coordinator: no data directory")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PairingTTL <= 0 {
		opts.PairingTTL = 5 * time.Minute
	}
	if opts.SignTimeout <= 0 {
		opts.SignTimeout = 60 * time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.KeygenTimeout <= 0 {
		opts.KeygenTimeout = 10 * time.Minute
	}
	if opts.CertCheckInterval <= 0 {
		opts.CertCheckInterval = 10 * time.Second
	}
	if opts.KeygenTimeout > 30*time.Minute || opts.SignTimeout > 30*time.Minute {
		return opts, errors.New("coordinator: session timeouts are at most 30 minutes (devices refuse longer sessions)")
	}
	return opts.retentionDefaults()
}

// openCerts finishes a certificate rotation whose switch-over time passed,
// and loads (or, on first start, creates) the TLS certificates.
func (s *Server) openCerts() error {
	opts := s.opts
	if promoted, err := tlspin.Promote(opts.DataDir, opts.Now()); err != nil {
		return fmt.Errorf("coordinator: finish the certificate rotation: %w", err)
	} else if promoted {
		s.log.Info("the next TLS certificate's switch-over time has passed; it is the current one now")
	}
	_, created, err := tlspin.LoadOrCreate(opts.DataDir, []string{"127.0.0.1", "::1", "localhost"})
	if err != nil {
		return err
	}
	if s.certs, err = newCerts(opts.DataDir, opts.Now, s.log); err != nil {
		return err
	}
	s.cert, s.fingerprint, s.firstStart = *s.certs.cur, s.certs.curFP, created
	return nil
}

// openStore opens the store, writes the first start's API tokens and loads
// the roster; on failure the store is closed again.
func (s *Server) openStore() error {
	opts := s.opts
	s.store = opts.Store
	if s.store == nil {
		var err error
		if s.store, err = OpenBadgerStore(filepath.Join(opts.DataDir, "store"), s.log); err != nil {
			return err
		}
	}
	if _, err := os.Stat(s.files.AdminToken); errors.Is(err, os.ErrNotExist) {
		if err := writeTokenFile(s.store, RoleAdmin, "initial admin", s.files.AdminToken, opts.Now()); err != nil {
			s.store.Close()
			return fmt.Errorf("coordinator: create admin token: %w", err)
		}
		if err := writeTokenFile(s.store, RoleSigner, "initial signer", s.files.SignerToken, opts.Now()); err != nil {
			s.store.Close()
			return fmt.Errorf("coordinator: create signer token: %w", err)
		}
	}
	if h, err := s.store.AuditHeight(); err == nil {
		s.metrics.audited(h)
	}
	if err := s.loadRoster(); err != nil {
		s.store.Close()
		return fmt.Errorf("coordinator: %w", err)
	}
	return nil
}

// Fingerprint is the SHA-256 fingerprint of the certificate served now.
func (s *Server) Fingerprint() string {
	cur, _, _ := s.certs.fingerprints()
	return cur
}

// NextFingerprint is the next certificate's fingerprint and its switch-over
// time while a rotation is pending ("" otherwise).
func (s *Server) NextFingerprint() (string, time.Time) {
	_, next, at := s.certs.fingerprints()
	return next, at
}

// GetCertificate is the certificate to serve now, for a tls.Config of a
// listener that shares the coordinator's pinned certificate.
func (s *Server) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.certs.certificate(hello)
}

// ReloadCertificates reads the certificate files again, as the server does
// every CertCheckInterval: a rotation made by 'coordinator cert rotate' is
// announced to the connected devices.
func (s *Server) ReloadCertificates() error {
	_, err := s.certs.reload()
	return err
}

// Files tells where the certificate and token files are.
func (s *Server) Files() Files { return s.files }

// FirstStart reports whether this start created the certificate.
func (s *Server) FirstStart() bool { return s.firstStart }

// Serve serves on lis until ctx ends, then stops gracefully.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	if s.opts.Advertise == "" {
		s.opts.Advertise = lis.Addr().String()
	}
	s.servingSince.Store(time.Now().UnixNano())
	if err := s.certs.publish(s.files.ClientConfig, s.opts.Advertise); err != nil {
		return err
	}
	s.grpc = grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{GetCertificate: s.certs.certificate, MinVersion: tls.VersionTLS13})),
		grpc.ChainUnaryInterceptor(unaryErrors(s.log), s.unaryAuth),
		grpc.ChainStreamInterceptor(streamErrors(s.log), s.streamAuth),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 15 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(sigfmt.MaxSignRequest), // the largest Sign batch, with headroom
	)
	mpcv1.RegisterSignerServiceServer(s.grpc, s)
	mpcv1.RegisterAdminServiceServer(s.grpc, s)
	mpcv1.RegisterPartyLinkServiceServer(s.grpc, s)
	s.health = newHealthService(s.store, s.log)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(lis) }()
	jobsCtx, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	go s.jobs.run(jobsCtx)
	go s.certs.watch(jobsCtx, s.opts.CertCheckInterval)
	go s.watchReplicas(jobsCtx)
	// The store probe and the pruning end before Serve returns: the caller
	// closes the store next.
	probeDone, pruneDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(probeDone); s.health.probeStore(jobsCtx, s.opts.HealthProbeInterval) }()
	go func() { defer close(pruneDone); s.runRetention(jobsCtx) }()
	defer func() { stopJobs(); <-probeDone; <-pruneDone }()
	s.health.serving()
	select {
	case err := <-errc:
		s.health.shutdown()
		return err
	case <-ctx.Done():
	}
	// Drain: refuse new sessions, let running ones finish (or time out)
	// within DrainTimeout, then close the device links and stop.
	s.health.shutdown()
	s.draining.Store(true)
	s.log.Info("draining: no new sessions; waiting for running ones", "running", s.sessions.Running(), "bound", s.opts.DrainTimeout)
	select {
	case <-s.sessions.Idle():
	case <-s.abort:
		s.log.Warn("stopping at once: aborting the sessions still running", "running", s.sessions.Running())
	case <-time.After(s.opts.DrainTimeout):
		s.log.Warn("drain bound reached; aborting the sessions still running", "running", s.sessions.Running())
	}
	s.links.CloseAll(ErrShuttingDown)
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		s.grpc.Stop()
	}
	return nil
}

// Abort makes the stop that Serve's context starts skip the drain: running
// sessions are aborted at once. A replica that lost the leader lease calls
// it, since none of its sessions could record its result.
func (s *Server) Abort() { s.abortOnce.Do(func() { close(s.abort) }) }

// Close closes the store.
func (s *Server) Close() error { return s.store.Close() }
