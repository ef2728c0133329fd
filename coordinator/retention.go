package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Retention: the records that grow with every signature - the signatures
// kept for request-id replays, and the session records - are deleted once
// they are older than Options.RetainSignResults and RetainSessions. The
// serving coordinator prunes once at start and then every PruneInterval;
// a store error is logged and the prune tried again at the next tick, the
// server goes on.

// Retention defaults and bounds.
const (
	DefaultRetainSignResults = 30 * 24 * time.Hour
	DefaultRetainSessions    = 90 * 24 * time.Hour
	// MinRetainSignResults is the shortest retention of sign results: a
	// wallet retries a signature with its request id within a day, and a
	// retry whose first result is gone is signed again.
	MinRetainSignResults = 24 * time.Hour
	defaultPruneInterval = time.Hour
)

// retentionDefaults fills the retention options left zero and checks them.
func (opts Options) retentionDefaults() (Options, error) {
	if opts.RetainSignResults == 0 {
		opts.RetainSignResults = DefaultRetainSignResults
	}
	if opts.RetainSessions == 0 {
		opts.RetainSessions = DefaultRetainSessions
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = defaultPruneInterval
	}
	if opts.RetainSignResults > 0 && opts.RetainSignResults < MinRetainSignResults {
		return opts, fmt.Errorf("coordinator: sign results are kept at least %s (a wallet's retries with a request id must find the first signature), not %s", MinRetainSignResults, opts.RetainSignResults)
	}
	return opts, nil
}

// PruneRecords deletes the sign results and the session records that are
// past their retention at time now, and returns how many of each it
// deleted. The serving coordinator calls it every PruneInterval with its
// clock's time. A retention that is negative keeps its records.
func (s *Server) PruneRecords(now time.Time) (signResults, sessions int, err error) {
	var errs []error
	if s.opts.RetainSignResults > 0 {
		n, err := s.store.PruneSignResults(now.Add(-s.opts.RetainSignResults))
		signResults = n
		if err != nil {
			errs = append(errs, fmt.Errorf("prune sign results: %w", err))
		}
	}
	if s.opts.RetainSessions > 0 {
		n, err := s.store.PruneSessions(now.Add(-s.opts.RetainSessions))
		sessions = n
		if err != nil {
			errs = append(errs, fmt.Errorf("prune session records: %w", err))
		}
	}
	return signResults, sessions, errors.Join(errs...)
}

// runRetention prunes at once, then every PruneInterval until ctx ends.
func (s *Server) runRetention(ctx context.Context) {
	if s.opts.RetainSignResults < 0 && s.opts.RetainSessions < 0 {
		return
	}
	tick := time.NewTicker(s.opts.PruneInterval)
	defer tick.Stop()
	for {
		s.pruneOnce()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pruneOnce prunes and logs what it did; an error is logged, not returned:
// the next tick tries again.
func (s *Server) pruneOnce() {
	signResults, sessions, err := s.PruneRecords(s.opts.Now())
	if signResults > 0 || sessions > 0 {
		s.log.Info("pruned records past their retention", "sign_results", signResults, "sessions", sessions,
			"retain_sign_results", s.opts.RetainSignResults, "retain_sessions", s.opts.RetainSessions)
	} else if err == nil {
		s.log.Debug("nothing past its retention to prune")
	}
	if err != nil {
		s.log.Warn("could not prune records past their retention; trying again later", "err", err, "next_try_in", s.opts.PruneInterval)
	}
}
