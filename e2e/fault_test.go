package e2e

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// The fault-injection suite: a party or the coordinator is killed with
// SIGKILL at a round boundary of keygen, signing or resharing, through its
// test-only crash point, and restarted unarmed.
//   - party.<kind>.round-N: the device dies as it is about to send its first
//     message of round N (it finished round N-1);
//   - coordinator.<kind>.round-N: the coordinator dies as the first envelope
//     of round N reaches it, before relaying it.
//
// Each point checks:
//   - the session ends with a typed error well within its deadline (the
//     call's --timeout, faultTimeout, plus a slack for mpcctl itself: a
//     no-hang bound, not a speed target): a dead party gets the caller
//     ABORTED naming that device (a drill: a failed, uncommitted report
//     blaming it); a dead coordinator gets the caller UNAVAILABLE and every
//     surviving device ends its session with "link to the coordinator lost";
//   - the next session succeeds: a key generation after a keygen fault, a
//     signature after a signing fault, a drill after the reshare faults;
//   - no share is lost or corrupted: every key signs, verified independently
//     under its public key, and at the end each device holds exactly one
//     committed share of every key the coordinator lists, and nothing of the
//     key generations that failed. Every resharing round is before the
//     reshare's commit point (the coordinator commits only once every new
//     holder has finished the protocol), so a reshare fault always leaves
//     the key at its old epoch, signing under the same public key, with one
//     committed share per device; the drill afterwards moves it on;
//   - no goroutine leak in the surviving processes: TestMain builds the
//     coordinator and the party with -tags leakcheck, so that each runs
//     goleak as it exits on SIGTERM and exits with leakExitCode if any
//     goroutine is left. Every survivor is stopped that way at the end
//     (stopSurvivors; the processes killed on purpose are not checked), and
//     so is each device the tests restart. While the coordinator runs, its
//     go_goroutines (metrics endpoint) must also come back to its level
//     before a party fault, and mpc_sessions_in_flight to 0.
//
// The keys are 2-of-2: no other subset of devices could hide a fault by a
// retry, and a 2-party key generation costs half as much as a 3-party one.
// The retry of a signature without a dead device, and the detection of a
// device that stops answering, are in fault_retry_test.go.
//
// CI runs round 2 of each protocol, the first round with point-to-point
// messages, for a party and for the coordinator. MPCSIGN_FULL_FAULTS=1 runs
// every boundary: keygen rounds 1 to 3, signing rounds 1 to 9, resharing
// rounds 1 to 4 (tss-lib v2.0.2's DGRound1 to DGRound4 messages; its fifth
// round sends none). The whole fault suite, with the reshare commit-point
// crashes (reshare_crash_test.go) and the in-process chaos relay
// (coordinator/chaos_test.go), is one command:
//
//	MPCSIGN_FULL_FAULTS=1 go test ./e2e ./coordinator -run 'TestFault|TestReshareCrash|TestChaos' -count=1 -timeout 90m -v

const fullFaultsEnv = "MPCSIGN_FULL_FAULTS"

// faultRounds are the round boundaries to test for a protocol.
func faultRounds(kind string) []int {
	if os.Getenv(fullFaultsEnv) != "1" {
		return []int{2}
	}
	last := map[string]int{"keygen": 3, "sign": 9, "reshare": 4}[kind]
	var out []int
	for r := 1; r <= last; r++ {
		out = append(out, r)
	}
	return out
}

// linkLost is what a device logs for a session it ends because its link to
// the coordinator broke.
const linkLost = `reason="link to the coordinator lost"`

