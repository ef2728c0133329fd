package postgres

// The queries whose plans the tests check.
const (
	NewestSessionsSQL = newestSessionsSQL
	ListAuditSQL      = listAuditSQL
	KeysAfterSQL      = keysAfterSQL
	DevicesAfterSQL   = devicesAfterSQL
	SessionsSQL       = sessionsSQL
	PruneSignSQL      = pruneSignSQL
	PruneSessionsSQL  = pruneSessionsSQL
	KeysOfDeviceSQL   = keysOfDeviceSQL
	KeysInFlightSQL   = keysInFlightSQL
)
