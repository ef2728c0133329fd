package replicas

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestSplit(t *testing.T) {
	if got := Split(" a:1, ,b:2,"); !slices.Equal(got, []string{"a:1", "b:2"}) {
		t.Fatalf("Split: %q", got)
	}
	if Join([]string{"a:1", "b:2"}) != "a:1,b:2" {
		t.Fatal("Join")
	}
	if target, opts, err := Target("a:1"); err != nil || target != "a:1" || opts != nil {
		t.Fatalf("one address is dialled as it is: %q %v %v", target, opts, err)
	}
	if _, _, err := Target(" , "); err == nil {
		t.Fatal("an empty list was accepted")
	}
}

func TestActiveAddress(t *testing.T) {
	err := WithActiveAddress(status.New(codes.Unavailable, "standby"), "b:7400").Err()
	if addr, standby := ActiveAddress(err); !standby || addr != "b:7400" {
		t.Fatalf("ActiveAddress: %q %v", addr, standby)
	}
	err = WithActiveAddress(status.New(codes.Unavailable, "standby"), "").Err()
	if addr, standby := ActiveAddress(err); !standby || addr != "" {
		t.Fatalf("no active replica: %q %v", addr, standby)
	}
	for _, err := range []error{status.Error(codes.Unavailable, "down"), errors.New("plain"), nil} {
		if _, standby := ActiveAddress(err); standby {
			t.Fatalf("%v read as a standby's answer", err)
		}
	}
}

// replica is a gRPC server with a health service: "" says whether it is
// the active one; its own name is always SERVING, so a Check of it tells
// which server answered.
type replica struct {
	name   string
	addr   string
	health *health.Server
}

func startReplica(t *testing.T, name string) *replica {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, addr: lis.Addr().String(), health: health.NewServer()}
	r.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, r.health)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return r
}

func (r *replica) active(on bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if on {
		st = healthpb.HealthCheckResponse_SERVING
	}
	r.health.SetServingStatus("", st)
}

// TestTargetCallsTheActiveReplica: a client given every replica's address
// sends its calls to the one whose health says SERVING, and moves when
// another one takes over.
func TestTargetCallsTheActiveReplica(t *testing.T) {
	a, b := startReplica(t, "a"), startReplica(t, "b")
	a.active(false)
	b.active(true)
	target, opts, err := Target(Join([]string{a.addr, b.addr}))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(target, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	answered := func(want *replica) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: want.name}, grpc.WaitForReady(true))
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("calls never reached the active replica %s: %v", want.name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	answered(b)
	for range 20 { // every call, not just one
		if _, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "b"}); err != nil {
			t.Fatalf("a call went to the standby: %v", err)
		}
	}
	b.active(false) // b stands down, a takes over
	a.active(true)
	answered(a)
}
