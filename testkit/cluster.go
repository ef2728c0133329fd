// Package testkit runs a coordinator and device agents in one process,
// talking real gRPC over TLS on loopback, each with its own BadgerDB on disk.
// It is for tests and benchmarks only: devices take their pre-parameters from
// the TEST-ONLY fixtures and never generate their own.
package testkit

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// Cluster is a coordinator with its devices.
type Cluster struct {
	t      testing.TB
	opts   Options
	Dir    string
	Server *coordinator.Server
	Addr   string
	Admin  mpcv1.AdminServiceClient
	Signer mpcv1.SignerServiceClient
	// Requester signs Sign calls made with Sign (AddRequester sets it).
	Requester *Requester
	Log       *slog.Logger
	cancel    context.CancelFunc
	served    chan struct{}
	conns     []*grpc.ClientConn
	mu        sync.Mutex
	devices   map[string]*Device
	// operator signs devices onto the roster once StartRoster ran.
	operator *Operator
}

// Device is one running device agent.
type Device struct {
	Name   string
	Dir    string
	Store  *keystore.Store
	Agent  *party.Agent
	cancel context.CancelFunc
	done   chan struct{}
}

// Options tunes a cluster.
type Options struct {
	SignTimeout   time.Duration
	KeygenTimeout time.Duration
	Logger        *slog.Logger
	// Relay stands between the coordinator and each recipient (fault injection).
	Relay coordinator.RelayFunc
	// Metrics receives the coordinator's metrics (nil: none).
	Metrics prometheus.Registerer
	// AutoApprove activates devices without SAS comparison.
	AutoApprove bool
	// JobRetry is the coordinator's background reshare retry delay.
	JobRetry time.Duration
	// Device, when set, adjusts each device's agent options (by name).
	Device func(name string, o *party.Options)
	// Now is the coordinator's clock (nil: time.Now).
	Now func() time.Time
	// ReconnectGrace is the coordinator's wait for a key's holders after
	// it starts serving (0: none).
	ReconnectGrace time.Duration
}

// TestKDF keeps keystore creation fast in tests.
var TestKDF = keystore.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

// ModuleRoot is the repository's root folder (where go.mod is), found from
// this source file.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// FixtureSets reads TEST-ONLY pre-parameter file n (1..4) from the repository.
func FixtureSets(t testing.TB, n int) []*preparams.Set {
	t.Helper()
	f, err := os.Open(filepath.Join(ModuleRoot(), "testdata", "preparams", "TEST-ONLY-set-"+string(rune('0'+n))+".json"))
	if err != nil {
		t.Fatalf("open fixture: %v", err)
	}
	defer f.Close()
	sets, err := preparams.ReadTestFixtures(f)
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return sets
}

// New starts a coordinator on 127.0.0.1 and closes everything at cleanup.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir := t.TempDir()
	srv, err := coordinator.New(coordinator.Options{
		DataDir: filepath.Join(dir, "coordinator"), Logger: log.With("proc", "coordinator"),
		SignTimeout: opts.SignTimeout, KeygenTimeout: opts.KeygenTimeout, Relay: opts.Relay, AutoApprove: opts.AutoApprove,
		Metrics: opts.Metrics, JobRetry: opts.JobRetry, Now: opts.Now, ReconnectGrace: opts.ReconnectGrace,
	})
	if err != nil {
		t.Fatalf("coordinator: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{t: t, opts: opts, Dir: dir, Server: srv, Addr: lis.Addr().String(), Log: log, cancel: cancel, served: make(chan struct{}), devices: map[string]*Device{}}
	go func() { defer close(c.served); _ = srv.Serve(ctx, lis) }()
	t.Cleanup(c.Close)
	c.Admin = mpcv1.NewAdminServiceClient(c.Dial(t, c.Token(t, "admin")))
	c.Signer = mpcv1.NewSignerServiceClient(c.Dial(t, c.Token(t, "signer")))
	return c
}

// Token reads the admin or signer token the coordinator wrote.
func (c *Cluster) Token(t testing.TB, role string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, "coordinator", role+".token"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:len(b)-1])
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return true }

// Dial connects to the coordinator with a token (empty for none).
func (c *Cluster) Dial(t testing.TB, token string) *grpc.ClientConn {
	t.Helper()
	// The pins are read at each handshake: a certificate rotation changes them.
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
		pins := []string{c.Server.Fingerprint()}
		if next, _ := c.Server.NextFingerprint(); next != "" {
			pins = append(pins, next)
		}
		cfg, err := tlspin.ClientConfig(pins...)
		if err != nil {
			return err
		}
		return cfg.VerifyConnection(cs)
	}}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(c.Addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.conns = append(c.conns, conn)
	c.mu.Unlock()
	return conn
}