// TestFaultParty kills a device at round boundaries of keygen, then of
// signing, of 2-of-2 keys: no other subset can hide the fault by a retry.
func TestFaultParty(t *testing.T) {
	names := []string{"a", "b"}
	c, metrics := newFaultCluster(t, []int{5, 6}, names)
	var keys []keyInfo
	// partyFault kills victim at point during the mpcctl command args and
	// restarts it; the coordinator survives.
	partyFault := func(t *testing.T, victim *device, point, kind string, args ...string) {
		stopParty(t, victim)
		c.runDevice(t, victim, point)
		c.waitReady(t, names...)
		base, _ := coordMetrics(t, metrics)
		e, took := c.ctlErrWithin(t, args...)
		expectRPC(t, e, codes.Aborted, kind+" session failed", "disconnected", "blamed: "+victim.name)
		waitCrashed(t, victim.proc, point)
		t.Logf("%s: the caller got %s after %s: %s", point, e.Code, took.Round(time.Millisecond), e.Msg)
		c.runDevice(t, victim, "")
		c.waitReady(t, names...)
		t.Cleanup(func() { c.waitGoroutines(t, metrics, base) })
	}
	for i, round := range faultRounds("keygen") {
		point := fmt.Sprintf("party.keygen.round-%d", round)
		ok := t.Run(point, func(t *testing.T) {
			partyFault(t, c.devices[names[i%len(names)]], point, "keygen", "keys", "create", "--threshold", "1", "--devices", strings.Join(names, ","))
			keys = append(keys, c.createKey(t, names))
			for _, k := range keys {
				signAndVerify(t, c, k, "after "+point)
			}
		})
		if !ok {
			return
		}
	}
	key := keys[0]
	for i, round := range faultRounds("sign") {
		point := fmt.Sprintf("party.sign.round-%d", round)
		ok := t.Run(point, func(t *testing.T) {
			partyFault(t, c.devices[names[i%len(names)]], point, "sign", "sign", "--key", key.ID, "--digest", fmt.Sprintf("%x", digestOf("dies at "+point)))
			signAndVerify(t, c, key, "after "+point)
		})
		if !ok {
			return
		}
	}
	c.checkKeysAndShares(t, keys, names...)
	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}

// TestFaultCoordinator kills the coordinator at round boundaries of keygen,
// then of signing, of 2-of-2 keys.
func TestFaultCoordinator(t *testing.T) {
	names := []string{"a", "b"}
	c, _ := newFaultCluster(t, []int{5, 6}, names)
	var keys []keyInfo
	for _, round := range faultRounds("keygen") {
		point := fmt.Sprintf("coordinator.keygen.round-%d", round)
		ok := t.Run(point, func(t *testing.T) {
			c.killCoordinatorAt(t, point, names, "keys", "create", "--threshold", "1", "--devices", strings.Join(names, ","))
			if listed := c.listKeys(t); len(listed) != len(keys) {
				t.Errorf("after the crash the coordinator lists %d keys, want %d: %+v", len(listed), len(keys), listed)
			}
			keys = append(keys, c.createKey(t, names))
			for _, k := range keys {
				signAndVerify(t, c, k, "after "+point)
			}
		})
		if !ok {
			return
		}
	}
	key := keys[0]
	for _, round := range faultRounds("sign") {
		point := fmt.Sprintf("coordinator.sign.round-%d", round)
		ok := t.Run(point, func(t *testing.T) {
			c.killCoordinatorAt(t, point, names, "sign", "--key", key.ID, "--digest", fmt.Sprintf("%x", digestOf("dies at "+point)))
			signAndVerify(t, c, key, "after "+point)
		})
		if !ok {
			return
		}
	}
	c.checkKeysAndShares(t, keys, names...)
	c.stopSurvivors(t)
	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("fixtures lasted", func(t *testing.T) { c.assertNoPreparamsGenerated(t) })
}

// newFaultCluster starts a coordinator with its metrics endpoint and the
// named devices, each with a pool of one set from its fixture file, and
// returns the metrics address.
func newFaultCluster(t *testing.T, fixtures []int, names []string) (*cluster, string) {
	t.Helper()
	c := newCluster(t)
	c.fixtureFiles = fixtures
	metrics := c.serveWithMetrics(t, "")
	for _, n := range names {
		c.runDevice(t, c.enroll(t, n, false), "")
	}
	c.waitReady(t, names...)
	return c, metrics
}

// killCoordinatorAt restarts the coordinator with crash point armed, runs
// the mpcctl command args, which must fail with UNAVAILABLE as the
// coordinator dies there, checks that every device ended its session
// because the link broke, and starts the coordinator again, unarmed. It
// returns the restarted coordinator's metrics address.
func (c *cluster) killCoordinatorAt(t *testing.T, point string, names []string, args ...string) string {
	t.Helper()
	c.serveWithMetrics(t, point)
	c.waitReady(t, names...)
	lost := map[string]int{}
	for _, n := range names {
		lost[n] = strings.Count(c.devices[n].proc.stderr(), linkLost)
	}
	e, took := c.ctlErrWithin(t, args...)
	expectRPC(t, e, codes.Unavailable)
	waitCrashed(t, c.coord, point)
	t.Logf("%s: the caller got %s after %s: %s", point, e.Code, took.Round(time.Millisecond), e.Msg)
	for _, n := range names {
		c.waitLogCount(t, c.devices[n], linkLost, lost[n]+1)
	}
	metrics := c.serveWithMetrics(t, "")
	c.waitReady(t, names...)
	return metrics
}

