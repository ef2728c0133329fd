//go:build !compromised

package relay

// The product build is never compromised on purpose (compromised_on.go).
func compromisedWithholdEcho() bool { return false }
