package coordinator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/internal/roster"
)

// resumeRevocations queues the reshare jobs that recorded revocations
// lack: a revocation is recorded (the device revoked, its roster entry and
// audit entry) in one transaction and its jobs, one per key, after it, so a
// coordinator that stops (or loses the leader lease) in between leaves keys
// that a revoked device still holds with no job removing it. It runs at
// start (on the replica that becomes active) and when a revocation could
// not queue its jobs. Each revoked device's keys get the revocation's
// replacement device and, with a roster, the operators' plans kept with its
// roster entry; a key with no plan gets a job that blocks and names the
// command that signs one.
func (s *Server) resumeRevocations(ctx context.Context) error {
	devs, err := s.store.ListDevices()
	if err != nil {
		return err
	}
	jobs, err := s.store.ListReshareJobs()
	if err != nil {
		return err
	}
	open := map[string]ReshareJob{} // by key id
	for _, j := range jobs {
		switch j.State {
		case JobPending, JobRunning, JobBlocked: // blocked: shown to the operators, with what to do
			open[j.KeyID] = j
		}
	}
	var notes map[string]RosterRecord // the revoke entries' records, by device id; read when needed
	for _, d := range devs {
		if d.Status != DeviceRevoked {
			continue
		}
		keys, err := s.store.ListKeysOfDevice(d.ID)
		if err != nil {
			return err
		}
		var missing []Key
		for _, k := range keys {
			if !holdsOrMayHold(k, d.ID) {
				continue
			}
			if j, ok := open[k.ID]; ok && slices.Contains(j.Remove, d.ID) {
				continue
			}
			missing = append(missing, k)
		}
		if len(missing) == 0 {
			continue
		}
		replaceWith, plans := d.ReplaceWith, map[string]*AuthRecord(nil)
		if s.hasRoster() {
			if notes == nil {
				if notes, err = s.revokeNotes(); err != nil {
					return err
				}
			}
			if r, ok := notes[d.ID]; ok {
				replaceWith, plans = r.ReplaceWith, r.Plans
			}
		}
		queued, err := s.queueRevocationJobs(d, replaceWith, plans, missing)
		if err != nil {
			return err
		}
		var ids, unplanned []string
		for _, j := range queued {
			ids = append(ids, j.KeyID)
			if s.hasRoster() && j.Plan == nil {
				unplanned = append(unplanned, j.KeyID)
			}
		}
		s.log.Warn("a revoked device still held keys with no reshare job removing it (the coordinator stopped after recording the revocation): jobs queued",
			"device", d.Name, "keys", strings.Join(ids, ","))
		for _, id := range unplanned {
			s.log.Error("a revoked device still holds a key and no operator-signed reshare plan for it was kept: its job stays blocked until the operators sign one ('mpcctl keys jobs' shows the command)",
				"device", d.Name, "key", id)
		}
	}
	return nil
}

// revokeNotes reads the roster's revoke entries with what the coordinator
// kept with them (the replacement device, the plans), by device id.
func (s *Server) revokeNotes() (map[string]RosterRecord, error) {
	recs, err := s.store.ListRoster(1)
	if err != nil {
		return nil, err
	}
	out := map[string]RosterRecord{}
	for _, r := range recs {
		b, err := roster.DecodeBody(r.Body)
		if err != nil || b.Kind != roster.KindRevokeDevice {
			continue // verified at start: cannot fail
		}
		out[b.DeviceID] = r
	}
	return out, nil
}

// resumeRevocationsIfDue runs resumeRevocations when a revocation could not
// queue its jobs, until it succeeds.
func (s *Server) resumeRevocationsIfDue(ctx context.Context) {
	if !s.revocationsDue.CompareAndSwap(true, false) {
		return
	}
	if err := s.resumeRevocations(ctx); err != nil {
		s.revocationsDue.Store(true)
		s.log.Warn("could not queue the reshare jobs of a revocation yet; will retry", "err", err)
	}
}

// revokedAgainLocked queues again the reshare jobs of a revocation already
// on the roster (body is its entry), with the plans this submission
// carries, else those kept with the entry; queuing is idempotent.
func (s *Server) revokedAgainLocked(ctx context.Context, body roster.Body, replaceWith string, plans map[string]*AuthRecord) error {
	d, err := s.store.GetDevice(body.DeviceID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil // never enrolled here: it holds nothing
	}
	if err != nil {
		return err
	}
	if d.Status != DeviceRevoked {
		return nil // cannot happen: the append revoked it
	}
	if recs, err := s.store.ListRoster(body.Height); err == nil && len(recs) > 0 && recs[0].Height == body.Height {
		kept := recs[0]
		replaceWith = cmp.Or(replaceWith, kept.ReplaceWith)
		merged := maps.Clone(kept.Plans)
		if merged == nil {
			merged = map[string]*AuthRecord{}
		}
		maps.Copy(merged, plans) // the plans submitted now supersede the kept ones
		plans = merged
	} else if err != nil {
		return err
	}
	jobs, err := s.revoked(ctx, d, replaceWith, plans)
	if err != nil {
		return s.jobsNotQueued(d, err)
	}
	s.log.Info("revocation resubmitted: it is on the roster already; its reshare jobs are queued again where missing", "device", d.Name, "height", body.Height, "jobs", len(jobs))
	return nil
}

// jobsNotQueued is the error of a revocation that is recorded (the device
// is revoked) but whose reshare jobs could not all be queued.
func (s *Server) jobsNotQueued(d Device, err error) error {
	s.log.Error("a revocation is recorded but its reshare jobs could not all be queued; the active coordinator queues them at its start, or when the revocation is submitted again", "device", d.Name, "err", err)
	s.revocationsDue.Store(true)
	return &clientError{codes.Unavailable, fmt.Sprintf("device %q is revoked, but the reshares of its keys could not all be queued (%s): "+
		"the active coordinator queues them by itself shortly (or at its start); check with 'mpcctl keys jobs', or submit the same revocation again",
		d.Name, errorText(err))}
}
