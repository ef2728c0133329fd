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

// compromisedGetKey and compromisedCreatedKey return the answer they are
// given: the product build tells the truth about keys (compromised_on.go).
func compromisedGetKey(_ *Server, _ *mpcv1.GetKeyRequest, out *mpcv1.GetKeyResponse) *mpcv1.GetKeyResponse {
	return out
}

func compromisedCreatedKey(k *mpcv1.Key) *mpcv1.Key { return k }

// CompromisedKeepServingDeposed is false: a replica that lost the leader
// lease stops (compromised_on.go).
func CompromisedKeepServingDeposed() bool { return false }
