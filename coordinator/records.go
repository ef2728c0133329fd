package coordinator

import (
	"log/slog"

	"github.com/mpcsign/mpcsign/coordinator/registry"
)

// The coordinator's records and their store live in package registry; these
// names let the coordinator's code read as before.
type (
	Store           = registry.Store
	Device          = registry.Device
	DeviceStatus    = registry.DeviceStatus
	DeviceChange    = registry.DeviceChange
	Pairing         = registry.Pairing
	Key             = registry.Key
	RestoreBinding  = registry.RestoreBinding
	InFlightReshare = registry.InFlightReshare
	SignRecord      = registry.SignRecord
	SessionRecord   = registry.SessionRecord
	Token           = registry.Token
	Role            = registry.Role
	ReshareReport   = registry.ReshareReport
	ReshareStep     = registry.ReshareStep
	ReshareKind     = registry.ReshareKind
	StepName        = registry.StepName
	ReshareJob      = registry.ReshareJob
	JobState        = registry.JobState
	AuthRecord      = registry.AuthRecord
	AttRecord       = registry.AttRecord
	RosterRecord    = registry.RosterRecord
	RosterSig       = registry.RosterSig
)

const (
	DevicePending = registry.DevicePending
	DeviceActive  = registry.DeviceActive
	DeviceRevoked = registry.DeviceRevoked

	RoleSigner = registry.RoleSigner
	RoleAdmin  = registry.RoleAdmin

	KindReshare    = registry.KindReshare
	KindDrill      = registry.KindDrill
	KindRevocation = registry.KindRevocation

	StepPlan          = registry.StepPlan
	StepWaitDevices   = registry.StepWaitDevices
	StepProtocol      = registry.StepProtocol
	StepTestSignature = registry.StepTestSignature
	StepCommit        = registry.StepCommit

	JobPending = registry.JobPending
	JobRunning = registry.JobRunning
	JobDone    = registry.JobDone
	JobBlocked = registry.JobBlocked

	curveSecp256k1 = registry.CurveSecp256k1
	curveEd25519   = registry.CurveEd25519
)

// OpenBadgerStore opens the coordinator's Badger store in dir.
func OpenBadgerStore(dir string, log *slog.Logger) (Store, error) {
	return registry.OpenBadger(dir, log)
}
