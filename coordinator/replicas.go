package coordinator

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/mpcsign/mpcsign/internal/replicas"
)

// The addresses of the coordinator's replicas (several coordinators on one
// PostgreSQL database, docs/ha.md): what pairing codes carry, what the
// Welcome and later ReplicaAddresses messages tell connected devices.

// maxPairingAddress is the longest address list a pairing code carries.
const maxPairingAddress = 255

// replicaAddresses lists every replica's address, this one's first when
// it is not listed yet, as far as they fit in a pairing code; nil for a
// coordinator that is not one of several replicas, or when the replicas
// cannot be listed.
func (s *Server) replicaAddresses(ctx context.Context) []string {
	if s.opts.Replicas == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := s.opts.Replicas(ctx)
	if err != nil {
		s.log.Warn("could not list the coordinator replicas", "err", err)
		return nil
	}
	if len(addrs) == 0 {
		return nil // none announced yet: this one's address alone
	}
	if !slices.Contains(addrs, s.opts.Advertise) {
		addrs = append([]string{s.opts.Advertise}, addrs...)
	}
	for len(replicas.Join(addrs)) > maxPairingAddress && len(addrs) > 1 {
		addrs = addrs[:len(addrs)-1]
	}
	return addrs
}

// pairingAddress is the address list a pairing code carries: every
// replica's, the active one's first (else the advertised address alone).
func (s *Server) pairingAddress(ctx context.Context) string {
	if addrs := s.replicaAddresses(ctx); addrs != nil {
		return replicas.Join(addrs)
	}
	return s.opts.Advertise
}

// replicaCheckInterval is how often the active replica reads the replicas'
// addresses, to tell connected devices of a replica added.
const replicaCheckInterval = 10 * time.Second

// replicaList is the replicas' addresses last told to connected devices;
// changed is closed (and replaced) when they change.
type replicaList struct {
	mu      sync.Mutex
	addrs   []string
	changed chan struct{}
}

func (r *replicaList) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addrs
}

func (r *replicaList) wait() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// set records addrs, and wakes the links when they differ from the last.
func (r *replicaList) set(addrs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Equal(addrs, r.addrs) {
		return
	}
	r.addrs = addrs
	close(r.changed)
	r.changed = make(chan struct{})
}

// watchReplicas reads the replicas' addresses every replicaCheckInterval
// until ctx ends, so that every connected device hears of a replica added
// (a device learns the list in its Welcome too), and can reach it should
// this one die.
func (s *Server) watchReplicas(ctx context.Context) {
	if s.opts.Replicas == nil {
		return
	}
	t := time.NewTicker(replicaCheckInterval)
	defer t.Stop()
	for {
		if addrs := s.replicaAddresses(ctx); addrs != nil {
			s.replicaList.set(addrs)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
