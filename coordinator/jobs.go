package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func authRecord(p *mpcv1.Authorization) *AuthRecord {
	if p == nil {
		return nil
	}
	r := &AuthRecord{Body: p.GetBody()}
	for _, sg := range p.GetSignatures() {
		r.Signatures = append(r.Signatures, RosterSig{Key: sg.GetKey(), Sig: sg.GetSignature()})
	}
	return r
}

func authProto(r *AuthRecord) *mpcv1.Authorization {
	if r == nil {
		return nil
	}
	p := &mpcv1.Authorization{Body: r.Body}
	for _, sg := range r.Signatures {
		p.Signatures = append(p.Signatures, &mpcv1.RosterSignature{Key: sg.Key, Signature: sg.Sig})
	}
	return p
}

// reshareJobs runs the background reshares.
type reshareJobs struct {
	s      *Server
	wakeCh chan struct{}
}

func newReshareJobs(s *Server) *reshareJobs {
	return &reshareJobs{s: s, wakeCh: make(chan struct{}, 1)}
}

// wake makes the worker look at the jobs now (a device connected, a job was added).
func (j *reshareJobs) wake() {
	select {
	case j.wakeCh <- struct{}{}:
	default:
	}
}

// run works through due jobs until ctx ends.
func (j *reshareJobs) run(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	woken := true
	for {
		if !j.s.draining.Load() {
			j.s.resumeRevocationsIfDue(ctx)
			j.runDue(ctx, woken)
		}
		woken = false
		select {
		case <-ctx.Done():
			return
		case <-j.wakeCh:
			woken = true
		case <-tick.C:
		}
	}
}

func (j *reshareJobs) runDue(ctx context.Context, woken bool) {
	jobs, err := j.s.store.ListReshareJobs()
	if err != nil {
		j.s.log.Warn("could not list reshare jobs", "err", err)
		return
	}
	now := j.s.opts.Now()
	for _, job := range jobs {
		if ctx.Err() != nil || j.s.draining.Load() {
			return
		}
		switch job.State {
		case JobPending, JobRunning: // running: the last run of the coordinator stopped in it
		default:
			continue
		}
		if now.Before(job.NextTry) && !(woken && job.WaitDevice) {
			continue
		}
		j.process(ctx, job)
	}
}

