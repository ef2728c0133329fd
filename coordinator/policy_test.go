package coordinator_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// answer is the person at a test device: it approves while approve is true.
type answer struct {
	approve atomic.Bool
	asked   atomic.Int32
}

func (a *answer) Ask(ctx context.Context, req party.SignRequest) (bool, error) {
	a.asked.Add(1)
	if len(req.Digest) != 32 || req.KeyID == "" || req.Requester == "" {
		return false, errors.New("the request shown to the person is incomplete")
	}
	return a.approve.Load(), nil
}

func TestDeviceApprovalPolicy(t *testing.T) {
	person := &answer{}
	c := testkit.New(t, testkit.Options{SignTimeout: 30 * time.Second, Device: func(name string, o *party.Options) {
		if name == "c" {
			o.Prompter = person
		}
	}})
	ctx := context.Background()
	devs := map[string]*testkit.Device{}
	for i, n := range []string{"a", "b", "c"} {
		devs[n] = c.AddDevice(t, n, testkit.FixtureSets(t, i+1)[:1])
	}
	key := c.CreateKey(t, 1, "a", "b", "c")
	setPolicy := func(name string, p party.Policy) {
		t.Helper()
		if err := party.SetPolicy(devs[name].Store, key.GetId(), p); err != nil {
			t.Fatal(err)
		}
	}
	sign := func(msg string) (*mpcv1.SignResponse, error) {
		return c.Signer.Sign(ctx, &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest(msg)})
	}

	t.Run("one device denies: the other two sign", func(t *testing.T) {
		setPolicy("a", party.Policy{Mode: party.PolicyDeny})
		r, err := sign("a denies")
		if err != nil {
			t.Fatal(err)
		}
		verify(t, key.GetPublicKey(), digest("a denies"), r)
		if strings.Join(r.GetSigners(), ",") != "b,c" {
			t.Fatalf("signers %v", r.GetSigners())
		}
	})

	t.Run("two devices deny: PERMISSION_DENIED naming them", func(t *testing.T) {
		setPolicy("b", party.Policy{Mode: party.PolicyDeny})
		_, err := sign("a and b deny")
		if code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "a (") || !strings.Contains(err.Error(), "b (") {
			t.Fatalf("want PermissionDenied naming a and b, got %v", err)
		}
		decisions, err := party.Decisions(devs["a"].Store)
		if err != nil || len(decisions) == 0 || decisions[len(decisions)-1].Approved {
			t.Fatalf("a's approval log must record its refusal: %+v %v", decisions, err)
		}
	})

	t.Run("only allowed requesters", func(t *testing.T) {
		setPolicy("a", party.Policy{Mode: party.PolicyAuto, Requesters: []string{"initial signer"}})
		setPolicy("b", party.Policy{Mode: party.PolicyAuto, Requesters: []string{"wallet-x"}})
		r, err := sign("requesters")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.Join(r.GetSigners(), ","), "b") {
			t.Fatalf("b signed for a requester it does not allow: %v", r.GetSigners())
		}
	})

	t.Run("hourly limit", func(t *testing.T) {
		setPolicy("b", party.Policy{Mode: party.PolicyDeny})
		// a has signed once this hour (in the requesters test; it denied before).
		setPolicy("a", party.Policy{Mode: party.PolicyAuto, MaxPerHour: 2})
		setPolicy("c", party.Policy{Mode: party.PolicyAuto})
		if _, err := sign("within the limit"); err != nil {
			t.Fatal(err)
		}
		_, err := sign("over the limit")
		if code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "per hour") {
			t.Fatalf("want a refusal for the hourly limit, got %v", err)
		}
	})

	t.Run("the person at the device decides", func(t *testing.T) {
		setPolicy("a", party.Policy{Mode: party.PolicyAuto})
		setPolicy("b", party.Policy{Mode: party.PolicyDeny})
		setPolicy("c", party.Policy{Mode: party.PolicyPrompt})
		person.approve.Store(false)
		_, err := sign("person says no")
		if code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "person at the device refused") {
			t.Fatalf("want the person's refusal, got %v", err)
		}
		person.approve.Store(true)
		r, err := sign("person says yes")
		if err != nil {
			t.Fatal(err)
		}
		verify(t, key.GetPublicKey(), digest("person says yes"), r)
		// Once per signature; a loaded machine can make the coordinator
		// retry an attempt, which asks again.
		if n := person.asked.Load(); n < 2 {
			t.Fatalf("the person was asked %d times, want at least 2 (once per signature)", n)
		}
	})
}
