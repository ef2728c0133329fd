package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/hd"
)

// Routing around a saboteur. GG18 cannot always say who made a signing
// session fail (a wrong final signature share fails it with no culprit),
// and a member can name others without proof. A signature is therefore
// tried with other subsets of the online holders, within its deadline: the
// least suspected first (in failed attempts, named, or an unproven
// accuser), never one that already failed. A device is struck when its
// blame is proven, or under the common-member rule: it is the only device
// in every failed attempt whose blame was not proven, and absent from the
// attempt that succeeded (see attempts.common for why "only"). A suspected
// device is never struck otherwise; a saboteur that fails one attempt per
// signature and cooperates in the next is not struck either, but costs one
// failed attempt, never the signature.

// maxUnprovenFailures bounds the attempts of one signature that fail
// without a proven culprit (each one costs a session on t+1 devices).
const maxUnprovenFailures = 4

// maxSubsetSearch bounds the subsets looked at to find an untried one.
const maxSubsetSearch = 512

// attempts is what one signature's failed attempts taught.
type attempts struct {
	failed   [][]string     // device ids of each attempt that failed unproven
	named    map[string]int // times each device was named by such a failure
	accusers map[string]int // times each device accused others without proof
}

// score orders devices for the next attempt: named ones, unproven accusers
// and those in failed attempts last.
func (a *attempts) score(id string) int {
	n := 2*a.named[id] + a.accusers[id]
	for _, f := range a.failed {
		if slices.Contains(f, id) {
			n++
		}
	}
	return n
}

func (a *attempts) tried(ids []string) bool {
	for _, f := range a.failed {
		if len(f) == len(ids) && !slices.ContainsFunc(ids, func(id string) bool { return !slices.Contains(f, id) }) {
			return true
		}
	}
	return false
}

// common is the device to strike after a success with ok: the one device
// in every failed attempt, when it is the only one and absent from ok;
// else nobody. A saboteur decides the outcome of every attempt it is in,
// so it is in every failed one; if another device were in all of them too,
// or the only common device signed the success, the saboteur could be
// framing it (failing only next to it, cooperating elsewhere): the rule
// strikes only where no single saboteur could have arranged the pattern
// against an honest device.
func (a *attempts) common(ok []string) []string {
	if len(a.failed) == 0 {
		return nil
	}
	var every []string
	for _, id := range a.failed[0] {
		in := true
		for _, f := range a.failed[1:] {
			in = in && slices.Contains(f, id)
		}
		if in {
			every = append(every, id)
		}
	}
	if len(every) != 1 || slices.Contains(ok, every[0]) {
		return nil
	}
	return every
}

// signWithKey signs an item with t+1 online holders of k's current epoch.
// A device that refuses under its policy is left out and another subset
// asked, while one exists; a failed session is retried with another subset
// (see above). All attempts share ctx's deadline.
func (s *Server) signWithKey(ctx context.Context, k Key, it signItem) (signed, error) {
	pub := k.PublicKey
	if it.path != "" {
		path, err := hd.ParsePath(it.path)
		if err != nil {
			return signed{}, invalidArg("path: %v", err)
		}
		d, err := hd.Derive(k.PublicKey, k.ChainCode, path)
		if err != nil {
			return signed{}, invalidArg("path %s: %v", it.path, err)
		}
		pub = d.PublicKey
	}
	s.awaitHolders(ctx, k)
	var err error
	excluded := map[string]bool{}
	att := &attempts{named: map[string]int{}, accusers: map[string]int{}}
	var refusals []*PolicyRefusal
	var out signed // the last attempt
	for attempt := 0; attempt <= len(k.Holders)+maxUnprovenFailures; attempt++ {
		picked, spare, pickErr := s.pickSubset(k, excluded, att)
		if pickErr != nil {
			if attempt == 0 {
				return signed{}, pickErr
			}
			break // no other subset: report why the last attempt failed
		}
		out = signed{signers: picked}
		actx, cancel := attemptContext(ctx, spare > 0 && len(att.failed) < maxUnprovenFailures)
		out.sig, out.session, err = s.signOnce(actx, k, it, pub, picked)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		var pr *PolicyRefusal
		if errors.As(err, &pr) {
			// Refused under its own policy: never asked again for this item.
			refusals = append(refusals, pr)
			excluded[pr.DeviceID] = true
			continue
		}
		var se *SessionError
		if !errors.As(err, &se) {
			break
		}
		if !s.learn(ctx, k, out, se, excluded, att) {
			return out, err
		}
	}
	if err == nil {
		for _, d := range out.signers {
			s.strikes.clear(k.ID, d.ID)
		}
		s.strikeCommon(ctx, out.session, k, att, out.signers)
	}
	if err != nil && len(refusals) > 0 {
		var parts []string
		for _, r := range refusals {
			parts = append(parts, r.Device+" ("+r.Reason+")")
		}
		err = &clientError{codes.PermissionDenied, "not enough devices approved the signature; refused by: " + strings.Join(parts, ", ")}
	}
	return out, err
}

