package e2e

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/internal/replicas"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// TestFailoverDuringReshare kills the active replica with kill -9 in the
// middle of a drill, right after its commit point (the new epoch committed
// in the database, no device told). The standby takes over, finishes the
// reshare from the database as a restarted coordinator does, and the
// devices, reconnecting to it, promote the new epoch and erase the old one:
// the key ends at exactly one committed epoch, with its public key, and
// signs. Device a paired before the standby existed (its pairing code named
// the first replica only): it learns every replica's address when it next
// connects, and finds the new active replica too.
func TestFailoverDuringReshare(t *testing.T) {
	c := newPostgresCluster(t)
	c.fixtureFiles = []int{5, 6, 7} // seven sets each: a keygen, two drills, and one set ready after them
	const point = "reshare.after-commit"
	a := c.startFirst(t, bin("coordinator"), []string{crashEnv + "=" + point})
	early := c.enroll(t, "a", false)
	c.runParty(t, early)
	c.waitReady(t, "a")
	b := c.startStandby(t, "coordinator-b", bin("coordinator"), nil)
	names := []string{"a", "b", "c"}
	for _, n := range names[1:] {
		c.runParty(t, c.enroll(t, n, false))
	}
	stopParty(t, early)
	c.runParty(t, early)
	c.waitPartyLog(t, early, `msg="coordinator replicas' addresses learned; they are dialled in turn from now on" addresses=`+replicas.Join([]string{a.addr, b.addr}))
	c.waitReady(t, names...)
	key := c.createKey(t, names)
	signAndVerify(t, c, key, "before the drill")

	if r := c.ctl(t, "drill", "--key", key.ID); r.code == 0 {
		t.Fatalf("the drill succeeded; the active replica should have died at %s\n%s", point, r.stdout)
	}
	waitCrashed(t, a.proc, point)
	c.waitActive(t, b, time.Minute)
	for _, n := range names {
		c.waitPartyLog(t, c.devices[n], logPromoted(key.ID, 1), logErased(key.ID, 0))
	}
	c.waitReady(t, names...)
	k := c.getKey(t, key.ID)
	if k.Epoch != 1 || k.PublicKey != key.PublicKey || !sameNames(k.Holders, names) {
		t.Errorf("after the failover keys get says %+v; want epoch 1, public key %s, holders %v", k.keyInfo, key.PublicKey, names)
	}
	signAndVerify(t, c, key, "after the failover mid-reshare")
	c.checkOneEpoch(t, key, 1, names...)
	t.Run("roll back", func(t *testing.T) { checkFailoverRollsBack(t, c, key, names, a, b) })
}

// checkFailoverRollsBack: a replica added after the devices connected
// is told to them by the active one; it takes over on a clean stop, armed
// to die in the next drill before its commit point (every new holder
// stored its share as pending). Another replica added meanwhile takes
// over and abandons the reshare: the devices drop their pending shares,
// and the key stays at epoch 1 and signs. The chain records the one
// committed drill and the abandoned one.
func checkFailoverRollsBack(t *testing.T, c *cluster, key keyInfo, names []string, a, b *replica) {
	const before = "reshare.before-commit"
	armed := c.startStandby(t, "coordinator-c", bin("coordinator"), []string{crashEnv + "=" + before})
	c.waitLearned(t, names, b, a, armed)
	stopClean(t, b.proc) // b hands the lease over: the armed replica serves
	c.waitActive(t, armed, time.Minute)
	d := c.startStandby(t, "coordinator-d", bin("coordinator"), nil)
	c.waitLearned(t, names, armed, a, b, d)
	c.waitReady(t, names...)
	if r := c.ctl(t, "drill", "--key", key.ID); r.code == 0 {
		t.Fatalf("the drill succeeded; the active replica should have died at %s\n%s", before, r.stdout)
	}
	waitCrashed(t, armed.proc, before)
	c.waitActive(t, d, time.Minute)
	for _, n := range names {
		c.waitPartyLog(t, c.devices[n], logDropped(key.ID, 2))
	}
	c.waitReady(t, names...)
	if k := c.getKey(t, key.ID); k.Epoch != 1 || k.PublicKey != key.PublicKey {
		t.Errorf("after the failover before the commit point keys get says %+v; want epoch 1", k.keyInfo)
	}
	signAndVerify(t, c, key, "after the failover before a commit point")
	c.checkOneEpoch(t, key, 1, names...)
	var committed, abandoned int
	for _, e := range c.auditEntries(t) { // verifies the chain across every failover
		switch {
		case e.Action == "key.drill" && e.Result == "ok":
			committed++
		case e.Action == "key.drill" && e.Result == "failed" && strings.Contains(e.Detail, "reshare to epoch 2 abandoned"):
			abandoned++
		}
	}
	if committed != 1 || abandoned != 1 {
		t.Errorf("the audit chain records %d committed drills and %d abandoned at epoch 2; want 1 and 1", committed, abandoned)
	}
}

