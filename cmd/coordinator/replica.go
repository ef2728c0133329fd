package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres"
	"github.com/mpcsign/mpcsign/internal/tlspin"
)

// deposed is the error that ends a replica that lost the leader lease (to
// another replica, or by failing to renew it for a whole --lease-ttl): it
// exits, and its supervisor (systemd's Restart=, Kubernetes) starts it
// again as a standby, as Kubernetes' own controllers do when they lose
// their lease.
func deposed(cause error) error {
	return fmt.Errorf("this replica stopped serving: %w; none of its writes since then landed; restart it (its supervisor does) and it stands by", cause)
}

// reconnectGrace is how long a replica that took over waits for a key's
// holders to reconnect before refusing a Sign for want of them.
const reconnectGrace = 15 * time.Second

// runReplica runs one coordinator replica on the PostgreSQL store of
// cfg: a standby until it takes the leader lease, then the active
// coordinator, on the same address, until the command's context ends (it
// releases the lease for a standby to take at once) or another replica
// takes the lease (errDeposed).
func runReplica(cmd *cobra.Command, cfg serveConfig, log *slog.Logger) (retErr error) {
	ctx := cmd.Context()
	lis, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	addr := lis.Addr().String()
	if cfg.advertise == "" {
		cfg.advertise = addr
	}
	rep, err := postgres.OpenReplica(ctx, cfg.store, log, postgres.ReplicaOptions{Address: cfg.advertise, TTL: cfg.leaseTTL,
		Fingerprint: func() string { return servedFingerprint(cfg.dataDir) }})
	if err != nil {
		lis.Close()
		return fmt.Errorf("--store: %w", err)
	}
	if err := checkIdentity(ctx, cfg.dataDir, rep); err != nil {
		lis.Close()
		rep.Store().Close()
		return err
	}
	active, err := standBy(ctx, cmd.OutOrStdout(), cfg, rep, lis, log)
	if err != nil || !active {
		rep.Store().Close()
		return err
	}
	// From here on the lease is renewed, while the coordinator opens
	// (recovering reshares) as while it serves.
	lease := keepLease(rep)
	if lis, err = listenAgain(addr); err != nil { // the standby's address, served now by the active coordinator
		lease.release(log)
		rep.Store().Close()
		return err
	}
	opts, reg := serveOptions(cfg, log)
	opts.Store = rep.Store()
	opts.Advertise = cfg.advertise
	opts.Replicas = rep.Addresses
	opts.ReconnectGrace = reconnectGrace
	err = runActive(cmd, cfg, log, activeRun{opts: opts, reg: reg, lease: lease, api: lis})
	if lease.lost() && !coordinator.CompromisedKeepServingDeposed() {
		return deposed(lease.cause)
	}
	return err
}

// sharedFiles are the files every replica's data directory must hold, the
// same in all: the TLS identity devices pin and the first tokens.
var sharedFiles = []string{"tls.crt", "tls.key", "admin.token", "signer.token"}

// checkIdentity refuses to run a replica beside others without their
// shared identity: it would serve a certificate no device pins, and on
// taking over mint admin and signer tokens nobody asked for. The first
// replica of a database (whose lease was never taken) makes the identity.
func checkIdentity(ctx context.Context, dir string, rep *postgres.Replica) error {
	l, err := rep.Leader(ctx)
	if err != nil {
		return fmt.Errorf("--store: %w", err)
	}
	if l.Token == 0 {
		return nil
	}
	var missing []string
	for _, f := range sharedFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("other coordinator replicas serve this database, and replicas share one identity: %s missing from %s; "+
			"copy %s from the active replica's data directory (docs/ha.md)", strings.Join(missing, ", "), dir, strings.Join(sharedFiles, ", "))
	}
	st, err := tlspin.Load(dir, time.Now())
	if err != nil {
		return err
	}
	if l.Fingerprint != "" && l.Fingerprint != st.CurrentFingerprint() && l.Fingerprint != st.NextFingerprint() {
		return fmt.Errorf("this replica's TLS certificate (%s) is not the one the replicas serve (%s, by %s): devices would not trust it; "+
			"copy tls.crt and tls.key (and tls.next.* during a rotation) from the active replica's data directory (docs/ha.md)",
			st.CurrentFingerprint(), l.Fingerprint, l.Address)
	}
	return nil
}

// servedFingerprint is the certificate a replica with data directory dir
// serves now ("" when it cannot be read).
func servedFingerprint(dir string) string {
	st, err := tlspin.Load(dir, time.Now())
	if err != nil {
		return ""
	}
	return st.CurrentFingerprint()
}

// leaseKeeper renews the leader lease of an active replica.
type leaseKeeper struct {
	rep     *postgres.Replica
	stop    context.CancelFunc
	held    chan error
	deposed chan struct{} // closed when the lease was lost (cause says how)
	cause   error
}