// AddDevice pairs, enrols and starts a device whose pool holds sets.
func (c *Cluster) AddDevice(t testing.TB, name string, sets []*preparams.Set) *Device {
	t.Helper()
	ctx := context.Background()
	code, err := c.Admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: name})
	if err != nil {
		t.Fatalf("pair %s: %v", name, err)
	}
	dir := filepath.Join(c.Dir, name)
	ks, err := keystore.Open(dir, keystore.NewPassphrase([]byte("test passphrase "+name)), keystore.Options{KDF: TestKDF})
	if err != nil {
		t.Fatalf("keystore %s: %v", name, err)
	}
	cfg, err := party.Enroll(ctx, ks, code.GetCode())
	if err != nil {
		ks.Close()
		t.Fatalf("enrol %s: %v", name, err)
	}
	c.mu.Lock()
	op := c.operator
	c.mu.Unlock()
	if op != nil {
		// With a roster, approval is the operator's signed entry.
		c.SubmitRoster(t, c.SignAddDevice(t, op, name))
	} else if cfg.PendingApproval {
		if _, err := c.Admin.ApproveDevice(ctx, &mpcv1.ApproveDeviceRequest{Device: name, Sas: cfg.SAS}); err != nil {
			ks.Close()
			t.Fatalf("approve %s: %v", name, err)
		}
	}
	d := &Device{Name: name, Dir: dir, Store: ks}
	if err := c.startDevice(d, sets); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	c.WaitOnline(t, name)
	return d
}

func (c *Cluster) startDevice(d *Device, sets []*preparams.Set) error {
	o := party.Options{Store: d.Store, Logger: c.Log.With("proc", d.Name), PoolTarget: max(len(sets), 1), MaxBackoff: 200 * time.Millisecond}
	if c.opts.Device != nil {
		c.opts.Device(d.Name, &o)
	}
	a, err := party.New(o)
	if err != nil {
		return err
	}
	a.Pool().AcceptTestFixtures() // the cluster's devices use the TEST-ONLY sets
	a.Pool().FixturesOnly()       // and no others
	for _, s := range sets {
		if err := a.Pool().Add(s); err != nil && !errors.Is(err, party.ErrPreparamsUsed) {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.Agent, d.cancel, d.done = a, cancel, make(chan struct{})
	go func() { defer close(d.done); _ = a.Run(ctx) }()
	c.mu.Lock()
	c.devices[d.Name] = d
	c.mu.Unlock()
	return nil
}

// StopDevice stops a device's agent (its store stays open for inspection).
func (c *Cluster) StopDevice(t testing.TB, name string) {
	t.Helper()
	c.mu.Lock()
	d := c.devices[name]
	c.mu.Unlock()
	if d == nil || d.cancel == nil {
		t.Fatalf("no running device %s", name)
	}
	d.cancel()
	<-d.done
	d.cancel = nil
	c.WaitOffline(t, name)
}

// RestartDevice starts a stopped device again.
func (c *Cluster) RestartDevice(t testing.TB, name string) {
	t.Helper()
	c.mu.Lock()
	d := c.devices[name]
	c.mu.Unlock()
	if err := c.startDevice(d, nil); err != nil {
		t.Fatal(err)
	}
	c.WaitOnline(t, name)
}

// WaitOnline waits until the coordinator lists the devices as online.
func (c *Cluster) WaitOnline(t testing.TB, names ...string) { c.waitState(t, true, names) }

// WaitOffline waits until the coordinator lists the devices as offline.
func (c *Cluster) WaitOffline(t testing.TB, names ...string) { c.waitState(t, false, names) }

func (c *Cluster) waitState(t testing.TB, online bool, names []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Admin.ListDevices(context.Background(), &mpcv1.ListDevicesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		match := 0
		for _, d := range resp.GetDevices() {
			for _, n := range names {
				if d.GetName() == n && d.GetOnline() == online {
					match++
				}
			}
		}
		if match == len(names) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("devices %v did not reach online=%v", names, online)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CreateKey makes a key with threshold t held by the named devices.
func (c *Cluster) CreateKey(t testing.TB, threshold uint32, names ...string) *mpcv1.Key {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req := &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: threshold, Devices: names}
	c.mu.Lock()
	op := c.operator
	c.mu.Unlock()
	if op != nil {
		req.Authorization = c.SignKeygen(t, op, threshold, names...)
	}
	resp, err := c.Admin.CreateKey(ctx, req)
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return resp.GetKey()
}

// BeginShutdown starts the coordinator's shutdown (as SIGTERM does) and
// returns at once; Close waits for it.
func (c *Cluster) BeginShutdown() { c.cancel() }

// Close stops every device, the coordinator and the clients.
func (c *Cluster) Close() {
	c.mu.Lock()
	devices := c.devices
	c.devices = map[string]*Device{}
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	for _, d := range devices {
		if d.cancel != nil {
			d.cancel()
			<-d.done
		}
		d.Store.Close()
	}
	for _, conn := range conns {
		conn.Close()
	}
	c.cancel()
	<-c.served
	c.Server.Close()
}
