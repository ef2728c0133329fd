package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres"
)

// errDeposed ends a replica that lost the leader lease: it exits, and its
// supervisor (systemd's Restart=, Kubernetes) starts it again as a standby,
// as Kubernetes' own controllers do when they lose their lease.
var errDeposed = errors.New("this replica lost the leader lease to another replica (it paused, or lost the database, for longer than --lease-ttl): " +
	"it stopped serving, and none of its writes since then landed; restart it (a supervisor does) and it stands by")

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
	rep, err := postgres.OpenReplica(ctx, cfg.store, log, postgres.ReplicaOptions{Address: cfg.advertise, TTL: cfg.leaseTTL})
	if err != nil {
		lis.Close()
		return fmt.Errorf("--store: %w", err)
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
		return errDeposed
	}
	return err
}

// leaseKeeper renews the leader lease of an active replica.
type leaseKeeper struct {
	rep     *postgres.Replica
	stop    context.CancelFunc
	held    chan error
	deposed chan struct{} // closed when another replica took the lease
}

// keepLease renews rep's lease until release, or until another replica
// takes it (then deposed is closed).
func keepLease(rep *postgres.Replica) *leaseKeeper {
	ctx, stop := context.WithCancel(context.Background())
	k := &leaseKeeper{rep: rep, stop: stop, held: make(chan error, 1), deposed: make(chan struct{})}
	go func() {
		err := rep.Hold(ctx)
		if errors.Is(err, postgres.ErrLeaseLost) {
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
	sb, err := coordinator.NewStandby(coordinator.StandbyOptions{DataDir: cfg.dataDir, Logger: log, Active: func(ctx context.Context) (string, error) {
		l, err := rep.Leader(ctx)
		if err != nil || !l.Live {
			return "", err
		}
		return l.Address, nil
	}})
	if err != nil {
		lis.Close()
		return false, err
	}
	served := make(chan error, 1)
	go func() { served <- sb.Serve(lis) }()
	defer func() { sb.Stop(); <-served }()
	leader, _ := rep.Leader(ctx)
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
			log.Error("lost the leader lease to another replica: stopping at once")
			srv.Abort()
			stopServing()
		case <-ctx.Done():
		}
	}()
	return serveAll(ctx, out, srv, log, ls, reg)
}
