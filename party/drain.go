package party

import (
	"sync"
	"time"
)

// drainingReason is what a draining device answers to a new session. The
// coordinator reports it and asks other devices when it can.
const drainingReason = "device is shutting down"

// abortedReason is what a session still running when the drain bound is
// reached fails with.
const abortedReason = "device shut down before the session finished"

// workTracker counts the sessions that run and, once draining, refuses new ones.
type workTracker struct {
	mu       sync.Mutex
	draining bool
	running  int
	idle     chan struct{} // closed when running drops to 0 while draining
}

// begin counts a new session; false while draining.
func (w *workTracker) begin() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.draining {
		return false
	}
	w.running++
	return true
}

func (w *workTracker) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running--
	if w.running == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
}

// drain stops new sessions and returns a channel closed once none runs.
func (w *workTracker) drain() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.draining = true
	if w.running == 0 {
		done := make(chan struct{})
		close(done)
		return done
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	return w.idle
}

func (w *workTracker) state() (draining bool, running int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.draining, w.running
}

// Drain prepares the agent to stop: from now on it refuses new sessions,
// answering that it is shutting down (so the coordinator can ask other
// devices), and it waits up to bound for the sessions that run to finish.
// Sessions still running then are aborted and reported failed to the
// coordinator. The link stays up meanwhile; cancel Run's context after
// Drain returns. It returns how many sessions it aborted.
func (a *Agent) Drain(bound time.Duration) (aborted int) {
	idle := a.work.drain()
	_, running := a.work.state()
	a.log.Info("draining: refusing new sessions, waiting for the running ones", "running", running, "bound", bound)
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-idle:
		a.log.Info("drained: no session runs")
	case <-timer.C:
		if l := a.live.link(); l != nil {
			aborted = l.abortAll(abortedReason)
		}
		a.log.Warn("drain bound reached; aborted the sessions still running", "aborted", aborted)
		// An aborted session stops at once.
		select {
		case <-idle:
		case <-time.After(5 * time.Second):
		}
	}
	// Let the last results and failure reports leave before the link closes.
	if l := a.live.link(); l != nil {
		l.flush(2 * time.Second)
	}
	return aborted
}

// abortAll stops every session of the link with reason; each reports its
// failure to the coordinator.
func (l *partyLink) abortAll(reason string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, rs := range l.sessions {
		rs.cancel(&errStopped{reason})
	}
	return len(l.sessions)
}

// flush waits (at most max) until the link's queue is empty, and a moment
// more for the last message taken from it to be written.
func (l *partyLink) flush(max time.Duration) {
	if len(l.out) == 0 {
		return
	}
	deadline := time.Now().Add(max)
	for len(l.out) > 0 && time.Now().Before(deadline) && l.ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
}