// process makes one attempt at a job.
func (j *reshareJobs) process(ctx context.Context, job ReshareJob) {
	s, keyID := j.s, job.KeyID
	set := func(fn func(*ReshareJob)) ReshareJob {
		job, err := s.store.UpdateReshareJob(keyID, func(job *ReshareJob) error {
			fn(job)
			job.UpdatedAt = s.opts.Now()
			return nil
		})
		if err != nil {
			s.log.Warn("could not record a reshare job", "key", keyID, "err", err)
		}
		return job
	}
	k, err := s.getKey(keyID)
	if errors.Is(err, ErrKeyNotFound) {
		set(func(job *ReshareJob) { job.State, job.Detail = JobDone, "the key no longer exists" })
		return
	}
	if err != nil {
		return
	}
	newHolders, newT, note, perr := s.planJob(k, job)
	if perr == nil && newHolders != nil && s.hasRoster() && !compromisedSkipCeremonyChecks() {
		perr = s.checkPlan(k, job, newHolders, newT)
	}
	if perr != nil {
		var blocked *jobBlocked
		if errors.As(perr, &blocked) {
			set(func(job *ReshareJob) { job.State, job.Detail = JobBlocked, blocked.msg })
			s.log.Warn("a revocation reshare cannot be done", "key", keyID, "why", blocked.msg)
			return
		}
		set(func(job *ReshareJob) {
			job.State, job.Detail, job.WaitDevice = JobPending, perr.Error(), true
			job.NextTry = s.opts.Now().Add(s.jobRetry())
		})
		return
	}
	if newHolders == nil {
		set(func(job *ReshareJob) {
			job.State = JobDone
			if job.Detail == "" || job.Epoch == 0 {
				job.Detail = "nothing to do: the key's holders already match"
			}
		})
		return
	}
	set(func(job *ReshareJob) {
		job.State, job.Detail, job.WaitDevice = JobRunning, "resharing"+note, false
		job.NewCommittee, job.NewThreshold = names(newHolders), newT
		job.Attempts++
	})
	ctx = withSystemActor(ctx, "revocation job ("+job.Reason+")")
	k2, rep, err := s.runReshare(ctx, keyID, reshareSpec{kind: KindRevocation, newHolders: newHolders, newThreshold: newT, auth: authProto(job.Plan)})
	switch {
	case err == nil || rep != nil && rep.Committed:
		detail := fmt.Sprintf("reshared to epoch %d: %s (t=%d)%s", k2.Epoch, strings.Join(names(newHolders), ", "), newT, note)
		if err != nil {
			detail += "; but " + err.Error()
		}
		job := set(func(job *ReshareJob) { job.State, job.Detail, job.Epoch = JobPending, detail, k2.Epoch })
		if !jobLeft(k2, job) {
			set(func(job *ReshareJob) { job.State = JobDone })
		}
		s.log.Info("revocation reshare done", "key", keyID, "epoch", k2.Epoch)
	default:
		set(func(job *ReshareJob) {
			job.State, job.Detail = JobPending, "attempt failed, will retry: "+errorText(err)
			job.NextTry = s.opts.Now().Add(s.jobRetry() * time.Duration(min(job.Attempts, 8)))
			// A device went offline or was not ready before the protocol
			// started: retry when a device connects. A failed protocol waits
			// for its backoff, so a flapping device cannot cause a storm.
			job.WaitDevice = !reached(rep, StepProtocol)
		})
		s.log.Warn("revocation reshare failed; will retry", "key", keyID, "err", err)
	}
}

func (s *Server) jobRetry() time.Duration {
	if s.opts.JobRetry > 0 {
		return s.opts.JobRetry
	}
	return 15 * time.Second
}

type jobBlocked struct{ msg string }

func (e *jobBlocked) Error() string { return e.msg }

// jobLeft reports whether k still holds a device the job removes or lacks one it adds.
func jobLeft(k Key, job ReshareJob) bool {
	for _, id := range job.Remove {
		if slices.Contains(k.Holders, id) {
			return true
		}
	}
	for _, id := range job.Add {
		if !slices.Contains(k.Holders, id) {
			return true
		}
	}
	return false
}

// planJob works out the committee a job reshares to: the key's active
// holders that stay, plus the devices it adds, keeping the threshold. It
// returns nil holders when there is nothing to do, a *jobBlocked when
// resharing cannot work, and a plain error while devices are offline.
func (s *Server) planJob(k Key, job ReshareJob) ([]Device, int, string, error) {
	if f := k.InFlight; f != nil && slices.ContainsFunc(job.Remove, func(id string) bool { return slices.Contains(f.Holders, id) }) {
		// A device revoked during a reshare that makes it a holder: wait
		// for that reshare to commit (then remove it) or be abandoned.
		return nil, 0, "", fmt.Errorf("waiting for the reshare in flight to epoch %d to end: it lists a revoked device among its new holders", f.Epoch)
	}
	if !jobLeft(k, job) {
		return nil, 0, "", nil
	}
	var stay, gone []Device
	for _, id := range k.Holders {
		d, err := s.store.GetDevice(id)
		if err != nil {
			return nil, 0, "", err
		}
		if slices.Contains(job.Remove, id) || d.Status != DeviceActive {
			gone = append(gone, d)
			continue
		}
		stay = append(stay, d)
	}
	t := k.Threshold
	if len(stay) < t+1 {
		return nil, 0, "", &jobBlocked{fmt.Sprintf(
			"key %s needs %d of its holders to reshare and only %d remain (%s left): it cannot be recovered by resharing; restore a backup share on a new device",
			k.ID, t+1, len(stay), strings.Join(names(gone), ", "))}
	}
	newHolders := stay
	for _, id := range job.Add {
		if slices.Contains(k.Holders, id) {
			continue
		}
		d, err := s.store.GetDevice(id)
		if err != nil {
			return nil, 0, "", err
		}
		if d.Status != DeviceActive {
			return nil, 0, "", &jobBlocked{fmt.Sprintf("replacement device %s is %s", d.Name, d.Status)}
		}
		newHolders = append(newHolders, d)
	}
	note := ""
	if t >= len(newHolders) {
		// Cannot happen while t+1 holders stay, but say so plainly if it does.
		note = fmt.Sprintf("; threshold lowered from %d to %d: only %d devices remain", t, len(newHolders)-1, len(newHolders))
		t = len(newHolders) - 1
	}
	var waiting []string
	for _, d := range newHolders {
		l := s.links.Get(d.ID)
		if l == nil {
			waiting = append(waiting, d.Name+" (offline)")
		} else if ready, target := l.Preparams(); ready == 0 && !k.IsEd25519() {
			// Do not hold the worker for minutes while a device makes
			// safe primes: its pool report wakes the job.
			waiting = append(waiting, fmt.Sprintf("%s (preparing pre-parameters, %d/%d ready)", d.Name, ready, target))
		}
	}
	if len(waiting) > 0 {
		return nil, 0, "", fmt.Errorf("waiting for %s", strings.Join(waiting, ", "))
	}
	return newHolders, t, note, nil
}

