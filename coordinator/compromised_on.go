//go:build compromised

package coordinator

import (
	"os"
	"strings"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// A coordinator built with -tags compromised plays an attacker who owns the
// coordinator's machine, for the e2e suite's compromised-coordinator tests
// only. MPCSIGN_COMPROMISED lists what it does (comma-separated):
//
//	approve-all      activates every enrolled device at once, roster or not
//	                 (a device no operator signed)
//	roster-rollback  serves devices the roster without its newest entry
//	forge-key-sync   tells every connecting device that each of its keys
//	                 moved to the next epoch, without a commit certificate
//	                 (which would make a device trusting it erase its share)
//	skip-ceremony-checks
//	                 runs keygens and reshares whatever their operator
//	                 authorization (none, expired, for another session):
//	                 only the devices' own checks stand in the way
//	skip-request-checks
//	                 passes Sign calls to the devices whatever their
//	                 requester signature (none, bad, for other content,
//	                 expired, replayed, by an unknown or revoked requester)
//	                 and without its request-id store: only the devices'
//	                 own checks stand in the way
//	withhold-echo    drops the signing protocol's last-round messages, so
//	                 that the devices see each signature fail (and the
//	                 coordinator could assemble it from the broadcast
//	                 shares itself; coordinator/relay does this one)
//	keep-serving-deposed
//	                 a replica that lost the leader lease goes on serving
//	                 (cmd/coordinator asks): only the store's fencing check
//	                 refuses its writes
//	drill-signed-committee
//	                 runs a drill (DrillKey) on the new committee the
//	                 authorization it is given names, not on the key's
//	                 holders it recorded: a standing drill signed before
//	                 the key was reshared moves the key back to the
//	                 committee it left, unless the devices refuse
//
// The default build has none of this (compromised_off.go).
func compromisedAs(what string) bool {
	for _, w := range strings.Split(os.Getenv("MPCSIGN_COMPROMISED"), ",") {
		if strings.TrimSpace(w) == what {
			return true
		}
	}
	return false
}

func compromisedApproveAll() bool { return compromisedAs("approve-all") }

func compromisedSkipCeremonyChecks() bool { return compromisedAs("skip-ceremony-checks") }

func compromisedSkipRequestChecks() bool { return compromisedAs("skip-request-checks") }

// compromisedDrillHolders: with drill-signed-committee, the device ids a
// drill under authorization p runs on: the new committee p names (its
// signature unchecked), whatever the key's recorded holders. nil: the
// key's holders, as the product build has it.
func compromisedDrillHolders(p *mpcv1.Authorization) []string {
	if !compromisedAs("drill-signed-committee") || p == nil {
		return nil
	}
	c, err := roster.DecodeCeremony(p.GetBody())
	if err != nil {
		return nil
	}
	return c.NewCommittee
}

func compromisedKeyEpoch(ke *mpcv1.KeyEpoch) *mpcv1.KeyEpoch {
	if !compromisedAs("forge-key-sync") {
		return ke
	}
	return &mpcv1.KeyEpoch{KeyId: ke.GetKeyId(), CommittedEpoch: ke.GetCommittedEpoch() + 1, NextEpoch: ke.GetCommittedEpoch() + 2}
}

func compromisedRosterUpdate(u *mpcv1.RosterUpdate) *mpcv1.RosterUpdate {
	if !compromisedAs("roster-rollback") || u.GetHeight() == 0 {
		return u
	}
	out := &mpcv1.RosterUpdate{FirstHeight: u.GetFirstHeight(), Height: u.GetHeight() - 1}
	if n := len(u.GetEntries()); n > 0 {
		out.Entries = u.GetEntries()[:n-1]
	}
	return out
}

// CompromisedKeepServingDeposed: with keep-serving-deposed, a replica that
// lost the leader lease (to a replica that took it while this one was
// paused or cut off) goes on serving, as an attacker who owns its machine
// would have it: only the store's fencing check stands in the way of its
// writes.
func CompromisedKeepServingDeposed() bool { return compromisedAs("keep-serving-deposed") }
