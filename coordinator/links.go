package coordinator

import (
	"sync"
	"time"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// linkQueue bounds what waits to be sent to one device; a device that cannot
// keep up is disconnected rather than allowed to grow the coordinator's memory.
const linkQueue = 2048

// link is one connected, authenticated device stream.
type link struct {
	deviceID string
	name     string
	out      chan *mpcv1.ConnectResponse
	closed   chan struct{}
	once     sync.Once
	reason   error

	mu     sync.Mutex
	status *mpcv1.PartyStatus
}

func newLink(d Device) *link {
	return &link{deviceID: d.ID, name: d.Name, out: make(chan *mpcv1.ConnectResponse, linkQueue), closed: make(chan struct{})}
}

// send queues a message; it reports false if the link is closed or full
// (in which case the link is closed).
func (l *link) send(m *mpcv1.ConnectResponse) bool {
	select {
	case <-l.closed:
		return false
	default:
	}
	select {
	case l.out <- m:
		return true
	default:
		l.close(unavailable("device %s is not reading its messages", l.name))
		return false
	}
}

func (l *link) close(reason error) {
	l.once.Do(func() {
		l.reason = reason
		close(l.closed)
	})
}

func (l *link) preparams() (ready, target uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status.GetPreparamsReady(), l.status.GetPreparamsTarget()
}

// links is the registry of connected devices.
type links struct {
	mu      sync.Mutex
	byID    map[string]*link
	changed chan struct{}
}

func newLinks() *links { return &links{byID: map[string]*link{}, changed: make(chan struct{})} }

func (r *links) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// add registers l, closing an older link of the same device.
func (r *links) add(l *link) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.byID[l.deviceID]; old != nil {
		old.close(unavailable("replaced by a newer connection of the same device"))
	}
	r.byID[l.deviceID] = l
	r.notifyLocked()
}

// remove unregisters l; it reports false when a newer link had replaced it.
func (r *links) remove(l *link) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID[l.deviceID] == l {
		delete(r.byID, l.deviceID)
		r.notifyLocked()
		return true
	}
	return false
}

func (r *links) get(deviceID string) *link {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[deviceID]
}

// statusChanged records a device's pool status and wakes waiters.
func (r *links) statusChanged(l *link, st *mpcv1.PartyStatus) {
	l.mu.Lock()
	l.status = st
	l.mu.Unlock()
	r.mu.Lock()
	r.notifyLocked()
	r.mu.Unlock()
}

// wait returns a channel closed at the next connect, disconnect or status change.
func (r *links) wait() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// all returns the connected links.
func (r *links) all() []*link {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*link, 0, len(r.byID))
	for _, l := range r.byID {
		out = append(out, l)
	}
	return out
}

// kick disconnects a device (used on revocation).
func (r *links) kick(deviceID string, reason error) {
	if l := r.get(deviceID); l != nil {
		l.close(reason)
	}
}

func (r *links) closeAll(reason error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.byID {
		l.close(reason)
	}
}

// drained waits (at most max) until a device's queue is empty and a moment
// more for the last message to be written. Crash tests use it.
func (r *links) drained(deviceID string, max time.Duration) {
	l := r.get(deviceID)
	if l == nil {
		return
	}
	deadline := time.Now().Add(max)
	for len(l.out) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
}
