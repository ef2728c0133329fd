package postgres

// The queries whose plans the tests check.
const (
	NewestSessionsSQL = newestSessionsSQL
	ListAuditSQL      = listAuditSQL
)