// waitLearned waits until every named device has logged that it learned
// the replicas' addresses: active's first, then the others' in order.
func (c *cluster) waitLearned(t testing.TB, names []string, active *replica, others ...*replica) {
	t.Helper()
	addrs := []string{}
	for _, r := range others {
		addrs = append(addrs, r.addr)
	}
	slices.Sort(addrs)
	line := `msg="coordinator replicas' addresses learned; they are dialled in turn from now on" addresses=` +
		replicas.Join(append([]string{active.addr}, addrs...))
	for _, n := range names {
		c.waitPartyLog(t, c.devices[n], line)
	}
}

// TestDeposedReplicaIsFenced: a replica paused (SIGSTOP) for longer than
// its lease loses it to a standby. Built compromised to go on serving
// anyway (keep-serving-deposed, as an attacker owning its machine would
// have it), it is refused every write by the store's fencing check, and
// nothing it tried is in the records or the audit chain. The product build
// in the same place stops and exits with a clear error instead.
func TestDeposedReplicaIsFenced(t *testing.T) {
	c := newPostgresCluster(t)
	a := c.startFirst(t, compromisedCoordinator(t), []string{compromisedEnv + "=keep-serving-deposed"}, "--lease-ttl", "2s")
	b := c.startStandby(t, "coordinator-b", bin("coordinator"), nil, "--lease-ttl", "2s")
	admin := mpcv1.NewAdminServiceClient(c.dialGRPC(t, "admin.token")) // a's address only
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: "before"}); err != nil {
		t.Fatalf("the active replica refused a pairing code: %v", err)
	}

	pause(t, a.proc)
	c.waitActive(t, b, time.Minute)
	resume(t, a.proc)
	waitLog(t, a.proc, "TEST ONLY: lost the leader lease", 30*time.Second)
	for name, call := range map[string]func() error{
		"CreatePairingCode": func() error {
			_, err := admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: "after"})
			return err
		},
		"CreateToken": func() error {
			_, err := admin.CreateToken(ctx, &mpcv1.CreateTokenRequest{Role: mpcv1.TokenRole_TOKEN_ROLE_ADMIN, Name: "rogue"})
			return err
		},
	} {
		err := call()
		if st, _ := status.FromError(err); err == nil || st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "no longer holds the leader lease") {
			t.Errorf("%s on the deposed replica: %v; want Unavailable, no longer holds the leader lease", name, err)
		}
	}
	var pairings, tokens []string
	for _, e := range c.auditEntries(t) { // from b, the active replica; verifies the chain
		switch e.Action {
		case "pairing.create":
			pairings = append(pairings, strings.Join(e.Devices, ","))
		case "token.create":
			tokens = append(tokens, e.Detail)
		}
	}
	if strings.Join(pairings, " ") != "before" || len(tokens) != 0 {
		t.Errorf("audit chain: pairing codes for %q and tokens %q; want only the code made before the lease was lost", pairings, tokens)
	}

	// A replica started without the shared identity is refused at once: it
	// would serve a certificate no device pins.
	r := c.runOnce(t, "coordinator-stranger", c.env(), startTimeout, bin("coordinator"), "serve", "--data", t.TempDir(),
		"--listen", "127.0.0.1:0", "--store", c.storeURL)
	if r.code == 0 || !strings.Contains(r.stderr, "replicas share one identity: tls.crt, tls.key, admin.token, signer.token missing") {
		t.Errorf("a replica without the shared identity: exit %d\nstderr:\n%s", r.code, r.stderr)
	}

	// The product build, deposed the same way, exits with a clear error.
	c2 := c.startStandby(t, "coordinator-c", bin("coordinator"), nil, "--lease-ttl", "2s")
	pause(t, b.proc)
	c.waitActive(t, c2, time.Minute)
	resume(t, b.proc)
	if !b.proc.wait(30 * time.Second) {
		t.Fatalf("the deposed replica still runs\nstderr:\n%s", b.proc.stderr())
	}
	if b.proc.exitCode() == 0 || b.proc.killed() || !strings.Contains(b.proc.stderr(), "lost the leader lease to another replica") {
		t.Errorf("the deposed replica ended with code %d (killed %v); want a clean error exit saying it lost the lease\nstderr:\n%s",
			b.proc.exitCode(), b.proc.killed(), b.proc.stderr())
	}
}

func pause(t testing.TB, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) })
}

func resume(t testing.TB, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// TestCleanStopHandsOver: SIGTERM of the active replica drains it and
// releases the lease, and a standby takes over at once - the lease's 5
// minutes would outlast the test. Every replica stopped cleanly, a standby
// too, exits 0 with no goroutine left (the leak check of the e2e build).
func TestCleanStopHandsOver(t *testing.T) {
	c := newPostgresCluster(t)
	a := c.startFirst(t, bin("coordinator"), nil, "--lease-ttl", "5m")
	b := c.startStandby(t, "coordinator-b", bin("coordinator"), nil)
	stopClean(t, a.proc)
	stopped := time.Now()
	c.waitActive(t, b, time.Minute)
	t.Logf("the standby served %s after the active replica stopped", time.Since(stopped).Round(10*time.Millisecond))
	x := c.startStandby(t, "coordinator-x", bin("coordinator"), nil)
	stopClean(t, x.proc) // a standby
	stopClean(t, b.proc) // a replica that took over
}