// keepLease renews rep's lease until release, or until another replica
// takes it (then deposed is closed).
func keepLease(rep *postgres.Replica) *leaseKeeper {
	ctx, stop := context.WithCancel(context.Background())
	k := &leaseKeeper{rep: rep, stop: stop, held: make(chan error, 1), deposed: make(chan struct{})}
	go func() {
		err := rep.Hold(ctx)
		if errors.Is(err, postgres.ErrLeaseLost) {
			k.cause = err
			close(k.deposed)
		}
		k.held <- err
	}()
	return k
}

func (k *leaseKeeper) lost() bool {
	select {
	case <-k.deposed:
		return true
	default:
		return false
	}
}

// release stops renewing and gives the lease up, for a standby to take at
// once (unless it was lost already).
func (k *leaseKeeper) release(log *slog.Logger) {
	k.stop()
	<-k.held
	if k.lost() {
		return
	}
	if err := k.rep.Release(context.Background()); err != nil {
		log.Warn("could not release the leader lease; a standby takes over when it expires", "err", err)
		return
	}
	log.Info("released the leader lease")
}

// standBy serves lis as a standby until this replica takes the leader
// lease (active) or ctx ends; either way lis is closed when it returns.
func standBy(ctx context.Context, out io.Writer, cfg serveConfig, rep *postgres.Replica, lis net.Listener, log *slog.Logger) (active bool, err error) {
	if ok, err := rep.TryAcquire(ctx); err != nil || ok {
		lis.Close()
		return ok, err
	}
	// The active replica's address, as the last try of the lease found it:
	// a standby's answers to callers read no database.
	var activeAddr atomic.Pointer[string]
	noteLeader := func() (postgres.Leader, error) {
		l, err := rep.Leader(ctx)
		if err != nil {
			return l, err
		}
		addr := ""
		if l.Live {
			addr = l.Address
		}
		activeAddr.Store(&addr)
		return l, nil
	}
	leader, _ := noteLeader()
	sb, err := coordinator.NewStandby(coordinator.StandbyOptions{DataDir: cfg.dataDir, Logger: log, Active: func(context.Context) (string, error) {
		if a := activeAddr.Load(); a != nil {
			return *a, nil
		}
		return "", errors.New("the database has not answered yet")
	}})
	if err != nil {
		lis.Close()
		return false, err
	}
	served := make(chan error, 1)
	go func() { served <- sb.Serve(lis) }()
	defer func() { sb.Stop(); <-served }()
	fmt.Fprintf(out, "coordinator replica standing by on %s (active replica: %s); it takes over when the leader lease is free\n", lis.Addr(), orNone(leader.Address))
	log.Info("standing by: another replica holds the leader lease", "active", leader.Address, "holder", leader.Holder)
	t := time.NewTicker(min(time.Second, rep.TTL()/5))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case err := <-served:
			return false, fmt.Errorf("standby server: %w", err)
		case <-t.C:
		}
		ok, err := rep.TryAcquire(ctx)
		if err != nil {
			log.Warn("standby: could not try the leader lease; trying again", "err", err)
			continue
		}
		if ok {
			fmt.Fprintf(out, "took the leader lease (fencing token %d): this replica is the active coordinator now\n", rep.Token())
			return true, nil
		}
		if _, err := noteLeader(); err != nil {
			log.Debug("standby: could not read who is active", "err", err)
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "none yet"
	}
	return s
}

// listenAgain listens on addr, which a standby server just closed.
func listenAgain(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var lis net.Listener
		if lis, err = net.Listen("tcp", addr); err == nil {
			return lis, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

// serveLeased serves as serveAll does while this replica holds the leader
// lease. When another replica took the lease, the coordinator stops at once
// (its sessions could not record their results); on a clean stop it drains,
// then releases the lease so that a standby takes over at once.
func serveLeased(ctx context.Context, out io.Writer, srv *coordinator.Server, log *slog.Logger, ls serveListeners, reg *prometheus.Registry, lease *leaseKeeper) error {
	defer lease.release(log) // after the drain: its writes need the lease
	ctx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	go func() {
		select {
		case <-lease.deposed:
			if coordinator.CompromisedKeepServingDeposed() {
				log.Warn("TEST ONLY: lost the leader lease, and serving on as a compromised replica would")
				return
			}
			if errors.Is(lease.cause, postgres.ErrLeaseLapsed) {
				log.Error("could not renew the leader lease within --lease-ttl: stopping at once, another replica may take over", "err", lease.cause)
			} else {
				log.Error("lost the leader lease to another replica: stopping at once", "err", lease.cause)
			}
			srv.Abort()
			stopServing()
		case <-ctx.Done():
		}
	}()
	return serveAll(ctx, out, srv, log, ls, reg)
}
