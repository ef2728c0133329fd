package party

// SetTamper makes an agent misbehave on purpose (malicious-party tests only):
// f returns the payloads to send in place of each outgoing protocol message.
func SetTamper(a *Agent, f func(msgType, to string, payload []byte) [][]byte) {
	tf := tamperFunc(f)
	a.tamper.Store(&tf)
}
