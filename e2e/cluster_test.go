package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	startTimeout = 30 * time.Second // a coordinator prints its address
	readyTimeout = 90 * time.Second // devices connect and report pre-parameters
	enrolTimeout = 60 * time.Second // one 'party enroll' or 'party status'
	pollEvery    = 200 * time.Millisecond
)

// cluster is one coordinator and its devices, each a real process with its
// own data directory under one t.TempDir(). Every process, long-running or
// not, writes its output to logDir. Processes are stopped and reaped when the
// test ends; their logs are printed if it failed.
type cluster struct {
	dir         string
	logDir      string
	coordDir    string
	addr        string // the coordinator's real listen address
	fingerprint string // its certificate fingerprint, as printed
	coord       *proc
	procs       []*proc // every process started, in start order
	services    []*proc // the long-running ones
	devices     map[string]*device
	seq         int // numbers the log files in start order
	fixtures    int // TEST-ONLY pre-parameter files handed out so far
	// fixtureFiles are the TEST-ONLY pre-parameter files handed to devices,
	// in the order they first run (nil: files 1 to 4).
	fixtureFiles []int
	// requester is the wallet's key that c.sign signs with (roster mode;
	// newRequester sets it).
	requester *requesterKey
	// storeURL is the coordinator's --store (empty: BadgerDB in its data
	// directory).
	storeURL string
}

// device is one enrolled party: its data directory and keystore passphrase.
type device struct {
	name     string
	dir      string
	pass     string
	passFile string // when set, the party reads its passphrase from this file, not MPC_PASSPHRASE
	fixture  int    // TEST-ONLY pre-parameter file, 0 until the device first runs
	proc     *proc  // the latest 'party run'
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	dir := t.TempDir() // created before the cleanup below, so removed after it
	c := &cluster{dir: dir, logDir: filepath.Join(dir, "logs"), coordDir: filepath.Join(dir, "coordinator"), devices: map[string]*device{}}
	for _, d := range []string{c.logDir, filepath.Join(dir, "home"), filepath.Join(dir, "devices")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c.stopAll()
		c.checkNoneGenerated(t)
		if t.Failed() {
			c.dumpLogs(t)
		}
	})
	return c
}

// checkNoneGenerated fails the test if a party process generated
// pre-parameters: one fed TEST-ONLY fixtures uses those only, for a safe
// prime search would take a core for tens of seconds beside the protocols
// under test (a test that needs more sets takes a seven-set file).
func (c *cluster) checkNoneGenerated(t testing.TB) {
	for _, p := range c.services {
		if !strings.Contains(p.name, "-party") {
			continue
		}
		for _, path := range []string{p.stdoutPath, p.stderrPath} {
			if strings.Contains(readFile(path), "generating pre-parameters") {
				t.Errorf("%s generated pre-parameters: a party given --insecure-test-preparams must use the fixture's sets only", p.name)
			}
		}
	}
}

// env is the environment of every process: no passphrase or crash point
// inherited from the caller, and MPC_HOME inside the test's directory so that
// nothing touches ~/.mpcsign.
func (c *cluster) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MPC_PASSPHRASE=") && !strings.HasPrefix(kv, "MPC_HOME=") && !strings.HasPrefix(kv, crashEnv+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, "MPC_HOME="+filepath.Join(c.dir, "home"))
	if c.requester != nil {
		env = append(env, "MPC_REQUESTER_PASSPHRASE="+c.requester.pass)
	}
	return append(env, extra...)
}

// start starts a process whose log files are numbered in start order.
func (c *cluster) start(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	c.seq++
	p := startProc(t, c.logDir, fmt.Sprintf("%03d-%s", c.seq, name), env, args...)
	c.procs = append(c.procs, p)
	return p
}

// startService starts a long-running process that stopAll stops.
func (c *cluster) startService(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	p := c.start(t, name, env, args...)
	c.services = append(c.services, p)
	return p
}

// result is what a short-lived process left behind.
type result struct {
	name           string
	stdout, stderr string
	code           int
}

// runOnce runs a short-lived command to its end (bounded by timeout).
func (c *cluster) runOnce(t testing.TB, name string, env []string, timeout time.Duration, args ...string) result {
	t.Helper()
	p := c.start(t, name, env, args...)
	if !p.wait(timeout) {
		p.stop()
		t.Fatalf("%s did not finish within %s\nstdout:\n%s\nstderr:\n%s", name, timeout, p.stdout(), p.stderr())
	}
	return result{name: p.name, stdout: p.stdout(), stderr: p.stderr(), code: p.exitCode()}
}

var (
	listeningRE   = regexp.MustCompile(`coordinator listening on (\S+)`)
	fingerprintRE = regexp.MustCompile(`certificate fingerprint: ([0-9a-f]{64})`)
)

// startCoordinator starts 'coordinator serve' on port 0 and reads its real
// address from its first lines of output.
func (c *cluster) startCoordinator(t testing.TB) {
	t.Helper()
	c.serveCoordinator(t, "127.0.0.1:0")
}

