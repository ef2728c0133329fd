//go:build !compromised

package coordinator

import mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"

// The product build is never compromised on purpose (compromised_on.go).
func compromisedApproveAll() bool { return false }

func compromisedSkipCeremonyChecks() bool { return false }

func compromisedSkipRequestChecks() bool { return false }

// compromisedDrillHolders is nil: a drill runs on the key's holders
// (compromised_on.go).
func compromisedDrillHolders(*mpcv1.Authorization) []string { return nil }

func compromisedKeyEpoch(ke *mpcv1.KeyEpoch) *mpcv1.KeyEpoch { return ke }

func compromisedRosterUpdate(u *mpcv1.RosterUpdate) *mpcv1.RosterUpdate { return u }

// CompromisedKeepServingDeposed is false: a replica that lost the leader
// lease stops (compromised_on.go).
func CompromisedKeepServingDeposed() bool { return false }
