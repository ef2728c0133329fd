package e2e

// The coordinator is trusted for availability only. These tests run a
// coordinator built with -tags compromised (coordinator/compromised_on.go),
// which plays an attacker who owns the coordinator's machine, against real
// party processes that pinned the operator-signed roster, and check that
// the devices refuse what the operators did not sign.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/pairing"
)

// compromisedEnv selects what a coordinator built with -tags compromised
// does; the product build ignores it.
const compromisedEnv = "MPCSIGN_COMPROMISED"

var (
	compromisedOnce sync.Once
	compromisedBin  string
	compromisedErr  error
)

// compromisedCoordinator builds, once per test binary, the coordinator with
// -tags compromised,leakcheck next to the binaries TestMain built (so that
// TestMain's cleanup removes it), and returns its path.
func compromisedCoordinator(t testing.TB) string {
	t.Helper()
	compromisedOnce.Do(func() {
		out := filepath.Join(binDir, "coordinator-compromised")
		build := exec.Command("go", "build", "-tags", "compromised,leakcheck", "-o", out, "./cmd/coordinator")
		build.Dir = moduleRoot
		if b, err := build.CombinedOutput(); err != nil {
			compromisedErr = fmt.Errorf("go build -tags compromised,leakcheck ./cmd/coordinator: %v\n%s", err, b)
			return
		}
		compromisedBin = out
	})
	if compromisedErr != nil {
		t.Fatal(compromisedErr)
	}
	return compromisedBin
}

