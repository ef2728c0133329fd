package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mpcsign/mpcsign/coordinator/registry"
)

// DefaultLeaseTTL is how long the leader lease lasts unless renewed: a
// standby takes over at most this long after the active replica died
// (sooner when it stopped cleanly and released the lease).
const DefaultLeaseTTL = 5 * time.Second

// replicaWindow is how long a replica that stopped announcing itself stays
// in the addresses given to devices (pairing codes).
const replicaWindow = 24 * time.Hour

// ErrLeaseLost is a renewal that found another replica holding the lease:
// this one was deposed (it paused or lost the database for longer than the
// lease lasts) and must stop serving; its writes are refused already.
var ErrLeaseLost = errors.New("registry/postgres: another coordinator replica took the leader lease")

// ErrLeaseLapsed is a lease this replica could not renew within its TTL
// (the database did not answer): another replica may have taken it, so this
// one must stop serving, as if it had lost it (errors.Is(ErrLeaseLost)).
var ErrLeaseLapsed = fmt.Errorf("registry/postgres: the leader lease could not be renewed within its TTL (the database did not answer); "+
	"another replica may hold it now: %w", ErrLeaseLost)

// ReplicaOptions describe one coordinator replica.
type ReplicaOptions struct {
	// Address is the address devices and clients dial to reach this
	// replica (the coordinator's advertised address).
	Address string
	// TTL is how long the lease lasts unless renewed (DefaultLeaseTTL).
	TTL time.Duration
	// Holder names this process in the lease (default: host, pid and a
	// random suffix, unique per start).
	Holder string
	// Fingerprint is the TLS certificate fingerprint this replica serves
	// now, recorded in the lease while it holds it, so that a replica
	// started without the shared identity can tell (nil: none recorded).
	Fingerprint func() string
}

// Leader is who holds the lease, as the database says now.
type Leader struct {
	Holder, Address string
	// Fingerprint is the certificate the holder serves ("" if unknown).
	Fingerprint string
	// Token is the fencing token of the holder's term.
	Token int64
	// Live: the lease has not expired (a holder whose lease expired may
	// still renew it while no other replica took it).
	Live bool
}

// Replica is one of several coordinator processes sharing one database.
// Only the replica that holds the leader lease writes: its store checks,
// in every write transaction, that the lease's fencing token is still the
// one it took, so a deposed replica's writes are refused (registry.ErrFenced)
// however late they come. A replica writes nothing before it takes the
// lease.
type Replica struct {
	s    *store
	opts ReplicaOptions
	// announced is when this replica last recorded its address (Unix
	// nanoseconds; 0: never).
	announced atomic.Int64
	// validUntil is when, by this process's monotonic clock, the lease it
	// holds expires at the latest: the start of the last successful take
	// or renewal plus the TTL (the database counts from a later instant).
	validUntil atomic.Pointer[time.Time]
}

// OpenReplica connects to the database of dsn, brings its schema up to date
// and returns this process's replica, not yet holding the lease.
func OpenReplica(ctx context.Context, dsn string, log *slog.Logger, opts ReplicaOptions) (*Replica, error) {
	if opts.TTL <= 0 {
		opts.TTL = DefaultLeaseTTL
	}
	if opts.TTL < time.Second {
		return nil, fmt.Errorf("registry/postgres: a lease of %s is too short (at least 1s)", opts.TTL)
	}
	if opts.Holder == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		opts.Holder = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	s, err := open(ctx, dsn, log)
	if err != nil {
		return nil, err
	}
	s.fence, s.holder = new(atomic.Int64), opts.Holder
	return &Replica{s: s, opts: opts}, nil
}

// Store is the replica's store: its writes succeed only while the replica
// holds the lease. Closing it closes the replica's connections.
func (r *Replica) Store() registry.Store { return r.s }

// Holder names this replica in the lease.
func (r *Replica) Holder() string { return r.opts.Holder }

