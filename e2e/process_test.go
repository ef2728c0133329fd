package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/leakcheck"
)

// stopGrace is how long a process may take to exit after SIGTERM before it
// is killed.
const stopGrace = 20 * time.Second

// proc is one started binary. Its stdout and stderr go straight to files in
// the cluster's log directory, which the secret and panic scans read.
type proc struct {
	name       string
	cmd        *exec.Cmd
	stdoutPath string
	stderrPath string
	done       chan struct{} // closed once the process has been reaped
	waitErr    error         // valid after done
}

// startProc starts args[0] with args[1:] and env. The log files are named
// after name, which must be unique in logDir.
func startProc(t testing.TB, logDir, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{
		name:       name,
		stdoutPath: filepath.Join(logDir, name+".stdout"),
		stderrPath: filepath.Join(logDir, name+".stderr"),
		done:       make(chan struct{}),
	}
	outF, err := os.Create(p.stdoutPath)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer outF.Close()
	errF, err := os.Create(p.stderrPath)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer errF.Close()
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = outF, errF
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// exited reports whether the process has ended (and been reaped).
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for the process to end.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// exitCode is the exit status of an ended process (-1 if killed by a signal).
func (p *proc) exitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM, kills the process if it has not exited after
// stopGrace, and always reaps it. It reports the exit code and whether the
// kill was needed. Stopping an ended process only reports its status.
func (p *proc) stop() (code int, killed bool) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if !p.wait(stopGrace) {
			_ = p.cmd.Process.Kill()
			killed = true
		}
	}
	return p.exitCode(), killed
}

// killed reports whether an ended process died of SIGKILL, as kill -9 does.
func (p *proc) killed() bool {
	<-p.done
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// stdout and stderr read what the process has written so far.
func (p *proc) stdout() string { return readFile(p.stdoutPath) }
func (p *proc) stderr() string { return readFile(p.stderrPath) }

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return string(b)
}

// leakExitCode is the exit status of a coordinator or party, built with
// -tags leakcheck as TestMain builds them, that still ran goroutines after
// a clean shutdown on SIGTERM (internal/leakcheck); leakReport is what it
// prints to stderr.
const (
	leakExitCode = leakcheck.ExitCode
	leakReport   = "leakcheck: goroutines leaked at exit"
)

// stopClean sends SIGTERM to a running process and requires a clean exit:
// within stopGrace, with status 0 and no leak report.
func stopClean(t testing.TB, p *proc) {
	t.Helper()
	code, killed := p.stop()
	log := p.stderr()
	switch i := strings.Index(log, leakReport); {
	case killed:
		t.Errorf("%s did not exit within %s of SIGTERM and was killed\nstderr:\n%s", p.name, stopGrace, log)
	case i >= 0 || code == leakExitCode:
		t.Errorf("%s leaked goroutines (exit status %d):\n%s", p.name, code, log[max(i, 0):])
	case code != 0:
		t.Errorf("%s exited with status %d on SIGTERM, want 0\nstderr:\n%s", p.name, code, log)
	}
}
