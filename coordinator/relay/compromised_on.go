//go:build compromised

package relay

import (
	"os"
	"strings"
)

// A relay built with -tags compromised plays an attacker who owns the
// coordinator's machine, for the e2e suite's compromised-coordinator tests
// only (the coordinator's compromised_on.go lists what MPCSIGN_COMPROMISED
// may ask). Here: withhold-echo drops the signing protocol's last-round
// messages, so that the devices see each signature fail (and the
// coordinator could assemble it from the broadcast shares itself).
//
// The default build has none of this (compromised_off.go).
func compromisedWithholdEcho() bool {
	for _, w := range strings.Split(os.Getenv("MPCSIGN_COMPROMISED"), ",") {
		if strings.TrimSpace(w) == "withhold-echo" {
			return true
		}
	}
	return false
}