// Token is the fencing token of the lease this replica took (0: none).
func (r *Replica) Token() int64 { return r.s.fence.Load() }

// TTL is how long the lease lasts unless renewed.
func (r *Replica) TTL() time.Duration { return r.opts.TTL }

// checkFence refuses a write transaction of a replica whose fencing token
// is not the lease's. The share lock on the lease row holds until tx ends,
// so no replica takes the lease while this write runs: the write lands
// before the new term or not at all.
func (s *store) checkFence(ctx context.Context, tx pgx.Tx) error {
	if s.fence == nil {
		return nil
	}
	mine := s.fence.Load()
	var current int64
	var holder string
	if err := tx.QueryRow(ctx, "SELECT token, holder FROM leader_lease WHERE one FOR SHARE").Scan(&current, &holder); err != nil {
		return fmt.Errorf("read the leader lease: %w", err)
	}
	// The holder too: should the database lose a takeover (a failover to
	// a lagging standby, a restore), the next one reuses its token.
	if mine == 0 || mine != current || holder != s.holder {
		return fmt.Errorf("%w (fencing token %d, the lease's is %d)", registry.ErrFenced, mine, current)
	}
	return nil
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// TryAcquire takes the lease when it is free or has expired (or is still
// this replica's, should an earlier take have committed unseen), and
// reports whether this replica holds it now. It also announces this
// replica's address. Expiries count from clock_timestamp(), the database's
// clock when the row is written, not from the start of a transaction that
// may have waited on a lock.
func (r *Replica) TryAcquire(ctx context.Context) (bool, error) {
	if r.s.fence.Load() != 0 {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.TTL)
	defer cancel()
	if err := r.announce(ctx); err != nil {
		r.s.log.Debug("could not announce this replica", "err", err) // not needed to take the lease
	}
	start := time.Now()
	var token int64
	err := r.s.pool.QueryRow(ctx, `UPDATE leader_lease
		SET token = token + 1, holder = $1, address = $2, fingerprint = $4, acquired_at = clock_timestamp(),
		    expires_at = clock_timestamp() + make_interval(secs => $3)
		WHERE one AND (expires_at < clock_timestamp() OR holder = $1)
		RETURNING token`, r.opts.Holder, r.opts.Address, seconds(r.opts.TTL), r.fingerprint()).Scan(&token)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("registry/postgres: take the leader lease: %w", err)
	}
	r.renewed(start)
	r.s.fence.Store(token)
	r.s.log.Info("leader lease taken: this replica is the active one", "token", token, "holder", r.opts.Holder, "ttl", r.opts.TTL)
	return true, nil
}

func (r *Replica) fingerprint() string {
	if r.opts.Fingerprint == nil {
		return ""
	}
	return r.opts.Fingerprint()
}

// renewed records a take or renewal that started at start.
func (r *Replica) renewed(start time.Time) {
	until := start.Add(r.opts.TTL)
	r.validUntil.Store(&until)
}

// Renew extends the lease this replica holds. ErrLeaseLost: another replica
// took it (this one must stop serving); another error: the database did not
// answer (try again; the lease may still be ours, and no other replica
// takes it before it expired).
func (r *Replica) Renew(ctx context.Context) error {
	token := r.s.fence.Load()
	if token == 0 {
		return ErrLeaseLost
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.TTL)
	defer cancel()
	start := time.Now()
	var holder string
	err := r.s.pool.QueryRow(ctx, `UPDATE leader_lease SET expires_at = clock_timestamp() + make_interval(secs => $2), fingerprint = $4
		WHERE one AND token = $1 AND holder = $3 RETURNING holder`, token, seconds(r.opts.TTL), r.opts.Holder, r.fingerprint()).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w (this replica's token was %d)", ErrLeaseLost, token)
	}
	if err != nil {
		return fmt.Errorf("registry/postgres: renew the leader lease: %w", err)
	}
	r.renewed(start)
	return nil
}

