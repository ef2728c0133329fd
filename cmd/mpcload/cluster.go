package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/mpcsign/mpcsign/internal/coordclient"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// loadRun is one run's cluster: its directory and processes.
type loadRun struct {
	cfg    loadConfig
	log    io.Writer
	dir    string
	logDir string
	env    []string
	procs  []*loadProc        // coordinator first, then the parties
	target coordclient.Target // the coordinator, once started
}

// loadProc is one started binary whose output goes to files.
type loadProc struct {
	name    string
	cmd     *exec.Cmd
	stdout  string
	stderr  string
	done    chan struct{}
	waitErr error
}

func (p *loadProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and kills the process if it does not exit in time. It
// reports whether the process exited cleanly.
func (p *loadProc) stop() bool {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(loadStopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
			return false
		}
	}
	return p.waitErr == nil
}

// prepare makes the run's directory (a temporary one unless r.dir names
// one) with its logs/, and the processes' environment. done removes a
// temporary directory after a run that succeeded (err nil), and says where
// it is kept after one that failed.
func (r *loadRun) prepare(prefix string) (done func(err error), err error) {
	done = func(error) {}
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", prefix); err != nil {
			return nil, err
		}
		dir := r.dir
		done = func(err error) {
			if err == nil {
				os.RemoveAll(dir)
			} else {
				r.logf("data and logs kept in %s", dir)
			}
		}
	}
	r.logDir = filepath.Join(r.dir, "logs")
	if err := os.MkdirAll(r.logDir, 0o700); err != nil {
		done(err)
		return nil, err
	}
	r.env = loadEnv(filepath.Join(r.dir, "home"))
	return done, nil
}

func (r *loadRun) logf(format string, a ...any) {
	fmt.Fprintf(r.log, "load: "+format+"\n", a...)
}

// loadEnv is the environment of every process: nothing from the caller's
// mpcsign settings, passphrase or crash points, and MPC_HOME inside the
// run's directory.
func loadEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "MPC_PASSPHRASE" || name == "MPC_HOME" || strings.HasPrefix(name, "MPCSIGN_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "MPC_HOME="+home)
}

// buildBinaries builds the coordinator and party into dir, the party with
// -tags testfixtures for its --insecure-test-preparams. It must run inside
// the module (for example from the repository's root).
func buildBinaries(ctx context.Context, dir string) error {
	return goBuild(ctx, dir, "the coordinator and party", "-tags", "testfixtures",
		"github.com/mpcsign/mpcsign/cmd/coordinator", "github.com/mpcsign/mpcsign/cmd/party")
}

// buildCoordinator builds the coordinator alone into dir, as a product
// build (no test tags).
func buildCoordinator(ctx context.Context, dir string) error {
	return goBuild(ctx, dir, "the coordinator", "github.com/mpcsign/mpcsign/cmd/coordinator")
}

// goBuild runs go build -o dir/ with args (flags, then packages).
func goBuild(ctx context.Context, dir, what string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", dir + string(os.PathSeparator)}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of %s failed (run from the repository, or pass --bin-dir): %v\n%s", what, err, out)
	}
	return nil
}