// restartAs stops the coordinator (it must exit cleanly, leak check
// included) and starts binary from the same data directory on the same
// address, with extra environment: the devices reconnect to it as to the
// coordinator they paired with (same address, same certificate).
func (c *cluster) restartAs(t testing.TB, binary string, extraEnv ...string) {
	t.Helper()
	stopClean(t, c.coord)
	if t.Failed() {
		t.FailNow()
	}
	prevAddr, prevFP := c.addr, c.fingerprint
	p := c.startService(t, "coordinator-"+filepath.Base(binary), c.env(extraEnv...), binary, "serve", "--data", c.coordDir, "--listen", prevAddr)
	c.coord = p
	deadline := time.Now().Add(startTimeout)
	for {
		out := p.stdout()
		m, fp := listeningRE.FindStringSubmatch(out), fingerprintRE.FindStringSubmatch(out)
		if m != nil && fp != nil {
			if m[1] != prevAddr || fp[1] != prevFP {
				t.Fatalf("%s listens on %s with fingerprint %s; the coordinator had %s and %s", binary, m[1], fp[1], prevAddr, prevFP)
			}
			return
		}
		if p.exited() {
			t.Fatalf("%s exited early (code %d)\nstdout:\n%s\nstderr:\n%s", binary, p.exitCode(), out, p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no listen address within %s\nstdout:\n%s\nstderr:\n%s", binary, startTimeout, out, p.stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// operator is an operator's key directory (mpcctl operator init) and the
// passphrase of its key file.
type operator struct {
	name, dir, pass string
}

// opCtl runs mpcctl as the operator: --json, --operator-dir, and the key's
// passphrase in MPC_OPERATOR_PASSPHRASE (never on the command line).
func (c *cluster) opCtl(t testing.TB, op *operator, args ...string) result {
	t.Helper()
	name := "mpcctl-op"
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		name += "-" + filepath.Base(a)
	}
	full := append([]string{bin("mpcctl"), "--coordinator-dir", c.coordDir, "--json"}, args...)
	full = append(full, "--operator-dir", op.dir)
	return c.runOnce(t, name, c.env("MPC_OPERATOR_PASSPHRASE="+op.pass), ctlTimeout, full...)
}

// opJSON is opCtl that requires success and decodes the JSON output.
func (c *cluster) opJSON(t testing.TB, op *operator, v any, args ...string) {
	t.Helper()
	r := c.opCtl(t, op, args...)
	if r.code != 0 {
		t.Fatalf("mpcctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("mpcctl %s: output is not the expected JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
}

// newOperator makes the operator's encrypted signing key.
func (c *cluster) newOperator(t testing.TB, name string) *operator {
	t.Helper()
	op := &operator{name: name, dir: filepath.Join(c.dir, "operator-"+name), pass: "op-" + randomHex(t, 16)}
	var out struct {
		Kind      string `json:"kind"`
		Name      string `json:"name"`
		PublicKey string `json:"public_key"`
	}
	c.opJSON(t, op, &out, "operator", "init", "--name", name)
	if out.Kind != "operator" || out.Name != name || len(out.PublicKey) != 64 {
		t.Fatalf("operator init printed %+v", out)
	}
	return op
}

// rosterOutcome is where a submitted roster entry stands.
type rosterOutcome struct {
	ID       string `json:"id"`
	Appended bool   `json:"appended"`
	Height   uint64 `json:"height"`
}

// initRoster creates the roster with op as its only operator (quorum 1)
// and returns its genesis hash.
func (c *cluster) initRoster(t testing.TB, op *operator) string {
	t.Helper()
	var out struct {
		rosterOutcome
		Genesis string `json:"genesis"`
		Quorum  int    `json:"quorum"`
	}
	c.opJSON(t, op, &out, "roster", "init")
	if !out.Appended || out.Height != 0 || len(out.Genesis) != 64 || out.Quorum != 1 {
		t.Fatalf("roster init printed %+v: want the genesis appended at height 0, quorum 1", out)
	}
	if _, err := os.Stat(filepath.Join(op.dir, "roster.json")); err != nil {
		t.Fatalf("roster init pinned nothing: %v", err)
	}
	return out.Genesis
}

var deviceIDRE = regexp.MustCompile(`\(device id ([^)\s]+)\)`)

// enrolled is a device and the id its own 'party enroll' printed.
type enrolled struct {
	*device
	id string
}

// enrollSigned pairs a device with a code that pins the roster, enrols it,
// checks that it waits for the operators (the honest coordinator activates
// nobody on its own), and approves it by signing its add_device entry after
// comparing the short authentication string.
func (c *cluster) enrollSigned(t testing.TB, op *operator, name, genesis string) enrolled {
	t.Helper()
	var pr struct {
		pairResult
		RosterGenesis string `json:"roster_genesis"`
		OperatorMade  bool   `json:"operator_made"`
	}
	c.ctlJSON(t, &pr, "devices", "pair", "--name", name, "--operator-dir", op.dir)
	if pr.RosterGenesis != genesis || !pr.OperatorMade {
		t.Fatalf("the pairing code for %s pins roster genesis %q (operator-made %v), want %s made by the operator's mpcctl", name, pr.RosterGenesis, pr.OperatorMade, genesis)
	}
	d := c.newDevice(t, name, false)
	r := c.enrollWith(t, d, pr.Code)
	m := deviceIDRE.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil || !strings.Contains(r.stdout, fmt.Sprintf("enrolled as %q", name)) {
		t.Fatalf("party enroll %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, r.code, r.stdout, r.stderr)
	}
	id, sas := m[1], sasOf(t, r.stdout)
	// The coordinator never saw the code's secret: it knows no SAS.
	for _, dev := range c.listDevices(t) {
		if dev.Name == name && (dev.Status != "pending" || dev.SAS != "" || dev.ID != id) {
			t.Fatalf("before any signature the coordinator lists %s as %+v; want pending, id %s, and no SAS (the device shows %s)", name, dev, id, sas)
		}
	}
	var out struct {
		deviceInfo
		Roster rosterOutcome `json:"roster"`
	}
	c.opJSON(t, op, &out, "devices", "approve", name, "--sas", sas)
	if out.Status != "active" || out.ID != id || !out.Roster.Appended {
		t.Fatalf("devices approve %s printed %+v: want it active with its add_device entry appended", name, out)
	}
	c.devices[name] = d
	return enrolled{d, id}
}

// rosterEntryJSON is an entry of 'mpcctl roster show --json'.
type rosterEntryJSON struct {
	Height uint64 `json:"height"`
	Kind   string `json:"kind"`
	Device *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"device"`
	DeviceID string   `json:"device_id"`
	SignedBy []string `json:"signed_by"`
}

// rosterShow is 'mpcctl roster show --json': the roster as the operator
// verified it from the genesis they pinned.
type rosterShow struct {
	Genesis string            `json:"genesis"`
	Height  uint64            `json:"height"`
	Entries []rosterEntryJSON `json:"entries"`
}

// activeOnRoster lists the names of the devices the verified roster has
// active, in order of addition.
func (r rosterShow) activeOnRoster() []string {
	revoked := map[string]bool{}
	for _, e := range r.Entries {
		if e.Kind == "revoke_device" {
			revoked[e.DeviceID] = true
		}
	}
	var out []string
	for _, e := range r.Entries {
		if e.Kind == "add_device" && e.Device != nil && !revoked[e.Device.ID] {
			out = append(out, e.Device.Name)
		}
	}
	return out
}

// auditLog exports the audit log, requires its hash chain to verify and
// returns its entries (all fields).
func (c *cluster) auditLog(t testing.TB) []auditlog.Entry {
	t.Helper()
	file := filepath.Join(c.dir, fmt.Sprintf("audit-compromised-%d.jsonl", c.seq))
	if r := c.ctl(t, "audit", "export", "--out", file); r.code != 0 {
		t.Fatalf("audit export: exit %d\n%s", r.code, r.stderr)
	}
	if r := c.ctl(t, "audit", "verify", file); r.code != 0 || !strings.Contains(r.stdout, `"ok": true`) {
		t.Fatalf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditlog.Entry
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e auditlog.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// auditWith lists the entries with the action for which ok holds.
func auditWith(entries []auditlog.Entry, action string, ok func(auditlog.Entry) bool) []auditlog.Entry {
	var out []auditlog.Entry
	for _, e := range entries {
		if e.Action == action && ok(e) {
			out = append(out, e)
		}
	}
	return out
}

func auditDump(entries []auditlog.Entry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "  %d %s actor=%s key=%s devices=%v result=%s detail=%q\n", e.Seq, e.Action, e.Actor, e.KeyID, e.Devices, e.Result, e.Detail)
	}
	return b.String()
}

// withoutGenesis is the pairing code as an attacker's own device uses it:
// the roster's genesis stripped (a version 1 code), so that the device pins
// no roster and, like a malicious device, joins whatever the coordinator
// asks. The refusals below must then come from the honest devices.
func withoutGenesis(t testing.TB, code string) string {
	t.Helper()
	pc, err := pairing.Parse(code)
	if err != nil || !pc.HasGenesis() {
		t.Fatalf("pairing code %q: %v (has genesis: %v)", code, err, pc.HasGenesis())
	}
	pc.Genesis = [32]byte{}
	return pc.String()
}

// operatorSecret is the operator's passphrase, which no log may print.
func operatorSecret(op *operator) secret {
	return secret{label: "operator " + op.name + " passphrase", value: []byte(op.pass), text: op.pass}
}

// refusedByHonest requires a refusal from one of the honest devices (the
// error names the device that refused), on the grounds of its verified
// roster, naming the intruder (by its id's first 12 digits).
func refusedByHonest(t testing.TB, what string, e rpcError, intruderID string) {
	t.Helper()
	expectRPC(t, e, codes.PermissionDenied, "roster", intruderID[:12])
	if !strings.Contains(e.Msg, "device phone refused") && !strings.Contains(e.Msg, "device laptop refused") {
		t.Errorf("%s: %q is not a refusal by an honest device (phone or laptop)", what, e.Msg)
	}
}
