// Package relay is the coordinator's session relay: the connected devices'
// links (Links), the sessions run between them (Sessions.Run: joins,
// routing of the members' signed envelopes, timeouts and failures), and the
// judging of a failed member's complaint (evidence.go), with the errors a
// failed session ends in (SessionError and its Blame, PolicyRefusal). It
// holds no share material and cannot read or forge what it relays. The
// coordinator (package coordinator) drives it; this package never imports
// the coordinator.
package relay
