package party

import (
	"testing"
	"time"
)

// Reconnect delays grow to the cap and are jittered over the upper half of
// the backoff: devices cut off at once spread their redials.
func TestReconnectBackoff(t *testing.T) {
	const limit = 15 * time.Second
	b := 250 * time.Millisecond
	var steps []time.Duration
	for range 10 {
		steps = append(steps, b)
		b = nextBackoff(b, limit)
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, limit, limit, limit, limit}
	for i := range want {
		if steps[i] != want[i] {
			t.Fatalf("backoff steps %v, want %v", steps, want)
		}
	}
	seen := map[time.Duration]bool{}
	for range 200 {
		d := jittered(4 * time.Second)
		if d < 2*time.Second || d > 4*time.Second {
			t.Fatalf("jittered(4s) = %s, want within [2s, 4s]", d)
		}
		seen[d] = true
	}
	// 200 draws from two billion nanosecond values: a constant delay is no jitter.
	if len(seen) < 100 {
		t.Fatalf("jittered(4s) gave %d distinct delays in 200 draws; want them spread", len(seen))
	}
}