// learn takes in a failed attempt out of a signature: a device that was
// unavailable is not asked again, one with proven blame is struck and not
// asked again, and an unproven failure is remembered for routing. It
// reports false when the signature should give up: too many unproven
// failures.
func (s *Server) learn(ctx context.Context, k Key, out signed, se *SessionError, excluded map[string]bool, att *attempts) bool {
	switch {
	case se.Unavailable:
		// Not the device's fault: ask others, no strike.
		for _, id := range se.CulpritIDs {
			excluded[id] = true
		}
	case se.Blame.Strikes():
		for _, d := range out.signers {
			if slices.Contains(se.CulpritIDs, d.ID) {
				excluded[d.ID] = true
				s.strike(ctx, out.session, k, d, fmt.Sprintf("%s blame of a failed signing attempt: %s", se.Blame, se.Reason))
			}
		}
	default:
		if len(att.failed) >= maxUnprovenFailures {
			return false
		}
		att.failed = append(att.failed, deviceIDs(out.signers))
		for _, id := range se.CulpritIDs {
			att.named[id]++
		}
		if se.Accuser != "" {
			att.accusers[se.Accuser]++ // an unproven accuser is suspect too
		}
	}
	msg := "retrying signature with another subset of devices"
	if len(se.CulpritIDs) > 0 {
		msg = "retrying signature without blamed devices"
	}
	s.log.Info(msg, "session", out.session, "key", k.ID, "blamed", se.Culprits, "blame", se.Blame)
	return true
}

// signed is how signWithKey ended: its last attempt's signers and session
// log id, and the signature when that attempt succeeded.
type signed struct {
	sig     *signature
	signers []Device
	session string
}

// strikeCommon strikes, after a signature succeeded with ok (in session), the devices
// common to every attempt that failed unproven.
func (s *Server) strikeCommon(ctx context.Context, session string, k Key, att *attempts, ok []Device) {
	common := att.common(deviceIDs(ok))
	s.metrics.routed("sign", len(common))
	for _, id := range common {
		d, err := s.store.GetDevice(id)
		if err != nil {
			continue
		}
		s.log.Warn("struck a device common to every failed attempt of a signature", "session", session, "key", k.ID, "device", d.Name, "failed_attempts", len(att.failed))
		s.strike(ctx, session, k, d, fmt.Sprintf("routed: in each of the %d failed attempts of one signature whose blame was not proven, and not in the attempt that succeeded", len(att.failed)))
	}
}

func deviceIDs(ds []Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// awaitHolders waits, within ReconnectGrace of the start of Serve and ctx,
// until enough of k's holders are available to sign: after a restart or a
// failover the devices are still reconnecting, and a Sign should not fail
// for that. Past the grace it returns at once.
func (s *Server) awaitHolders(ctx context.Context, k Key) {
	since := s.servingSince.Load()
	if since == 0 || s.opts.ReconnectGrace <= 0 {
		return
	}
	end := time.Unix(0, since).Add(s.opts.ReconnectGrace)
	for {
		changed := s.links.Wait()
		if _, _, err := s.pickSubset(k, nil, nil); err == nil {
			return
		}
		wait := time.Until(end)
		if wait <= 0 {
			return
		}
		s.log.Debug("sign: waiting for the key's holders to reconnect", "key", k.ID, "for_at_most", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(wait):
			return
		}
	}
}

// pickSigners chooses threshold+1 online, active holders, or says who is missing.
func (s *Server) pickSigners(k Key, excluded map[string]bool) ([]Device, error) {
	chosen, _, err := s.pickSubset(k, excluded, nil)
	return chosen, err
}

// pickSubset chooses threshold+1 online, active, unpaused holders not
// excluded: the least suspected first (att, if any), and never a subset
// that already failed. spare counts the holders beyond the chosen ones.
func (s *Server) pickSubset(k Key, excluded map[string]bool, att *attempts) ([]Device, int, error) {
	need := k.Threshold + 1
	var eligible []Device
	var missing []string
	for _, id := range k.Holders {
		d, err := s.store.GetDevice(id)
		if err != nil {
			missing = append(missing, id+" (unknown)")
			continue
		}
		switch {
		case d.Status != DeviceActive:
			missing = append(missing, d.Name+" ("+string(d.Status)+")")
		case s.links.Get(d.ID) == nil:
			missing = append(missing, d.Name+" (offline)")
		case excluded[d.ID]:
			missing = append(missing, d.Name+" (failed an earlier attempt)")
		case s.isPaused(k.ID, d.ID):
			until, _ := s.strikes.paused(k.ID, d.ID, s.opts.Now())
			missing = append(missing, fmt.Sprintf("%s (paused until %s after %d aborts blamed on it)", d.Name, until.UTC().Format("15:04:05Z"), maxStrikes))
		default:
			eligible = append(eligible, d)
		}
	}
	if len(eligible) < need {
		return nil, 0, failedPrecondition("key %s needs %d signers but only %d holders are available; missing: %s",
			k.ID, need, len(eligible), strings.Join(missing, ", "))
	}
	if att == nil {
		return eligible[:need], len(eligible) - need, nil
	}
	sort.SliceStable(eligible, func(i, j int) bool { return att.score(eligible[i].ID) < att.score(eligible[j].ID) })
	chosen := untriedSubset(eligible, need, att)
	if chosen == nil {
		return nil, 0, failedPrecondition("key %s: every subset of its %d available holders tried so far failed", k.ID, len(eligible))
	}
	return chosen, len(eligible) - need, nil
}

// untriedSubset is the first subset of need devices (in the order of ds,
// lexicographically) that att has not seen fail, or nil.
func untriedSubset(ds []Device, need int, att *attempts) []Device {
	idx := make([]int, need)
	for i := range idx {
		idx[i] = i
	}
	for n := 0; n < maxSubsetSearch; n++ {
		chosen := make([]Device, need)
		for i, j := range idx {
			chosen[i] = ds[j]
		}
		if !att.tried(deviceIDs(chosen)) {
			return chosen
		}
		// Next combination of need indexes out of len(ds).
		i := need - 1
		for i >= 0 && idx[i] == len(ds)-need+i {
			i--
		}
		if i < 0 {
			return nil
		}
		idx[i]++
		for j := i + 1; j < need; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
	return nil
}