// restartCoordinator stops the coordinator if it still runs (it must exit
// cleanly; a crashed one is left as it died) and starts it again on the same
// address and data directory, so that the enrolled devices find it. A
// non-empty crashAt arms that crash point in the new process only.
func (c *cluster) restartCoordinator(t testing.TB, crashAt string) {
	t.Helper()
	if !c.coord.exited() {
		if code, killed := c.coord.stop(); killed || code != 0 {
			t.Fatalf("coordinator did not exit cleanly on SIGTERM: code %d, killed %v", code, killed)
		}
	}
	var env []string
	if crashAt != "" {
		env = append(env, crashEnv+"="+crashAt)
	}
	c.serveCoordinator(t, c.addr, env...)
}

// serveCoordinator starts 'coordinator serve' on listen with extra
// environment. A restarted coordinator must come back with the address and
// certificate it had.
func (c *cluster) serveCoordinator(t testing.TB, listen string, extraEnv ...string) {
	t.Helper()
	prevAddr, prevFP := c.addr, c.fingerprint
	args := []string{"serve", "--data", c.coordDir, "--listen", listen}
	if c.storeURL != "" {
		args = append(args, "--store", c.storeURL)
	}
	p := c.startService(t, "coordinator", c.env(extraEnv...), append([]string{bin("coordinator")}, args...)...)
	c.coord = p
	deadline := time.Now().Add(startTimeout)
	for {
		out := p.stdout()
		m, fp := listeningRE.FindStringSubmatch(out), fingerprintRE.FindStringSubmatch(out)
		if m != nil && fp != nil {
			c.addr, c.fingerprint = m[1], fp[1]
			if prevAddr != "" && (c.addr != prevAddr || c.fingerprint != prevFP) {
				t.Fatalf("the restarted coordinator listens on %s with fingerprint %s; it had %s and %s", c.addr, c.fingerprint, prevAddr, prevFP)
			}
			break
		}
		if p.exited() {
			t.Fatalf("coordinator exited early (code %d)\nstdout:\n%s\nstderr:\n%s", p.exitCode(), out, p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("coordinator printed no listen address within %s\nstdout:\n%s\nstderr:\n%s", startTimeout, out, p.stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// mpcctl reads client.json, written just after the banner.
	for {
		var cc struct{ Address, Fingerprint string }
		b, err := os.ReadFile(filepath.Join(c.coordDir, "client.json"))
		if err == nil && json.Unmarshal(b, &cc) == nil && cc.Address != "" {
			if cc.Address != c.addr || cc.Fingerprint != c.fingerprint {
				t.Fatalf("client.json says %s %s, the coordinator printed %s %s", cc.Address, cc.Fingerprint, c.addr, c.fingerprint)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("coordinator wrote no client.json within %s (%v)", startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newDevice makes a data directory and a random passphrase for a device
// (from a file when passFile is true) without enrolling it.
func (c *cluster) newDevice(t testing.TB, name string, passFile bool) *device {
	t.Helper()
	d := &device{name: name, dir: filepath.Join(c.dir, "devices", name), pass: randomHex(t, 24)}
	if passFile {
		d.passFile = filepath.Join(c.dir, "devices", name+".passphrase")
		if err := os.WriteFile(d.passFile, []byte(d.pass+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// partyArgs is a party command line with the device's data directory and,
// when it has one, its passphrase file.
func (d *device) partyArgs(sub string, extra ...string) []string {
	args := []string{bin("party"), sub, "--data", d.dir}
	if d.passFile != "" {
		args = append(args, "--passphrase-file", d.passFile)
	}
	return append(args, extra...)
}

// partyEnv is the environment of the device's party commands.
func (c *cluster) partyEnv(d *device) []string {
	if d.passFile != "" {
		return c.env()
	}
	return c.env("MPC_PASSPHRASE=" + d.pass)
}

// pairResult is 'mpcctl devices pair --json'.
type pairResult struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at"`
}

// pair makes a pairing code for name.
func (c *cluster) pair(t testing.TB, name string, extra ...string) pairResult {
	t.Helper()
	var pr pairResult
	c.ctlJSON(t, &pr, append([]string{"devices", "pair", "--name", name}, extra...)...)
	if pr.Name != name || !strings.HasPrefix(pr.Code, "mpc1-") {
		t.Fatalf("devices pair --name %s returned %+v", name, pr)
	}
	return pr
}

// enrollWith runs 'party enroll' for d with code.
func (c *cluster) enrollWith(t testing.TB, d *device, code string) result {
	t.Helper()
	return c.runOnce(t, "party-enroll-"+d.name, c.partyEnv(d), enrolTimeout, d.partyArgs("enroll", "--code", code)...)
}

// enroll pairs and enrols a new device; it fails the test if that fails.
func (c *cluster) enroll(t testing.TB, name string, passFile bool) *device {
	t.Helper()
	d := c.newDevice(t, name, passFile)
	r := c.enrollWith(t, d, c.pair(t, name).Code)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("enrolled as %q", name)) {
		t.Fatalf("party enroll %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, r.code, r.stdout, r.stderr)
	}
	c.approve(t, name, sasOf(t, r.stdout))
	c.devices[name] = d
	return d
}

var sasRE = regexp.MustCompile(`short authentication string: (\d{3}-\d{3})`)

// sasOf reads the short authentication string 'party enroll' printed.
func sasOf(t testing.TB, enrollOut string) string {
	t.Helper()
	m := sasRE.FindStringSubmatch(enrollOut)
	if m == nil {
		t.Fatalf("party enroll printed no short authentication string:\n%s", enrollOut)
	}
	return m[1]
}

// approve checks that the coordinator lists the same string the device
// showed, then approves the device with it, as an operator would.
func (c *cluster) approve(t testing.TB, name, sas string) {
	t.Helper()
	for _, d := range c.listDevices(t) {
		if d.Name == name && d.SAS != sas {
			t.Fatalf("device %s showed %s, the coordinator lists %s", name, sas, d.SAS)
		}
	}
	var out deviceInfo
	c.ctlJSON(t, &out, "devices", "approve", name, "--sas", sas)
	if out.Status != "active" {
		t.Fatalf("approved device %s is %s", name, out.Status)
	}
}

// runParty starts 'party run' for d with a TEST-ONLY pre-parameter file of
// its own (the same one again when the device is restarted).
func (c *cluster) runParty(t testing.TB, d *device) *proc {
	t.Helper()
	return c.runPartyWith(t, d, nil)
}

// runPartyWith is runParty with extra environment and 'party run' flags.
func (c *cluster) runPartyWith(t testing.TB, d *device, env []string, flags ...string) *proc {
	t.Helper()
	if d.fixture == 0 {
		files := c.fixtureFiles
		if files == nil {
			files = []int{1, 2, 3, 4}
		}
		if c.fixtures == len(files) {
			t.Fatalf("this cluster has %d TEST-ONLY pre-parameter files: at most %d running devices", len(files), len(files))
		}
		d.fixture = files[c.fixtures]
		c.fixtures++
	}
	args := d.partyArgs("run", append([]string{"--insecure-test-preparams", preparamsFixture(d.fixture)}, flags...)...)
	d.proc = c.startService(t, "party-"+d.name, append(c.partyEnv(d), env...), args...)
	return d.proc
}

// waitDevices polls 'devices list' until ok holds for every named device.
func (c *cluster) waitDevices(t testing.TB, what string, ok func(deviceInfo) bool, names ...string) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		devs := c.listDevices(t)
		var pending []string
		for _, n := range names {
			i := slices.IndexFunc(devs, func(d deviceInfo) bool { return d.Name == n })
			if i < 0 {
				pending = append(pending, n+" (not listed)")
			} else if !ok(devs[i]) {
				d := devs[i]
				pending = append(pending, fmt.Sprintf("%s (status %s, online %v, preparams %d/%d)", n, d.Status, d.Online, d.PreparamsReady, d.PreparamsTarget))
			}
		}
		if len(pending) == 0 {
			return
		}
		for _, n := range names {
			if d := c.devices[n]; d != nil && d.proc != nil && d.proc.exited() && what == "ready" {
				t.Fatalf("party %s exited (code %d) before it was ready\nstderr:\n%s", n, d.proc.exitCode(), d.proc.stderr())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("devices not %s after %s: %s", what, readyTimeout, strings.Join(pending, "; "))
		}
		time.Sleep(pollEvery)
	}
}

// waitReady waits until the devices are active, online and hold at least
// one pre-parameter set, so that a key generation can start at once.
func (c *cluster) waitReady(t testing.TB, names ...string) {
	t.Helper()
	c.waitDevices(t, "ready", func(d deviceInfo) bool {
		return d.Status == "active" && d.Online && d.PreparamsReady >= 1
	}, names...)
}

// waitOffline waits until the coordinator shows the devices offline.
func (c *cluster) waitOffline(t testing.TB, names ...string) {
	t.Helper()
	c.waitDevices(t, "offline", func(d deviceInfo) bool { return !d.Online }, names...)
}

// stopAll stops every process still running, newest first (so devices
// before the coordinator), and reaps them all.
func (c *cluster) stopAll() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop()
	}
}

// dumpLogs prints the tail of every long-running process's output.
func (c *cluster) dumpLogs(t testing.TB) {
	const tail = 6000
	for _, p := range c.services {
		for _, path := range []string{p.stdoutPath, p.stderrPath} {
			s := readFile(path)
			if len(s) > tail {
				s = "...\n" + s[len(s)-tail:]
			}
			t.Logf("==== %s ====\n%s", filepath.Base(path), s)
		}
	}
}