// checkPlan blocks a revocation's reshare that no valid operator plan
// covers: with a roster the coordinator cannot decide a committee itself.
func (s *Server) checkPlan(k Key, job ReshareJob, newHolders []Device, newT int) error {
	resign := fmt.Sprintf("an operator must sign a plan for it: mpcctl keys reshare %s --devices %s", k.ID, strings.Join(names(newHolders), ","))
	if job.Plan == nil {
		return &jobBlocked{"no operator-signed plan for this key's reshare; " + resign}
	}
	s.roster.mu.Lock()
	c, err := s.roster.state.VerifyCeremony(roster.AuthorizationFromProto(authProto(job.Plan)), s.opts.Now())
	s.roster.mu.Unlock()
	if err != nil {
		return &jobBlocked{fmt.Sprintf("the operators' plan is no longer valid (%v); %s", err, resign)}
	}
	if err := c.Allows(roster.Session{KeyID: k.ID, Curve: rosterCurve(k), Epoch: k.Epoch, Threshold: k.Threshold, Committee: c.Committee,
		NewThreshold: newT, NewCommittee: ids(newHolders)}); err != nil {
		return &jobBlocked{fmt.Sprintf("the operators' plan does not match the key now (%v); %s", err, resign)}
	}
	return nil
}

// ListReshareJobs shows the background reshares started by revocations.
func (s *Server) ListReshareJobs(ctx context.Context, _ *mpcv1.ListReshareJobsRequest) (*mpcv1.ListReshareJobsResponse, error) {
	jobs, err := s.store.ListReshareJobs()
	if err != nil {
		return nil, err
	}
	out := &mpcv1.ListReshareJobsResponse{}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, s.jobProto(j))
	}
	return out, nil
}

func (s *Server) jobProto(j ReshareJob) *mpcv1.ReshareJob {
	st := map[JobState]mpcv1.ReshareJobState{JobPending: mpcv1.ReshareJobState_RESHARE_JOB_STATE_PENDING, JobRunning: mpcv1.ReshareJobState_RESHARE_JOB_STATE_RUNNING,
		JobDone: mpcv1.ReshareJobState_RESHARE_JOB_STATE_DONE, JobBlocked: mpcv1.ReshareJobState_RESHARE_JOB_STATE_BLOCKED}[j.State]
	return &mpcv1.ReshareJob{KeyId: j.KeyID, State: st, Reason: j.Reason, Detail: j.Detail, Attempts: uint32(j.Attempts),
		NewCommittee: j.NewCommittee, NewThreshold: uint32(j.NewThreshold), UpdatedAt: timestamppb.New(j.UpdatedAt), Epoch: j.Epoch}
}