// Release gives the lease up (a clean stop), so that a standby takes over at
// once rather than when it would have expired; this replica writes nothing
// after it.
func (r *Replica) Release(ctx context.Context) error {
	token := r.s.fence.Swap(0)
	if token == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.TTL)
	defer cancel()
	_, err := r.s.pool.Exec(ctx, "UPDATE leader_lease SET expires_at = '-infinity' WHERE one AND token = $1 AND holder = $2", token, r.opts.Holder)
	if err != nil {
		return fmt.Errorf("registry/postgres: release the leader lease: %w", err)
	}
	return nil
}

// Leader reads who holds the lease.
func (r *Replica) Leader(ctx context.Context) (Leader, error) {
	var l Leader
	err := r.s.pool.QueryRow(ctx, "SELECT holder, address, fingerprint, token, expires_at > clock_timestamp() FROM leader_lease WHERE one").
		Scan(&l.Holder, &l.Address, &l.Fingerprint, &l.Token, &l.Live)
	if err != nil {
		return Leader{}, fmt.Errorf("registry/postgres: read the leader lease: %w", err)
	}
	return l, nil
}

// announceEvery is how often a replica records its address.
const announceEvery = time.Minute

// announce records that this replica serves at its address now, at most
// once every announceEvery.
func (r *Replica) announce(ctx context.Context) error {
	last := r.announced.Load()
	if r.opts.Address == "" || last != 0 && time.Since(time.Unix(0, last)) < announceEvery {
		return nil
	}
	_, err := r.s.pool.Exec(ctx, `INSERT INTO replicas (address, holder, seen_at) VALUES ($1, $2, clock_timestamp())
		ON CONFLICT (address) DO UPDATE SET holder = excluded.holder, seen_at = excluded.seen_at`, r.opts.Address, r.opts.Holder)
	if err != nil {
		return fmt.Errorf("registry/postgres: announce this replica: %w", err)
	}
	r.announced.Store(time.Now().UnixNano())
	return nil
}

// Addresses are the addresses of the replicas seen within a day, the lease
// holder's first: what a device dials, in order.
func (r *Replica) Addresses(ctx context.Context) ([]string, error) {
	rows, err := r.s.pool.Query(ctx, `SELECT r.address FROM replicas r
		LEFT JOIN leader_lease l ON l.one AND l.address = r.address AND l.expires_at > clock_timestamp()
		WHERE r.seen_at > clock_timestamp() - make_interval(secs => $1)
		ORDER BY l.one IS NULL, r.address`, seconds(replicaWindow))
	if err != nil {
		return nil, fmt.Errorf("registry/postgres: list the replicas: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Hold renews the lease every TTL/5 until ctx ends (nil: the caller then
// releases it, once it has written what it had to), another replica takes
// it (ErrLeaseLost), or it lapses (ErrLeaseLapsed): renewals the database
// did not answer for a whole TTL, by this process's clock, so that another
// replica may have taken it meanwhile - a replica cut off from the
// database must stop serving the devices it still reaches, not wait to
// hear that it was deposed.
func (r *Replica) Hold(ctx context.Context) error {
	t := time.NewTicker(r.opts.TTL / 5)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := r.Renew(ctx)
		switch {
		case errors.Is(err, ErrLeaseLost):
			return err
		case err != nil && ctx.Err() == nil:
			if until := r.validUntil.Load(); until == nil || !time.Now().Before(*until) {
				return fmt.Errorf("%w (last error: %v)", ErrLeaseLapsed, err)
			}
			if !failing {
				r.s.log.Warn("could not renew the leader lease; trying again", "err", err)
			}
			failing = true
		case err == nil:
			if failing {
				r.s.log.Info("leader lease renewed again")
			}
			failing = false
			if err := r.announce(ctx); err != nil && ctx.Err() == nil {
				r.s.log.Debug("could not announce this replica", "err", err)
			}
		}
	}
}
