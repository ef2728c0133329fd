package party

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// A device that pins a roster joins a keygen or a reshare only under a
// ceremony signed by a quorum of the operators over its exact parameters
// (roster.Ceremony), verified against its own roster:
//   - keygen: the curve, the threshold and the committee (every participant,
//     no one else); an authorization serves one keygen only: the device
//     records it when it accepts, before it takes a pre-parameter set, so
//     a replayed one burns nothing;
//   - reshare or drill: the key, its committed epoch, the threshold, the old
//     committee (the session's old holders must be among the ones the
//     operators named), the new threshold and the new committee (exactly).
//     A reshare may be retried under its authorization until it expires
//     (a revocation's plan is retried while devices are offline); once the
//     key's epoch moves on it no longer matches.
//   - a standing drill also against this device's own record of the key.
//     A standing drill names no epoch, so without this one signed before a
//     reshare would move the key back to the committee it left: the device
//     must hold the key's committed share of the drilled epoch (its
//     newest), and that share's holders must be exactly the drill's
//     committee (drillFits). An ordinary drill names the epoch and the
//     committee the operators chose (after a restore from a backup, say,
//     with the restoring device in place of the lost one): it fits only
//     while the key is at that epoch, as a reshare does.
// Signing sessions are authorized by the wallet's signed request (not yet).

// ErrCeremonyRefused wraps every refusal of an unauthorized ceremony.
var ErrCeremonyRefused = errors.New("refused: the operators did not authorize this ceremony")

const usedCeremonyPrefix = "ceremony/used/"

func ceremonyCurve(c mpcv1.Curve) string {
	if c == mpcv1.Curve_CURVE_ED25519 {
		return roster.CurveEd25519
	}
	return roster.CurveSecp256k1
}

// sessionOf is what a session asks, for matching against its ceremony.
func sessionOf(st *mpcv1.SessionStart) roster.Session {
	s := roster.Session{Keygen: st.GetKind() == mpcv1.SessionKind_SESSION_KIND_KEYGEN, KeyID: st.GetKeyId(), Curve: ceremonyCurve(st.GetCurve()),
		Epoch: st.GetEpoch(), Threshold: int(st.GetThreshold()), NewThreshold: int(st.GetNewThreshold()), NewCommittee: st.GetNewCommittee()}
	if s.Keygen {
		for _, p := range st.GetParticipants() {
			s.Committee = append(s.Committee, p.GetDeviceId())
		}
	} else {
		s.Committee = st.GetOldCommittee()
	}
	return s
}

// checkCeremony verifies a keygen's or reshare's authorization (roster mode
// only) and records a keygen's as used.
func (a *Agent) checkCeremony(st *mpcv1.SessionStart, now time.Time) error {
	kind := st.GetKind()
	if a.cfg.RosterGenesis == "" || (kind != mpcv1.SessionKind_SESSION_KIND_KEYGEN && kind != mpcv1.SessionKind_SESSION_KIND_RESHARE) {
		return nil
	}
	a.roster.mu.Lock()
	rs := a.roster.state
	a.roster.mu.Unlock()
	if rs == nil {
		return fmt.Errorf("%w: this device has not received its roster yet", ErrCeremonyRefused)
	}
	p := st.GetAuthorization()
	if p == nil {
		return fmt.Errorf("%w: the session carries no operator authorization", ErrCeremonyRefused)
	}
	auth := roster.AuthorizationFromProto(p)
	c, err := rs.VerifyCeremony(auth, now)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCeremonyRefused, err)
	}
	if err := c.Allows(sessionOf(st)); err != nil {
		return fmt.Errorf("%w: %v", ErrCeremonyRefused, err)
	}
	if c.Kind == roster.CeremonyDrill && c.Standing {
		metas, err := keyShares(a.ks, st.GetKeyId())
		if err != nil {
			return err
		}
		if err := drillFits(metas, st.GetKeyId(), st.GetEpoch(), st.GetNewCommittee()); err != nil {
			return fmt.Errorf("%w: %v", ErrCeremonyRefused, err)
		}
	}
	if kind == mpcv1.SessionKind_SESSION_KIND_KEYGEN {
		// One keygen per authorization: recorded before anything is spent.
		used := usedCeremonyPrefix + auth.Hash().String()
		err := a.ks.Update(func(tx *keystore.Txn) error {
			if _, err := tx.Get(used); err == nil {
				return fmt.Errorf("%w: this keygen authorization was already used (a replay)", ErrCeremonyRefused)
			} else if !errors.Is(err, keystore.ErrNotFound) {
				return err
			}
			return tx.Put(used, []byte(now.UTC().Format(time.RFC3339)))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// drillFits checks a standing drill of keyID at epoch to committee against
// this device's records of the key (metas): a standing drill adds no holder
// and removes none, so the device must hold the committed share of that
// epoch, none newer, and the share's holders must be exactly the committee.
func drillFits(metas []ShareMeta, keyID string, epoch uint64, committee []string) error {
	var cur *ShareMeta
	for i, m := range metas {
		if m.State != ShareCommitted {
			continue
		}
		if m.Epoch > epoch {
			return fmt.Errorf("a standing drill of key %s at epoch %d, but this device holds the newer epoch %d", keyID, epoch, m.Epoch)
		}
		if m.Epoch == epoch {
			cur = &metas[i]
		}
	}
	if cur == nil {
		return fmt.Errorf("a standing drill of key %s at epoch %d, but this device holds no committed share of that epoch (none, or its newest is still waiting for its commit certificate, which it gets when it reconnects): a standing drill reshares a key among the devices that hold it and adds none; to give the key to this device the operators sign a reshare of the key's current epoch (mpcctl keys reshare)", keyID, epoch)
	}
	if !sameMembers(cur.Holders, committee) {
		return fmt.Errorf("a standing drill of key %s to a committee of %d devices, but epoch %d of the key is held by another committee of %d (a standing drill signed before the key was reshared no longer fits it): the operators sign a new drill for the key's current holders, or a reshare to change its committee (mpcctl keys reshare)", keyID, len(committee), epoch, len(cur.Holders))
	}
	return nil
}

// sameMembers reports whether a and b list the same device ids.
func sameMembers(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