func (c *cluster) createKey(t testing.TB, names []string) keyInfo {
	t.Helper()
	var key keyInfo
	c.ctlJSON(t, &key, "keys", "create", "--threshold", "1", "--devices", strings.Join(names, ","))
	return key
}

var metricsAddrRE = regexp.MustCompile(`metrics:\s+http://(\S+)/metrics`)

// serveWithMetrics (re)starts the coordinator on its address (the first
// time on port 0) with a metrics endpoint on loopback, and crashAt armed
// when it is not empty. A running coordinator must exit cleanly first. It
// returns the metrics address.
func (c *cluster) serveWithMetrics(t testing.TB, crashAt string) string {
	t.Helper()
	listen := "127.0.0.1:0"
	if c.coord != nil {
		listen = c.addr
		if !c.coord.exited() {
			if code, killed := c.coord.stop(); killed || code != 0 {
				t.Fatalf("coordinator did not exit cleanly on SIGTERM: code %d, killed %v", code, killed)
			}
		}
	}
	env := []string{"MPCSIGN_COORDINATOR_METRICS_LISTEN=127.0.0.1:0"}
	if crashAt != "" {
		env = append(env, crashEnv+"="+crashAt)
	}
	c.serveCoordinator(t, listen, env...)
	deadline := time.Now().Add(startTimeout)
	for {
		if m := metricsAddrRE.FindStringSubmatch(c.coord.stdout()); m != nil {
			return m[1]
		}
		if c.coord.exited() || time.Now().After(deadline) {
			t.Fatalf("the coordinator printed no metrics address\nstdout:\n%s\nstderr:\n%s", c.coord.stdout(), c.coord.stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// coordMetrics reads the coordinator's goroutines and the sessions it runs
// from its metrics, on a connection of its own that is closed at once (an
// idle kept-alive one would hold a goroutine of the coordinator).
func coordMetrics(t testing.TB, addr string) (goroutines, sessions int) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	goroutines = -1
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), " ")
		if name != "go_goroutines" && !strings.HasPrefix(name, "mpc_sessions_in_flight{") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metrics: %s %q", name, value)
		}
		if name == "go_goroutines" {
			goroutines = int(v)
		} else {
			sessions += int(v)
		}
	}
	if goroutines < 0 {
		t.Fatalf("metrics: no go_goroutines (%v)", sc.Err())
	}
	return goroutines, sessions
}

// goroutineSlack allows for connections of the mpcctl processes that have
// exited but whose server side is still closing.
const goroutineSlack = 2

// waitGoroutines waits until the coordinator runs no session and no more
// goroutines than base (its level before the fault, with the same devices
// connected and no session running), or fails.
func (c *cluster) waitGoroutines(t testing.TB, addr string, base int) {
	t.Helper()
	deadline := time.Now().Add(syncTimeout)
	for {
		n, sessions := coordMetrics(t, addr)
		if n <= base+goroutineSlack && sessions == 0 {
			t.Logf("coordinator goroutines: %d before the fault, %d after; no session left running", base, n)
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s after the fault the coordinator runs %d goroutines (%d before) and %d sessions", syncTimeout, n, base, sessions)
			return
		}
		time.Sleep(pollEvery)
	}
}

// waitLogCount waits until d's agent has logged line at least n times.
func (c *cluster) waitLogCount(t testing.TB, d *device, line string, n int) {
	t.Helper()
	deadline := time.Now().Add(syncTimeout)
	for {
		got := strings.Count(d.proc.stderr(), line)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s logged %q %d times within %s, want %d\nstderr:\n%s", d.name, line, got, syncTimeout, n, d.proc.stderr())
		}
		time.Sleep(pollEvery)
	}
}

