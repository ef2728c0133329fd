package relay

import (
	"sync"
	"time"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// linkQueue bounds what waits to be sent to one device; a device that cannot
// keep up is disconnected rather than allowed to grow the coordinator's memory.
const linkQueue = 2048

// Link is one connected, authenticated device stream.
type Link struct {
	deviceID string
	name     string
	out      chan *mpcv1.ConnectResponse
	closed   chan struct{}
	once     sync.Once
	reason   error

	mu     sync.Mutex
	status *mpcv1.PartyStatus
}

// NewLink is the link of device d, not yet registered (Links.Add).
func NewLink(d registry.Device) *Link {
	return &Link{deviceID: d.ID, name: d.Name, out: make(chan *mpcv1.ConnectResponse, linkQueue), closed: make(chan struct{})}
}

// DeviceID is the id of the link's device.
func (l *Link) DeviceID() string { return l.deviceID }

// Name is the name of the link's device.
func (l *Link) Name() string { return l.name }

// Out is the queue of messages for the device, which the stream sends.
func (l *Link) Out() <-chan *mpcv1.ConnectResponse { return l.out }

// Closed is closed when the link is (Close); Reason then tells why.
func (l *Link) Closed() <-chan struct{} { return l.closed }

// Reason is why the link was closed (nil while it is open).
func (l *Link) Reason() error {
	select {
	case <-l.closed:
		return l.reason
	default:
		return nil
	}
}

// Send queues a message; it reports false if the link is closed or full
// (in which case the link is closed).
func (l *Link) Send(m *mpcv1.ConnectResponse) bool {
	select {
	case <-l.closed:
		return false
	default:
	}
	select {
	case l.out <- m:
		return true
	default:
		l.Close(unavailable("device %s is not reading its messages", l.name))
		return false
	}
}

// Close closes the link for reason; only the first close counts.
func (l *Link) Close(reason error) {
	l.once.Do(func() {
		l.reason = reason
		close(l.closed)
	})
}

// Preparams is the device's pre-parameter pool, as it last reported it.
func (l *Link) Preparams() (ready, target uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status.GetPreparamsReady(), l.status.GetPreparamsTarget()
}

// Links is the registry of connected devices.
type Links struct {
	mu      sync.Mutex
	byID    map[string]*Link
	changed chan struct{}
}

// NewLinks is an empty registry.
func NewLinks() *Links { return &Links{byID: map[string]*Link{}, changed: make(chan struct{})} }

func (r *Links) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Add registers l, closing an older link of the same device.
func (r *Links) Add(l *Link) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.byID[l.deviceID]; old != nil {
		old.Close(unavailable("replaced by a newer connection of the same device"))
	}
	r.byID[l.deviceID] = l
	r.notifyLocked()
}

// Remove unregisters l; it reports false when a newer link had replaced it.
func (r *Links) Remove(l *Link) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID[l.deviceID] == l {
		delete(r.byID, l.deviceID)
		r.notifyLocked()
		return true
	}
	return false
}

// Get is the device's link, nil when it is not connected.
func (r *Links) Get(deviceID string) *Link {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[deviceID]
}

// StatusChanged records a device's pool status and wakes waiters.
func (r *Links) StatusChanged(l *Link, st *mpcv1.PartyStatus) {
	l.mu.Lock()
	l.status = st
	l.mu.Unlock()
	r.mu.Lock()
	r.notifyLocked()
	r.mu.Unlock()
}

// Wait returns a channel closed at the next connect, disconnect or status change.
func (r *Links) Wait() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// All returns the connected links.
func (r *Links) All() []*Link {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Link, 0, len(r.byID))
	for _, l := range r.byID {
		out = append(out, l)
	}
	return out
}

// Count is the number of connected devices.
func (r *Links) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byID)
}

// Kick disconnects a device (used on revocation).
func (r *Links) Kick(deviceID string, reason error) {
	if l := r.Get(deviceID); l != nil {
		l.Close(reason)
	}
}

// CloseAll closes every link for reason.
func (r *Links) CloseAll(reason error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.byID {
		l.Close(reason)
	}
}

// Drained waits (at most max) until a device's queue is empty and a moment
// more for the last message to be written. Crash tests use it.
func (r *Links) Drained(deviceID string, max time.Duration) {
	l := r.Get(deviceID)
	if l == nil {
		return
	}
	deadline := time.Now().Add(max)
	for len(l.out) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
}
