package relay

import "time"

// Metrics is what sessions record (the coordinator's Prometheus metrics).
type Metrics interface {
	// SessionStarted counts a session of kind in flight.
	SessionStarted(kind string)
	// SessionEnded records a session's end; ctxErr is its context's error.
	SessionEnded(kind string, ok bool, ctxErr error, took time.Duration)
	// RoundEnded records how long one round of a session took.
	RoundEnded(kind string, round uint32, took time.Duration)
	// SessionAborted counts an abort once per blamed device (names), or
	// once as "none".
	SessionAborted(kind string, culprits []string)
	// Blamed counts an abort's blame verdict (none when b is "").
	Blamed(kind string, b Blame)
}

// noMetrics records nothing.
type noMetrics struct{}

func (noMetrics) SessionStarted(string)                           {}
func (noMetrics) SessionEnded(string, bool, error, time.Duration) {}
func (noMetrics) RoundEnded(string, uint32, time.Duration)        {}
func (noMetrics) SessionAborted(string, []string)                 {}
func (noMetrics) Blamed(string, Blame)                            {}