// start starts a binary with its output in the log directory.
func (r *loadRun) start(name string, env []string, args ...string) (*loadProc, error) {
	p := &loadProc{name: name, stdout: filepath.Join(r.logDir, name+".stdout"), stderr: filepath.Join(r.logDir, name+".stderr"), done: make(chan struct{})}
	outF, err := os.Create(p.stdout)
	if err != nil {
		return nil, err
	}
	defer outF.Close()
	errF, err := os.Create(p.stderr)
	if err != nil {
		return nil, err
	}
	defer errF.Close()
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = outF, errF
	p.cmd.SysProcAttr = loadSysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// runOnce runs a short command to its end and returns its standard output.
func (r *loadRun) runOnce(name string, env []string, args ...string) (string, error) {
	p, err := r.start(name, env, args...)
	if err != nil {
		return "", err
	}
	select {
	case <-p.done:
	case <-time.After(loadStartTimeout):
		p.stop()
		return "", fmt.Errorf("%s did not finish within %s", name, loadStartTimeout)
	}
	out, _ := os.ReadFile(p.stdout)
	if p.waitErr != nil {
		errOut, _ := os.ReadFile(p.stderr)
		return "", fmt.Errorf("%s: %v\n%s", name, p.waitErr, errOut)
	}
	return string(out), nil
}

var (
	loadListenRE  = regexp.MustCompile(`coordinator listening on (\S+)`)
	loadMetricsRE = regexp.MustCompile(`metrics:\s+http://(\S+)/metrics`)
)

// startCoordinator starts the coordinator (serve, with extra arguments)
// with metrics on loopback and returns the metrics address once it has
// written client.json.
func (r *loadRun) startCoordinator(binDir string, extra ...string) (string, error) {
	coordDir := filepath.Join(r.dir, "coordinator")
	args := append([]string{filepath.Join(binDir, "coordinator"), "serve", "--data", coordDir,
		"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--log-level", r.cfg.logLevel, "--log-format", r.cfg.logFormat}, extra...)
	p, err := r.start("coordinator", r.env, args...)
	if err != nil {
		return "", err
	}
	r.procs = append(r.procs, p)
	r.target = coordclient.Target{Dir: coordDir}
	deadline := time.Now().Add(loadStartTimeout)
	for {
		out, _ := os.ReadFile(p.stdout)
		if m := loadMetricsRE.FindSubmatch(out); m != nil && loadListenRE.Match(out) {
			if _, err := os.Stat(filepath.Join(coordDir, "client.json")); err == nil {
				return string(m[1]), nil
			}
		}
		if p.exited() {
			errOut, _ := os.ReadFile(p.stderr)
			return "", fmt.Errorf("the coordinator exited: %v\n%s", p.waitErr, errOut)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the coordinator did not start within %s", loadStartTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// client dials the coordinator with the admin or signer token.
func (r *loadRun) client(role string) (*mpcv1Clients, func(), error) {
	conn, err := r.target.Dial(role)
	if err != nil {
		return nil, nil, err
	}
	return &mpcv1Clients{admin: mpcv1.NewAdminServiceClient(conn), signer: mpcv1.NewSignerServiceClient(conn)}, func() { conn.Close() }, nil
}

// mpcv1Clients are the API clients over one connection.
type mpcv1Clients struct {
	admin  mpcv1.AdminServiceClient
	signer mpcv1.SignerServiceClient
}

// startParties pairs, enrols and starts the devices, each with its own
// TEST-ONLY fixture file, and waits until every one is online and ready.
func (r *loadRun) startParties(ctx context.Context, c *mpcv1Clients, binDir string, files []string) ([]string, error) {
	var names []string
	for i := range r.cfg.parties {
		name := fmt.Sprintf("p%d", i+1)
		code, err := c.admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: name})
		if err != nil {
			return nil, fmt.Errorf("pairing code for %s: %w", name, err)
		}
		var pw [16]byte
		if _, err := rand.Read(pw[:]); err != nil {
			return nil, err
		}
		env := append(append([]string(nil), r.env...), "MPC_PASSPHRASE="+hex.EncodeToString(pw[:]))
		dataDir := filepath.Join(r.dir, "devices", name)
		bin := filepath.Join(binDir, "party")
		if _, err := r.runOnce(name+"-enroll", env, bin, "enroll", "--data", dataDir, "--code", code.GetCode(), "--log-level", r.cfg.logLevel, "--log-format", r.cfg.logFormat); err != nil {
			return nil, err
		}
		// A pool of one: the device starts generating safe primes only
		// when its fixture sets run out, which planFixtures rules out.
		p, err := r.start(name, env, bin, "run", "--data", dataDir, "--preparams-pool", "1", "--log-level", r.cfg.logLevel, "--log-format", r.cfg.logFormat,
			"--insecure-test-preparams", files[i])
		if err != nil {
			return nil, err
		}
		r.procs = append(r.procs, p)
		names = append(names, name)
	}
	r.logf("waiting for %d devices to connect", len(names))
	deadline := time.Now().Add(loadReadyTimeout)
	for {
		resp, err := c.admin.ListDevices(ctx, &mpcv1.ListDevicesRequest{})
		if err != nil {
			return nil, err
		}
		ready := 0
		for _, d := range resp.GetDevices() {
			if d.GetOnline() && d.GetStatus() == mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE && d.GetPreparamsReady() >= 1 {
				ready++
			}
		}
		if ready == len(names) {
			return names, nil
		}
		for _, p := range r.procs {
			if p.exited() {
				errOut, _ := os.ReadFile(p.stderr)
				return nil, fmt.Errorf("%s exited: %v\n%s", p.name, p.waitErr, errOut)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %d of %d devices ready after %s", ready, len(names), loadReadyTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// loadKey is a key the clients sign with.
type loadKey struct {
	id  string
	pub []byte
}

func (r *loadRun) createKeys(ctx context.Context, c *mpcv1Clients, names []string) ([]loadKey, error) {
	var keys []loadKey
	for i := range r.cfg.keys {
		t0 := time.Now()
		kctx, cancel := context.WithTimeout(ctx, loadKeyTimeout)
		resp, err := c.admin.CreateKey(kctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: uint32(r.cfg.threshold), Devices: names})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("create key %d: %w", i+1, err)
		}
		k := resp.GetKey()
		keys = append(keys, loadKey{id: k.GetId(), pub: k.GetPublicKey()})
		r.logf("created key %d of %d (%d-of-%d) in %s", i+1, r.cfg.keys, r.cfg.threshold+1, r.cfg.parties, time.Since(t0).Round(time.Millisecond))
	}
	return keys, nil
}

// scanLogs reports panics and pre-parameter generation in any process's log.
func (r *loadRun) scanLogs() []string {
	var warnings []string
	for _, p := range r.procs {
		b, _ := os.ReadFile(p.stderr)
		if bytes.Contains(b, []byte("panic:")) {
			warnings = append(warnings, p.name+" logged a panic (see "+p.stderr+")")
		}
		if bytes.Contains(b, []byte("generating pre-parameters")) {
			warnings = append(warnings, p.name+" generated pre-parameters during the run, which competed for the cores")
		}
	}
	return warnings
}

func (r *loadRun) stopAll() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		r.procs[i].stop()
	}
}