// checkKeysAndShares requires the coordinator to list exactly keys, then
// stops the devices and requires each to hold exactly one committed share
// of each of them, at the key's epoch: none lost, none left by a failed key
// generation or reshare.
func (c *cluster) checkKeysAndShares(t *testing.T, keys []keyInfo, names ...string) {
	t.Helper()
	t.Run("no share lost or left over", func(t *testing.T) {
		var want []partyShare
		for _, k := range keys {
			want = append(want, committedShare(k, k.Epoch))
		}
		slices.SortFunc(want, func(a, b partyShare) int { return cmp.Compare(a.KeyID, b.KeyID) })
		var listed []string
		for _, k := range c.listKeys(t) {
			listed = append(listed, k.ID)
		}
		var ids []string
		for _, w := range want {
			ids = append(ids, w.KeyID)
		}
		if !sameNames(listed, ids) {
			t.Errorf("the coordinator lists keys %v, want %v", listed, ids)
		}
		for _, n := range names {
			stopParty(t, c.devices[n])
		}
		for _, n := range names {
			got := c.allShares(t, c.devices[n])
			if !slices.Equal(got, want) {
				t.Errorf("%s holds these shares:\n  %+v\nwant:\n  %+v", n, got, want)
			}
		}
	})
}

// allShares reads every share a stopped device holds, in key order.
func (c *cluster) allShares(t testing.TB, d *device) []partyShare {
	t.Helper()
	r := c.runOnce(t, "party-status-"+d.name, c.partyEnv(d), enrolTimeout, d.partyArgs("status", "--json")...)
	var st struct {
		Shares []partyShare `json:"shares"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil {
		t.Fatalf("party status --json of %s: exit %d\nstdout:\n%s\nstderr:\n%s", d.name, r.code, r.stdout, r.stderr)
	}
	slices.SortFunc(st.Shares, func(a, b partyShare) int { return cmp.Or(cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.Epoch, b.Epoch)) })
	return st.Shares
}

// faultTimeout is the deadline of each call that meets a fault (mpcctl
// --timeout; the coordinator bounds the session by it too), and
// deadlineSlack what mpcctl may add around it. A call that takes longer
// hung: its session did not end with a typed error within its deadline.
const (
	faultTimeout  = 2 * time.Minute
	deadlineSlack = 15 * time.Second
)

// ctlWithin runs an mpcctl command with faultTimeout as its deadline and
// requires it to return within that deadline plus deadlineSlack.
func (c *cluster) ctlWithin(t testing.TB, args ...string) (result, time.Duration) {
	t.Helper()
	began := time.Now()
	r := c.ctl(t, append(args, "--timeout", faultTimeout.String())...)
	took := time.Since(began)
	if took > faultTimeout+deadlineSlack {
		t.Errorf("mpcctl %s returned after %s: past its deadline %s (+%s slack)", strings.Join(args, " "), took.Round(time.Millisecond), faultTimeout, deadlineSlack)
	}
	return r, took
}

// ctlErrWithin is ctlErr with faultTimeout as the call's deadline: the call
// must fail with a gRPC error within that deadline plus deadlineSlack.
func (c *cluster) ctlErrWithin(t testing.TB, args ...string) (rpcError, time.Duration) {
	t.Helper()
	r, took := c.ctlWithin(t, args...)
	if r.code != 1 {
		t.Fatalf("mpcctl %s: want exit status 1, got %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	m := rpcErrorRE.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("mpcctl %s: stderr is not 'mpcctl: <Code>: <message>':\n%s", strings.Join(args, " "), r.stderr)
	}
	return rpcError{Code: m[1], Msg: m[2]}, took
}

// stopSurvivors stops every long-running process that still runs, devices
// before the coordinator, each with SIGTERM, and requires each to exit
// cleanly with no goroutine left (stopClean). The processes the test killed
// have exited already and are not checked.
func (c *cluster) stopSurvivors(t *testing.T) {
	t.Helper()
	t.Run("no goroutine leak in the surviving processes", func(t *testing.T) {
		checked := 0
		for i := len(c.services) - 1; i >= 0; i-- {
			if p := c.services[i]; !p.exited() {
				stopClean(t, p)
				checked++
			}
		}
		if checked == 0 {
			t.Fatal("no process was still running to check")
		}
		t.Logf("%d surviving processes stopped and checked", checked)
	})
	c.stopAll()
}
