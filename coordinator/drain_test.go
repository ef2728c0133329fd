package coordinator_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

func TestShutdownDrainsRunningSessions(t *testing.T) {
	var slow sync.Once
	midSession := make(chan struct{})
	var delay sync.Map // set once the key exists: slow signing down
	relay := func(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage)) {
		if _, on := delay.Load("on"); !on {
			deliver(m)
			return
		}
		slow.Do(func() { close(midSession) })
		go func() {
			time.Sleep(40 * time.Millisecond)
			deliver(m)
		}()
	}
	c := testkit.New(t, testkit.Options{SignTimeout: 30 * time.Second, Relay: relay})
	ctx := context.Background()
	c.AddDevice(t, "a", testkit.FixtureSets(t, 1)[:1])
	c.AddDevice(t, "b", testkit.FixtureSets(t, 2)[:1])
	key := c.CreateKey(t, 1, "a", "b")
	delay.Store("on", true)

	done := make(chan error, 1)
	var resp *mpcv1.SignResponse
	go func() {
		var err error
		resp, err = c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("in flight at SIGTERM")})
		done <- err
	}()
	<-midSession
	c.BeginShutdown()
	time.Sleep(50 * time.Millisecond) // let the drain begin
	if _, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("after SIGTERM")}); code(err) != codes.Unavailable {
		t.Fatalf("a new signature during the drain: %v, want Unavailable", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the signature running at shutdown was not allowed to finish: %v", err)
	}
	verify(t, key.GetPublicKey(), digest("in flight at SIGTERM"), resp)
}
