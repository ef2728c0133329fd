package coordinator_test

import (
	"bytes"
	"context"
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/tss"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// switchRelay is a relay whose behaviour a test changes between sessions; it
// records every message it sees.
type switchRelay struct {
	mu       sync.Mutex
	f        func(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage))
	captured []*mpcv1.SessionMessage
}

func (r *switchRelay) relay(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage)) {
	r.mu.Lock()
	f := r.f
	r.captured = append(r.captured, proto.Clone(m).(*mpcv1.SessionMessage))
	r.mu.Unlock()
	if f == nil {
		deliver(m)
		return
	}
	f(to, m, deliver)
}

func (r *switchRelay) set(f func(string, *mpcv1.SessionMessage, func(*mpcv1.SessionMessage))) {
	r.mu.Lock()
	r.f = f
	r.mu.Unlock()
}

func (r *switchRelay) take() []*mpcv1.SessionMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.captured
	r.captured = nil
	return out
}

// once applies mutate to the first message that match accepts, and passes
// everything else through.
func once(match func(*mpcv1.SessionMessage) bool, mutate func(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage))) func(string, *mpcv1.SessionMessage, func(*mpcv1.SessionMessage)) {
	var mu sync.Mutex
	done := false
	return func(to string, m *mpcv1.SessionMessage, deliver func(*mpcv1.SessionMessage)) {
		mu.Lock()
		hit := !done && match(m)
		if hit {
			done = true
		}
		mu.Unlock()
		if !hit {
			deliver(m)
			return
		}
		mutate(to, proto.Clone(m).(*mpcv1.SessionMessage), deliver)
	}
}

func p2p(m *mpcv1.SessionMessage) bool { return !m.GetBroadcast() }
func broadcast(m *mpcv1.SessionMessage) bool {
	return m.GetBroadcast() && !strings.Contains(m.GetType(), "Echo")
}
func any(*mpcv1.SessionMessage) bool { return true }

func TestRelayCannotReadForgeOrSplit(t *testing.T) {
	r := &switchRelay{}
	c := testkit.New(t, testkit.Options{SignTimeout: 6 * time.Second, Relay: r.relay})
	ctx := context.Background()
	c.AddDevice(t, "a", testkit.FixtureSets(t, 3)[:1])
	b := c.AddDevice(t, "b", testkit.FixtureSets(t, 4)[:1])
	key := c.CreateKey(t, 1, "a", "b") // 2-of-2: no other subset can hide an abort

	t.Run("point-to-point payloads are ciphertext to the relay", func(t *testing.T) {
		var p2pCount, shareMsgs int
		for _, m := range r.take() {
			_, parseErr := tss.ParseWireMessage(m.GetPayload(), tss.NewPartyID("x", "x", big.NewInt(1)), m.GetBroadcast())
			if m.GetBroadcast() {
				if !strings.Contains(m.GetType(), "Echo") && parseErr != nil {
					t.Fatalf("broadcast %s does not parse as a protocol message: the check below could not fail", m.GetType())
				}
				continue
			}
			p2pCount++
			if strings.Contains(m.GetType(), "KGRound2Message1") {
				shareMsgs++
			}
			if parseErr == nil || bytes.Contains(m.GetPayload(), []byte("tsslib")) {
				t.Fatalf("the relay can read a %s point-to-point payload", m.GetType())
			}
		}
		if shareMsgs == 0 || p2pCount == 0 {
			t.Fatalf("captured no keygen share message (%d point-to-point)", p2pCount)
		}
	})

	signOK := func(t *testing.T, label string) {
		t.Helper()
		dg := digest(label)
		resp, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: dg})
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		verify(t, key.GetPublicKey(), dg, resp)
	}
	signAborts := func(t *testing.T, label string) {
		t.Helper()
		_, err := c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest(label)})
		if code(err) != codes.Aborted {
			t.Fatalf("%s: want Aborted, got %v", label, err)
		}
	}

	var earlier []*mpcv1.SessionMessage
	r.set(nil)
	signOK(t, "baseline")
	earlier = r.take()

	aborting := map[string]func(string, *mpcv1.SessionMessage, func(*mpcv1.SessionMessage)){
		"from rewritten": once(any, func(_ string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			m.From = strings.Repeat("0", 20)
			d(m)
		}),
		"to rewritten": once(p2p, func(to string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			m.To = m.GetFrom()
			d(m)
		}),
		"broadcast flag set": once(p2p, func(_ string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			m.Broadcast, m.To = true, ""
			d(m)
		}),
		"broadcast flag cleared": once(broadcast, func(to string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			m.Broadcast, m.To = false, to
			d(m)
		}),
		"round changed": once(any, func(_ string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			m.Round++
			d(m)
		}),
		"type changed": once(any, func(_ string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			m.Type += "x"
			d(m)
		}),
		"payload altered": once(p2p, func(_ string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			m.Payload[len(m.Payload)/2] ^= 1
			d(m)
		}),
		"different broadcast to one member": once(broadcast, func(_ string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			m.Payload = append(m.Payload, 0)
			d(m)
		}),
		"message dropped": once(p2p, func(string, *mpcv1.SessionMessage, func(*mpcv1.SessionMessage)) {}),
		"earlier message relabelled for this session": once(any, func(to string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			for _, old := range earlier {
				if old.GetTo() == to {
					o := proto.Clone(old).(*mpcv1.SessionMessage)
					o.SessionId = m.GetSessionId() // its signature still binds it to the old session
					d(o)
					break
				}
			}
			d(m)
		}),
	}
	for name, f := range aborting {
		t.Run(name, func(t *testing.T) {
			r.set(f)
			signAborts(t, name)
			r.set(nil)
			signOK(t, "clean after "+name)
		})
	}

	succeeding := map[string]func(string, *mpcv1.SessionMessage, func(*mpcv1.SessionMessage)){
		"every message duplicated": func(_ string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			d(m)
			d(m)
		},
		"delayed and reordered": func(_ string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			go func() {
				time.Sleep(time.Duration(rand.IntN(80)) * time.Millisecond)
				d(m)
			}()
		},
		"messages of an earlier session replayed": func(to string, m *mpcv1.SessionMessage, d func(*mpcv1.SessionMessage)) {
			for _, old := range earlier {
				if old.GetTo() == to || old.GetBroadcast() && old.GetFrom() != to {
					d(old)
				}
			}
			d(m)
		},
	}
	for name, f := range succeeding {
		t.Run(name, func(t *testing.T) {
			r.set(f)
			defer r.set(nil)
			signOK(t, name)
		})
	}

	t.Run("no wrong share was stored", func(t *testing.T) {
		shares, err := b.Agent.Shares()
		if err != nil || len(shares) != 1 || !bytes.Equal(shares[0].PublicKey, key.GetPublicKey()) {
			t.Fatalf("device b shares: %v %v", shares, err)
		}
	})
}
